"""The job's streams as the monitor writes them: `events/<pid>.jsonl`, one writer each.

The monitor is the only writer of every stream: its own records, the commands of the
job's shells (`shells`) and the tuples the tracer sends from each Python process
(`inject/_jem_raw`) all pass through a `JsonlStream`, which numbers them so `seq`
grows by exactly one per record. Lines are written whole, once per flush.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import deque
from pathlib import Path

import msgspec

from jemgui.monitor.inject import _jem_raw


def files_by_pid(folder: Path, suffix: str):
    """(pid, path) of each `<pid><suffix>` file in `folder`: what each process of the job writes."""
    for path in folder.glob(f"*{suffix}"):
        stem = path.name.removesuffix(suffix)
        if stem.isdigit():
            yield int(stem), path


def next_seq(path: Path) -> tuple[int, bool]:
    """(the seq after the last complete record of an existing file, is its last line cut)."""
    try:
        size = path.stat().st_size
    except OSError:
        return 0, False
    if size == 0:
        return 0, False
    with open(path, "rb") as f:
        f.seek(max(0, size - (1 << 16)))
        tail = f.read()
    cut = not tail.endswith(b"\n")
    for line in reversed(tail.splitlines()):
        try:
            seq = json.loads(line)["seq"]
        except (ValueError, KeyError, TypeError):
            continue
        if type(seq) is int:
            return seq + 1, cut
    return 0, cut


READ_LIMIT = 1 << 20  # bytes of a raw feed turned into records per poll


def _micro(ts: float) -> float:
    """`ts` to the microsecond (`round(ts, 6)`, for a positive time, at a tenth of its cost)."""
    return round(ts * 1e6) / 1e6


_encode = msgspec.json.Encoder().encode


def line_of(rec: dict) -> bytes:
    """A record's JSON line (without its newline). msgspec, not orjson: the monitor keeps
    a tick's lines until it writes them, and orjson's oversized result buffers made each
    kept line cost twice as much. What msgspec refuses (a lone surrogate, an object)
    goes through the standard library instead of failing the stream."""
    try:
        return _encode(rec)
    except (TypeError, ValueError):
        return json.dumps(rec, default=repr, separators=(",", ":")).encode()


class JsonlStream:
    """The stream of one pid: `record()` from any thread numbers a record and renders its
    line at once (while it is still in the CPU's cache); `flush()` writes the lines."""

    def __init__(self, path: Path, pid: int):
        self.path = path
        self.pid = pid
        self.queue: deque[bytes] = deque()
        self.seq, cut = next_seq(path)  #: the next record's seq
        self.written = self.seq  #: the seq after the last line written
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        self.lock = threading.RLock()
        self.ended = False  #: a process exit record was queued
        self.broken: OSError | None = None
        if cut:
            self._write(b"\n")

    def record(self, kind: str, fields: dict | None = None, ts: float | None = None) -> None:
        rec = {"seq": 0, "pid": self.pid, "ts": _micro(time.time() if ts is None else ts), "kind": kind}
        if fields:
            rec.update(fields)
        with self.lock:
            rec["seq"] = self.seq
            self.queue.append(line_of(rec))
            self.seq += 1
            if kind == "process" and fields and fields.get("phase") == "exit":
                self.ended = True

    @property
    def last_seq(self) -> int:
        return self.written - 1

    def flush(self) -> int:
        """Append the queued lines to the file in one write."""
        with self.lock:
            queue = self.queue
            if not queue or self.fd < 0:
                return 0
            lines = list(queue)
            queue.clear()
            lines.append(b"")
            self._write(b"\n".join(lines))
            self.written += len(lines) - 1
            return len(lines) - 1

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self.fd, view):]
        except OSError as exc:
            self.broken = exc

    def close(self) -> None:
        self.flush()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class RawFeed:
    """What one Python process of the job sent (`.run/raw/<pid>.bin`), read as it grows."""

    def __init__(self, path: Path, stream: JsonlStream):
        self.path = path
        self.stream = stream
        self.offset = 0
        self.pending = b""
        self.more = False  #: the last poll stopped at READ_LIMIT
        self.damaged = False  #: the feed could not be read on from some point
        self.ended = False  #: the feed's last entry says the tracer wrote out all it had
        self.noted = False  #: a marker said that its last records may be missing
        self.codes: dict[int, Code] = {}
        self.last = (0, 0)  #: (fid, line) of the last frame record converted

    def poll(self) -> int:
        """Turn at most READ_LIMIT more bytes of the feed into queued records: a job that
        writes faster than the monitor converts leaves its backlog on disk, not in memory.
        A damaged feed keeps every record before the damage and gets one marker saying where."""
        if self.damaged:
            self.more = False
            return 0
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read(READ_LIMIT)
        except OSError:
            self.more = False
            return 0
        self.more = len(data) == READ_LIMIT
        if not data:
            return 0
        start = self.offset - len(self.pending)
        self.offset += len(data)
        data = self.pending + data if self.pending else data
        batches, used, damage = _jem_raw.read_batches(data)
        self.pending = data[used:]
        count, bad = self._convert(batches)
        if batches and batches[-1]:
            self.ended = batches[-1][-1][0] == _jem_raw.END
        damage = damage or bad
        if damage:
            self.damaged, self.more, self.pending = True, False, b""
            self.stream.record("marker", {"text": f"the tracer's feed of this process is damaged after byte "
                                                  f"{start + used} ({damage}); its later records are lost"})
            count += 1
        return count

    def note_unfinished(self) -> None:
        """The job is over and this feed never said it was complete: the process was killed,
        crashed or outlived the job, so the records of its last moments may be missing. The
        archive says so rather than look complete."""
        if self.ended or self.damaged or self.noted:
            return
        self.noted = True
        cut = f", and a last batch of {len(self.pending)} bytes was cut short" if self.pending else ""
        self.stream.record("marker", {
            "text": f"process {self.stream.pid} ended without its tracer writing out its last "
                    f"records (killed by a signal, crashed, or still running after the job){cut}: "
                    f"records of its last {int(_jem_raw.FLUSH_EVERY * 1000)} ms may be missing",
            "gap": True})

    def _convert(self, batches: list[list]) -> tuple[int, str | None]:
        """Queue the records of `batches`: (how many, what was wrong with an entry or None)."""
        count = 0
        stream = self.stream
        pid, codes = stream.pid, self.codes
        unknown = Code("", "", 0, None)
        last_fid, last_line = self.last
        with stream.lock:  # numbers and lines in feed order, interleaved with no other record
            append, seq = stream.queue.append, stream.seq
            try:
                for batch in batches:
                    for entry in batch:
                        first = entry[0]
                        if first >= 0:
                            cid, kind, ts, tid, fid, line, depth, extra = entry
                            code = codes.get(cid, unknown)
                            if line is None:
                                line = code.first
                            elif line < 0:
                                line = code.line_at(-1 - line)
                                if line is None:  # code the compiler added: the frame's last line
                                    line = last_line if last_fid == fid else code.first
                            last_fid, last_line = fid, line
                            rec = {"seq": seq, "pid": pid, "ts": _micro(ts), "kind": FRAME_KINDS[kind],
                                   "tid": tid, "fid": fid, "file": code.file, "line": line,
                                   "func": code.func, "depth": depth}
                            if extra:
                                rec.update(extra)
                            append(line_of(rec))
                            seq += 1
                            count += 1
                        elif first == _jem_raw.RECORD:
                            stream.seq = seq
                            stream.record(entry[1], entry[3], entry[2])
                            seq = stream.seq
                            count += 1
                        elif first == _jem_raw.CODE:
                            codes[entry[1]] = Code(*entry[2:6])
            except (TypeError, ValueError, KeyError, IndexError) as exc:
                return count, f"an entry the tracer never writes: {type(exc).__name__}: {exc}"
            finally:
                stream.seq = seq
                self.last = (last_fid, last_line)
        return count, None


