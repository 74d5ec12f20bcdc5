"""Build the SQLite index of one job: merge its streams, rebuild every thread's frames.

The merge is by (ts, pid, seq), so each record's `pos` is final the moment it
is read, and readers may query the index while it grows (WAL mode; a commit
every `BATCH` records). Frames are tracked per thread as the records pass:
`call` pushes a segment, `return` ends it, and a record of a frame that is not
on top (an unwinding exception, a level of verbosity raised mid-run, a late
join) pops or synthesises frames so that the stack is always well formed.

Two stages: `Tracker` reads, merges and tracks, and hands out batches of
table rows; `Writer` inserts them. For a big input the tracker runs in a
worker process (`WORKER_BYTES`), so reading and SQLite use both cores; both
ways run the same code and build the same index.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from itertools import chain
from operator import attrgetter
from pathlib import Path

import msgspec
import orjson

from jemgui.models import schema
from jemgui.models.inputs import JobInput, Stream
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
    as_str,
    describe,
)
from jemgui.models.report import MAX_LISTED, ImportReport, Problem
from jemgui.models.schema import BLOCK_SHIFT, BLOCK_SIZE
from jemgui.models.streams import StreamStats, every_stats, merge, read_stream

#: records per commit (a multiple of BLOCK_SIZE is not needed: partial blocks are resent). A batch's rows
#: are Python objects in the window's process until written: 51200 made its peak RSS 224 MB at 1 M
#: records (without Qt), 16384 makes it 108 MB, for the same CPU time
BATCH = 16384
#: records in the first commit: a window opening a big input shows them at once
FIRST_BATCH = 2048
#: inputs at least this big are read and tracked in a worker process (JEMGUI_INDEX_WORKER=0/1 forces it)
WORKER_BYTES = 32 * 1024 * 1024
Progress = Callable[[int, int, int], None]
#: a batch of rows: table name -> flat list of column values, plus "count" and "consumed"
Batch = dict
PROCESS_COLUMNS = tuple(schema.TABLES["processes"][0])


def progress_words(records: int, done: int, total: int, seconds: float) -> str:
    """`1,234,567 records, 70,000/s, 1:05 left` (the rate and time left once they mean something)."""
    text = f"{records:,} records"
    if seconds > 0.5 and records:
        text += f", {records / seconds:,.0f}/s"
        if 0 < done < total:
            left = seconds * (total - done) / done
            text += f", {int(left // 60)}:{int(left % 60):02d} left"
    return text


class Cancelled(Exception):
    """Indexing was cancelled; the partial index is removed."""


class _Strings(dict):
    """Interns strings to small integer ids, remembering the new ones to write."""

    def __init__(self):
        super().__init__()
        self.new: list = []

    def __missing__(self, text: str) -> int:
        i = len(self) + 1
        self[text] = i
        self.new += (i, text)
        return i


# A thread is [thread, pid, tid, first_pos, last_pos, stack]; a segment of its stack is
# [seg, frame, fid, depth, line, parent seg, start_pos, func, file, parent_line], func and file
# being the frame's (as its first record named them).


class Tracker:
    """Reads the streams, merges them and tracks every thread's frames; yields row batches."""

    def __init__(self, streams: list[Stream], report: ImportReport):
        self.streams, self.report = streams, report
        self.stats = [StreamStats(name=s.name, pid=s.pid) for s in streams]
        self.strings = _Strings()
        self.threads: dict[tuple[int, int], list] = {}
        self.thread_list: list[list] = []
        #: (pid, fid) -> (frame id, func, file) of a frame live or suspended
        self.frames_by_fid: dict[tuple[int, int], tuple[int, int, int]] = {}
        self.next_frame = 1
        self.next_seg = 1
        self.kinds: Counter = Counter()  # by kind name
        self.processes: dict[int, dict] = {}
        self.changed_procs: set[int] = set()  # pids whose row is written with the next batch
        self.chains: dict[int, int] = {}  # thread -> pos of the exception being raised
        self.uncaught: deque[int] = deque(maxlen=100)
        self.tracebacks = 0
        self.last_traceback: int | None = None
        self.peak: dict[str, float] = {}
        self.pos = -1  #: the last record's position
        self.raws: list[bytes] = []  #: JSON lines from the last whole block on
        self.first_raw = 0  #: pos of raws[0]
        self._reset()

    def _reset(self) -> None:
        """New row lists: flat, one value after the other, as the writer binds them."""
        self.rows: list = []
        self.changes: list = []
        self.frame_rows: list = []
        self.seg_rows: list = []
        self.metric_rows: list = []
        self.state_rows: list = []
        self.source_rows: list = []
        self.raise_rows: list = []

    # -- the hot loop ------------------------------------------------------------

    def run(self, batch: int = BATCH) -> Iterator[Batch]:
        """Read and merge the streams, yield a batch of rows every `batch` records or so, and a last one.

        The first batches are small (FIRST_BATCH, growing fourfold) so that a window shows the
        first records of a big input at once.
        """
        merged = merge([read_stream(s, self.report, st) for s, st in zip(self.streams, self.stats, strict=True)])
        limit = min(batch, FIRST_BATCH)
        for recs, raws in merged:
            self.feed(recs, raws)
            if len(self.rows) >= limit * 11:
                yield self.take()
                limit = min(batch, limit * 4)
        self.close()
        yield self.take(final=True)

    def feed(self, recs: list, chunk_raws: list[bytes]) -> None:
        """Track records that come next, in the order given: each costs the same however many came before.

        The archive feeds the merged timeline; a live job feeds records as they arrive (each
        stream in its own order), which gives every thread the same states, since a thread's
        state depends only on its own stream. Most records are a line, return or exception of
        the frame on top of its thread's stack: that case is handled inline; the others call out.
        """
        kind_code, kinds, kind_of = KIND_CODE.get, self.kinds, attrgetter("kind")
        strings, threads = self.strings, self.threads
        frames_by_fid, chains = self.frames_by_fid, self.chains
        pos = self.pos
        kinds.update(map(kind_of, recs))
        add_row, add_change = self.rows.extend, self.changes.extend
        for rec, raw in zip(recs, chunk_raws, strict=True):
            pos += 1
            k = kind_code(rec.kind, OTHER)
            if LINE <= k <= EXCEPTION:
                pid, tid, fid = rec.pid, rec.tid, rec.fid
                t = threads.get((pid, tid))
                try:
                    seg = t[5][-1]
                except (TypeError, IndexError):  # a new thread, or nothing on its stack
                    seg = None
                if seg is None or seg[2] != fid or fid is None:
                    seg = self._find(rec, pos)
                    t = threads[(pid, tid)]
                else:
                    t[4] = pos
                if rec.changed:
                    frame = seg[1]
                    for name, pair in rec.changed.items():
                        add_change((frame, strings[name], pos, pair[0], pair[1]))
                if rec.deleted:
                    frame = seg[1]
                    for name in rec.deleted:
                        add_change((frame, strings[name], pos, None, None))
                if k == EXCEPTION:  # all the frame's locals at the exception (verbosity 2 and up)
                    values = getattr(rec, "locals", None)
                    if values:
                        frame = seg[1]
                        for name, pair in values.items():
                            add_change((frame, strings[name], pos, pair[0], pair[1]))
                line = rec.line
                if line is not None:
                    seg[4] = line
                if k == LINE:
                    if chains:
                        chains.pop(t[0], None)
                elif k == RETURN:
                    t[5].pop()
                    self._end(seg, pos, t[0])
                    if not rec.yield_:
                        frames_by_fid.pop((pid, fid), None)
                elif rec.traceback is not None:
                    chains[t[0]] = pos
                    self.raise_rows += (pos, rec.ts, describe(orjson.loads(raw)))
                    self.tracebacks += 1
                    self.last_traceback = pos
                add_row((pos, rec.ts, pid, rec.seq, k, t[0], seg[0], rec.depth, strings[rec.file], line,
                         strings[rec.func or ""]))
            elif k == CALL:
                pid, tid, fid, depth = rec.pid, rec.tid, rec.fid, rec.depth
                t = threads.get((pid, tid))
                if t is None:
                    t = self._thread(pid, tid, pos)[0]
                stack = t[5]
                if stack and stack[-1][3] >= depth:  # frames that ended unseen
                    self._pop_below(t, depth, t[4])
                t[4] = pos
                file, func = strings[rec.file], strings[rec.func or ""]
                known = frames_by_fid.get((pid, fid)) if rec.resume and fid is not None else None
                if known is None:
                    known = (self.next_frame, func, file)
                    self.next_frame += 1
                    self.frame_rows += (known[0], t[0], fid, func, file, pos)
                    if fid is not None:
                        frames_by_fid[(pid, fid)] = known
                frame = known[0]
                parent = stack[-1] if stack else None
                line = rec.line
                seg = [self.next_seg, frame, fid, depth, line, parent[0] if parent else None, pos, known[1],
                       known[2], parent[4] if parent else None]
                self.next_seg += 1
                stack.append(seg)
                if rec.args:
                    for name, pair in rec.args.items():
                        add_change((frame, strings[name], pos, pair[0], pair[1]))
                add_row((pos, rec.ts, pid, rec.seq, CALL, t[0], seg[0], depth, file, line, func))
            elif k == COMMAND:
                add_row(self._command(rec, pos))
            else:
                if k in (METRIC, STATE, SOURCE, PROCESS):
                    self._other(k, orjson.loads(raw), pos, rec.ts, rec.pid)
                add_row((pos, rec.ts, rec.pid, rec.seq, k, None, None, None, None, None, None))
        self.pos = pos
        self.raws += chunk_raws

    def take(self, final: bool = False) -> Batch:
        """The rows tracked since the last batch (the partial last block is sent again, whole, later)."""
        out = self._batch(self.raws, self.first_raw, self.pos, final)
        keep = (self.pos + 1) & ~(BLOCK_SIZE - 1)
        del self.raws[: keep - self.first_raw]
        self.first_raw = keep
        return out

    def close(self) -> None:
        """The input ended: frames still open stay open, raises not caught are uncaught."""
        self._close_all()

    # -- frames ------------------------------------------------------------

    def _thread(self, pid: int, tid: int, pos: int) -> tuple[list, int]:
        """The thread and the position of its previous record (`pos` for a new one)."""
        t = self.threads.get((pid, tid))
        if t is None:
            t = self.threads[(pid, tid)] = [len(self.threads) + 1, pid, tid, pos, pos, []]
            self.thread_list.append(t)
        prev, t[4] = t[4], pos
        return t, prev

    def _end(self, seg: list, end_pos: int | None, thread: int) -> None:
        self.seg_rows += (seg[0], seg[1], seg[5], seg[3], seg[6], end_pos, seg[9], seg[7], seg[8])
        if seg[3] == 0 and self.chains and self.chains.get(thread) is not None:
            self.uncaught.append(self.chains.pop(thread))

    def _push(self, t: list, fid, depth: int, pos: int, func: int, file: int, resume: bool) -> list:
        stack = t[5]
        parent = stack[-1] if stack else None
        known = self.frames_by_fid.get((t[1], fid)) if (resume and fid is not None) else None
        if known is None:
            known = (self.next_frame, func, file)
            self.next_frame += 1
            self.frame_rows += (known[0], t[0], fid, func, file, pos)
            if fid is not None:
                self.frames_by_fid[(t[1], fid)] = known
        seg = [self.next_seg, known[0], fid, depth, None, parent[0] if parent else None, pos, known[1], known[2],
               parent[4] if parent else None]
        self.next_seg += 1
        stack.append(seg)
        return seg

    def _pop_below(self, t: list, depth: int, prev_pos: int) -> None:
        """Pop the segments at `depth` or deeper: they ended unseen."""
        stack = t[5]
        while stack and stack[-1][3] >= depth:
            self._end(stack.pop(), prev_pos, t[0])

    def _find(self, rec, pos: int) -> list:
        """The segment of a line, return or exception whose frame is not on top of its thread."""
        t, prev = self._thread(rec.pid, rec.tid, pos)
        stack, fid, depth = t[5], rec.fid, rec.depth
        top = stack[-1] if stack else None
        if top is not None and top[2] == fid and (fid is not None or top[3] == depth):
            return top
        if fid is not None and any(s[2] == fid for s in stack):
            while stack[-1][2] != fid:  # an exception unwinding: the frames above ended unseen
                self._end(stack.pop(), prev, t[0])
            return stack[-1]
        # a frame whose call was not recorded: verbosity raised mid-run, or a late join
        self._pop_below(t, depth, prev)
        return self._push(t, fid, depth, pos, self.strings[rec.func or ""], self.strings[rec.file], fid is not None)

    def _command(self, rec, pos: int) -> tuple:
        """Shell commands: frames are (depth, function) pairs, main at depth 0."""
        t, prev = self._thread(rec.pid, rec.tid, pos)
        depth, line = rec.depth, rec.line
        file = self.strings[rec.file]
        func = self.strings[rec.func if rec.func is not None else "main"]
        stack = t[5]
        while stack and not (stack[-1][3] < depth or (stack[-1][3] == depth and stack[-1][7] == func)):
            self._end(stack.pop(), prev, t[0])
        seg = stack[-1] if stack and stack[-1][3] == depth else None
        if seg is None:
            seg = self._push(t, None, depth, pos, func, file, False)
        seg[4] = line
        return pos, rec.ts, rec.pid, rec.seq, COMMAND, t[0], seg[0], depth, file, line, func

    def _close_all(self) -> None:
        """Frames still open at the end of their stream stay open (end_pos NULL)."""
        for t in self.thread_list:
            stack = t[5]
            while stack:
                self._end(stack.pop(), None, t[0])
        self.uncaught.extend(self.chains.values())

    # -- other kinds -------------------------------------------------------------

    def _other(self, k: int, rec: dict, pos: int, ts: float, pid: int) -> None:
        if k == METRIC:
            values = rec.get("values")
            if isinstance(values, dict):
                for name, v in values.items():
                    if type(v) in (int, float):
                        self.metric_rows += (pos, ts, self.strings[name], v)
                        if v > self.peak.get(name, float("-inf")):
                            self.peak[name] = v
        elif k == STATE:
            self.state_rows += (pos, ts, pid, as_str(rec.get("state")))
        elif k == SOURCE:
            self.source_rows += (pos, pid, as_str(rec.get("path")), as_str(rec.get("sha256")),
                                 as_str(rec.get("lang")), as_str(rec.get("text")))
        elif k == PROCESS:
            p = self.processes.setdefault(pid, {"pid": pid})
            self.changed_procs.add(pid)
            if rec.get("phase") == "exit":
                p.update(exit_pos=pos, exit_ts=ts, exit_code=rec.get("exit_code"), signal=rec.get("signal"))
            else:
                argv = rec.get("argv")
                p.update(ppid=rec.get("ppid"), argv=orjson.dumps(argv if isinstance(argv, list) else []).decode(),
                         lang=as_str(rec.get("lang")), python=as_str(rec.get("python")),
                         start_pos=pos, start_ts=ts)

    # -- batches -------------------------------------------------------------

    def _batch(self, raws: list[bytes], first_raw: int, last_pos: int, final: bool) -> Batch:
        """The rows gathered since the last batch; open segments as they stand (replaced when they end)."""
        blocks = []
        for start in range(first_raw, last_pos + 1, BLOCK_SIZE):
            part = raws[start - first_raw: start - first_raw + BLOCK_SIZE]
            blocks += (start >> BLOCK_SHIFT, b"\n".join(part) + b"\n")
        segs = self.seg_rows
        if not final:
            segs += chain.from_iterable((s[0], s[1], s[5], s[3], s[6], None, s[9], s[7], s[8]) for t in self.thread_list
                                        for s in t[5])
        out = {
            "strings": self.strings.new, "records": self.rows, "blocks": blocks, "changes": self.changes,
            "frames": self.frame_rows, "segs": segs, "threads": list(chain.from_iterable(t[:5] for t in self.thread_list)),
            "metrics": self.metric_rows, "states": self.state_rows, "sources": self.source_rows,
            "raises": self.raise_rows, "processes": [self.processes[pid].get(c) for pid in sorted(self.changed_procs)
                                            for c in PROCESS_COLUMNS],
            "count": last_pos + 1, "consumed": sum(s.consumed for s in self.streams),
        }
        self.strings.new = []
        self.changed_procs = set()
        self._reset()
        return out

    def facts(self) -> dict:
        """What the whole pass found, for the meta table (after the last batch)."""
        by_code = Counter()
        for name, n in self.kinds.items():
            by_code[KIND_CODE.get(name, OTHER)] += n
        counts = {KIND_NAMES[code]: by_code[code] for code in sorted(by_code)}
        return {
            "kinds": counts, "peak": self.peak, "uncaught": list(self.uncaught), "tracebacks": self.tracebacks,
            "last_traceback": self.last_traceback,
            "unknown_kinds": {k: n for k, n in self.kinds.items() if k not in KIND_CODE},
            "streams": [[st.pid, st.name, st.records, st.first_seq, st.last_seq, st.holes, st.cut_line]
                        for st in every_stats(self.stats)],
        }


