"""Debugger controls: steps, exceptions, breakpoints, play/pause and the scrub slider.

Every control turns into one `Cursor.seek` with a position the index found.
The shortcuts are the usual debugger keys; Ctrl (with the same key) runs
the same move backwards. Slider drags are coalesced: only the latest value
is applied once the event loop is free, so the window never falls behind.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSlider, QWidget

from jemgui.models.cursor import POS, Breakpoints, Cursor
from jemgui.resources import resource_path
from jemgui.views import theme
from jemgui.views.binding import subscribe

#: name -> (label, shortcut, tooltip text, icon file in resources/icons)
MOVES = {
    "back_continue": ("Reverse continue", "Ctrl+F5", "Run backwards to the previous breakpoint", "back_continue"),
    "back_out": ("Step back out", "Ctrl+Shift+F11", "Back to where this frame was called", "back_out"),
    "back_over": ("Step back over", "Ctrl+F10", "Back to the previous line of this frame", "back_over"),
    "back_into": ("Step back into", "Ctrl+F11", "Back to the previous record of this thread", "back_into"),
    "into": ("Step into", "F11", "The next record of this thread (enters calls)", "step_into"),
    "over": ("Step over", "F10", "The next line of this frame (skips calls)", "step_over"),
    "out": ("Step out", "Shift+F11", "Run until this frame returns", "step_out"),
    "continue": ("Continue", "F5", "Run to the next breakpoint", "continue"),
    "prev_exception": ("Previous exception", "Shift+F8", "Back to the previous exception raised", "prev_exception"),
    "next_exception": ("Next exception", "F8", "On to the next exception raised", "next_exception"),
}


def icon(name: str) -> QIcon:
    """A toolbar icon shipped in resources/icons (MissingPart when the installation lacks it)."""
    return QIcon(str(resource_path("icons", f"{name}.svg")))

SPEEDS = (("×0.1", 0.1), ("×1", 1.0), ("×10", 10.0), ("×100", 100.0), ("×1000", 1000.0), ("×10000", 1e4))


class Transport(QObject):
    """Actions and slider that move the cursor; `message` reports moves that found nothing."""

    message = Signal(str)
    TICK_MS = 40

    def __init__(self, index, cursor: Cursor, breakpoints: Breakpoints, parent: QObject | None = None):
        super().__init__(parent)
        self.index, self.cursor, self.breakpoints = index, cursor, breakpoints
        self.actions: dict[str, QAction] = {}
        for name, (label, keys, tip, icon_name) in MOVES.items():
            act = QAction(icon(icon_name), label, self)
            act.setObjectName(name)
            act.setShortcut(QKeySequence(keys))
            act.setToolTip(f"{label} ({keys}): {tip}")
            act.triggered.connect(lambda _=False, n=name: self.move(n))
            self.actions[name] = act
        self.play_action = QAction(icon("play"), "Play", self)
        self.play_action.setCheckable(True)
        self.play_action.setShortcut(QKeySequence("Space"))
        self.play_action.setToolTip("Play / pause (Space): replay the job at the chosen speed")
        self.play_action.toggled.connect(self.set_playing)
        self.actions["play"] = self.play_action
        self.toggle_bp = QAction("Toggle breakpoint", self)
        self.toggle_bp.setShortcut(QKeySequence("F9"))
        self.toggle_bp.setToolTip("Toggle a breakpoint on the current line (F9)")
        self.toggle_bp.triggered.connect(self.toggle_breakpoint)
        self.actions["toggle_breakpoint"] = self.toggle_bp
        for name, label, keys, fn in (
            ("first", "First record", "Ctrl+Home", lambda: self.cursor.seek(0)),
            ("last", "Last record", "Ctrl+End", lambda: self.cursor.seek(self.index.count - 1)),
            ("prev_record", "Previous record", "Alt+Left", lambda: self.cursor.step_by(-1)),
            ("next_record", "Next record", "Alt+Right", lambda: self.cursor.step_by(1)),
        ):
            act = QAction(label, self)
            act.setShortcut(QKeySequence(keys))
            act.setToolTip(f"{label} ({keys})")
            act.triggered.connect(lambda _=False, f=fn: (self.pause(), f()))
            self.actions[name] = act
        self._play_timer = QTimer(self)
        self._play_timer.setInterval(self.TICK_MS)
        self._play_timer.timeout.connect(self._tick)
        self._clock = 0.0
        self._last_tick = 0.0
        self.speed = 1.0

    # -- moves -------------------------------------------------------------------

    def move(self, name: str) -> int | None:
        """Do one named move; the new position, or None (and a message) when there is none."""
        self.pause()
        pos = self.cursor.pos
        if pos is None:
            return None
        ix, backward = self.index, name.startswith(("back_", "prev_"))
        base = name.removeprefix("back_").removeprefix("prev_").removeprefix("next_")
        if base in ("into", "over", "out"):
            target = ix.step(pos, base, backward=backward, thread=self.cursor.thread)
        elif base == "exception":
            target = ix.next_exception(pos, backward=backward)
        else:
            if not len(self.breakpoints):
                self.message.emit("No breakpoints: click in the source gutter or press F9 to set one")
                return None
            target = ix.run_to(pos, list(self.breakpoints), backward=backward)
        if target is None:
            label = MOVES[name][0]
            self.message.emit(f"{label}: nothing {'before' if backward else 'after'} this record")
            return None
        self.cursor.seek(target)
        return target

    def toggle_breakpoint(self) -> None:
        frame = self.cursor.frame
        if frame is not None and frame.line is not None:
            on = self.breakpoints.toggle(frame.file, frame.line)
            self.message.emit(f"Breakpoint {'set' if on else 'removed'} at {frame.file}:{frame.line}")

    # -- playing -----------------------------------------------------------------

    def set_speed(self, speed: float) -> None:
        self.speed = float(speed)

    def set_playing(self, on: bool) -> None:
        with QSignalBlocker(self.play_action):
            self.play_action.setChecked(on)
        self.play_action.setText("Pause" if on else "Play")
        self.play_action.setIcon(icon("pause" if on else "play"))
        if on and self.cursor.pos is not None:
            if self.cursor.pos >= self.index.count - 1:
                self.cursor.seek(0)
            self._clock = self.index.time_at(self.cursor.pos)
            self._last_tick = time.monotonic()
            self._play_timer.start()
        else:
            self._play_timer.stop()

    def pause(self) -> None:
        if self._play_timer.isActive():
            self.set_playing(False)

    @property
    def playing(self) -> bool:
        return self._play_timer.isActive()

    def _tick(self) -> None:
        now = time.monotonic()
        self._clock += (now - self._last_tick) * self.speed
        self._last_tick = now
        pos = self.cursor.pos or 0
        target = self.index.pos_at_time(self._clock)
        if target > pos:
            self.cursor.seek(target)
        if pos >= self.index.count - 1:
            self.set_playing(False)


class TransportBar(QWidget):
    """The scrub slider, the speed chooser and the position read-out."""

    def __init__(self, transport: Transport, parent: QWidget | None = None):
        super().__init__(parent)
        self.transport = transport
        self.cursor, self.index = transport.cursor, transport.index
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, max(0, self.index.count - 1))
        self.slider.setToolTip("Scrub through the whole job")
        self.slider.setPageStep(max(1, self.index.count // 100))
        self.slider.valueChanged.connect(self._slid)
        self.speed = QComboBox()
        self.speed.setToolTip("Replay speed, relative to the job's own time")
        for label, value in SPEEDS:
            self.speed.addItem(label, value)
        self.speed.setCurrentIndex(1)
        self.speed.currentIndexChanged.connect(lambda i: transport.set_speed(self.speed.itemData(i)))
        self.where = QLabel()
        self.where.setFont(theme.mono_font())
        self.where.setMinimumWidth(self.where.fontMetrics().horizontalAdvance("record 9,999,999 / 9,999,999  00:00:00.000"))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 0, 6, 0)
        layout.addWidget(self.speed)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.where)
        self._pending: int | None = None
        self._coalesce = QTimer(self)
        self._coalesce.setSingleShot(True)
        self._coalesce.setInterval(0)
        self._coalesce.timeout.connect(self._apply)
        subscribe(self, self.cursor.changed, self._on_cursor)
        self._show()

    def _slid(self, value: int) -> None:
        self._pending = value
        if not self._coalesce.isActive():
            self._coalesce.start()

    def _apply(self) -> None:
        if self._pending is not None:
            pos, self._pending = self._pending, None
            self.transport.pause()
            self.cursor.seek(pos)

    def _on_cursor(self, changed) -> None:
        if POS in changed:
            self._show()

    def grow(self) -> None:
        """The index grew: a longer slider."""
        with QSignalBlocker(self.slider):
            self.slider.setMaximum(max(0, self.index.count - 1))
            self.slider.setPageStep(max(1, self.index.count // 100))
        self._show()

    def _show(self) -> None:
        pos = self.cursor.pos
        if pos is None:
            self.where.setText("no records")
            return
        if not self.slider.isSliderDown():
            with QSignalBlocker(self.slider):
                self.slider.setMaximum(max(0, self.index.count - 1))
                self.slider.setValue(pos)
        self.where.setText(f"record {pos + 1:,} / {self.index.count:,}  {theme.clock(self.index.time_at(pos))}")

