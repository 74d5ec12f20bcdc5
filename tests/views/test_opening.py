"""Opening in the window: bad inputs never close it, several jobs ask which, indexing can be cancelled."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtWidgets import QDialogButtonBox

from benchmarks.synth import write_archive as write_synthetic
from jemgui.app import open_now
from tests.models.jobs import monitor, write_archive, write_pack_of_two
from tests.views.agree import assert_views_agree
from tests.waiting import wait_for


def open_and_wait(qtbot, w, path):
    """Open in the background; return ("opened", index) or ("failed", reason)."""
    out = []
    w.opener.opened.connect(lambda ix, p: out.append(("opened", ix)))
    w.opener.failed.connect(lambda p, reason: out.append(("failed", reason)))
    w.open_path(path)
    qtbot.waitUntil(lambda: bool(out), timeout=15000)
    return out[0]


def all_indexing_ended() -> None:
    """Every indexing thread (older, superseded ones too) ended, and what they sent was handled."""
    wait_for(lambda: not any(t.name == "jemgui-index" and t.is_alive() for t in threading.enumerate()),
             30, "the indexing threads to end")
    QCoreApplication.sendPostedEvents()  # their queued signals, if any, are delivered now


def bad_inputs(tmp_path):
    noise = tmp_path / "noise.tar.gz"
    noise.write_bytes(b"\x1f\x8b\x08" + bytes(range(256)) * 4)
    empty = tmp_path / "empty"
    empty.mkdir()
    text = tmp_path / "notes.txt"
    text.write_text("this is not a job\n")
    manifest_only = tmp_path / "manifest_only"
    manifest_only.mkdir()
    (manifest_only / "manifest.json").write_text("{broken")
    return {"missing": tmp_path / "nope.tgz", "noise": noise, "empty": empty, "text": text,
            "manifest_only": manifest_only}


@pytest.mark.parametrize("name", ["missing", "noise", "empty", "text", "manifest_only"])
def test_a_bad_input_leaves_the_window_and_the_open_job_as_they_were(qtbot, window, tmp_path, name):
    before = window.inspection
    window.inspection.cursor.seek(18)
    path = bad_inputs(tmp_path)[name]
    window.open_path(path)
    qtbot.waitUntil(window.banner.isVisible, timeout=15000)
    assert window.isVisible()
    assert window.inspection is before and window.inspection.cursor.pos == 18
    text = window.banner.text()
    assert text.startswith(f"Could not open {path}: ") and "\n" not in text
    assert not window.progress.isVisible()
    assert_views_agree(window)


def test_an_empty_window_shows_the_error_too(qtbot, empty_window, tmp_path):
    kind, reason = open_and_wait(qtbot, empty_window, tmp_path / "missing.zip")
    assert kind == "failed" and "no such file" in reason
    assert empty_window.banner.isVisible() and empty_window.inspection is None


def test_cut_and_garbage_lines_open_with_a_report(qtbot, empty_window, tmp_path):
    path = write_archive(tmp_path / "cut")
    with open(path / "events" / "200.jsonl", "ab") as f:
        f.write(b'\xff\xfe garbage\n{"seq": 99, "ts": "x"}\n{"seq": 24, "ts": 1296564450.5, "pid": 200, "ki')
    kind, _ = open_and_wait(qtbot, empty_window, path)
    assert kind == "opened"
    qtbot.waitUntil(lambda: empty_window.inspection is not None)
    assert "problem" in empty_window.report_button.text()
    assert_views_agree(empty_window)


def test_a_pack_with_several_jobs_asks_which(qtbot, empty_window, tmp_path):
    tgz = write_pack_of_two(tmp_path)
    empty_window.open_path(tgz)
    qtbot.waitUntil(lambda: empty_window.job_dialog is not None and empty_window.job_dialog.isVisible(),
                    timeout=15000)
    dialog = empty_window.job_dialog
    assert dialog.comboBoxItems() == ["sandbox/jobA", "sandbox/jobB"]
    dialog.setTextValue("sandbox/jobB")
    with qtbot.waitSignal(empty_window.opener.opened, timeout=15000):
        ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
        qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    assert empty_window.inspection.index.job["id"] == "4712"


@pytest.mark.slow
def test_indexing_can_be_cancelled_and_keeps_the_open_job(qtbot, window, tmp_path):
    big = write_synthetic(tmp_path / "big", 60_000)
    before = window.inspection
    opened = []
    window.opener.opened.connect(lambda *a: opened.append(a))
    window.open_path(big)
    assert window.cancel_button.isVisible() and window.progress.isVisible()
    qtbot.waitUntil(lambda: "Indexing: " in window.progress.format() and window.progress.value() > 0,
                    timeout=15000)  # under way
    qtbot.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton)
    assert not window.progress.isVisible()
    all_indexing_ended()
    assert opened == [] and window.inspection is before
    assert "cancelled" in window.statusBar().currentMessage()


def test_a_newer_open_wins_over_an_older_one(qtbot, empty_window, tmp_path):
    slow = write_synthetic(tmp_path / "slow", 20_000)
    fast = write_archive(tmp_path / "fast")
    opened = []
    empty_window.opener.opened.connect(lambda ix, p: opened.append(p))
    empty_window.open_path(slow)
    empty_window.open_path(fast)
    qtbot.waitUntil(lambda: bool(opened), timeout=15000)
    all_indexing_ended()
    assert opened == [str(fast)]


def test_open_now_at_a_record(empty_window, archive):
    open_now(empty_window, archive, record=(200, 10))
    cur = empty_window.inspection.cursor
    assert cur.frame.func == "g" and cur.frame.line == 3 and cur.state.record["kind"] == "call"
    assert_views_agree(empty_window)


def test_a_file_without_a_source_record_says_so(empty_window, tmp_path):
    from tests.models.jobs import failing_python

    py = failing_python()
    py.records = [r for r in py.records if r["kind"] != "source"]
    for seq, r in enumerate(py.records):
        r["seq"] = seq
    open_now(empty_window, write_archive(tmp_path / "nosource", [monitor(), py]), where="failure")
    view = empty_window.source
    assert view.stack.currentWidget() is view.missing
    assert "/job/transform.py was not recorded" in view.missing.text()
    assert view.title.text() == "/job/transform.py:5"


def test_the_value_a_call_returned_is_shown(empty_window):
    from jemgui.resources import resource_path

    open_now(empty_window, resource_path("demo", "archive"), where="start")
    ix, cur = empty_window.inspection.index, empty_window.inspection.cursor
    pos = next(p for p in ix.find(kinds=["return"]).tolist() if ix.record(p).get("value"))
    rec = ix.record(pos)
    cur.seek(pos)
    returned = empty_window.locals_view.returned
    assert returned.topLevelItemCount() == 1
    item = returned.topLevelItem(0)
    assert (item.text(0), item.text(1)) == (rec["func"], rec["value"][0])
    assert item.data(2, Qt.ItemDataRole.UserRole) == rec["value"][1]
