"""The state at a record, as a debugger stopped there would show it (spec section 2).

No replay from the start: a thread's stack is read from its last record at or
before the position and the chain of frame segments under it; each local is
the latest of its changes at or before the position (one index seek per
name). The cost depends on the stack's depth and width, never on the
archive's length. A thread whose process has exited is not shown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
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
    #: loads this frame's locals on first use (most views need one frame's); called with the frame
    _loader: Callable[[Frame], None] | None = field(default=None, repr=False, compare=False)
    _locals: dict[str, list] | None = field(default=None, repr=False)
    _changed: set[str] | None = field(default=None, repr=False)

    @property
    def locals(self) -> dict[str, list]:
        """name -> [type, repr] of the frame's variables at the position."""
        if self._locals is None and self._loader is not None:
            self._loader(self)
        return self._locals or {}

    @property
    def changed(self) -> set[str]:
        """Names whose value this very record set."""
        if self._changed is None and self._loader is not None:
            self._loader(self)
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


#: a segment and the segments under it, innermost first, at most ?2 of them: one seek each
CHAIN_SQL = """
WITH RECURSIVE chain(lvl, seg, frame, parent, depth, start_pos, end_pos, parent_line, func, file) AS (
  SELECT 0, seg, frame, parent, depth, start_pos, end_pos, parent_line, func, file FROM segs WHERE seg = ?1
  UNION ALL
  SELECT c.lvl + 1, s.seg, s.frame, s.parent, s.depth, s.start_pos, s.end_pos, s.parent_line, s.func, s.file
  FROM chain c JOIN segs s ON s.seg = c.parent
  LIMIT ?2
)
SELECT seg, frame, parent, depth, start_pos, end_pos, parent_line, func, file FROM chain ORDER BY lvl
"""
#: every thread begun by a position, with its last record at or before it and its process's exit:
#: (thread, pos, kind, seg, line, exit_pos)
LAST_SQL = """
SELECT t.thread, r.pos, r.kind, r.seg, r.line, p.exit_pos FROM threads t
LEFT JOIN records r ON r.pos = (SELECT pos FROM records WHERE thread = t.thread AND pos <= ?1 ORDER BY pos DESC LIMIT 1)
LEFT JOIN processes p ON p.pid = t.pid
WHERE t.first_pos <= ?1 ORDER BY t.thread
"""
#: segments fetched per query while walking down a stack (those already known are not fetched)
CHAIN_STEP = 12
#: segments of a complete index kept in memory (outer frames are shared by many positions)
SEG_CACHE = 100_000


#: the locals of one frame at a position: its distinct names, found by skipping through the
#: (frame, name, pos) index (one seek per name), each with its latest change at or before it
LOCALS_SQL = """
WITH RECURSIVE names(name) AS (
  SELECT (SELECT min(name) FROM changes WHERE frame = ?1)
  UNION ALL
  SELECT (SELECT min(name) FROM changes WHERE frame = ?1 AND name > names.name) FROM names
  WHERE names.name IS NOT NULL
)
SELECT n.name, c.pos, c.type, c.repr FROM names n JOIN changes c ON c.rowid = (
  SELECT rowid FROM changes WHERE frame = ?1 AND name = n.name AND pos <= ?2 ORDER BY pos DESC LIMIT 1)
"""


def _exited(last_pos: int, exit_pos: int | None, pos: int) -> bool:
    """A thread is gone once its process has exited (after the thread's last record) by `pos`."""
    return exit_pos is not None and last_pos < exit_pos <= pos


class Replay:
    """Answers `state_at` and `locals_at` for one index."""

    def __init__(self, index: Index):
        self.ix = index
        self._segs: dict[int, tuple] = {}

    def state_at(self, pos: int) -> State:
        ix = self.ix
        if not 0 <= pos < ix.count:
            raise IndexError(f"position {pos} is outside 0..{ix.count - 1}")
        row = ix.row(pos)
        record = ix.record(pos)
        by_key = {t.key: t for t in ix.threads()}
        threads = [self._thread_at(by_key[key], pos, last)
                   for key, *last, exit_pos in ix.db.execute(LAST_SQL, (pos,))
                   if last[0] is not None and key in by_key and not _exited(last[0], exit_pos, pos)]
        return State(pos, record, threads, self._metrics_at(pos), self._job_state_at(pos), row[5])

    def _thread_at(self, t: ThreadInfo, pos: int, last: tuple) -> ThreadState:
        """The thread's stack given its last record at or before `pos`: (pos, kind, seg, line)."""
        db = self.ix.db
        lpos, lkind, seg, line = last
        returned = None
        child_line = line
        changed_pos = lpos if lpos == pos else None
        if lkind != RETURN and lpos == pos:
            # a debugger shows the value a call just returned at the caller's next stop
            prev = db.execute("SELECT pos, kind FROM records WHERE thread=? AND pos<? ORDER BY pos DESC LIMIT 1",
                              (t.key, lpos)).fetchone()
            if prev is not None and prev[1] == RETURN:
                returned = self._returned(prev[0])
        if lkind == RETURN:
            returned = self._returned(lpos)
        rows = self._chain(seg)
        if lkind == RETURN and lpos < pos and rows:  # the frame is gone from the next record on
            child_line, rows = rows[0][6], rows[1:]
        load, load_current = partial(self._load, pos, False), partial(self._load, pos, True)
        stack: list[Frame] = []
        for seg_id, frame, _, depth, start, end, parent_line, func, file in rows:
            stack.append(Frame(frame, seg_id, file, child_line, func, depth, start, end, load))
            child_line = parent_line
        stack.reverse()
        if stack and changed_pos is not None:
            stack[-1]._loader = load_current
        return ThreadState(t.key, t.pid, t.tid, stack, returned)

    def _returned(self, pos: int) -> tuple[str, list] | None:
        """(func, value) of the return record at `pos`, when it has a value."""
        rec = self.ix.record(pos)
        value = rec.get("value")
        return (rec.get("func", ""), value) if isinstance(value, list) and len(value) == 2 else None

    def _chain(self, seg: int | None) -> list[tuple]:
        """The rows of a segment and of every segment under it, innermost first."""
        cache = self._segs if self.ix.complete else {}  # rows of a growing index still change
        if len(cache) > SEG_CACHE:
            cache.clear()
        out = []
        while seg is not None:
            row = cache.get(seg)
            if row is not None:
                out.append(row)
                seg = row[2]
                continue
            rows = self.ix.db.execute(CHAIN_SQL, (seg, CHAIN_STEP)).fetchall()
            if not rows:
                break
            string = self.ix.string
            rows = [(*r[:7], string(r[7]), string(r[8])) for r in rows]  # func and file as text
            for r in rows:
                cache[r[0]] = r
            out += rows
            seg = rows[-1][2]
        return out

    def _load(self, pos: int, current: bool, frame: Frame) -> None:
        frame._locals, changed = self._locals(frame.frame_id, pos)
        frame._changed = changed if current else set()

    def _locals(self, frame: int, pos: int) -> tuple[dict[str, list], set[str]]:
        """The frame's locals at `pos`, and the names that changed exactly at `pos`."""
        string, out, changed = self.ix.string, [], set()
        for name, cpos, type_, repr_ in self.ix.db.execute(LOCALS_SQL, (frame, pos)):
            if type_ is None:  # deleted
                continue
            key = string(name)
            out.append((key, [type_, repr_]))
            if cpos == pos:
                changed.add(key)
        return dict(sorted(out)), changed

    def locals_at(self, frame_id: int, pos: int) -> dict:
        return self._locals(frame_id, pos)[0]

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
