"""Debugger moves over the timeline, forwards and backwards, as index seeks.

Steps follow one thread: *into* is its next record; *over* stays in the
current frame segment (skipping deeper calls) and, at its end, goes to the
caller; *out* goes to the caller's first record after the frame returns
(backwards: to the call site). Each is one or two index seeks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jemgui.models.records import COMMAND, KIND_CODE, LINE

if TYPE_CHECKING:
    from jemgui.models.index import Index

ACTIONS = ("into", "over", "out")


class Navigation:
    """Navigation queries for one index; every method returns a position or None."""

    def __init__(self, index: Index):
        self.ix = index
        self.db = index.db

    def _one(self, sql: str, args: tuple) -> int | None:
        row = self.db.execute(sql, args).fetchone()
        return None if row is None else row[0]

    def _thread_next(self, thread: int, pos: int, backward: bool) -> int | None:
        if backward:
            return self._one("SELECT pos FROM records WHERE thread=? AND pos<? ORDER BY pos DESC LIMIT 1",
                             (thread, pos))
        return self._one("SELECT pos FROM records WHERE thread=? AND pos>? ORDER BY pos LIMIT 1", (thread, pos))

    def step(self, pos: int, action: str, backward: bool = False, thread: int | None = None) -> int | None:
        if action not in ACTIONS:
            raise ValueError(f"unknown step {action!r}; use one of {', '.join(ACTIONS)}")
        row = self.ix.row(pos)
        if row is None:
            return None
        if row[5] is None:  # not a thread's record: start from the thread's record around it
            if thread is None:
                return None
            anchor = self._one("SELECT pos FROM records WHERE thread=? AND pos<=? ORDER BY pos DESC LIMIT 1",
                               (thread, pos))
            if anchor is None:
                return None if backward else self._thread_next(thread, pos, False)
            if backward and action == "into":
                return anchor
            row = self.ix.row(anchor)
        pos, thread, seg = row[0], row[5], row[6]
        if action == "into":
            return self._thread_next(thread, pos, backward)
        start, end = self.db.execute("SELECT start_pos, end_pos FROM segs WHERE seg=?", (seg,)).fetchone()
        if action == "over":
            if backward:
                inside = self._one("SELECT pos FROM records WHERE seg=? AND pos<? ORDER BY pos DESC LIMIT 1",
                                   (seg, pos))
                return inside if inside is not None else self._thread_next(thread, start, True)
            inside = self._one("SELECT pos FROM records WHERE seg=? AND pos>? ORDER BY pos LIMIT 1", (seg, pos))
            if inside is not None:
                return inside
            return None if end is None else self._thread_next(thread, end, False)
        # out
        if backward:
            return self._thread_next(thread, start, True)
        return None if end is None else self._thread_next(thread, end, False)

    def next_kind(self, pos: int, kind: int, backward: bool = False) -> int | None:
        """The next record of a kind; for exceptions, the next raise (the record with the traceback)."""
        sql = ("SELECT pos FROM records WHERE kind=? AND pos<? ORDER BY pos DESC" if backward
               else "SELECT pos FROM records WHERE kind=? AND pos>? ORDER BY pos")
        for (p,) in self.db.execute(sql, (kind, pos)):
            if kind != KIND_CODE["exception"] or b'"traceback"' in self.ix.raw(p):
                return p
        return None

    def run_to(self, pos: int, breakpoints, backward: bool = False) -> int | None:
        """The nearest record that runs one of the `(file, line)` breakpoints."""
        best = None
        op, order = ("<", "DESC") if backward else (">", "")
        for file, line in breakpoints:
            fid = self.ix.string_id(file)
            if fid is None:
                continue
            p = self._one(
                f"SELECT pos FROM records WHERE file=? AND line=? AND kind IN ({COMMAND}, {LINE}) AND pos{op}? "
                f"ORDER BY pos {order} LIMIT 1", (fid, line, pos))
            if p is not None and (best is None or (p > best if backward else p < best)):
                best = p
        return best

    def var_change(self, frame: int, name: str, pos: int, backward: bool = True) -> int | None:
        """Where `name` of `frame` last changed (at or before `pos`) or next changes (after it)."""
        nid = self.ix.string_id(name)
        if nid is None:
            return None
        if backward:
            return self._one("SELECT pos FROM changes WHERE frame=? AND name=? AND pos<=? ORDER BY pos DESC LIMIT 1",
                             (frame, nid, pos))
        return self._one("SELECT pos FROM changes WHERE frame=? AND name=? AND pos>? ORDER BY pos LIMIT 1",
                         (frame, nid, pos))

    def var_history(self, frame: int, name: str) -> list[tuple]:
        """(pos, ts, type, repr) of every change of `name` in `frame`; type None = deleted."""
        nid = self.ix.string_id(name)
        if nid is None:
            return []
        return self.db.execute(
            "SELECT c.pos, r.ts, c.type, c.repr FROM changes c JOIN records r ON r.pos = c.pos "
            "WHERE c.frame=? AND c.name=? ORDER BY c.pos", (frame, nid)).fetchall()

    def search(self, pos: int, text: str | None = None, kinds=None, file: str | None = None,
               func: str | None = None, pid: int | None = None, backward: bool = False) -> int | None:
        """The nearest record after (or before) `pos` that matches every criterion given."""
        where, args = ["pos<?" if backward else "pos>?"], [pos]
        if kinds:
            codes = [KIND_CODE[k] for k in kinds if k in KIND_CODE]
            where.append(f"kind IN ({','.join('?' * len(codes))})")
            args += codes
        for col, value in (("file", file), ("func", func)):
            if value is not None:
                sid = self.ix.string_id(value)
                if sid is None:
                    return None
                where.append(f"{col}=?")
                args.append(sid)
        if pid is not None:
            where.append("pid=?")
            args.append(pid)
        sql = f"SELECT pos FROM records WHERE {' AND '.join(where)} ORDER BY pos {'DESC' if backward else ''}"
        needle = text.lower().encode() if text else None
        for (p,) in self.db.execute(sql, args):
            if needle is None or needle in self.ix.raw(p).lower():
                return p
        return None
