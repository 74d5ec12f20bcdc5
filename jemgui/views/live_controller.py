"""Wires a live job to the main window: the broker's data in, the window's panels kept current.

`LiveLink` is the window's link to one broker (connection, signing
credential, the list of live jobs); watching a job makes a `LiveSession` and
a `LiveController`. The controller drains the session on a ~40 ms timer on
the GUI thread (the broker's thread never touches Qt), swaps in each new
index generation the session built in the background (newer generations
win; an older one that arrives late is dropped), follows the newest record
unless the user moved the cursor, offers "back to live", adds the steering
panel and the live status, and shows a snapshot in the stack and locals
panels as a NOW position, marked as such.

A swap rebuilds the panels from the new index; the GUI thread's CPU time for
it is measured (not the wall time, which the background index build and the
job inflate), and the next one waits at least eight times as long, so the GUI
thread spends at most about an eighth of its time on them however fast the
job writes. While a command
waits for its reply the timer runs every few milliseconds, so a reply shows
as soon as it arrives rather than on the next 40 ms tick.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from jemgui.live.session import JobList, LiveSession, SnapshotIndex, remove_index
from jemgui.models.cursor import POS, Cursor
from jemgui.models.index import Index
from jemgui.views.call_stack import CallStackView
from jemgui.views.inspection import Inspection
from jemgui.views.live_dialogs import ConnectDialog, ConnectSettings, ask_passphrase
from jemgui.views.live_jobs import LiveJobsDialog
from jemgui.views.live_status import HolesOverlay, LiveStatus, hole_spans
from jemgui.views.locals_view import LocalsView
from jemgui.views.main_window import DOCKS
from jemgui.views.steering_panel import SteeringPanel

TICK_MS = 40
#: the timer's period while a command waits for its reply
REPLY_TICK_MS = 4
#: a swap may use at most 1/SWAP_SHARE of the GUI thread's time, and comes at most every MIN_SWAP s
SWAP_SHARE, MIN_SWAP = 8.0, 0.25
NOW_STYLE = "background: #fff8e1; color: #e65100; border-bottom: 2px solid #ffb300; padding: 4px 6px;"


class SnapshotBanner(QWidget):
    """A panel shown instead of a timeline panel: a NOW banner above a view of the snapshot."""

    def __init__(self, view: QWidget, taken: float, on_back, parent: QWidget | None = None):
        super().__init__(parent)
        self.view = view
        label = QLabel(f"<b>NOW</b> · snapshot of the running job at "
                       f"{time.strftime('%H:%M:%S', time.localtime(taken))}"
                       f".{int(taken % 1 * 1000):03d}: not a recorded position")
        label.setWordWrap(True)
        back = QPushButton("Back to the timeline")
        back.clicked.connect(on_back)
        top = QWidget()
        top.setObjectName("now")
        top.setStyleSheet(f"QWidget#now {{ {NOW_STYLE} }}")
        row = QHBoxLayout(top)
        row.setContentsMargins(6, 2, 6, 2)
        row.addWidget(label, 1)
        row.addWidget(back)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(top)
        layout.addWidget(view, 1)
        self.back_button = back


class LiveController(QObject):
    """One watched job in the window (see the module docstring)."""

    snapshot_shown = Signal()
    swapped = Signal()  #: a new index generation is on screen

    def __init__(self, window, session: LiveSession, tick_ms: int = TICK_MS):
        super().__init__(window)
        self.window = window
        self.session = session
        self.tick_ms = tick_ms
        self.following = True
        self.shown: object | None = None  #: the IndexBuild on screen
        self.pending: object | None = None  #: a newer build waiting for its turn
        self.swaps = 0
        self.swap_seconds = 0.0
        self._last_swap = 0.0
        self._moving = False
        self._awaiting = 0  #: commands sent whose reply has not come
        self.snapshot: Cursor | None = None
        self._taken = 0.0
        self._saved_views: dict[str, QWidget] = {}

        self.status = LiveStatus()
        self.status.back_to_live.connect(self.back_to_live)
        window.statusBar().addPermanentWidget(self.status)
        self.holes = HolesOverlay()
        self._holes_key: tuple | None = None
        self.panel = SteeringPanel(session)
        self.panel.sent.connect(self._sent)
        self.dock = steering_dock(window)
        self.dock.setWindowTitle(f"Steering job {session.job_id}")
        old = self.dock.widget()
        self.dock.setWidget(self.panel)
        if old is not None:
            old.deleteLater()
        self.dock.show()
        self.back_action = QAction("Back to live", self)
        self.back_action.setShortcut(QKeySequence("Ctrl+L"))
        self.back_action.setToolTip("Follow the newest record again")
        self.back_action.triggered.connect(self.back_to_live)
        window.addAction(self.back_action)
        self._add_to_go_menu()
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.tick)
        self.timer.start(tick_ms)
        window.statusBar().showMessage(f"Watching job {session.job_id}: waiting for its records…")

    # -- the timer -----------------------------------------------------------------------------

    def tick(self) -> None:
        """Drain, match replies, take a finished index build, swap it in when due, show figures."""
        polled = self.session.poll()
        for req in polled.finished:
            self._awaiting = max(0, self._awaiting - 1)
            self.panel.show_request(req)
            if req.state == "ok" and req.cmd == "snapshot" and req.result.get("threads"):
                self.show_snapshot(req.result, req.answered or time.time())
        if polled.finished and not self._awaiting:
            self.timer.setInterval(self.tick_ms)
        build = self.session.index.take()
        if build is not None:
            self._offer(build)
        if self.pending is not None and time.monotonic() - self._last_swap >= self.swap_interval:
            self.swap()
        self.panel.show_job(self.session.store.job)
        self.status.show_session(self.session, self.following, self.waiting)
        self._show_holes()

    def _show_holes(self) -> None:
        """Mark the holes on the plot, again only when they or the panels changed."""
        if self.window.inspection is None or self.shown is None:
            return
        gaps = (self.session.holes(), self.session.lost())
        key = (self.swaps, tuple(tuple((pid, tuple(r)) for pid, r in g.items()) for g in gaps))
        if key != self._holes_key:
            self._holes_key = key
            self.holes.show(self.window.metrics, hole_spans(self.session, self.window.inspection.index))

    def _sent(self, req) -> None:
        """A command went out: poll often until its reply came."""
        if req.state == "waiting":
            self._awaiting += 1
            self.timer.setInterval(REPLY_TICK_MS)

    @property
    def swap_interval(self) -> float:
        return max(MIN_SWAP, SWAP_SHARE * self.swap_seconds)

    @property
    def waiting(self) -> int:
        """Records the session holds that the window does not show yet."""
        shown = self.shown.records if self.shown is not None else 0
        return max(0, self.session.writer.written + self.session.writer.holding - shown)

    def _offer(self, build) -> None:
        """Keep the newest build; an older one (never shown) is deleted, a stale one dropped."""
        newest = self.pending or self.shown
        if newest is not None and build.generation <= newest.generation:
            remove_index(build.db_path)
            return
        if self.pending is not None:
            remove_index(self.pending.db_path)
        self.pending = build

    def swap(self) -> bool:
        """Show the pending index generation, keeping the cursor on its record (or at the newest)."""
        build, self.pending = self.pending, None
        if build is None:
            return False
        t0 = time.thread_time()
        try:
            index = Index(build.db_path)
            if index.count == 0:
                index.close()
                remove_index(build.db_path)
                return False
            inspection = Inspection(index, str(self.session.folder), self.window)
        except Exception as exc:  # a broken generation leaves the window as it was
            remove_index(build.db_path)
            self.window.statusBar().showMessage(f"Could not show the newest records: "
                                                f"{type(exc).__name__}: {exc}", 10000)
            return False
        w = self.window
        old = w.inspection
        keep, variable, text = None, None, ""
        if old is not None:
            text = w.events.text.text()
            variable = old.cursor.variable
            if not self.following and old.cursor.pos is not None:
                rec = old.index.record(old.cursor.pos)
                keep = (rec["pid"], rec["seq"], old.cursor.thread)
        snapshot = self.snapshot is not None
        if snapshot:
            self._restore_views()  # the new panels replace the timeline's, not the NOW banners
        self._moving = True
        try:
            w.show_inspection(inspection)
            cur = inspection.cursor
            pos = index.pos_of(keep[0], keep[1]) if keep else None
            if pos is None:
                self.following = True
                cur.seek(index.count - 1)
            else:
                cur.seek(pos, keep[2])
            if variable:
                cur.select_variable(variable)
        finally:
            self._moving = False
        cur.changed.connect(self._cursor_moved)
        if text:
            w.events.text.setText(text)
        w.setWindowTitle(f"JEM Inspector — {inspection.title} (live)")
        self._add_to_go_menu()
        self._show_input_problems(index)
        if self.shown is None:
            w.statusBar().showMessage(f"Watching job {self.session.job_id} live", 5000)
        else:
            remove_index(self.shown.db_path)
        self.shown = build
        if snapshot:
            self._show_snapshot_views()
        self.holes.clear()
        self.swaps += 1
        if self.swaps > 1:  # the first one also pays for what is built once (highlighter, plots)
            self.swap_seconds = time.thread_time() - t0
        self._last_swap = time.monotonic()
        self.swapped.emit()
        return True

    def _add_to_go_menu(self) -> None:
        """The window rebuilds its Go menu for every job shown: put "Back to live" back on top."""
        menu = self.window.go_menu
        if self.back_action not in menu.actions():
            first = menu.actions()[0] if menu.actions() else None
            menu.insertAction(first, self.back_action)
            if first is not None:
                menu.insertSeparator(first)

    def _show_input_problems(self, index) -> None:
        """A running job's capture has no end yet: that is not a problem of the input."""
        if self.session.ended:
            return
        button = self.window.report_button
        problems = index.report.total - index.report.counts.get("aborted", 0)
        button.setText(f"⚠ {problems} problem{'s' if problems != 1 else ''} in the records"
                       if problems else "✔ records read cleanly")
        button.setStyleSheet("color: #b71c1c;" if problems else "color: #2e7d32;")

    def _cursor_moved(self, changed) -> None:
        if self._moving or POS not in changed:
            return
        ix = self.window.inspection.index
        self.following = self.window.inspection.cursor.pos == ix.count - 1 and self.pending is None
        if self.snapshot is not None:
            self.hide_snapshot()

    def back_to_live(self) -> None:
        """Follow the newest record again (showing what waited, at once)."""
        self.following = True
        if self.pending is not None:
            self.swap()
        elif self.window.inspection is not None:
            self._moving = True
            try:
                self.window.inspection.cursor.seek(self.window.inspection.index.count - 1)
            finally:
                self._moving = False
        self.status.show_session(self.session, self.following, self.waiting)

    # -- a snapshot as NOW ------------------------------------------------------------------------

    def show_snapshot(self, result: dict, taken: float) -> None:
        """Show a snapshot's threads in the stack and locals panels, marked NOW."""
        if self.snapshot is not None:
            self._restore_views()
        self.snapshot = Cursor(SnapshotIndex(result, taken))
        self._taken = taken
        self._show_snapshot_views()
        self.snapshot_shown.emit()

    def _show_snapshot_views(self) -> None:
        """Put NOW banners over views of the snapshot into the stack and locals docks."""
        w = self.window
        for name, view_type, title in (("stack", CallStackView, "Call stack — NOW (snapshot)"),
                                       ("locals", LocalsView, "Locals — NOW (snapshot)")):
            dock = w.docks[name]
            self._saved_views[name] = dock.widget()
            dock.setWidget(SnapshotBanner(view_type(self.snapshot), self._taken, self.hide_snapshot))
            dock.setWindowTitle(title)
            dock.show()
            dock.raise_()

    def _restore_views(self) -> None:
        """Put the timeline's views back into the stack and locals docks, dropping the banners."""
        for name, saved in list(self._saved_views.items()):
            dock = self.window.docks[name]
            banner = dock.widget()
            dock.setWidget(saved)
            saved.show()
            if isinstance(banner, SnapshotBanner):
                banner.deleteLater()
            dock.setWindowTitle(DOCKS[name])
        self._saved_views.clear()

    def hide_snapshot(self) -> None:
        """Back to the timeline's stack and locals."""
        if self.snapshot is None:
            return
        self.snapshot = None
        self._restore_views()

    # -- ending ----------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the timer and the session (its capture stays as an archive)."""
        self.timer.stop()
        self.hide_snapshot()
        if self.window.inspection is not None and self.shown is not None:
            self.holes.clear()
        self.window.removeAction(self.back_action)
        self.window.go_menu.removeAction(self.back_action)
        self.window.statusBar().removeWidget(self.status)
        self.status.deleteLater()
        self.panel.setEnabled(False)
        self.dock.setWindowTitle(f"Steering job {self.session.job_id} (stopped)")
        folder = self.session.close()
        if self.pending is not None:
            remove_index(self.pending.db_path)
            self.pending = None
        self.window.statusBar().showMessage(f"Stopped watching job {self.session.job_id}; "
                                            f"its capture is in {folder}", 10000)


