"""Wires a live job to the main window: the broker's data in, the window's panels kept current.

`LiveLink` is the window's link to one broker (connection, signing
credential, the list of live jobs); watching a job makes a `LiveSession` and
a `LiveController`. The controller drains the session on a ~40 ms timer on
the GUI thread (the broker's thread never touches Qt). The session's index
grows as records arrive (`jemgui.live.session.LiveIndex`); at most every
`GROW_MS` the controller has the shown inspection take in what was committed
(each panel updates in place: the table's rows, the plot's series, the
slider's range, the header's count), follows the newest record unless the
user moved the cursor, offers "back to live", adds the steering panel and the
live status, and shows a snapshot in the stack and locals panels as a NOW
position, marked as such. Once the job has ended and every record is in,
the archive's index (the merged timeline) replaces the growing one, once,
with the cursor kept on its record.

It uses only the window's small API (`show_inspection`, `dock`,
`replace_panel`, `panel`, `set_input_status`, `add_extra_actions`), never
its internals. While a command waits for its reply the timer runs every few
milliseconds, so a reply shows as soon as it arrives rather than on the
next 40 ms tick.
"""

from __future__ import annotations

import sqlite3
import time

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from jemgui.live.session import JobList, LiveSession, SnapshotIndex
from jemgui.models.cursor import POS, Cursor
from jemgui.models.index import Index
from jemgui.views.call_stack import CallStackView
from jemgui.views.inspection import Inspection
from jemgui.views.live_dialogs import ConnectDialog, ConnectSettings, ask_passphrase
from jemgui.views.live_jobs import LiveJobsDialog
from jemgui.views.live_status import HolesOverlay, LiveStatus, hole_spans
from jemgui.views.locals_view import LocalsView
from jemgui.views.steering_panel import SteeringPanel

