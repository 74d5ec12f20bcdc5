"""Build the SQLite index of one job: merge its streams, rebuild every thread's frames.

The merge is by (ts, pid, seq), so each record's `pos` is final the moment it
is read, and readers may query the index while it grows (WAL mode; a commit
every `BATCH` records). Frames are tracked per thread as the records pass:
`call` pushes a segment, `return` ends it, and a record of a frame that is not
on top (an unwinding exception, a level of verbosity raised mid-run, a late
join) pops or synthesises frames so that the stack is always well formed.
"""

from __future__ import annotations

import heapq
import os
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import orjson
import sqlite_utils

from jemgui.models import schema
from jemgui.models.inputs import JobInput
from jemgui.models.records import (
    CALL,
    COMMAND,
    EXCEPTION,
    KIND_CODE,
    KIND_NAMES,
    LINE,
    METRIC,
    OTHER,
    PROCESS,
    RETURN,
    SOURCE,
    STATE,
    as_int,
    as_str,
    as_vars,
)
from jemgui.models.schema import BLOCK_SIZE
from jemgui.models.streams import StreamStats, read_stream

BATCH = 200 * BLOCK_SIZE  # records per commit
Progress = Callable[[int, int, int], None]


class Cancelled(Exception):
    """Indexing was cancelled; the partial index is removed."""


class _Strings(dict):
    """Interns strings to small integer ids, remembering the new ones to write."""

    def __init__(self):
        super().__init__()
        self.new: list[tuple[int, str]] = []

    def __missing__(self, text: str) -> int:
        i = len(self) + 1
        self[text] = i
        self.new.append((i, text))
        return i


class _Seg(list):
    """A frame segment on a thread's stack: [seg, frame, fid, depth, line, parent, start, func, file, parent_line]."""

    __slots__ = ()