def steering_dock(window) -> QDockWidget:
    """The window's Steering dock, made (beside Events, in the View menu) the first time."""
    dock = window.docks.get("steering")
    if dock is not None:
        return dock
    dock = QDockWidget("Steering", window)
    dock.setObjectName("steering")
    window.docks["steering"] = dock
    if not window.restoreDockWidget(dock):
        window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        window.tabifyDockWidget(window.docks["events"], dock)
    window.view_menu.insertAction(window.view_menu.actions()[len(DOCKS)], dock.toggleViewAction())
    return dock


class LiveLink(QObject):
    """The window's link to one broker: the connection, the signing credential, the watched job.

    `credential_note` says why there is no credential (shown in the steering panel).
    """

    def __init__(self, window, settings: ConnectSettings, credential=None, connection=None,
                 credential_note: str = ""):
        super().__init__(window)
        self.window = window
        self.settings = settings
        self.credential = credential
        self.credential_note = credential_note
        self.connection = connection if connection is not None else settings.connection()
        self.connection.start()
        self.controller: LiveController | None = None
        self.jobs: JobList | None = None
        self.jobs_dialog: LiveJobsDialog | None = None

    def watch(self, job_id: str, **session_options) -> LiveController:
        """Watch `job_id` (instead of the job watched before)."""
        if self.controller is not None:
            self.controller.close()
        session = LiveSession(self.connection, job_id, self.credential, **session_options)
        self.controller = LiveController(self.window, session)
        if self.credential is None and self.credential_note:
            self.controller.panel.show_note(self.credential_note)
        return self.controller

    def choose_job(self) -> LiveJobsDialog:
        """The list of jobs the broker announces; choosing one watches it."""
        if self.jobs is None:
            self.jobs = JobList(self.connection)
        self.jobs_dialog = LiveJobsDialog(self.jobs, str(self.connection.url), self.window)
        self.jobs_dialog.watch.connect(self.watch)
        self.jobs_dialog.show()
        return self.jobs_dialog

    def close(self) -> None:
        """Stop watching, close the job list, disconnect."""
        if self.jobs_dialog is not None:
            self.jobs_dialog.view.timer.stop()
            self.jobs_dialog.close()
            self.jobs_dialog = None
        if self.controller is not None:
            self.controller.close()
            self.controller = None
        if self.jobs is not None:
            self.jobs.close()
            self.jobs = None
        self.connection.close()