TICK_MS = 40
#: the timer's period while a command waits for its reply
REPLY_TICK_MS = 4
#: the shown index takes in new records at most this often (ms)
GROW_MS = 100
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
    swapped = Signal()  #: new records are on screen

    def __init__(self, window, session: LiveSession, tick_ms: int = TICK_MS):
        super().__init__(window)
        self.window = window
        self.session = session
        self.tick_ms = tick_ms
        self.following = True
        self.shown_count = 0  #: records on screen
        self.final_shown = False  #: the archive's index (merged timeline) replaced the growing one
        self.swaps = 0  #: times new records came on screen (grown in place, or replaced at the end)
        self.grow_seconds = 0.0  #: the GUI thread's CPU time for the last growth
        self._last_grow = 0.0
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
        self.dock = window.dock("steering", f"Steering job {session.job_id}", self.panel)
        self.dock.show()
        self.back_action = QAction("Back to live", self)
        self.back_action.setShortcut(QKeySequence("Ctrl+L"))
        self.back_action.setToolTip("Follow the newest record again")
        self.back_action.triggered.connect(self.back_to_live)
        window.add_extra_actions([self.back_action])
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.tick)
        self.timer.start(tick_ms)
        window.statusBar().showMessage(f"Watching job {session.job_id}: waiting for its records…")

    # -- the timer -----------------------------------------------------------------------------

    def tick(self) -> None:
        """Drain, match replies, show what the index gained (or its final form), show figures."""
        polled = self.session.poll()
        for req in polled.finished:
            self._awaiting = max(0, self._awaiting - 1)
            self.panel.show_request(req)
            if req.state == "ok" and req.cmd == "snapshot" and req.result.get("threads"):
                self.show_snapshot(req.result, req.answered or time.time())
        if polled.finished and not self._awaiting:
            self.timer.setInterval(self.tick_ms)
        final = self.session.index.take_final()
        if final is not None:
            self._show_final(final)
        self.grow()
        self.panel.show_job(self.session.store.job)
        self.status.show_session(self.session, self.following, self.waiting)
        self._show_holes()

    def _show_holes(self) -> None:
        """Mark the holes on the plot, again only when they or the panels changed."""
        if self.window.inspection is None or not self.shown_count:
            return
        gaps = (self.session.holes(), self.session.lost())
        key = (id(self.window.panel("metrics")),
               tuple(tuple((pid, tuple(r)) for pid, r in g.items()) for g in gaps))
        if key != self._holes_key:
            self._holes_key = key
            self.holes.show(self.window.panel("metrics"), hole_spans(self.session, self.window.inspection.index))

    def _sent(self, req) -> None:
        """A command went out: poll often until its reply came."""
        if req.state == "waiting":
            self._awaiting += 1
            self.timer.setInterval(REPLY_TICK_MS)

    @property
    def waiting(self) -> int:
        """Records the session holds beyond what the user sees: beyond the cursor when it left the
        newest record, else those not on screen yet."""
        ins = self.window.inspection
        seen = self.shown_count
        if not self.following and ins is not None and ins.cursor.pos is not None and not self.final_shown:
            seen = ins.cursor.pos + 1
        return max(0, self.session.index.received - seen)

    def grow(self, force: bool = False) -> bool:
        """Show what the growing index committed since (the panels update in place); True when it grew."""
        index = self.session.index
        if self.final_shown or index.committed <= self.shown_count:
            return False
        if not force and time.monotonic() - self._last_grow < GROW_MS / 1000:
            return False
        t0 = time.thread_time()
        w = self.window
        inspection = w.inspection
        in_place = inspection is not None and inspection.index.db_path == index.db_path
        if in_place:
            inspection.grow()
        else:
            try:
                ix = Index(index.db_path)
            except sqlite3.Error:
                return False
            if ix.count == 0:
                ix.close()
                return False
            self._show(Inspection(ix, str(self.session.folder), w), None)
        self._shown()
        if in_place and self.following:
            self._seek_last()
        self.grow_seconds = time.thread_time() - t0
        return True

    def _seek_last(self) -> None:
        self._moving = True
        try:
            ins = self.window.inspection
            ins.cursor.seek(ins.index.count - 1)
        finally:
            self._moving = False

    def _shown(self) -> None:
        self.shown_count = self.window.inspection.index.count
        self._last_grow = time.monotonic()
        self.swaps += 1
        self.swapped.emit()

    def _show_final(self, build) -> None:
        """The archive's index of the finished job replaces the growing one, the cursor on its record."""
        if build.error:
            self.window.statusBar().showMessage(f"The job's final index could not be built: {build.error}", 10000)
            return
        try:
            ix = Index(build.db_path)
        except sqlite3.Error as exc:
            self.window.statusBar().showMessage(f"The job's final index could not be read: {exc}", 10000)
            return
        keep = None
        old = self.window.inspection
        if old is not None and not self.following and old.cursor.pos is not None:
            rec = old.index.record(old.cursor.pos)
            keep = (rec["pid"], rec["seq"], old.cursor.thread)
        self.final_shown = True
        self._show(Inspection(ix, str(self.session.folder), self.window), keep)
        self._shown()

    def _show(self, inspection: Inspection, keep: tuple | None) -> None:
        """Put `inspection` on screen, the cursor on `keep` (pid, seq, thread) or the newest record."""
        w = self.window
        old = w.inspection
        variable = old.cursor.variable if old is not None else None
        snapshot = self.snapshot is not None
        if snapshot:
            self._restore_views()  # the new panels replace the timeline's, not the NOW banners
        self._moving = True
        try:
            w.show_inspection(inspection)
            cur, index = inspection.cursor, inspection.index
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
        w.setWindowTitle(f"JEM Inspector — {inspection.title} (live)")
        self._show_input_problems(index)
        if old is None:
            w.statusBar().showMessage(f"Watching job {self.session.job_id} live", 5000)
        if snapshot:
            self._show_snapshot_views()
        self.holes.clear()
        self._holes_key = None

    def _show_input_problems(self, index) -> None:
        """A running job's capture has no end yet: that is not a problem of the input."""
        if self.session.ended and self.final_shown:
            return
        problems = index.report.total - index.report.counts.get("aborted", 0)
        self.window.set_input_status(f"⚠ {problems} problem{'s' if problems != 1 else ''} in the records"
                                     if problems else "✔ records read cleanly", bool(problems))

    def _cursor_moved(self, changed) -> None:
        if self._moving or POS not in changed:
            return
        ix = self.window.inspection.index
        self.following = self.window.inspection.cursor.pos == ix.count - 1
        if self.snapshot is not None:
            self.hide_snapshot()

    def back_to_live(self) -> None:
        """Follow the newest record again (showing what waited, at once)."""
        self.following = True
        if not self.grow(force=True) and self.window.inspection is not None:
            self._seek_last()
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
            banner = SnapshotBanner(view_type(self.snapshot), self._taken, self.hide_snapshot)
            self._saved_views[name] = w.replace_panel(name, banner, title)

    def _restore_views(self) -> None:
        """Put the timeline's views back into the stack and locals docks, dropping the banners."""
        for name, saved in list(self._saved_views.items()):
            banner = self.window.replace_panel(name, saved)
            saved.show()
            if isinstance(banner, SnapshotBanner):
                banner.deleteLater()
        self._saved_views.clear()

    def hide_snapshot(self) -> None:
        """Back to the timeline's stack and locals."""
        if self.snapshot is None:
            return
        self.snapshot = None
        self._restore_views()

    # -- ending ----------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the timer and the session (its capture stays as an archive); never waits for the index.

        The panels keep showing what they showed (their index's files go with the session, but an
        open file stays readable); the next job shown releases it."""
        self.timer.stop()
        self.hide_snapshot()
        if self.window.inspection is not None and self.shown_count:
            self.holes.clear()
        self.window.remove_extra_actions([self.back_action])
        self.window.statusBar().removeWidget(self.status)
        self.status.deleteLater()
        self.panel.setEnabled(False)
        self.dock.setWindowTitle(f"Steering job {self.session.job_id} (stopped)")
        folder = self.session.close()
        self.window.statusBar().showMessage(f"Stopped watching job {self.session.job_id}; "
                                            f"its capture is in {folder}", 10000)


class LiveLink(QObject):
    """The window's link to one broker: the connection, the signing credential, the watched job.

    `credential_note` says why there is no credential (shown in the steering panel). `checks`
    (`jemgui.live.options.Checks`) says how the job's signatures are checked; by default
    against the grid's default CA folder.
    """

    def __init__(self, window, settings: ConnectSettings, credential=None, connection=None,
                 credential_note: str = "", checks=None):
        super().__init__(window)
        self.checks = checks
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
        if self.checks is not None:
            session_options.setdefault("verifier", self.checks.verifier(job_id))
        session = LiveSession(self.connection, job_id, self.credential, **session_options)
        self.controller = LiveController(self.window, session)
        if self.credential is None and self.credential_note:
            self.controller.panel.show_note(self.credential_note)
        return self.controller

    def choose_job(self) -> LiveJobsDialog:
        """The list of jobs the broker announces; choosing one watches it."""
        if self.jobs is None:
            self.jobs = (JobList(self.connection) if self.checks is None else
                         JobList(self.connection, self.checks.trust, self.checks.require_signed))
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
          credential_note: str = "", checks=None) -> LiveLink:
    """Connect the window to a broker and watch `settings.job`, or list the live jobs to choose one.

    ValueError (one line) when the settings do not make a connection; the
    window keeps the link it had then.
    """
    if connection is None:
        connection = settings.connection()
    if window.live is not None:
        window.live.close()
        window.live = None
    link = LiveLink(window, settings, credential, connection, credential_note, checks)
    window.live = link
    if settings.job:
        link.watch(settings.job)
    else:
        link.choose_job()
    return link


def connect_dialog(window) -> ConnectDialog:
    """File ▸ Connect: ask for the broker, credential and checks, then connect (non-blocking).

    The job is checked as `jemgui connect` with the same options checks it; what the checks
    warn about (no CA folder: nothing verifies) is said in the status bar."""
    dialog = ConnectDialog(window.settings, window)

    def accepted() -> None:
        settings = dialog.values()
        try:
            credential, note = load_credential(window, settings)
            start(window, settings, credential, credential_note=note, checks=dialog.checks)
        except ValueError as exc:
            window.show_error(f"Could not connect: {exc}")
            return
        if dialog.warnings:
            window.statusBar().showMessage("; ".join(dialog.warnings), 15000)

    dialog.accepted.connect(accepted)
    dialog.open()
    window.connect_dialog = dialog
    return dialog
