"""The state at a record, as a debugger stopped there would show it (spec section 2).

No replay from the start: a thread's stack is read from its last record at or
before the position and the chain of frame segments under it; each local is
the latest of its changes at or before the position (one index seek per
name). The cost depends on the stack's depth and width, never on the
archive's length.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from jemgui.models.records import RETURN

if TYPE_CHECKING:
    from jemgui.models.index import Index


@dataclass(frozen=True)
class ThreadInfo:
    """A thread of the job: `key` is the index's id of (pid, tid)."""

    key: int
    pid: int
    tid: int
    first_pos: int
    last_pos: int


@dataclass
class Frame:
    """One frame on a stack at a position; `start_pos`/`end_pos` bound its current activation."""

    frame_id: int
    seg_id: int
    file: str
    line: int | None
    func: str
    depth: int
    start_pos: int | None = None
    end_pos: int | None = None
    #: loads the locals of every frame of the thread on first use (most views need one frame's)
    _loader: Callable[[], None] | None = field(default=None, repr=False, compare=False)
    _locals: dict[str, list] | None = field(default=None, repr=False)
    _changed: set[str] | None = field(default=None, repr=False)

    @property
    def locals(self) -> dict[str, list]:
        """name -> [type, repr] of the frame's variables at the position."""
        if self._locals is None and self._loader is not None:
            self._loader()
        return self._locals or {}

    @property
    def changed(self) -> set[str]:
        """Names whose value this very record set."""
        if self._changed is None and self._loader is not None:
            self._loader()
        return self._changed or set()

    def to_json(self) -> dict:
        return {"file": self.file, "line": self.line, "func": self.func, "locals": self.locals}


@dataclass
class ThreadState:
    """A thread at a position: its stack (outermost first) and a value just returned."""

    key: int
    pid: int
    tid: int
    stack: list[Frame]
    returned: tuple[str, list] | None = None

    def to_json(self) -> dict:
        return {"pid": self.pid, "tid": self.tid, "stack": [f.to_json() for f in self.stack]}


@dataclass
class State:
    """Everything the inspector shows at one position."""

    pos: int
    record: dict
    threads: list[ThreadState]
    metrics: dict[str, tuple[float, float]]
    job_state: str | None
    current_thread: int | None

    def thread(self, key: int | None) -> ThreadState | None:
        return next((t for t in self.threads if t.key == key), None)

    def to_json(self) -> dict:
        return {
            "position": self.pos,
            "record": self.record,
            "threads": [t.to_json() for t in self.threads],
            "metrics": {k: v for k, (_, v) in self.metrics.items()},
            "job_state": self.job_state,
        }


#: a segment and every segment under it, innermost first, with their frames
CHAIN_SQL = """
WITH RECURSIVE chain(seg, lvl) AS (
  SELECT ?, 0
  UNION ALL SELECT s.parent, c.lvl + 1 FROM segs s JOIN chain c ON s.seg = c.seg WHERE s.parent IS NOT NULL
)
SELECT s.seg, s.frame, s.depth, s.start_pos, s.end_pos, s.parent_line, f.func, f.file
FROM chain c JOIN segs s ON s.seg = c.seg JOIN frames f ON f.frame = s.frame ORDER BY c.lvl
"""

#: the latest change of every local of the given frames at a position: one seek per name, in SQLite
LOCALS_SQL = """
SELECT n.frame, n.name, c.pos, c.type, c.repr FROM frame_names n
JOIN changes c ON c.rowid = (
  SELECT c2.rowid FROM changes c2 WHERE c2.frame = n.frame AND c2.name = n.name AND c2.pos <= ?1
  ORDER BY c2.pos DESC LIMIT 1)
WHERE n.frame IN ({marks})
"""


