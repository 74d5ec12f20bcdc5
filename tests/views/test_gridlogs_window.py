"""The window opens a pilot log tarball like a JEM archive: at its failure, the logged traceback's stack."""

from __future__ import annotations

from jemgui.app import open_now
from tests.models import gridlogs_fixtures as fx


def test_the_window_opens_a_pilot_tarball_at_the_logged_tracebacks_failure(qtbot, empty_window, tmp_path):
    path = fx.pack(tmp_path, fx.user_job_python_exception())
    open_now(empty_window, path, where="failure")
    header, cur = empty_window.header, empty_window.inspection.cursor
    assert "RuntimeError: config key jet_pt_min missing" in header.badge.text()
    rec = empty_window.inspection.index.record(cur.pos)
    assert (rec["kind"], rec["type"], rec["line"]) == ("exception", "RuntimeError", 43)
    state = empty_window.inspection.index.state_at(cur.pos)
    thread = state.thread(state.current_thread)
    assert [f.func for f in thread.stack] == ["<module>", "main", "load_config"]