# --- writing ------------------------------------------------------------------------------------------

#: rows per INSERT statement: one statement per row costs most of the time in binding it
ROWS_PER_INSERT = 64


class Writer:
    """Inserts row batches into the index; several rows per statement."""

    COLUMNS = {"strings": 2, "records": 11, "blocks": 2, "changes": 5, "frames": 6, "segs": 9, "threads": 5,
               "metrics": 4, "states": 4, "sources": 6, "raises": 3, "processes": len(PROCESS_COLUMNS)}
    REPLACE = ("blocks", "segs", "threads", "processes")  # rows sent again as they grow

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.sql = {}
        for table, n in self.COLUMNS.items():
            verb = "INSERT OR REPLACE" if table in self.REPLACE else "INSERT"
            one = "(" + ",".join("?" * n) + ")"
            self.sql[table] = (f"{verb} INTO {table} VALUES {one}",
                               f"{verb} INTO {table} VALUES " + ",".join([one] * ROWS_PER_INSERT))

    def write(self, batch: Batch) -> None:
        """Insert a batch; its blocks are compressed here, in the process that writes (the
        reading and tracking one is the busier)."""
        blocks = batch["blocks"]
        blocks[1::2] = map(schema.pack_block, blocks[1::2])
        execmany = self.conn.executemany
        for table, n in self.COLUMNS.items():
            flat = batch[table]
            if not flat:
                continue
            one, many = self.sql[table]
            step = n * ROWS_PER_INSERT
            full = len(flat) // step * step
            if full:
                execmany(many, [flat[i:i + step] for i in range(0, full, step)])
            if full < len(flat):
                execmany(one, [flat[i:i + n] for i in range(full, len(flat), n)])
        self.conn.commit()


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-16384")  # 16 MB: rows go in mostly in key order
    return conn