def load_credential(window, settings: ConnectSettings):
    """(credential, "") as the settings name it, or (None, why not): the window then only watches.

    A passphrase is asked once, in a dialog, when the key is encrypted.
    """
    from jemgui.live.credentials import CredentialError

    if settings.credential == "none":
        return None, "watching only (no credential chosen)"
    try:
        return settings.load_credential(lambda what: ask_passphrase(window, what)), ""
    except CredentialError as exc:
        if settings.credential != "default":
            window.show_error(f"Commands cannot be signed: {exc}")
        return None, str(exc)


def start(window, settings: ConnectSettings, credential=None, connection=None,
          credential_note: str = "") -> LiveLink:
    """Connect the window to a broker and watch `settings.job`, or list the live jobs to choose one.

    ValueError (one line) when the settings do not make a connection; the
    window keeps the link it had then.
    """
    if connection is None:
        connection = settings.connection()
    if window.live is not None:
        window.live.close()
        window.live = None
    link = LiveLink(window, settings, credential, connection, credential_note)
    window.live = link
    if settings.job:
        link.watch(settings.job)
    else:
        link.choose_job()
    return link


def connect_dialog(window) -> ConnectDialog:
    """File ▸ Connect: ask for the broker and credential, then connect (non-blocking)."""
    dialog = ConnectDialog(window.settings, window)

    def accepted() -> None:
        settings = dialog.values()
        try:
            credential, note = load_credential(window, settings)
            start(window, settings, credential, credential_note=note)
        except ValueError as exc:
            window.show_error(f"Could not connect: {exc}")

    dialog.accepted.connect(accepted)
    dialog.open()
    window.connect_dialog = dialog
    return dialog
