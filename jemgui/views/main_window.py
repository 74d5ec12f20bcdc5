"""The main window: it assembles the panels around the source view, and does nothing else.

Docks are created once (their layout and the window geometry persist in
QSettings); each opened job builds fresh views from a new `Inspection` and
puts them into the docks. Opening runs in the background, and a bad input
leaves the window as it was, with a one-line message.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QSettings, QSize, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDockWidget,
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from jemgui.models.indexer import progress_words
from jemgui.views.call_stack import CallStackView
from jemgui.views.event_table import EventTableView
from jemgui.views.gui_gc import collect_on_gui_thread
from jemgui.views.header import JobHeader
from jemgui.views.inspection import Inspection
from jemgui.views.locals_view import LocalsView
from jemgui.views.logs_panel import LogsPanel, is_grid_job
from jemgui.views.metrics_plot import MetricsPlot
from jemgui.views.opener import Opener
from jemgui.views.source_view import SourceView
from jemgui.views.transport import Transport, TransportBar
from jemgui.views.value_history import ValueHistoryView

MAX_RECENT = 10
ARCHIVE_FILTER = "JEM archives (*.tar *.tar.gz *.tgz *.zip *.jsonl *.jsonl.gz *.jmd *.json);;All files (*)"
WELCOME = ("<h2>JEM Inspector</h2><p>Open a job's archive to replay it: <b>File ▸ Open</b> (Ctrl+O),"
           " drop a folder or file here, or run <code>jemgui demo</code>.</p>"
           "<p style='color:#757575'>Folders, .tar, .tar.gz, .zip, .jsonl(.gz) streams and legacy"
           " JEM_MON.jmd logs open.</p>")

#: seconds between two growths of the panels while indexing runs (each costs the GUI thread a few ms)
GROW_EVERY = 0.5

#: dock object name -> title
DOCKS = {"metrics": "System metrics", "stack": "Call stack", "locals": "Locals and arguments",
         "events": "Events", "history": "Value history", "logs": "Logs"}


class ReportDialog(QDialog):
    """The import report: every problem the reader found in the input (non-modal)."""

    def __init__(self, lines: list[str], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Import report")
        self.resize(760, 360)
        text = QPlainTextEdit("\n".join(lines) if lines else "No problems found in this input.")
        text.setReadOnly(True)
        text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Problems found while reading the input. Good records around them are kept."))
        layout.addWidget(text)
        layout.addWidget(buttons)
        self.text = text


class MainWindow(QMainWindow):
    """Docks, menus, status bar, opening; panels come from the current `Inspection`."""

    def __init__(self, settings: QSettings | None = None):
        super().__init__()
        collect_on_gui_thread()
        self.settings = settings if settings is not None else QSettings("jemgui", "JEM Inspector")
        self.inspection: Inspection | None = None
        self.transport: Transport | None = None
        self.report_dialog: ReportDialog | None = None
        self.job_dialog: QInputDialog | None = None
        self._pending_place: tuple[str | None, tuple[int, int] | None] = (None, None)
        self.live = None  # a LiveLink (jemgui.views.live_controller) while connected to a broker
        self.setWindowTitle("JEM Inspector")
        self.setAcceptDrops(True)
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks
                            | QMainWindow.DockOption.AllowNestedDocks)
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        self.setCorner(Qt.Corner.TopRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)

        self.opener = Opener(self)
        self.opener.progress.connect(self._progress)
        self.opener.choose_job.connect(self._choose_job)
        self.opener.opened.connect(self._opened)
        self.opener.failed.connect(self._failed)
        self.opener.started.connect(self._started)
        self.opener.early_failure.connect(self._early_failure)
        self._before: Inspection | None = None  #: shown before a partial index took its place
        self._early: dict | None = None  #: the failure read from the streams' ends of the input opening
        self._open_t0 = 0.0
        self._last_grow = 0.0
        self._extra_actions: list[QAction] = []  #: put on top of the Go menu for every job shown

        self._build_central()
        self._build_docks()
        self.header_bar = QToolBar("Job", self)
        self.header_bar.setObjectName("job")
        self.header_bar.setMovable(False)
        self.header_bar.setFloatable(False)
        self.header_bar.setStyleSheet("QToolBar#job { background: #263238; border: 0; padding: 0; spacing: 0; }")
        self.header_bar.setVisible(False)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.header_bar)
        self.addToolBarBreak(Qt.ToolBarArea.TopToolBarArea)
        self.toolbar = QToolBar("Transport", self)
        self.toolbar.setObjectName("transport")
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        self.toolbar.setIconSize(QSize(22, 22))
        self.toolbar.setMovable(True)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.toolbar)
        self._build_status()
        self._build_menus()
        self.resize(1500, 950)
        self._default_state = self.saveState()
        self.restoreGeometry(self.settings.value("geometry", b""))
        self._sized = self.restoreState(self.settings.value("state", b""))

    # -- building ------------------------------------------------------------------

    def _build_central(self) -> None:
        central = QWidget()
        self.central_layout = QVBoxLayout(central)
        self.central_layout.setContentsMargins(0, 0, 0, 0)
        self.central_layout.setSpacing(0)
        self.banner = QLabel()
        self.banner.setObjectName("banner")
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("QLabel#banner { background: #ffebee; color: #b71c1c; padding: 6px 10px;"
                                  " border-bottom: 1px solid #ef9a9a; }")
        self.banner.setVisible(False)
        self.banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.welcome = QLabel(WELCOME)
        self.welcome.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.welcome.setWordWrap(True)
        self.source_slot = QVBoxLayout()
        self.source_slot.addWidget(self.welcome)
        self.central_layout.addWidget(self.banner)
        self.central_layout.addLayout(self.source_slot, 1)
        self.setCentralWidget(central)

    def _build_docks(self) -> None:
        self.docks: dict[str, QDockWidget] = {}
        for name, title in DOCKS.items():
            dock = QDockWidget(title, self)
            dock.setObjectName(name)
            dock.setWidget(self._placeholder())
            self.docks[name] = dock
        right, bottom = Qt.DockWidgetArea.RightDockWidgetArea, Qt.DockWidgetArea.BottomDockWidgetArea
        self.addDockWidget(right, self.docks["metrics"])
        self.addDockWidget(right, self.docks["stack"])
        self.addDockWidget(right, self.docks["locals"])
        self.addDockWidget(bottom, self.docks["events"])
        self.addDockWidget(bottom, self.docks["history"])
        self.tabifyDockWidget(self.docks["events"], self.docks["history"])
        self.addDockWidget(bottom, self.docks["logs"])  # a grid job's log files (LogsPanel)
        self.tabifyDockWidget(self.docks["history"], self.docks["logs"])
        self.docks["events"].raise_()

    def _default_sizes(self) -> None:
        """Give the panels their first sizes in proportion to the window (once it has a size)."""
        w, h = self.width(), self.height()
        right = [self.docks[n] for n in ("metrics", "stack", "locals")]
        self.resizeDocks(right, [int(h * 0.30), int(h * 0.25), int(h * 0.45)], Qt.Orientation.Vertical)
        self.resizeDocks([self.docks["metrics"]], [int(w * 0.36)], Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["events"]], [int(h * 0.32)], Qt.Orientation.Vertical)

    @staticmethod
    def _placeholder() -> QWidget:
        label = QLabel("—")
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label.setStyleSheet("color: #9e9e9e;")
        return label

    def _build_status(self) -> None:
        bar = self.statusBar()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(420)  # records, rate and time left
        self.progress.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop indexing; the window keeps what it showed")
        self.cancel_button.clicked.connect(self.cancel_open)
        self.report_button = QPushButton()
        self.report_button.setFlat(True)
        self.report_button.setToolTip("Show the import report: problems found in the input")
        self.report_button.clicked.connect(self.show_report)
        for w in (self.progress, self.cancel_button, self.report_button):
            w.setVisible(False)
            bar.addPermanentWidget(w)

    def _build_menus(self) -> None:
        mb = self.menuBar()
        file = mb.addMenu("&File")
        self._action(file, "Open archive…", QKeySequence.StandardKey.Open, self.open_dialog)
        self._action(file, "Open folder…", "Ctrl+Shift+O", self.open_folder_dialog)
        self._action(file, "Open many…", "Ctrl+Shift+M", self.open_many_dialog)
        self.recent_menu = file.addMenu("Open recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self._action(file, "Connect to a live job…", "Ctrl+Shift+L", self.connect_live)
        file.addSeparator()
        self._action(file, "Import report…", None, self.show_report)
        file.addSeparator()
        self._action(file, "Quit", QKeySequence.StandardKey.Quit, self.close)
        self.go_menu = mb.addMenu("&Go")
        self.view_menu = mb.addMenu("&View")
        for dock in self.docks.values():
            self.view_menu.addAction(dock.toggleViewAction())
        self.view_menu.addSeparator()
        self.view_menu.addAction(self.toolbar.toggleViewAction())
        self._action(self.view_menu, "Reset layout", None, self.reset_layout)
        self.filter_action = self._action(self.view_menu, "Filter events", QKeySequence.StandardKey.Find,
                                          self._focus_filter)
        help_menu = mb.addMenu("&Help")
        self._action(help_menu, "Keyboard shortcuts", "F1", self.show_shortcuts)

    def _action(self, menu, text: str, keys, slot) -> QAction:
        act = QAction(text, self)
        if keys is not None:
            act.setShortcut(QKeySequence(keys))
        act.triggered.connect(slot)
        menu.addAction(act)
        self.addAction(act)
        return act

    # -- opening -----------------------------------------------------------------------

    def open_path(self, path: str | Path, job: str | None = None, where: str | None = None,
                  record: tuple[int, int] | None = None) -> int:
        """Start opening `path` in the background; the current job stays until its first records are in."""
        self._revert_partial()
        self._pending_place = (where, record)
        self._early = None
        self._open_t0 = time.monotonic()
        self.banner.setVisible(False)
        self.progress.setRange(0, 0)
        self.progress.setFormat(f"Indexing {Path(path).name}… %p%")
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)
        self.statusBar().showMessage(f"Opening {path}…")
        return self.opener.open(path, job)

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a JEM archive", self._last_dir(), ARCHIVE_FILTER)
        if path:
            self.open_path(path)

    def open_folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a JEM archive folder", self._last_dir())
        if path:
            self.open_path(path)

    def open_many_dialog(self) -> None:
        """A folder of many jobs' archives and log tarballs, triaged in the Jobs window (issue 17)."""
        path = QFileDialog.getExistingDirectory(self, "Open many jobs: a folder of archives and log tarballs",
                                                self._last_dir())
        if path:
            from jemgui.views.jobs_view import JobsWindow

            self.jobs_window = JobsWindow([path], inspector=self)  # its jobs open in this window
            self.jobs_window.resize(1500, 950)
            self.jobs_window.show()

    def connect_live(self) -> None:
        """File ▸ Connect: watch and steer a running job (jemgui.views.live_controller)."""
        from jemgui.views.live_controller import connect_dialog

        connect_dialog(self)

    def cancel_open(self) -> None:
        self._revert_partial()
        self.opener.cancel()
        self._end_progress()
        self.statusBar().showMessage("Indexing cancelled", 5000)

    def _last_dir(self) -> str:
        recent = self.recent_files()
        return str(Path(recent[0]).parent) if recent else str(Path.home())

    def _progress(self, done: int, total: int, records: int) -> None:
        if total > 0:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * done / total))
        self.progress.setFormat(progress_text(records, done, total, time.monotonic() - self._open_t0))
        partial = self.inspection
        if partial is not None and partial.growing and time.monotonic() - self._last_grow >= GROW_EVERY:
            self._last_grow = time.monotonic()
            partial.grow()

    def _started(self, index, path: str) -> None:
        """The first records of a big input are in: show them, and grow as indexing goes on."""
        try:
            inspection = Inspection(index, path, self, growing=True)
        except Exception:  # noqa: BLE001 - the finished index is shown instead
            return
        self._before = self.inspection
        self.show_inspection(inspection, keep_old=True)
        self.header.show_summary(inspection.summary, indexing=True)
        self._last_grow = time.monotonic()
        if self._early is not None:
            self.header.show_early_failure(self._early)
        where, record = self._pending_place
        if record is not None and index.pos_of(*record) is not None:
            inspection.place(where, record)
        self.statusBar().showMessage(f"Indexing {Path(path).name}: the records indexed so far can be stepped"
                                     " through already", 10000)

    def _early_failure(self, failure: dict) -> None:
        self._early = failure
        if self.inspection is not None and self.inspection.growing:
            self.header.show_early_failure(failure)
            self._failure_action()

    def _revert_partial(self) -> None:
        """Put back what the window showed before a partial index that will not be completed."""
        if self.inspection is None or not self.inspection.growing or self.inspection.index is not self.opener.partial:
            return
        before, self._before = self._before, None
        if before is not None:
            self.show_inspection(before)
        else:
            self.clear_inspection()

    def _grown(self) -> None:
        """The shown index grew: each panel takes in what is new, in place."""
        inspection = self.inspection
        if inspection is None:
            return
        if not inspection.growing and self.header.indexing:  # just completed
            self.header.show_summary(inspection.summary)
            self.show_input_status(inspection)
        for view in (self.events, self.transport_bar, self.header, self.metrics):
            grow = getattr(view, "grow", None)
            if grow is not None:
                grow()
        self._failure_action()

    def _choose_job(self, path: str, jobs: list) -> None:
        """Ask which job of a pack to open (a window-modal sheet, so nothing blocks)."""
        self._end_progress()
        labels = [label for _, label in jobs]
        dialog = QInputDialog(self)
        dialog.setWindowTitle("Choose a job")
        dialog.setLabelText(f"{Path(path).name} holds {len(jobs)} jobs. Open which one?")
        dialog.setComboBoxItems(labels)
        dialog.setComboBoxEditable(False)
        where, record = self._pending_place
        dialog.textValueSelected.connect(
            lambda label: self.open_path(path, jobs[labels.index(label)][0], where, record))
        dialog.rejected.connect(lambda: self.statusBar().showMessage("No job chosen", 5000))
        self.job_dialog = dialog
        dialog.open()

    def _end_progress(self) -> None:
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)

    def _failed(self, path: str, reason: str) -> None:
        self._revert_partial()
        self._end_progress()
        self.show_error(f"Could not open {path}: {reason}")

    def show_error(self, text: str) -> None:
        """A one-line error above the source; the window and any open job stay as they were."""
        self.banner.setText(" ".join(text.split()))
        self.banner.setVisible(True)
        self.statusBar().showMessage(text, 15000)

    def _opened(self, index, path: str) -> None:
        self._end_progress()
        inspection = self.inspection
        if inspection is not None and inspection.index is index:  # shown while indexing: complete it in place
            before, self._before = self._before, None
            if before is not None:
                before.close()
                before.deleteLater()
            inspection.complete()
            where, record = self._pending_place
            if where == "failure" or record is not None:
                note = inspection.place(where, record)
                if note:
                    self.statusBar().showMessage(note, 10000)
            self.add_recent(path)
            self.statusBar().showMessage(f"Opened {path}: {index.count:,} records indexed", 5000)
            return
        if index.count == 0:
            problems = index.report.lines()
            self.show_error(f"Could not open {path}: it holds no records"
                            + (f" ({problems[0]}" + (f", and {len(problems) - 1} more problems)"
                                                     if len(problems) > 1 else ")") if problems else ""))
            index.close()
            return
        try:
            inspection = Inspection(index, path, self)
        except Exception as exc:  # a broken index must not take the window down
            self.show_error(f"Could not open {path}: {type(exc).__name__}: {exc}")
            return
        self.show_inspection(inspection)
        note = inspection.place(*self._pending_place)
        self.add_recent(path)
        if note:
            self.statusBar().showMessage(note, 10000)
        else:
            self.statusBar().showMessage(f"Opened {path}", 5000)

    def show_inspection(self, inspection: Inspection, keep_old: bool = False) -> None:
        """Build every panel for `inspection` and put them in place of the old ones.

        The old inspection's index is closed at once, unless `keep_old` (it may be shown again).
        """
        old = self.inspection
        if old is not None:
            try:
                old.grown.disconnect(self._grown)
            except (RuntimeError, TypeError):
                pass
        self.inspection = inspection
        inspection.grown.connect(self._grown)
        ix, cur = inspection.index, inspection.cursor
        if self.transport is not None:
            self.transport.pause()
            for act in self.transport.actions.values():
                self.removeAction(act)
        self.transport = Transport(ix, cur, inspection.breakpoints, inspection)
        self.transport.message.connect(lambda text: self.statusBar().showMessage(text, 5000))
        self.header = JobHeader(ix, cur, inspection.summary)
        self.source = SourceView(ix, cur, inspection.breakpoints)
        self.stack_view = CallStackView(cur)
        self.locals_view = LocalsView(cur)
        self.events = EventTableView(ix, cur, inspection.queries)
        self.history = ValueHistoryView(ix, cur, inspection.queries)
        self.metrics = MetricsPlot(ix, cur, inspection.queries)
        grid = is_grid_job(ix.job)
        self.logs = LogsPanel(ix, cur, inspection.queries, inspection.path) if grid else self._placeholder()
        if grid:
            self.transport.actions.update(self.logs.actions)
        self.header_bar.clear()
        self.header_bar.addWidget(self.header)
        self.header_bar.setVisible(True)
        self._replace(self.source_slot, self.source)
        for name, view in (("metrics", self.metrics), ("stack", self.stack_view), ("locals", self.locals_view),
                           ("events", self.events), ("history", self.history), ("logs", self.logs)):
            old_view = self.docks[name].widget()
            self.docks[name].setWidget(view)
            if old_view is not None:
                old_view.deleteLater()
        self._fill_toolbar()
        self._fill_go_menu()
        if grid:
            self.docks["logs"].raise_()
        self.show_input_status(inspection)
        if old is not None and not keep_old and old is not self._before:
            old.close()
            old.deleteLater()

    def show_input_status(self, inspection: Inspection) -> None:
        """The import report's button and the title (again once a growing index is complete)."""
        problems = inspection.index.report.total
        self.report_button.setText(f"⚠ {problems} problem{'s' if problems != 1 else ''} in the input"
                                   if problems else "indexing…" if inspection.growing else "✔ input read cleanly")
        self.report_button.setStyleSheet("color: #b71c1c;" if problems else "color: #2e7d32;")
        self.report_button.setVisible(True)
        self.setWindowTitle(f"JEM Inspector — {inspection.title}")

    def clear_inspection(self) -> None:
        """Back to the empty window (the job shown is closed)."""
        old, self.inspection = self.inspection, None
        if self.transport is not None:
            self.transport.pause()
            for act in self.transport.actions.values():
                self.removeAction(act)
            self.transport = None
        self.toolbar.clear()
        self.go_menu.clear()
        self.header_bar.clear()
        self.header_bar.setVisible(False)
        self.welcome = QLabel(WELCOME)
        self.welcome.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.welcome.setWordWrap(True)
        self._replace(self.source_slot, self.welcome)
        for dock in self.docks.values():
            if dock.objectName() in DOCKS:
                view = dock.widget()
                dock.setWidget(self._placeholder())
                if view is not None:
                    view.deleteLater()
        self.report_button.setVisible(False)
        self.setWindowTitle("JEM Inspector")
        if old is not None:
            old.close()
            old.deleteLater()

    def _failure_action(self) -> None:
        act = self.transport.actions.get("failure") if self.transport is not None else None
        if act is not None:
            act.setEnabled(self.header.failure_pos is not None or self.header._early is not None)

    @staticmethod
    def _replace(slot: QVBoxLayout, widget: QWidget) -> None:
        while slot.count():
            w = slot.takeAt(0).widget()
            if w is not None:
                w.hide()
                w.deleteLater()
        slot.addWidget(widget)

    def _fill_toolbar(self) -> None:
        bar, a = self.toolbar, self.transport.actions
        bar.clear()
        for group in (("back_continue", "back_out", "back_over", "back_into"), ("play",),
                      ("into", "over", "out", "continue"),
                      ("prev_exception", "next_exception", "prev_error", "next_error")):
            for name in group:
                if name in a:  # the errors only for a grid job's logs
                    bar.addAction(a[name])
            bar.addSeparator()
        self.transport_bar = TransportBar(self.transport)
        bar.addWidget(self.transport_bar)
        for act in a.values():
            self.addAction(act)

    def _fill_go_menu(self) -> None:
        menu, a = self.go_menu, self.transport.actions
        menu.clear()
        if self._extra_actions:
            menu.addActions(self._extra_actions)
            menu.addSeparator()
        for group in (("into", "over", "out", "continue"), ("back_into", "back_over", "back_out", "back_continue"),
                      ("next_exception", "prev_exception"), ("play", "toggle_breakpoint"),
                      ("next_record", "prev_record", "first", "last")):
            for name in group:
                menu.addAction(a[name])
            menu.addSeparator()
        failure = QAction("Go to failure", menu)
        failure.setShortcut(QKeySequence("Ctrl+Shift+F"))
        failure.triggered.connect(self.header.go_to_failure)
        failure.setEnabled(self.header.failure_pos is not None or self.header._early is not None)
        menu.addAction(failure)
        self.addAction(failure)
        a["failure"] = failure

    # -- the window's API for controllers (live jobs): they use these, never the window's insides --------

    def dock(self, name: str, title: str, widget: QWidget) -> QDockWidget:
        """The dock `name` holding `widget` (made beside Events, in the View menu, the first time)."""
        dock = self.docks.get(name)
        if dock is None:
            dock = QDockWidget(title, self)
            dock.setObjectName(name)
            self.docks[name] = dock
            if not self.restoreDockWidget(dock):
                self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
                self.tabifyDockWidget(self.docks["events"], dock)
            self.view_menu.insertAction(self.view_menu.actions()[len(DOCKS)], dock.toggleViewAction())
        dock.setWindowTitle(title)
        old = dock.widget()
        dock.setWidget(widget)
        if old is not None and old is not widget:
            old.deleteLater()
        return dock

    def replace_panel(self, name: str, widget: QWidget, title: str | None = None) -> QWidget | None:
        """Show `widget` in the panel dock `name` (its own title when None), raised; returns the
        widget it replaces, which the caller owns (to put back later)."""
        dock = self.docks[name]
        old = dock.widget()
        dock.setWidget(widget)
        dock.setWindowTitle(title or DOCKS.get(name, name))
        if title is not None:
            dock.show()
            dock.raise_()
        return old

    def panel(self, name: str) -> QWidget | None:
        """The view the panel dock `name` shows (`"metrics"`, `"events"`, ...)."""
        dock = self.docks.get(name)
        return dock.widget() if dock is not None else None

    def set_input_status(self, text: str, problem: bool) -> None:
        """What the status bar says about the input's records (a live job's, while it runs)."""
        self.report_button.setText(text)
        self.report_button.setStyleSheet("color: #b71c1c;" if problem else "color: #2e7d32;")
        self.report_button.setVisible(True)

    def add_extra_actions(self, actions: list[QAction]) -> None:
        """Actions on top of the Go menu (and their shortcuts), kept for every job shown."""
        for act in actions:
            if act not in self._extra_actions:
                self._extra_actions.append(act)
                self.addAction(act)
        if self.transport is not None:
            menu = self.go_menu
            first = next((a for a in menu.actions() if a not in self._extra_actions), None)
            missing = [a for a in self._extra_actions if a not in menu.actions()]
            if missing and first is not None:
                menu.insertActions(first, missing)
                if not first.isSeparator():
                    menu.insertSeparator(first)

    def remove_extra_actions(self, actions: list[QAction]) -> None:
        for act in actions:
            if act in self._extra_actions:
                self._extra_actions.remove(act)
                self.removeAction(act)
                self.go_menu.removeAction(act)

    # -- recent files, report, layout --------------------------------------------------

    def recent_files(self) -> list[str]:
        value = self.settings.value("recent", [])
        if isinstance(value, str):
            value = [value]
        return [v for v in (value or []) if isinstance(v, str)]

    def add_recent(self, path: str) -> None:
        path = str(Path(path).resolve())
        recent = [path] + [p for p in self.recent_files() if p != path]
        self.settings.setValue("recent", recent[:MAX_RECENT])

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        recent = self.recent_files()
        for path in recent:
            self.recent_menu.addAction(path, lambda p=path: self.open_path(p))
        if not recent:
            self.recent_menu.addAction("(none)").setEnabled(False)

    def show_report(self) -> None:
        lines = self.inspection.index.report.lines() if self.inspection else []
        self.report_dialog = ReportDialog(lines, self)
        self.report_dialog.show()

    def reset_layout(self) -> None:
        self.restoreState(self._default_state)
        self._default_sizes()

    def _focus_filter(self) -> None:
        if self.inspection is not None:
            self.docks["events"].show()
            self.docks["events"].raise_()
            self.events.text.setFocus()
            self.events.text.selectAll()

    def show_shortcuts(self) -> None:
        rows = []
        if self.transport is not None:
            for act in self.transport.actions.values():
                rows.append(f"{act.shortcut().toString():<16} {act.text()}")
        text = "\n".join(rows) or "Open a job first."
        dialog = ReportDialog([], self)
        dialog.setWindowTitle("Keyboard shortcuts")
        dialog.text.setPlainText(text)
        dialog.show()
        self.shortcuts_dialog = dialog

    # -- events --------------------------------------------------------------------

    def dragEnterEvent(self, event) -> None:  # Qt override
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # Qt override
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_path(paths[0])

    def showEvent(self, event) -> None:  # Qt override
        super().showEvent(event)
        if not self._sized:
            self._sized = True
            self._default_sizes()

    def closeEvent(self, event) -> None:  # Qt override
        if self.transport is not None:
            self.transport.pause()
        self._revert_partial()
        self.opener.cancel()
        if self.live is not None:
            self.live.close()
            self.live = None
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("state", self.saveState())
        self.settings.sync()
        super().closeEvent(event)



def progress_text(records: int, done: int, total: int, seconds: float) -> str:
    """`Indexing: 1,234,567 records, 70,000/s, 1:05 left  %p%`."""
    return f"Indexing: {progress_words(records, done, total, seconds)}  %p%"