def build(inp: JobInput, db_path: Path, progress: Progress | None = None,
          cancel: threading.Event | None = None) -> None:
    """Index `inp` into a new SQLite file at `db_path`."""
    # The worker starts first: it loads and reads its first records while this process loads
    # sqlite_utils and makes the schema (a window's first records came 0.15 s later otherwise).
    batches = _Worker(inp, BATCH) if _use_worker(inp) else _in_process(inp, BATCH)
    try:
        import sqlite_utils  # here, not at the top: opening a cached index does not need it

        conn = _connect(db_path)
        try:
            schema.create(sqlite_utils.Database(conn))
            _write_meta(conn, {"job": inp.job, "manifest": inp.manifest or {}, "label": inp.label,
                               "complete": False, "logs": inp.logs})
            conn.commit()
            _build(inp, conn, batches, progress, cancel)
        finally:
            conn.close()
    finally:
        batches.close()


def _write_meta(conn: sqlite3.Connection, items: dict) -> None:
    conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                     [(k, orjson.dumps(v).decode()) for k, v in items.items()])


def _use_worker(inp: JobInput) -> bool:
    import sys

    forced = os.environ.get("JEMGUI_INDEX_WORKER")
    if any(s.records is not None for s in inp.streams) or not inp.streams or getattr(sys, "frozen", False):
        return False
    if forced is not None:
        return forced not in ("", "0")
    return inp.total_bytes >= WORKER_BYTES and (os.cpu_count() or 1) > 1