class _Builder:
    """The hot loop's state; one per index build."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.strings = _Strings()
        self.rows: list[tuple] = []
        self.changes: list[tuple] = []
        self.frame_rows: list[tuple] = []
        self.seg_rows: list[tuple] = []
        self.metric_rows: list[tuple] = []
        self.state_rows: list[tuple] = []
        self.source_rows: list[tuple] = []
        self.block: list[bytes] = []
        self.block_rows: list[tuple[int, bytes]] = []
        self.new_names: set[tuple[int, int]] = set()  # deduplicated per batch, INSERT OR IGNORE
        self.threads: dict[tuple[int, int], list] = {}  # key -> [thread_id, pid, tid, first, last]
        self.stacks: dict[int, list[_Seg]] = {}
        self.frames_by_fid: dict[tuple[int, int], int] = {}  # (pid, fid) -> frame id, live or suspended
        self.next_frame = 1
        self.next_seg = 1
        self.kinds = [0] * (len(KIND_NAMES))
        self.line_hits: Counter = Counter()
        self.processes: dict[int, dict] = {}
        self.chains: dict[int, int] = {}   # thread -> pos of the exception being raised
        self.uncaught: list[int] = []
        self.tracebacks = 0
        self.last_traceback: int | None = None
        self.unknown_kinds: Counter = Counter()
        self.peak = {}

    # -- frames ------------------------------------------------------------

    def _thread(self, pid: int, tid: int, pos: int) -> int:
        t = self.threads.get((pid, tid))
        if t is None:
            t = self.threads[(pid, tid)] = [len(self.threads) + 1, pid, tid, pos, pos]
            self.stacks[t[0]] = []
        t[4] = pos
        return t[0]

    def _end(self, seg: _Seg, end_pos: int, thread: int) -> None:
        self.seg_rows.append((seg[0], seg[1], seg[5], seg[3], seg[6], end_pos, seg[9]))
        if self.chains.get(thread) is not None and seg[3] == 0:
            self.uncaught.append(self.chains.pop(thread))

    def _push(self, thread: int, pid: int, fid, depth: int, pos: int, func: int, file: int,
              resume: bool) -> _Seg:
        stack = self.stacks[thread]
        parent = stack[-1] if stack else None
        frame = self.frames_by_fid.get((pid, fid)) if (resume and fid is not None) else None
        if frame is None:
            frame = self.next_frame
            self.next_frame += 1
            self.frame_rows.append((frame, thread, fid if type(fid) is int else None, func, file, pos))
            if fid is not None:
                self.frames_by_fid[(pid, fid)] = frame
        seg = _Seg((self.next_seg, frame, fid, depth, None, parent[0] if parent else None, pos,
                    func, file, parent[4] if parent else None))
        self.next_seg += 1
        stack.append(seg)
        return seg

    def _pop_to(self, thread: int, keep, prev_pos: int) -> None:
        """Pop segments above the first one for which `keep(seg)` is true (they ended unseen)."""
        stack = self.stacks[thread]
        while stack and not keep(stack[-1]):
            self._end(stack.pop(), prev_pos, thread)

    def frame_record(self, k: int, rec: dict, pid: int, pos: int) -> tuple:
        tid = as_int(rec.get("tid"))
        t = self.threads.get((pid, tid))
        prev_pos = t[4] if t else pos
        thread = self._thread(pid, tid, pos)
        stack = self.stacks[thread]
        fid = rec.get("fid")
        depth = as_int(rec.get("depth"))
        line = rec.get("line")
        line = line if type(line) is int else None
        strings = self.strings
        file = strings[as_str(rec.get("file"))]
        func = strings[as_str(rec.get("func"))]
        if k == CALL:
            self._pop_to(thread, lambda s: s[3] < depth, prev_pos)
            seg = self._push(thread, pid, fid, depth, pos, func, file, bool(rec.get("resume")))
            args = rec.get("args")
            if args:
                self._vars(seg[1], pos, args, None)
        else:
            top = stack[-1] if stack else None
            if top is None or top[2] != fid or fid is None and top[3] != depth:
                if fid is not None and any(s[2] == fid for s in stack):
                    self._pop_to(thread, lambda s: s[2] == fid, prev_pos)
                    top = stack[-1]
                else:
                    # a frame whose call was not recorded: verbosity raised mid-run, or a late join
                    self._pop_to(thread, lambda s: s[3] < depth, prev_pos)
                    top = self._push(thread, pid, fid, depth, pos, func, file, fid is not None)
            seg = top
            changed, deleted = rec.get("changed"), rec.get("deleted")
            if changed or deleted:
                self._vars(seg[1], pos, changed, deleted)
            if k == LINE:
                self.line_hits[(file, line)] += 1
                if self.chains.get(thread) is not None:
                    del self.chains[thread]
            elif k == EXCEPTION:
                if rec.get("traceback") is not None:
                    self.chains[thread] = pos
                    self.tracebacks += 1
                    self.last_traceback = pos
        if line is not None:
            seg[4] = line
        if k == RETURN:
            stack.pop()
            self._end(seg, pos, thread)
            if not rec.get("yield") and fid is not None:
                self.frames_by_fid.pop((pid, fid), None)
        return thread, seg[0], depth, file, line, func

    def command_record(self, rec: dict, pid: int, pos: int) -> tuple:
        """Shell commands: frames are (depth, function) pairs, main at depth 0."""
        tid = as_int(rec.get("tid"))
        t = self.threads.get((pid, tid))
        prev_pos = t[4] if t else pos
        thread = self._thread(pid, tid, pos)
        depth = as_int(rec.get("depth"))
        line = rec.get("line")
        line = line if type(line) is int else None
        file = self.strings[as_str(rec.get("file"))]
        func = self.strings[as_str(rec.get("func"), "main")]
        self._pop_to(thread, lambda s: s[3] < depth or (s[3] == depth and s[7] == func), prev_pos)
        stack = self.stacks[thread]
        seg = stack[-1] if stack and stack[-1][3] == depth else None
        if seg is None:
            seg = self._push(thread, pid, None, depth, pos, func, file, False)
        seg[4] = line
        self.line_hits[(file, line)] += 1
        return thread, seg[0], depth, file, line, func

    def _vars(self, frame: int, pos: int, changed, deleted) -> None:
        names, strings, out = self.new_names, self.strings, self.changes
        if changed:
            for name, pair in as_vars(changed).items():
                n = strings[name]
                out.append((frame, n, pos, pair[0], pair[1]))
                names.add((frame, n))
        if deleted and isinstance(deleted, list):
            for name in deleted:
                if isinstance(name, str):
                    n = strings[name]
                    out.append((frame, n, pos, None, None))
                    names.add((frame, n))

    # -- other kinds -------------------------------------------------------------

    def other_record(self, k: int, rec: dict, pid: int, pos: int, ts: float) -> None:
        if k == METRIC:
            values = rec.get("values")
            if isinstance(values, dict):
                for name, v in values.items():
                    if type(v) in (int, float):
                        self.metric_rows.append((pos, ts, self.strings[name], v))
                        if v > self.peak.get(name, float("-inf")):
                            self.peak[name] = v
        elif k == STATE:
            self.state_rows.append((pos, ts, pid, as_str(rec.get("state"))))
        elif k == SOURCE:
            self.source_rows.append((pos, pid, as_str(rec.get("path")), as_str(rec.get("sha256")),
                                     as_str(rec.get("lang")), as_str(rec.get("text"))))
        elif k == PROCESS:
            p = self.processes.setdefault(pid, {"pid": pid})
            if rec.get("phase") == "exit":
                p.update(exit_pos=pos, exit_ts=ts, exit_code=rec.get("exit_code"), signal=rec.get("signal"))
            else:
                argv = rec.get("argv")
                p.update(ppid=rec.get("ppid"), argv=orjson.dumps(argv if isinstance(argv, list) else []).decode(),
                         lang=as_str(rec.get("lang")), python=as_str(rec.get("python")),
                         start_pos=pos, start_ts=ts)

    # -- writing -------------------------------------------------------------

    def flush(self, final: bool = False) -> None:
        c = self.conn
        if self.strings.new:
            c.executemany("INSERT INTO strings VALUES (?, ?)", self.strings.new)
            self.strings.new = []
        c.executemany("INSERT INTO records VALUES (?,?,?,?,?,?,?,?,?,?,?)", self.rows)
        # full blocks, and the partial last one (replaced when it fills up)
        if self.block:
            first = self.rows[-1][0] - len(self.block) + 1 if self.rows else None
            if first is not None:
                self.block_rows.append((first // BLOCK_SIZE, b"".join(self.block)))
        c.executemany("INSERT OR REPLACE INTO blocks VALUES (?, ?)", self.block_rows)
        for table, rows, n in (
            ("changes", self.changes, 5), ("frames", self.frame_rows, 6), ("metrics", self.metric_rows, 4),
            ("states", self.state_rows, 4), ("sources", self.source_rows, 6),
        ):
            if rows:
                c.executemany(f"INSERT INTO {table} VALUES ({','.join('?' * n)})", rows)
        if self.new_names:
            c.executemany("INSERT OR IGNORE INTO frame_names VALUES (?, ?)", self.new_names)
            self.new_names = set()
        # open segments are written as they stand now and replaced when they end
        open_segs = [] if final else [
            (s[0], s[1], s[5], s[3], s[6], None, s[9]) for st in self.stacks.values() for s in st
        ]
        c.executemany("INSERT OR REPLACE INTO segs VALUES (?,?,?,?,?,?,?)", self.seg_rows + open_segs)
        c.executemany("INSERT OR REPLACE INTO threads VALUES (?,?,?,?,?)", list(self.threads.values()))
        self.rows, self.changes, self.frame_rows, self.metric_rows = [], [], [], []
        self.state_rows, self.source_rows, self.seg_rows, self.block_rows = [], [], [], []
        c.commit()


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute("PRAGMA cache_size=-65536")
    return conn


def build(inp: JobInput, db_path: Path, progress: Progress | None = None,
          cancel: threading.Event | None = None) -> None:
    """Index `inp` into a new SQLite file at `db_path`."""
    conn = _connect(db_path)
    try:
        schema.create(sqlite_utils.Database(conn))
        _write_meta(conn, {"job": inp.job, "manifest": inp.manifest or {}, "label": inp.label,
                           "complete": False, "logs": inp.logs})
        conn.commit()
        _build(inp, conn, progress, cancel)
    finally:
        conn.close()


def _write_meta(conn: sqlite3.Connection, items: dict) -> None:
    conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                     [(k, orjson.dumps(v).decode()) for k, v in items.items()])


def _build(inp: JobInput, conn: sqlite3.Connection, progress, cancel) -> None:
    b = _Builder(conn)
    report = inp.report
    stats = [StreamStats(name=s.name, pid=s.pid) for s in inp.streams]
    iters = [read_stream(s, report, st) for s, st in zip(inp.streams, stats, strict=True)]
    # items compare by (ts, pid, seq) first, which is unique, so no key function is needed
    merged = heapq.merge(*iters) if len(iters) > 1 else (iters[0] if iters else ())
    kinds_code, frame_kinds = KIND_CODE, (CALL, LINE, RETURN, EXCEPTION)
    rows, kinds, block, block_rows = b.rows, b.kinds, b.block, b.block_rows
    total = inp.total_bytes or 1
    pos = -1
    last_report = time.monotonic()
    for ts, pid, seq, raw, rec in merged:
        pos += 1
        k = kinds_code.get(rec["kind"], OTHER)
        kinds[k] += 1
        if k in frame_kinds:
            thread, seg, depth, file, line, func = b.frame_record(k, rec, pid, pos)
            rows.append((pos, ts, pid, seq, k, thread, seg, depth, file, line, func))
        elif k == COMMAND:
            thread, seg, depth, file, line, func = b.command_record(rec, pid, pos)
            rows.append((pos, ts, pid, seq, k, thread, seg, depth, file, line, func))
        else:
            if k == OTHER:
                b.unknown_kinds[rec["kind"]] += 1
            else:
                b.other_record(k, rec, pid, pos, ts)
            rows.append((pos, ts, pid, seq, k, None, None, None, None, None, None))
        block.append(raw)
        if len(block) == BLOCK_SIZE:
            block_rows.append((pos >> schema.BLOCK_SHIFT, b"".join(block)))
            block.clear()
        if len(rows) >= BATCH:
            b.flush()
            rows, block_rows = b.rows, b.block_rows
            if cancel is not None and cancel.is_set():
                raise Cancelled("indexing cancelled")
            now = time.monotonic()
            if progress is not None and now - last_report > 0.1:
                last_report = now
                done = sum(s.consumed for s in inp.streams)
                progress(min(done, total), total, pos + 1)
    _finish(b, inp, stats, pos + 1)
    if progress is not None:
        progress(total, total, pos + 1)


def _finish(b: _Builder, inp: JobInput, stats: list[StreamStats], count: int) -> None:
    # frames still open at the end of their stream stay open (end_pos NULL)
    for thread, stack in b.stacks.items():
        while stack:
            s = stack.pop()
            b.seg_rows.append((s[0], s[1], s[5], s[3], s[6], None, s[9]))
            if b.chains.get(thread) is not None and s[3] == 0:
                b.uncaught.append(b.chains.pop(thread))
    b.uncaught.extend(b.chains.values())
    b.flush(final=True)
    c = b.conn
    c.executemany("INSERT OR REPLACE INTO line_hits VALUES (?, ?, ?)",
                  [(f, ln, n) for (f, ln), n in b.line_hits.items() if ln is not None])
    cols = ("pid", "ppid", "argv", "lang", "python", "start_pos", "start_ts", "exit_pos", "exit_ts",
            "exit_code", "signal")
    c.executemany("INSERT OR REPLACE INTO processes VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                  [tuple(p.get(k) for k in cols) for p in b.processes.values()])
    c.executemany("INSERT OR REPLACE INTO streams VALUES (?,?,?,?,?,?,?)", [
        (st.pid if st.pid is not None else -i, st.name, st.records, st.first_seq, st.last_seq,
         orjson.dumps(st.holes).decode(), st.cut_line) for i, st in enumerate(stats, 1)
    ])
    if b.unknown_kinds:
        for kind, n in b.unknown_kinds.items():
            inp.report.add("", 0, "unknown-kind", f"{n} records of unknown kind {kind!r} kept, not replayed")
    job = inp.job
    aborted = any(st.cut_line for st in stats) or (inp.manifest is not None and job.get("ended") is None)
    if aborted and inp.manifest and inp.streams and inp.streams[0].records is None:
        cut = ", ".join(f"{st.name} line {st.cut_line}" for st in stats if st.cut_line)
        inp.report.add("manifest.json", 0, "aborted",
                       "the job ended abruptly (no end in the manifest)" + (f"; cut: {cut}" if cut else ""))
    _write_meta(c, {
        "count": count,
        "kinds": {KIND_NAMES[i]: n for i, n in enumerate(b.kinds) if n},
        "peak": b.peak,
        "uncaught": b.uncaught[-100:],
        "tracebacks": b.tracebacks,
        "last_traceback": b.last_traceback,
        "report": inp.report.to_json(),
        "aborted": aborted,
    })
    c.commit()
    schema.finish(sqlite_utils.Database(c))
    _write_meta(c, {"complete": True})
    c.commit()
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def remove(db_path: Path) -> None:
    """Delete an index file and its WAL companions."""
    for suffix in ("", "-wal", "-shm"):
        try:
            os.unlink(str(db_path) + suffix)
        except FileNotFoundError:
            pass
