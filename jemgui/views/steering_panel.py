"""The back-channel panel: the job's commands as forms, the commands sent and what became of them.

It shows a `LiveSession`'s commands and sends new ones through it; replies
arrive through the live controller, which calls `show_request`. Before
anything is sent the panel says whose certificate signs it. The newest reply
(or the one chosen in the history) is shown in full in a viewer with search,
a file's tail as the file's text; a snapshot is also shown by the controller
in the stack and locals panels.
"""

from __future__ import annotations

import html
import json
import time

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QTextCursor, QTextDocument
from PySide6.QtWidgets import (
    QApplication,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSlider,
    QSpinBox,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from jemgui.views import theme

LEVELS = ("off", "process", "calls", "lines", "values")
#: columns of the history of sent commands
SENT, COMMAND, REPLY = range(3)
STATE_COLOURS = {"ok": "#2e7d32", "refused": "#c62828", "timeout": "#ef6c00", "unsent": "#c62828",
                 "waiting": "#757575"}


def describe_args(cmd: str, args: dict) -> str:
    if cmd == "set_verbosity":
        level = args.get("level")
        return f"level {level} ({LEVELS[level]})" if isinstance(level, int) and 0 <= level < 5 else str(args)
    if cmd == "get_file":
        tail = args.get("tail", 0)
        size = f"{tail // 1024:,} KiB" if isinstance(tail, int) and tail % 1024 == 0 else f"{tail} bytes"
        return f"{args.get('path')}, last {size}"
    return ", ".join(f"{k}={v}" for k, v in args.items())


class ReplyViewer(QWidget):
    """One reply in full, with a search field (Enter: next match, Shift+Enter: previous).

    A file's tail shows as the file's text; any other reply as its plain
    words, then the reply as the job sent it.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.title = QLabel("Replies show here; choose a command to see its reply again")
        self.title.setWordWrap(True)
        self.title.setStyleSheet("font-weight: bold;")
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text.setFont(theme.mono_font())
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search (Enter: next, Shift+Enter: previous)")
        self.search.setClearButtonEnabled(True)
        self.search.returnPressed.connect(self._enter)
        self.search.textChanged.connect(self._count)
        self.matches = QLabel()
        self.matches.setStyleSheet("color: #757575;")
        bar = QHBoxLayout()
        bar.addWidget(self.search, 1)
        bar.addWidget(self.matches)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.text, 1)
        layout.addLayout(bar)

    def show_reply(self, req) -> None:
        """Show what became of a request: the file it read, or its reply in words and as sent."""
        if req.state == "ok" and req.cmd == "get_file":
            self.show_file(req.result)
            return
        self.title.setText(f"#{req.number} {req.cmd}: {req.state}")
        text = req.words
        if req.reply is not None:
            text += "\n\n" + json.dumps(req.reply, indent=1, ensure_ascii=False)
        self._show(text, at_end=False)

    def show_file(self, result: dict) -> None:
        text = result.get("text") or ""
        size, shown = result.get("size", 0), len(text.encode())
        part = "whole file" if shown >= size else f"last {shown:,} of {size:,} bytes"
        self.title.setText(f"{result.get('path')}  ({part})")
        self._show(text, at_end=True)

    def _show(self, text: str, at_end: bool) -> None:
        self.text.setPlainText(text)
        self.text.moveCursor(QTextCursor.MoveOperation.End if at_end else QTextCursor.MoveOperation.Start)
        self._count()

    def find(self, backward: bool = False) -> bool:
        """Select the next (or previous) match, wrapping around; False when there is none."""
        needle = self.search.text()
        if not needle:
            return False
        flags = QTextDocument.FindFlag.FindBackward if backward else QTextDocument.FindFlag(0)
        if self.text.find(needle, flags):
            return True
        self.text.moveCursor(QTextCursor.MoveOperation.End if backward else QTextCursor.MoveOperation.Start)
        return self.text.find(needle, flags)

    def _enter(self) -> None:
        """Enter in the search field: the next match; with Shift, the previous one."""
        shift = QApplication.keyboardModifiers() & Qt.KeyboardModifier.ShiftModifier
        self.find(backward=bool(shift))

    def _count(self, *_) -> None:
        needle = self.search.text()
        n = self.text.toPlainText().lower().count(needle.lower()) if needle else 0
        self.matches.setText(f"{n} match{'es' if n != 1 else ''}" if needle else "")


class SteeringPanel(QWidget):
    """Forms for ping, set_verbosity, get_file and snapshot; the history of what was sent."""

    sent = Signal(object)  # a CommandRequest just sent

    def __init__(self, session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self._items: dict[int, QTreeWidgetItem] = {}

        self.signer = QLabel()
        self.signer.setWordWrap(True)
        self.signer.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.level = QSlider(Qt.Orientation.Horizontal)
        self.level.setRange(0, 4)
        self.level.setPageStep(1)
        self.level.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.level.setTickInterval(1)
        self.level_label = QLabel()
        self.level.valueChanged.connect(self._level_changed)
        self.set_level = QPushButton("Set verbosity")
        self.set_level.clicked.connect(self.send_verbosity)
        self.now_level = QLabel()
        self.now_level.setStyleSheet("color: #757575;")

        self.path = QLineEdit()
        self.path.setPlaceholderText("relative to the job's working directory, e.g. log.txt")
        self.path.returnPressed.connect(self.send_get_file)
        self.tail = QSpinBox()
        self.tail.setRange(1, 1024)
        self.tail.setValue(64)
        self.tail.setSuffix(" KiB")
        self.read_file = QPushButton("Read tail")
        self.read_file.clicked.connect(self.send_get_file)

        self.snapshot = QPushButton("Take a snapshot")
        self.snapshot.setToolTip("Every thread's stack and locals now; shown in the Call stack and "
                                 "Locals panels, marked NOW")
        self.snapshot.clicked.connect(lambda: self.send("snapshot"))
        self.ping = QPushButton("Ping")
        self.ping.setToolTip("Is the job alive, at which verbosity, how far are its streams")
        self.ping.clicked.connect(lambda: self.send("ping"))

        forms = QWidget()
        form_layout = QVBoxLayout(forms)
        form_layout.setContentsMargins(0, 0, 0, 0)
        form_layout.addWidget(self.signer)
        verbosity = QGroupBox("Verbosity")
        v = QFormLayout(verbosity)
        row = QHBoxLayout()
        row.addWidget(self.level, 1)
        row.addWidget(self.level_label)
        v.addRow(row)
        row = QHBoxLayout()
        row.addWidget(self.set_level)
        row.addWidget(self.now_level, 1)
        v.addRow(row)
        files = QGroupBox("Tail of a file")
        f = QFormLayout(files)
        f.addRow("Path", self.path)
        row = QHBoxLayout()
        row.addWidget(self.tail)
        row.addWidget(self.read_file, 1)
        f.addRow("Last", row)
        others = QHBoxLayout()
        others.addWidget(self.snapshot, 1)
        others.addWidget(self.ping)
        form_layout.addWidget(verbosity)
        form_layout.addWidget(files)
        form_layout.addLayout(others)
        form_layout.addStretch(1)

        self.history = QTreeWidget()
        self.history.setHeaderLabels(("Sent", "Command", "Reply"))
        self.history.setRootIsDecorated(False)
        self.history.setAlternatingRowColors(True)
        self.history.setWordWrap(True)
        self.history.setColumnWidth(SENT, 64)
        self.history.setColumnWidth(COMMAND, 170)
        self.history.currentItemChanged.connect(self._request_chosen)
        history_box = QWidget()
        h = QVBoxLayout(history_box)
        h.setContentsMargins(0, 0, 0, 0)
        title = QLabel("Commands sent, newest first (each is also a control record in the timeline)")
        title.setWordWrap(True)
        title.setStyleSheet("font-weight: bold;")
        h.addWidget(title)
        h.addWidget(self.history, 1)

        self.viewer = ReplyViewer()
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(forms)
        split.addWidget(history_box)
        split.addWidget(self.viewer)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 3)
        split.setStretchFactor(2, 2)
        split.setSizes([300, 520, 420])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(split)

        self._job: dict | None = None
        self._level_known = False  # a reply said the job's verbosity now
        self._touched = False  # the user moved the slider: announcements no longer move it
        self.level.actionTriggered.connect(lambda _action: setattr(self, "_touched", True))
        self.level.setValue(2)
        self._level_changed(self.level.value())
        self._show_signer()
        self.show_job(session.store.job)

    # -- sending -------------------------------------------------------------------------------

    @property
    def can_send(self) -> bool:
        return self.session.credential is not None

    def _show_signer(self) -> None:
        if self.can_send:
            self.signer.setText(f"Commands to job <b>{html.escape(self.session.job_id)}</b> are "
                                f"signed as:<br><code>{html.escape(self.session.sender)}</code>")
        else:
            self.signer.setText("<span style='color:#b71c1c'>No credential: commands cannot be sent. "
                                "Connect again with a certificate to steer the job.</span>")
        for w in (self.set_level, self.read_file, self.snapshot, self.ping):
            w.setEnabled(self.can_send)

    def show_note(self, text: str) -> None:
        """Say why commands cannot be sent (no credential, and why)."""
        if not self.can_send:
            self.signer.setText("<span style='color:#b71c1c'>Commands cannot be sent: "
                                f"{html.escape(text)}. Connect again with a certificate to steer "
                                "the job.</span>")

    def show_job(self, job: dict | None) -> None:
        """Show the verbosity the job started at (its announcements carry that one), until a reply
        says the current one; the slider starts there."""
        if job is None or job is self._job or self._level_known:
            return
        self._job = job
        level = job.get("verbosity")
        if type(level) is not int or not 0 <= level <= 4:
            return
        self.now_level.setText(f"started at {level} ({LEVELS[level]})")
        if not self._touched:
            with QSignalBlocker(self.level):
                self.level.setValue(level)
            self._level_changed(level)

    def send_verbosity(self):
        """Ask the job for the slider's verbosity; the request, or None."""
        return self.send("set_verbosity", {"level": self.level.value()})

    def send_get_file(self):
        """Ask for the tail of the file named in the form; the request, or None."""
        path = self.path.text().strip()
        if not path:
            self.path.setFocus()
            return None
        return self.send("get_file", {"path": path, "tail": self.tail.value() * 1024})

    def send(self, cmd: str, args: dict | None = None):
        """Send `cmd` through the session and list it; the request, or None without a credential."""
        if not self.can_send:
            return None
        req = self.session.send(cmd, args)
        self._add(req)
        self.sent.emit(req)
        return req

    # -- replies ---------------------------------------------------------------------------------

    def show_request(self, req) -> None:
        """Show what became of a request (its reply, refusal or timeout)."""
        item = self._items.get(req.number)
        if item is None:
            item = self._add(req)
        words = req.words
        if req.state == "ok" and req.cmd == "snapshot":
            words += (" — shown in Call stack and Locals as NOW" if req.result.get("threads")
                      else ": no traced Python process is running right now")
        if req.state != "waiting":
            self.viewer.show_reply(req)
        level = req.result.get("verbosity") if req.state == "ok" else None
        if type(level) is int and 0 <= level <= 4:
            self._level_known = True
            self.now_level.setText(f"job at {level} ({LEVELS[level]})")
        rt = req.round_trip
        item.setText(REPLY, words + (f"  ({rt * 1000:.0f} ms)" if rt is not None
                                     and req.state != "timeout" else ""))
        item.setToolTip(REPLY, words)
        item.setForeground(REPLY, QBrush(QColor(STATE_COLOURS.get(req.state, "#000000"))))

    def _add(self, req) -> QTreeWidgetItem:
        args = describe_args(req.cmd, req.args)
        item = QTreeWidgetItem([time.strftime("%H:%M:%S", time.localtime(req.sent)),
                                f"{req.cmd} {args}".strip(), ""])
        item.setToolTip(COMMAND, f"#{req.number} {req.cmd} {args}\nsigned as {req.sender}")
        item.setData(SENT, Qt.ItemDataRole.UserRole, req.number)
        self._items[req.number] = item
        self.history.insertTopLevelItem(0, item)
        if req.state == "waiting":
            item.setText(REPLY, req.words)
        else:
            self.show_request(req)
        return item

    def _request_chosen(self, item, _previous) -> None:
        if item is None:
            return
        number = item.data(SENT, Qt.ItemDataRole.UserRole)
        req = next((r for r in self.session.requests if r.number == number), None)
        if req is not None:
            self.viewer.show_reply(req)

    def _level_changed(self, value: int) -> None:
        self.level_label.setText(f"{value} · {LEVELS[value]}")
        self.set_level.setText(f"Set verbosity to {value}")