def _build(inp: JobInput, conn: sqlite3.Connection, batches, progress, cancel) -> None:
    import gc

    writer = Writer(conn)
    total = inp.total_bytes or 1
    last_report = 0.0  # the first batch is reported at once: a window shows it
    gc_was = gc.isenabled()
    gc.disable()  # millions of small tuples: collections would only cost time, they hold no cycles
    try:
        facts, count = None, 0
        for batch in batches:
            if "facts" in batch:
                facts = batch["facts"]
                continue
            writer.write(batch)
            count = batch["count"]
            if cancel is not None and cancel.is_set():
                raise Cancelled("indexing cancelled")
            now = time.monotonic()
            if progress is not None and now - last_report > 0.1:
                last_report = now
                progress(min(batch["consumed"], total), total, batch["count"])
    finally:
        if gc_was:
            gc.enable()
    _finish(conn, inp, facts, count)
    if progress is not None:
        progress(total, total, count)


def _in_process(inp: JobInput, batch: int) -> Iterator[Batch]:
    tracker = Tracker(inp.streams, inp.report)
    yield from tracker.run(batch)
    yield {"facts": tracker.facts()}


class _Worker:
    """Batches from a worker process that reads, merges and tracks; it starts at once.

    A plain `python -c` child (not multiprocessing), so it never re-imports the caller's main
    module and starts the same beside Qt threads; frames on its stdout are length + msgpack.
    """

    def __init__(self, inp: JobInput, batch: int):
        import subprocess
        import sys
        import tempfile

        import jemgui

        self.inp = inp
        specs = orjson.dumps({"streams": [s.spec() for s in inp.streams], "batch": batch})
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(Path(jemgui.__file__).resolve().parent.parent), *filter(None, [os.environ.get("PYTHONPATH")])])}
        self.errors = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from jemgui.models.indexer import worker_main; worker_main()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errors, env=env)
        try:
            self.proc.stdin.write(specs)
            self.proc.stdin.close()
        except OSError:
            pass  # it died at once: said when its frames are read

    def __iter__(self) -> Iterator[Batch]:
        decode, read, proc = msgspec.msgpack.decode, self.proc.stdout.read, self.proc
        while True:
            head = read(8)
            body = read(int.from_bytes(head, "little")) if len(head) == 8 else b""
            if not body:
                proc.wait()
                self.errors.seek(0)
                tail = self.errors.read()[-2000:].decode("utf-8", "replace").strip().splitlines()
                raise RuntimeError(f"the indexing worker died (exit {proc.returncode}): "
                                   f"{tail[-1] if tail else 'no message'}")
            msg = decode(body)
            if "error" in msg:
                raise RuntimeError(f"the indexing worker failed: {msg['error']}")
            if "facts" in msg:
                _merge_report(self.inp.report, msg["facts"].pop("report"))
                yield msg
                return
            yield msg

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()
        self.errors.close()


