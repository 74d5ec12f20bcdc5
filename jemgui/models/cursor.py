"""The one "now" of the inspector: a position in the merged timeline, a thread, a frame.

Every view reads this model and changes only it, never another view, so all
panels agree by construction. It is Qt-free: views subscribe to `changed`,
a plain callback list, and the model emits only when something really moved.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Protocol

#: the aspects a change can touch, as passed to `Cursor.changed` subscribers
POS, THREAD, FRAME, VARIABLE = "pos", "thread", "frame", "variable"


class Event:
    """A list of callbacks called in order with the event's arguments."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[..., Any]] = []

    def connect(self, callback: Callable[..., Any]) -> None:
        """Call `callback` on every emit (once, however often it is connected)."""
        if callback not in self._callbacks:
            self._callbacks.append(callback)

    def disconnect(self, callback: Callable[..., Any]) -> None:
        """Stop calling `callback`; unknown callbacks are ignored."""
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def emit(self, *args: Any) -> None:
        for callback in list(self._callbacks):
            callback(*args)

    def __len__(self) -> int:
        return len(self._callbacks)


class Replayable(Protocol):
    """What the cursor needs of an index."""

    @property
    def count(self) -> int: ...

    def state_at(self, pos: int) -> Any: ...


class Cursor:
    """Position, thread and selected frame (and the watched variable) of one open job.

    Seeking moves the thread to the one the record at the new position
    belongs to (as a debugger stops in the thread that hit the event) and
    selects that thread's innermost frame. Records without a thread (metrics,
    logs) keep the thread chosen before, if it still exists there.
    `changed` is emitted with the set of aspects that changed (`POS`,
    `THREAD`, `FRAME`, `VARIABLE`), and only when that set is not empty.
    """

    STATE_CACHE = 64

    def __init__(self, index: Replayable, pos: int = 0) -> None:
        self.index = index
        self.changed = Event()
        self._states: OrderedDict[int, Any] = OrderedDict()
        self.pos: int | None = None
        self.thread: Hashable | None = None
        self.frame_id: int | None = None
        self.variable: str | None = None
        if index.count:
            self._move(self._clamp(pos), None)

    # -- reading ---------------------------------------------------------------

    @property
    def state(self) -> Any:
        """The replayed state at the cursor (None while the job has no record)."""
        return None if self.pos is None else self._state(self.pos)

    @property
    def thread_state(self) -> Any:
        """The selected thread's ThreadState, or None."""
        state = self.state
        if state is None:
            return None
        return next((t for t in state.threads if t.key == self.thread), None)

    @property
    def stack(self) -> list:
        """Frames of the selected thread, outermost first."""
        ts = self.thread_state
        return list(ts.stack) if ts is not None else []

    @property
    def frame(self) -> Any:
        """The selected Frame, or None when the thread has no frame here."""
        return next((f for f in self.stack if f.frame_id == self.frame_id), None)

    # -- changing --------------------------------------------------------------

    def seek(self, pos: int, thread: Hashable | None = None) -> bool:
        """Move to `pos` (clamped to the job); True when anything changed."""
        if not self.index.count:
            return False
        pos = self._clamp(pos)
        if pos == self.pos and (thread is None or thread == self.thread):
            return False
        return self._emit(self._move(pos, thread))

    def step_by(self, delta: int) -> bool:
        """Move `delta` records forwards (or backwards when negative)."""
        return self.seek((self.pos or 0) + delta)

    def select_thread(self, thread: Hashable) -> bool:
        """Show another thread at the same position, at its innermost frame."""
        state = self.state
        if state is None or thread == self.thread:
            return False
        if not any(t.key == thread for t in state.threads):
            return False
        changed = {THREAD}
        self.thread = thread
        top = self._top_frame(state, thread)
        if top != self.frame_id:
            self.frame_id = top
            changed.add(FRAME)
        return self._emit(changed)

    def select_frame(self, frame_id: int) -> bool:
        """Select a frame of the selected thread's stack (by its frame id)."""
        if frame_id == self.frame_id or not any(f.frame_id == frame_id for f in self.stack):
            return False
        self.frame_id = frame_id
        return self._emit({FRAME})

    def select_variable(self, name: str | None) -> bool:
        """Watch a local variable of the selected frame (value history), or none."""
        if name == self.variable:
            return False
        self.variable = name
        return self._emit({VARIABLE})

    def refresh(self) -> None:
        """Forget cached states (the index grew or changed) and re-read the current one."""
        self._states.clear()
        if self.pos is None and self.index.count:
            self._emit(self._move(0, None))

    # -- internals -------------------------------------------------------------

    def _clamp(self, pos: int) -> int:
        return max(0, min(int(pos), self.index.count - 1))

    def _state(self, pos: int) -> Any:
        states = self._states
        state = states.get(pos)
        if state is None:
            state = states[pos] = self.index.state_at(pos)
            if len(states) > self.STATE_CACHE:
                states.popitem(last=False)
        else:
            states.move_to_end(pos)
        return state

    @staticmethod
    def _top_frame(state: Any, thread: Hashable | None) -> int | None:
        for t in state.threads:
            if t.key == thread:
                return t.stack[-1].frame_id if t.stack else None
        return None

    def _move(self, pos: int, thread: Hashable | None) -> set[str]:
        """Set pos, thread and frame for a seek; the aspects that changed."""
        state = self._state(pos)
        keys = [t.key for t in state.threads]
        if thread is None or thread not in keys:
            thread = state.current_thread
        if thread is None or thread not in keys:
            thread = self.thread if self.thread in keys else next(
                (t.key for t in state.threads if t.stack), keys[0] if keys else None)
        frame_id = self._top_frame(state, thread)
        changed = set()
        if pos != self.pos:
            changed.add(POS)
        if thread != self.thread:
            changed.add(THREAD)
        if frame_id != self.frame_id:
            changed.add(FRAME)
        self.pos, self.thread, self.frame_id = pos, thread, frame_id
        return changed

    def _emit(self, changed: set[str]) -> bool:
        if changed:
            self.changed.emit(frozenset(changed))
        return bool(changed)


class Breakpoints:
    """The `file:line` places where "run to breakpoint" stops; toggled from the source gutter."""

    def __init__(self) -> None:
        self.changed = Event()
        self._places: set[tuple[str, int]] = set()

    def toggle(self, file: str, line: int) -> bool:
        """Add or remove a breakpoint; True when it is now set."""
        place = (file, int(line))
        if place in self._places:
            self._places.remove(place)
        else:
            self._places.add(place)
        self.changed.emit(place)
        return place in self._places

    def clear(self) -> None:
        if self._places:
            self._places.clear()
            self.changed.emit(None)

    def lines(self, file: str) -> set[int]:
        """Lines of `file` that hold a breakpoint."""
        return {line for f, line in self._places if f == file}

    def __contains__(self, place: object) -> bool:
        return place in self._places

    def __len__(self) -> int:
        return len(self._places)

    def __iter__(self):
        return iter(sorted(self._places))