class Code:
    """A code object the tracer named: where it is, and its line table (sys.monitoring
    reports returns and exceptions by instruction offset, the monitor finds the line).
    An exception leaving a frame through code the compiler added (a finally block's
    re-raise, a generator's own handler) is at an offset of no line: the converter then
    takes the line of the frame's record just before, as settrace has it (the line the
    frame was last on)."""

    __slots__ = ("file", "func", "first", "table", "lines")

    def __init__(self, file: str, func: str, first: int, table: tuple | None):
        self.file, self.func, self.first, self.table = file, func, first, table or ()
        self.lines: dict[int, int] = {}

    def line_at(self, offset: int) -> int | None:
        """The line of the instruction at `offset`; None where it has none."""
        try:
            return self.lines[offset]
        except KeyError:
            pass
        line = self.first
        for start, end, number in self.table:
            if start <= offset < end:
                line = number
                break
        self.lines[offset] = line
        return line


FRAME_KINDS = {_jem_raw.CALL: "call", _jem_raw.LINE: "line", _jem_raw.RETURN: "return",
               _jem_raw.EXCEPTION: "exception"}


class Streams:
    """Every stream of the job, and the raw feeds of its Python processes."""

    def __init__(self, events_dir: Path, raw_dir: Path):
        self.events_dir = events_dir
        self.raw_dir = raw_dir
        self.writers: dict[int, JsonlStream] = {}
        self.feeds: dict[int, RawFeed] = {}
        self.lock = threading.RLock()

    def writer(self, pid: int) -> JsonlStream:
        with self.lock:
            stream = self.writers.get(pid)
            if stream is None:
                stream = self.writers[pid] = JsonlStream(self.events_dir / f"{pid}.jsonl", pid)
            return stream

    def poll_raw(self, final: bool = False) -> int:
        """Turn what the Python processes sent since the last poll into records (a bounded
        amount per feed); `final`: all of it, flushed as it goes."""
        count = 0
        with self.lock:
            for pid, path in files_by_pid(self.raw_dir, ".bin"):
                feed = self.feeds.get(pid)
                if feed is None:
                    feed = self.feeds[pid] = RawFeed(path, self.writer(pid))
                count += feed.poll()
                while final and feed.more:
                    feed.stream.flush()
                    count += feed.poll()
                if final:
                    feed.note_unfinished()
        return count

    def flush(self) -> None:
        with self.lock:
            writers = list(self.writers.values())
        for stream in writers:
            stream.flush()

    def last_seq(self) -> dict[int, int]:
        with self.lock:
            return {pid: w.last_seq for pid, w in sorted(self.writers.items()) if w.last_seq >= 0}

    def close(self) -> None:
        with self.lock:
            for stream in self.writers.values():
                stream.close()
