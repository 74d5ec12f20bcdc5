"""The window driven by real key presses and clicks: every panel shows the same moment after each move."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from tests.views.agree import assert_views_agree

# positions in the merged timeline of tests.models.jobs' default job
CALL_MAIN, LINE_MAIN, CALL_F, LINE_F9, CALL_G, LINE_G5, RAISE = 14, 15, 16, 18, 20, 22, 23
SHELL_ALIVE = 12  # the last position before bash exits: both threads still have a stack
PYTHON_RECORDS = [8, 10, 12, 14, 15, 16, 17, 18, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 31]


def key(qtbot, w, k, mod=Qt.KeyboardModifier.NoModifier):
    qtbot.keyClick(w, k, mod)


def test_opens_at_the_start_with_every_panel_filled(window):
    cur = window.inspection.cursor
    assert cur.pos == 0
    s = assert_views_agree(window)
    assert s["table_pos"] == 0
    assert window.events.model.rowCount() == window.inspection.index.count
    assert "4711" in window.windowTitle()


def test_step_into_forwards_then_backwards_through_the_python_thread(qtbot, window):
    cur = window.inspection.cursor
    cur.seek(PYTHON_RECORDS[0])
    seen = [cur.pos]
    for _ in PYTHON_RECORDS[1:]:
        key(qtbot, window, Qt.Key.Key_F11)
        assert_views_agree(window)
        seen.append(cur.pos)
    assert seen == PYTHON_RECORDS
    back = [cur.pos]
    for _ in PYTHON_RECORDS[1:]:
        key(qtbot, window, Qt.Key.Key_F11, Qt.KeyboardModifier.ControlModifier)
        assert_views_agree(window)
        back.append(cur.pos)
    assert back == PYTHON_RECORDS[::-1]


def test_step_over_out_and_back(qtbot, window):
    cur = window.inspection.cursor
    cur.seek(LINE_F9)                                   # f, about to call g
    key(qtbot, window, Qt.Key.Key_F11)                  # into g
    assert cur.pos == CALL_G and cur.frame.func == "g"
    s = assert_views_agree(window)
    assert s["source_line"] == 3 and s["stack"][0][0] == "g"
    key(qtbot, window, Qt.Key.Key_F10)                  # over: next line of g
    assert cur.pos == CALL_G + 1 and assert_views_agree(window)["source_line"] == 4
    key(qtbot, window, Qt.Key.Key_F11, Qt.KeyboardModifier.ShiftModifier)   # out of g: back in f
    assert cur.frame.func == "f" and cur.pos > CALL_G
    assert_views_agree(window)
    key(qtbot, window, Qt.Key.Key_F11, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert cur.frame.func == "main" and cur.pos == LINE_MAIN   # back out of f: where main called it
    assert_views_agree(window)
    key(qtbot, window, Qt.Key.Key_F10)                  # over the call of f: main's next record
    assert cur.frame.func == "main" and cur.pos > RAISE and cur.state.record["kind"] == "exception"
    assert_views_agree(window)
    key(qtbot, window, Qt.Key.Key_F10, Qt.KeyboardModifier.ControlModifier)  # back over it again
    assert cur.pos == LINE_MAIN
    assert_views_agree(window)


def test_exceptions_and_failure_badge(qtbot, window):
    cur = window.inspection.cursor
    key(qtbot, window, Qt.Key.Key_F8)
    assert cur.pos == RAISE
    s = assert_views_agree(window)
    assert s["source_line"] == 5 and [f for f, _ in s["stack"]] == ["g", "f", "main", "<module>"]
    assert s["locals"] == {"n": "42", "d": "{}"}
    key(qtbot, window, Qt.Key.Key_F8, Qt.KeyboardModifier.ShiftModifier)
    assert cur.pos == RAISE   # no earlier raise: stays, and says so
    assert "nothing before" in window.statusBar().currentMessage()
    cur.seek(0)
    qtbot.mouseClick(window.header.badge, Qt.MouseButton.LeftButton)
    assert cur.pos == RAISE
    assert_views_agree(window)
    assert "KeyError" in window.header.badge.text()


def test_clicking_a_table_row_moves_every_panel(qtbot, window):
    cur, table = window.inspection.cursor, window.events.table
    table.scrollTo(window.events.model.index(LINE_F9, 0))
    rect = table.visualRect(window.events.model.index(LINE_F9, 3))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert cur.pos == LINE_F9
    s = assert_views_agree(window)
    assert s["locals"] == {"x": "21", "y": "42"}


def test_choosing_a_caller_frame_moves_source_and_locals(qtbot, window):
    cur = window.inspection.cursor
    cur.seek(RAISE)
    tree = window.stack_view.tree
    item = tree.topLevelItem(2)                         # main
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=tree.visualItemRect(item).center())
    assert cur.frame.func == "main" and cur.pos == RAISE
    s = assert_views_agree(window)
    assert s["source_line"] == 13 and s["locals"] == {}
    item = tree.topLevelItem(1)                         # f
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=tree.visualItemRect(item).center())
    assert assert_views_agree(window)["locals"] == {"x": "21", "y": "42"}


def test_thread_chooser_shows_the_shell_stack(qtbot, window):
    cur = window.inspection.cursor
    cur.seek(SHELL_ALIVE)                                # bash still runs (it exits at 13)
    box = window.stack_view.threads
    assert box.count() == 2 and box.isEnabled()
    box.setCurrentIndex(0)                               # the shell's thread
    assert cur.thread == 1
    s = assert_views_agree(window)
    assert s["source_path"] == "/job/run.sh"
    assert s["stack"][0][0] == "main"


def test_each_file_keeps_its_editor_up_to_the_limit(window, monkeypatch):
    """Coming back to a file shows its own editor again, text untouched; at most EDITORS stay."""
    cur, src = window.inspection.cursor, window.source
    cur.seek(SHELL_ALIVE)
    python_file, python_editor = src.path, src.editor
    laid_out = python_editor.document()
    window.stack_view.threads.setCurrentIndex(0)         # the shell's thread: another file
    assert src.path == "/job/run.sh" and src.editor is not python_editor
    window.stack_view.threads.setCurrentIndex(1)
    assert src.path == python_file and src.editor is python_editor and src.editor.document() is laid_out
    assert_views_agree(window)
    monkeypatch.setattr(type(src), "EDITORS", 1)
    window.stack_view.threads.setCurrentIndex(0)         # the python file's editor goes
    window.stack_view.threads.setCurrentIndex(1)         # and comes back as a new one
    assert list(src._editors) == [python_file] and src.editor is not python_editor
    pages = [src.stack.widget(i) for i in range(src.stack.count())]
    assert python_editor not in pages and src.editor in pages and len(pages) == 2   # + the "not recorded" page
    assert_views_agree(window)


def test_gutter_breakpoint_then_continue_forwards_and_back(qtbot, window):
    cur = window.inspection.cursor
    cur.seek(CALL_F)
    ed = window.source.editor
    block = ed.document().findBlockByNumber(4)           # line 5, in g
    y = int(ed.blockBoundingGeometry(block).translated(ed.contentOffset()).center().y())
    qtbot.mouseClick(ed.gutter, Qt.MouseButton.LeftButton, pos=QPoint(5, y))
    assert ("/job/transform.py", 5) in window.inspection.breakpoints
    key(qtbot, window, Qt.Key.Key_F5)
    assert cur.pos == LINE_G5
    assert assert_views_agree(window)["source_line"] == 5
    cur.seek(31)
    key(qtbot, window, Qt.Key.Key_F5, Qt.KeyboardModifier.ControlModifier)
    assert cur.pos == LINE_G5
    qtbot.mouseClick(ed.gutter, Qt.MouseButton.LeftButton, pos=QPoint(5, y))
    assert len(window.inspection.breakpoints) == 0


def test_continue_without_breakpoints_says_how_to_set_one(qtbot, window):
    cur = window.inspection.cursor
    key(qtbot, window, Qt.Key.Key_F5)
    assert cur.pos == 0 and "breakpoint" in window.statusBar().currentMessage().lower()


def test_slider_keyboard_and_plot_click_seek(qtbot, window):
    cur = window.inspection.cursor
    slider = window.transport_bar.slider
    slider.setFocus()
    key(qtbot, slider, Qt.Key.Key_End)
    qtbot.waitUntil(lambda: cur.pos == window.inspection.index.count - 1)
    assert_views_agree(window)
    key(qtbot, slider, Qt.Key.Key_Home)
    qtbot.waitUntil(lambda: cur.pos == 0)
    plot = window.metrics
    ix = window.inspection.index
    target_t = ix.time_at(LINE_F9)
    scene_pt = plot.left.mapViewToScene(QPointF(target_t, 2.0))
    view_pt = plot.widget.mapFromScene(scene_pt)
    qtbot.mouseClick(plot.widget.viewport(), Qt.MouseButton.LeftButton, pos=view_pt)
    assert cur.pos == ix.pos_at_time(target_t) and abs(cur.pos - LINE_F9) <= 1
    assert_views_agree(window)


def test_dragging_the_plot_cursor_seeks(qtbot, window):
    cur, plot, ix = window.inspection.cursor, window.metrics, window.inspection.index
    cur.seek(CALL_MAIN)
    line_pt = plot.widget.mapFromScene(plot.left.mapViewToScene(QPointF(ix.time_at(CALL_MAIN), 2.0)))
    end_pt = plot.widget.mapFromScene(plot.left.mapViewToScene(QPointF(ix.time_at(RAISE), 2.0)))
    vp = plot.widget.viewport()
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=line_pt)
    for i in range(1, 6):
        qtbot.mouseMove(vp, line_pt + (end_pt - line_pt) * i / 5)
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=end_pt)
    qtbot.waitUntil(lambda: abs(cur.pos - RAISE) <= 1)
    assert_views_agree(window)


def test_locals_copy_and_value_history(qtbot, window):
    cur = window.inspection.cursor
    cur.seek(LINE_F9)
    assert window.history.plot is None                   # built when a numeric value is first shown
    loc = window.locals_view.locals
    item = next(loc.topLevelItem(i) for i in range(loc.topLevelItemCount()) if loc.topLevelItem(i).text(0) == "y")
    qtbot.mouseClick(loc.viewport(), Qt.MouseButton.LeftButton, pos=loc.visualItemRect(item).center())
    assert cur.variable == "y"
    loc.setFocus()
    key(qtbot, loc, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert QGuiApplication.clipboard().text() == "42"
    hist = window.history
    qtbot.waitUntil(lambda: hist.model.rowCount() == 1)
    assert hist.model.rows[0][0] == LINE_F9 and hist.model.rows[0][3] == "42"
    assert not hist.plot.isHidden()
    assert "y in f" in hist.title.text()
    cur.seek(RAISE)
    cur.select_frame(cur.stack[2].frame_id)              # f, where y lives
    qtbot.mouseClick(hist.prev_button, Qt.MouseButton.LeftButton)
    assert cur.pos == LINE_F9
    assert_views_agree(window)


def test_changed_locals_are_highlighted(window):
    cur = window.inspection.cursor
    cur.seek(LINE_F9)
    loc = window.locals_view.locals
    rows = {loc.topLevelItem(i).text(0): loc.topLevelItem(i) for i in range(loc.topLevelItemCount())}
    assert rows["y"].font(0).bold() and not rows["x"].font(0).bold()
    assert rows["y"].background(2).color() != rows["x"].background(2).color()


def test_filter_bar_shows_only_matching_rows_and_follows_the_cursor(qtbot, window):
    ev, cur = window.events, window.inspection.cursor
    ev.text.setText("KeyError")
    qtbot.waitUntil(lambda: ev.model.positions is not None, timeout=5000)
    rows = [ev.model.row(r) for r in range(ev.model.rowCount())]
    assert rows and all("KeyError" in r[8] for r in rows)
    assert "of" in ev.count_label.text()
    cur.seek(RAISE)
    assert ev.current_pos() == RAISE
    cur.seek(LINE_F9)                                    # filtered out: no row is selected
    assert ev.current_pos() is None
    ev.kind_actions["log"].setChecked(False)
    qtbot.waitUntil(lambda: all(ev.model.row(r)[4] != "log" for r in range(ev.model.rowCount())), timeout=5000)
    ev.text.clear()
    for act in ev.kind_actions.values():
        act.setChecked(True)
    qtbot.waitUntil(lambda: ev.model.positions is None, timeout=5000)
    assert ev.model.rowCount() == window.inspection.index.count


def test_play_advances_and_space_pauses(qtbot, window):
    cur, tr = window.inspection.cursor, window.transport
    window.transport_bar.speed.setCurrentIndex(window.transport_bar.speed.count() - 1)
    key(qtbot, window, Qt.Key.Key_Space)
    assert tr.playing
    qtbot.waitUntil(lambda: cur.pos > 10, timeout=5000)
    key(qtbot, window, Qt.Key.Key_Space)
    assert not tr.playing
    assert_views_agree(window)


def test_tooltips_name_the_shortcuts(window):
    for name, keys in (("into", "F11"), ("over", "F10"), ("out", "Shift+F11"), ("continue", "F5"),
                       ("back_into", "Ctrl+F11"), ("back_over", "Ctrl+F10"), ("back_out", "Ctrl+Shift+F11")):
        assert f"({keys})" in window.transport.actions[name].toolTip()


def test_layout_and_geometry_persist(qtbot, settings, archive):
    from jemgui.views.main_window import MainWindow

    w = MainWindow(settings)
    qtbot.addWidget(w)
    w.show()
    w.resize(700, 500)
    w.docks["history"].setFloating(False)
    w.docks["stack"].hide()
    w.close()
    w2 = MainWindow(settings)
    qtbot.addWidget(w2)
    w2.show()
    assert (w2.size().width(), w2.size().height()) == (700, 500)
    assert not w2.docks["stack"].isVisible()
    w2.reset_layout()
    assert w2.docks["stack"].isVisible()


def test_import_report_reachable_from_the_status_bar(qtbot, empty_window, tmp_path):
    from tests.models.jobs import write_archive

    path = write_archive(tmp_path / "bad")
    with open(path / "events" / "200.jsonl", "ab") as f:
        f.write(b"{not json\n")
    with qtbot.waitSignal(empty_window.opener.opened, timeout=15000):
        empty_window.open_path(path)
    button = empty_window.report_button
    assert button.isVisible() and "problem" in button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    text = empty_window.report_dialog.text.toPlainText()
    assert "200.jsonl" in text


def test_recent_files_remember_what_was_opened(qtbot, empty_window, archive):
    with qtbot.waitSignal(empty_window.opener.opened, timeout=15000):
        empty_window.open_path(archive)
    assert empty_window.recent_files()[0] == str(archive.resolve())


def test_drop_opens_an_archive(qtbot, empty_window, archive):
    from PySide6.QtCore import QMimeData, QPoint, QPointF, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(archive))])
    args = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    enter = QDragEnterEvent(QPoint(50, 50), *args)
    QApplication.sendEvent(empty_window, enter)
    assert enter.isAccepted()
    with qtbot.waitSignal(empty_window.opener.opened, timeout=15000):
        QApplication.sendEvent(empty_window, QDropEvent(QPointF(50, 50), *args))
    assert empty_window.inspection is not None
    assert empty_window.inspection.cursor.pos == 23      # a failed job opens at its failure
    assert_views_agree(empty_window)


def test_table_cells_read_in_one_call_match_cell_by_cell(window):
    """Qt 6 delegates read a cell's roles in one multiData call and reuse the buffers between
    cells; every role must then be what data() says, never a leftover of the cell before."""
    from PySide6.QtCore import QModelRoleData, QModelRoleDataSpan

    model = window.events.model
    roles = [Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.FontRole, Qt.ItemDataRole.TextAlignmentRole,
             Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.ForegroundRole, Qt.ItemDataRole.DecorationRole]
    buffers = {role: QModelRoleData(int(role.value)) for role in roles}
    for row in (23, 24, 25, 2, 3, 22):                  # exception rows next to plain ones
        for col in range(model.columnCount()):
            index = model.index(row, col)
            for role, rd in buffers.items():
                model.multiData(index, QModelRoleDataSpan(rd))
                assert rd.data() == model.data(index, role), (row, col, role)


@pytest.mark.parametrize("menu_item, kind", [("Open archive…", "packed"), ("Open folder…", "folder")])
def test_file_open_dialogs_open_what_is_chosen(qtbot, empty_window, archive, tmp_path, menu_item, kind):
    """File ▸ Open: the real dialog, filled in and accepted as a user would."""
    import tarfile

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QFileDialog, QLineEdit

    target = archive
    if kind == "packed":
        target = tmp_path / "job4711.tgz"
        with tarfile.open(target, "w:gz") as tar:
            tar.add(archive, arcname="job4711")
    seen = []

    def fill() -> None:
        dialog = next((d for d in QApplication.topLevelWidgets()
                       if isinstance(d, QFileDialog) and d.isVisible()), None)
        if dialog is None:
            QTimer.singleShot(50, fill)
            return
        seen.append(dialog.windowTitle())
        dialog.findChild(QLineEdit, "fileNameEdit").setText(str(target))  # typed in, full path
        dialog.accept()

    [action] = [a for a in empty_window.menuBar().actions()[0].menu().actions() if a.text() == menu_item]
    QTimer.singleShot(50, fill)
    with qtbot.waitSignal(empty_window.opener.opened, timeout=15000):
        action.trigger()
    assert seen and "JEM archive" in seen[0]
    assert empty_window.inspection is not None and empty_window.inspection.index.count > 0
    assert empty_window.recent_files()[0] == str(target.resolve())


def test_cycles_are_collected_on_the_gui_thread_only(qtbot, empty_window):
    """Automatic collection is off once a window exists, and a timer on the GUI thread collects."""
    import gc

    from PySide6.QtCore import QThread

    from jemgui.views import gui_gc

    assert not gc.isenabled()
    timer = gui_gc._collector.timer
    assert timer.isActive() and timer.thread() is QThread.currentThread()

    class Node:
        pass

    keep = [Node() for _ in range(2 * gc.get_threshold()[0])]  # due for a generation-0 pass
    assert gc.get_count()[0] > gc.get_threshold()[0]
    qtbot.waitUntil(lambda: gc.get_count()[0] < gc.get_threshold()[0], timeout=5000)
    assert len(keep) == 2 * gc.get_threshold()[0]


@pytest.mark.parametrize("final, exit_code, badge, shows_exit", [
    ("DONE", 0, "Succeeded", True),
    ("RUNNING", None, "Running, no failure so far", False),
    ("KILLED", None, "No exception recorded (KILLED)", True),
])
def test_header_of_a_job_without_a_failure(qtbot, empty_window, tmp_path, final, exit_code, badge, shows_exit):
    """A running job has no exit code yet and is not flagged; a killed one without exception is."""
    from jemgui.app import open_now
    from tests.models.jobs import MANIFEST_JOB, monitor, shell, write_archive

    mon = monitor()
    for rec in mon.records:
        if rec.get("state") == "FAILED":
            rec["state"] = final
    sh = shell()  # its bash ends as the job does: well, killed, or not yet
    sh.records.pop()
    if final != "RUNNING":
        sh.add("process", phase="exit", **({"exit_code": 0} if final == "DONE" else {"signal": 9}))
    job = {**MANIFEST_JOB, "exit_code": exit_code}
    open_now(empty_window, write_archive(tmp_path / final, [mon, sh], job=job))
    assert badge in empty_window.header.badge.text()
    assert ("Exit" in empty_window.header.facts.text()) == shows_exit


def _new_process(code: str):
    """Run `code` in a fresh Python: what make_app sets up once per process."""
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)


def test_the_window_process_runs_blas_on_one_thread():
    """numpy's BLAS worker threads spin after each call and took the GUI thread's core."""
    import json

    out = _new_process("import json; from jemgui.app import make_app; make_app(offscreen=True); "
                       "from threadpoolctl import threadpool_info; "
                       "print(json.dumps([i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas']))")
    threads = json.loads(out.stdout.strip().splitlines()[-1])
    assert threads and all(n == 1 for n in threads)


def test_offscreen_windows_do_not_flood_stderr_and_other_qt_messages_still_show():
    out = _new_process("from jemgui.app import make_app, settle; app = make_app(offscreen=True)\n"
                       "from PySide6.QtCore import qWarning; from PySide6.QtWidgets import QWidget\n"
                       "w = QWidget(); w.show()\n"
                       "for n in range(5): w.setMinimumSize(100 + n, 100); settle(app, 2)\n"
                       "qWarning('a message of its own')\n")
    assert "propagateSizeHints" not in out.stderr
    assert "a message of its own" in out.stderr