class Replay:
    """Answers `state_at` and `locals_at` for one index."""

    def __init__(self, index: Index):
        self.ix = index

    def state_at(self, pos: int) -> State:
        ix = self.ix
        if not 0 <= pos < ix.count:
            raise IndexError(f"position {pos} is outside 0..{ix.count - 1}")
        row = ix.row(pos)
        record = ix.record(pos)
        threads = [ts for t in ix.threads() if t.first_pos <= pos and (ts := self._thread_at(t, pos))]
        return State(pos, record, threads, self._metrics_at(pos), self._job_state_at(pos), row[5])

    def _thread_at(self, t: ThreadInfo, pos: int) -> ThreadState | None:
        db = self.ix.db
        last = db.execute(
            "SELECT pos, kind, seg, line FROM records WHERE thread=? AND pos<=? ORDER BY pos DESC LIMIT 1",
            (t.key, pos),
        ).fetchone()
        if last is None:
            return None
        lpos, lkind, seg, line = last
        returned = None
        child_line = line
        changed_pos = lpos if lpos == pos else None
        if lkind != RETURN and lpos == pos:
            # a debugger shows the value a call just returned at the caller's next stop
            prev = db.execute("SELECT pos, kind FROM records WHERE thread=? AND pos<? ORDER BY pos DESC LIMIT 1",
                              (t.key, lpos)).fetchone()
            if prev is not None and prev[1] == RETURN:
                rec = self.ix.record(prev[0])
                value = rec.get("value")
                if isinstance(value, list) and len(value) == 2:
                    returned = (rec.get("func", ""), value)
        if lkind == RETURN:
            rec = self.ix.record(lpos)
            value = rec.get("value")
            if isinstance(value, list) and len(value) == 2:
                returned = (rec.get("func", ""), value)
            if lpos < pos:  # the frame is gone from the next record on
                seg_row = db.execute("SELECT parent, parent_line FROM segs WHERE seg=?", (seg,)).fetchone()
                seg, child_line = (seg_row[0], seg_row[1]) if seg_row else (None, None)
        stack: list[Frame] = []
        if seg is not None:
            for seg_id, frame, depth, start, end, parent_line, func, file in db.execute(CHAIN_SQL, (seg,)):
                stack.append(Frame(frame, seg_id, self.ix.string(file), child_line, self.ix.string(func), depth,
                                   start_pos=start, end_pos=end))
                child_line = parent_line
        stack.reverse()

        def load() -> None:
            by_frame, changed = self._locals([f.frame_id for f in stack], pos)
            for f in stack:
                f._locals, f._changed = by_frame.get(f.frame_id, {}), set()
            if changed_pos is not None:
                stack[-1]._changed = changed.get(stack[-1].frame_id, set())

        for f in stack:
            f._loader = load
        return ThreadState(t.key, t.pid, t.tid, stack, returned)

    def _locals(self, frames: list[int], pos: int) -> tuple[dict[int, dict], dict[int, set]]:
        """Locals of each frame at `pos`, and the names each changed exactly at `pos`."""
        string, out, changed = self.ix.string, {}, {}
        sql = LOCALS_SQL.format(marks=",".join("?" * len(frames)))
        for frame, name, cpos, type_, repr_ in self.ix.db.execute(sql, (pos, *frames)):
            if type_ is None:  # deleted
                continue
            key = string(name)
            out.setdefault(frame, {})[key] = [type_, repr_]
            if cpos == pos:
                changed.setdefault(frame, set()).add(key)
        return {f: dict(sorted(v.items())) for f, v in out.items()}, changed

    def locals_at(self, frame_id: int, pos: int) -> dict:
        return self._locals([frame_id], pos)[0].get(frame_id, {})

    def _metrics_at(self, pos: int) -> dict[str, tuple[float, float]]:
        db, out = self.ix.db, {}
        for name in self.ix.metric_names():
            nid = self.ix.string_id(name)
            row = db.execute("SELECT ts, value FROM metrics WHERE name=? AND pos<=? ORDER BY pos DESC LIMIT 1",
                             (nid, pos)).fetchone()
            if row:
                out[name] = (row[0], row[1])
        return out

    def _job_state_at(self, pos: int) -> str | None:
        row = self.ix.db.execute("SELECT state FROM states WHERE pos<=? ORDER BY pos DESC LIMIT 1", (pos,)).fetchone()
        return row[0] if row else None