def worker_main() -> None:
    """The worker process: read the job from stdin, write its batches to stdout."""
    import gc
    import sys

    gc.disable()
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything else printed goes to stderr, not into the frames
    encode = msgspec.msgpack.encode

    def send(msg: dict) -> None:
        body = encode(msg)
        out.write(len(body).to_bytes(8, "little"))
        out.write(body)

    try:
        job = orjson.loads(sys.stdin.buffer.read())
        report = ImportReport()
        streams = [Stream.from_spec(spec) for spec in job["streams"]]
        tracker = Tracker(streams, report)
        for b in tracker.run(job["batch"]):
            send(b)
        send({"facts": {**tracker.facts(), "report": report.to_json()}})
        out.flush()
    except BrokenPipeError:
        pass  # the parent stopped listening (cancelled)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
        send({"error": f"{type(exc).__name__}: {exc}"})
        out.flush()


def _merge_report(report: ImportReport, data: dict) -> None:
    for p in data.get("problems", []):
        if len(report.problems) < MAX_LISTED:
            report.problems.append(Problem(**p))
    report.counts.update(data.get("counts", {}))


def _finish(c: sqlite3.Connection, inp: JobInput, facts: dict, count: int) -> None:
    import sqlite_utils  # see build()

    c.executemany("INSERT OR REPLACE INTO streams VALUES (?,?,?,?,?,?,?)", [
        (pid if pid is not None else -i, name, n, first, last, orjson.dumps(holes).decode(), cut)
        for i, (pid, name, n, first, last, holes, cut) in enumerate(facts["streams"], 1)
    ])
    for kind, n in facts["unknown_kinds"].items():
        inp.report.add("", 0, "unknown-kind", f"{n} records of unknown kind {kind!r} kept, not replayed")
    job = inp.job
    stats = facts["streams"]
    aborted = any(st[6] for st in stats) or (inp.manifest is not None and job.get("ended") is None)
    if aborted and inp.manifest and inp.streams and inp.streams[0].records is None:
        cut = ", ".join(f"{st[1]} line {st[6]}" for st in stats if st[6])
        inp.report.add("manifest.json", 0, "aborted",
                       "the job ended abruptly (no end in the manifest)" + (f"; cut: {cut}" if cut else ""))
    _write_meta(c, {
        "count": count,
        "kinds": facts["kinds"],
        "peak": facts["peak"],
        "uncaught": facts["uncaught"][-100:],
        "tracebacks": facts["tracebacks"],
        "last_traceback": facts["last_traceback"],
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


def remove_companions(db_path: Path) -> None:
    """Delete the WAL companions a reader left of an index file that was renamed away."""
    if not os.path.exists(db_path):
        for suffix in ("-wal", "-shm"):
            try:
                os.unlink(str(db_path) + suffix)
            except FileNotFoundError:
                pass
