"""The window names the failure as the summary does: the badge, and the event table's copy in PID:SEQ."""

from __future__ import annotations

import subprocess
import sys

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from jemgui.app import open_now
from tests.models.jobs import MANIFEST_JOB, Stream, monitor, write_archive


def inspect_record(archive, name: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jemgui", "inspect", str(archive), "--record", name, "--json"],
                          capture_output=True, text=True, timeout=120)


def test_table_copy_names_the_record_as_inspect_takes_it(qtbot, window, archive):
    cur, table = window.inspection.cursor, window.events
    failure = window.inspection.summary["failure"]
    cur.seek(failure["position"])
    table.table.setFocus()
    QGuiApplication.clipboard().clear()
    qtbot.keyClick(table.table, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    copied = QGuiApplication.clipboard().text()
    name = copied.split("\t", 1)[0]
    rec = window.inspection.index.record(failure["position"])
    assert name == f"{rec['pid']}:{rec['seq']}" == failure["record"]
    assert "KeyError: 42" in copied and "/job/transform.py:5" in copied
    assert inspect_record(archive, name).returncode == 0
    row, _ = table.model.row_of(failure["position"])
    tip = table.model.data(table.model.index(row, 0), Qt.ItemDataRole.ToolTipRole)
    assert tip.startswith(f"record {name} ")


def shell_job(tmp_path):
    """bash under `set -e`: `grep` on its third line fails, the script ends with its status."""
    sh = Stream(150)
    sh.add("process", phase="start", argv=["bash", "run.sh"], ppid=100, cwd="/job", lang="shell")
    sh.add("source", path="/job/run.sh", sha256="1" * 64, lang="shell",
           text="set -e\necho staging\ngrep -q gain conditions.db\necho done\n")
    for line, text in ((1, "set -e"), (2, "echo staging"), (3, "grep -q gain conditions.db")):
        sh.add("command", file="/job/run.sh", line=line, func="main", depth=0, text=text)
    sh.add("process", phase="exit", exit_code=2)
    return write_archive(tmp_path / "job", [monitor(), sh], job={**MANIFEST_JOB, "exit_code": 2})


def test_a_failed_command_is_the_badge_and_the_place_the_window_opens(qtbot, empty_window, tmp_path):
    open_now(empty_window, shell_job(tmp_path), where="failure")
    header, cur = empty_window.header, empty_window.inspection.cursor
    assert "exit code 2: grep -q gain" in header.badge.text() and "run.sh:3" in header.badge.text()
    rec = empty_window.inspection.index.record(cur.pos)
    assert (rec["kind"], rec["line"]) == ("command", 3)
    cur.seek(0)
    qtbot.mouseClick(header.badge, Qt.MouseButton.LeftButton)
    assert cur.pos == header.failure_pos and empty_window.inspection.index.record(cur.pos)["line"] == 3


def test_an_uncertain_failure_says_so_on_the_badge(qtbot, empty_window, tmp_path):
    """Verbosity 2: `parse` raised and `<module>` left at the raising line; nothing printed it."""
    s = Stream(300)
    s.add("process", phase="start", argv=["python3", "t.py"], ppid=100, cwd="/job", lang="python")
    s.frame("call", 1, 1, "<module>", 0)
    s.frame("call", 2, 1, "parse", 1)
    s.frame("exception", 2, 2, "parse", 1, type="ValueError", message="bad",
            traceback=[["/job/transform.py", 9, "<module>"], ["/job/transform.py", 2, "parse"]])
    s.frame("return", 2, 2, "parse", 1)
    s.frame("exception", 1, 9, "<module>", 0, type="ValueError", message="bad")
    s.frame("return", 1, 9, "<module>", 0)
    s.add("process", phase="exit", exit_code=1)
    archive = write_archive(tmp_path / "job", [monitor(), s], job={**MANIFEST_JOB, "verbosity": 2})
    open_now(empty_window, archive, where="failure")
    badge = empty_window.header.badge
    assert badge.text().startswith("?  ValueError: bad")
    assert "Uncertain:" in badge.toolTip()
