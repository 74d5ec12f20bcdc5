"""The window opens a pilot log tarball like a JEM archive: at its failure, the logged traceback's stack."""

from __future__ import annotations

from PySide6.QtCore import Qt

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


def _panel(qtbot, window):
    from jemgui.views.logs_panel import LogsPanel

    panel = window.docks["logs"].widget()
    assert isinstance(panel, LogsPanel)
    qtbot.waitUntil(lambda: panel.ready and panel.name is not None, timeout=60_000)
    return panel


def test_the_logs_panel_follows_the_cursor_and_moves_it_both_ways(qtbot, empty_window, tmp_path):
    path = fx.pack(tmp_path, fx.user_job_python_exception())
    open_now(empty_window, path, where="failure")
    panel = _panel(qtbot, empty_window)
    ix, cur = empty_window.inspection.index, empty_window.inspection.cursor
    tree = [panel.tree.topLevelItem(i).text(0) for i in range(panel.tree.topLevelItemCount())]
    assert tree[:3] == ["pilotlog.txt", "payload.stdout", "payload.stderr"]
    # at the failure: the file and line the traceback was logged at
    logged = ix.record(cur.pos)["logged"]
    assert (panel.name, panel.current_line()) == (logged["file"], logged["line"] - 1)
    assert "Traceback (most recent call last):" in panel.model.text(panel.current_line())
    # a click on the pilot's `finished pid=` line moves the cursor to that line's record
    pilot = panel.logs.index("pilotlog.txt")
    finished = next(n for n in range(pilot.count) if "finished pid=" in pilot.lines(n, n + 1)[0])
    panel.show_file("pilotlog.txt")
    panel._line_clicked(panel.model.index(finished, 1))
    rec = ix.record(cur.pos)
    assert (rec["kind"], rec["logfile"], rec["logline"]) == ("log", "pilotlog.txt", finished + 1)
    assert panel.current_line() == finished
    # a cursor move to a record of no log (the payload's start) scrolls the file shown to that moment
    start = next(p for p in range(ix.count) if ix.record(p)["kind"] == "process")
    cur.seek(start)
    line = panel.current_line()
    assert panel.name == "pilotlog.txt" and "started -- pid=" in pilot.lines(line, line + 1)[0]


def test_next_error_search_and_the_error_actions_on_the_transport(qtbot, empty_window, tmp_path):
    path = fx.pack(tmp_path, fx.validation_failure())
    open_now(empty_window, path, where="start")
    panel = _panel(qtbot, empty_window)
    ix, cur = empty_window.inspection.index, empty_window.inspection.cursor
    toolbar = [a.objectName() for a in empty_window.toolbar.actions()]
    assert {"next_error", "prev_error"} <= set(toolbar)
    cur.seek(0)
    seen = []
    for _ in range(4):
        found = panel.step_error()
        if found is None:
            break
        seen.append(found)
        rec = ix.record(cur.pos)
        assert (rec.get("logfile"), rec.get("logline")) == (found[0], found[1] + 1)
    # in time order: athena's ERROR (00:00:03), its FATAL (00:01:59), the transform's CRITICAL (00:02:10)
    assert seen == [("log.EVNTtoHITS", 2), ("log.EVNTtoHITS", 3), ("payload.stdout", 2)]
    assert panel.step_error(backward=True) == ("log.EVNTtoHITS", 3)
    panel.search("event loop failed")
    qtbot.waitUntil(lambda: panel.found is not None, timeout=60_000)
    assert [(f, n) for f, n, _ in panel.found] == [("payload.stdout", 2), ("log.EVNTtoHITS", 3)]
    assert panel.results.count() == 2
    colours = {panel.model.data(panel.model.index(r, 1), Qt.ItemDataRole.ForegroundRole).color().name()
               for r in (2, 3)} if panel.show_file("log.EVNTtoHITS") else set()
    assert colours == {"#c62828", "#b71c1c"}  # ERROR and FATAL coloured


def test_a_plain_jem_archive_has_no_logs_panel(empty_window, archive):
    from jemgui.views.logs_panel import LogsPanel

    open_now(empty_window, archive, where="start")
    assert not isinstance(empty_window.docks["logs"].widget(), LogsPanel)
    assert "next_error" not in [a.objectName() for a in empty_window.toolbar.actions()]


def test_the_source_view_shows_the_logged_code_lines_and_the_header_the_verdict(qtbot, empty_window, tmp_path):
    path = fx.pack(tmp_path, fx.user_job_python_exception())
    open_now(empty_window, path, where="failure")
    source, header = empty_window.source, empty_window.header
    text = source.missing.text()
    assert "/srv/workDir/analysis.py itself is not in the tarball" in text
    for code in ("return table[key]", "raise RuntimeError(f&quot;config key {key} missing&quot;) from exc",
                 "cfg = load_config(table, &quot;jet_pt_min&quot;)", "main()"):
        assert code in text
    assert "payload.stderr:9" in text  # where the traceback was logged
    facts = header.facts.text()
    assert "TASK" in facts and "pilot error 1305 (PAYLOADEXECUTIONFAILURE)" in facts
    assert "payload.stderr:16: RuntimeError: config key jet_pt_min missing" in header.facts.toolTip()


def test_the_metrics_plot_shows_prmons_memory_series(qtbot, empty_window, tmp_path):
    path = fx.pack(tmp_path, fx.killed_by_batch())
    open_now(empty_window, path, where="start")
    plot = empty_window.metrics
    assert {"rss", "pss", "swap", "vms", "cpu"} <= set(plot.names)
    assert {"rss", "pss"} <= plot.enabled


def test_a_long_log_scrolls_to_the_line_at_the_cursor_and_searches_off_the_gui_thread(qtbot, empty_window, tmp_path):
    files = fx.user_job_python_exception()
    files["payload.stdout"] = "".join(f"user print {i}\n" for i in range(300_000)).encode() + files["payload.stdout"]
    open_now(empty_window, fx.pack(tmp_path, files), where="failure")
    panel = _panel(qtbot, empty_window)
    assert panel.show_file("payload.stdout", 299_000)
    qtbot.wait(50)
    table = panel.table
    shown = {table.rowAt(y) for y in range(0, table.viewport().height(), 4)}
    assert 299_000 in shown and panel.model.text(299_000) == "user print 299000"
    panel.search("user print 123456")
    qtbot.waitUntil(lambda: panel.found is not None, timeout=60_000)
    assert [(f, n) for f, n, _ in panel.found] == [("payload.stdout", 123_456)]


def test_at_a_jem_records_failure_the_panel_shows_the_pilot_line_logged_at_that_moment(qtbot, empty_window, tmp_path):
    import json

    from tests.models import jobs

    shift = fx.T0 + 62 - jobs.T0  # the JEM job ran inside the payload, two seconds after it started
    jem = jobs.write_archive(tmp_path / "src" / "jem")
    files = fx.user_job_python_exception()
    for f in sorted(jem.rglob("*")):
        if f.is_file():
            data = f.read_bytes()
            if f.suffix == ".jsonl":
                data = b"".join(json.dumps({**json.loads(line), "ts": json.loads(line)["ts"] + shift}).encode()
                                + b"\n" for line in data.splitlines())
            files[f"JEM/{f.relative_to(jem).as_posix()}"] = data
    open_now(empty_window, fx.pack(tmp_path, files), where="failure")
    panel = _panel(qtbot, empty_window)
    ix, cur = empty_window.inspection.index, empty_window.inspection.cursor
    assert ix.record(cur.pos)["type"] == "KeyError"  # the JEM job's own failure
    assert panel.name == "pilotlog.txt"
    line = panel.current_line()
    text = panel.logs.index("pilotlog.txt").lines(line, line + 1)[0]
    assert "started -- pid=" in text  # the last pilot line before the JEM job failed
    assert panel.logs.index("pilotlog.txt").time(line) <= ix.time_at(cur.pos) < panel.logs.index(
        "pilotlog.txt").time(line + 1)


def test_a_big_file_not_indexed_yet_is_indexed_off_the_gui_thread_when_clicked(qtbot, empty_window, tmp_path,
                                                                              monkeypatch):
    from jemgui.views import logs_panel

    open_now(empty_window, fx.pack(tmp_path, fx.killed_by_batch()), where="start")
    panel = _panel(qtbot, empty_window)
    ix, cur = empty_window.inspection.index, empty_window.inspection.cursor
    cur.seek(ix.pos_at_time(fx.T0 + 60 + 300))  # five minutes into the payload
    panel.show_file("pilotlog.txt")
    monkeypatch.setattr(logs_panel, "BIG", 100)  # log.EVNTtoHITS (1.8 kB) counts as big
    panel.logs._indexes.pop("log.EVNTtoHITS")
    item = panel.tree.findItems("log.EVNTtoHITS", Qt.MatchFlag.MatchExactly)[0]
    panel._file_clicked(item, 0)
    assert panel.name != "log.EVNTtoHITS" and panel.title.text().startswith("Indexing log.EVNTtoHITS")
    qtbot.waitUntil(lambda: panel.name == "log.EVNTtoHITS", timeout=60_000)
    shown = panel.logs.index("log.EVNTtoHITS")
    line = panel.current_line()
    assert shown.time(line) <= ix.time_at(cur.pos) < shown.time(line + 1)
