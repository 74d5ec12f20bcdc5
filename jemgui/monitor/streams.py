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

import orjson

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


class JsonlStream:
    """The stream of one pid: `record()` from any thread, `flush()` writes whole lines."""

    def __init__(self, path: Path, pid: int):
        self.path = path
        self.pid = pid
        self.queue: deque = deque()
        self.seq, cut = next_seq(path)
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        self.lock = threading.Lock()
        self.ended = False  #: a process exit record was queued
        self.broken: OSError | None = None
        if cut:
            self._write(b"\n")

    def record(self, kind: str, fields: dict | None = None, ts: float | None = None) -> None:
        self.queue.append((time.time() if ts is None else ts, kind, fields))
        if kind == "process" and fields and fields.get("phase") == "exit":
            self.ended = True

    @property
    def last_seq(self) -> int:
        return self.seq - 1

    def flush(self) -> int:
        with self.lock:
            queue = self.queue
            if not queue or self.fd < 0:
                return 0
            pop = queue.popleft
            lines = []
            seq, pid = self.seq, self.pid
            for _ in range(len(queue)):
                ts, kind, fields = pop()
                rec = {"seq": seq, "pid": pid, "ts": round(ts, 6), "kind": kind}
                if fields:
                    rec.update(fields)
                lines.append(orjson.dumps(rec))
                seq += 1
            self.seq = seq
            lines.append(b"")
            self._write(b"\n".join(lines))
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
        self.codes: dict[int, Code] = {}

    def poll(self) -> int:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return 0
        if not data:
            return 0
        self.offset += len(data)
        data = self.pending + data
        batches, used = _jem_raw.read_batches(data)
        self.pending = data[used:]
        count = 0
        record = self.stream.record
        codes = self.codes
        unknown = Code("", "", 0, None)
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
                    fields = {"tid": tid, "fid": fid, "file": code.file, "line": line,
                              "func": code.func, "depth": depth}
                    if extra:
                        fields.update(extra)
                    record(FRAME_KINDS[kind], fields, ts)
                    count += 1
                elif first == _jem_raw.RECORD:
                    record(entry[1], entry[3], entry[2])
                    count += 1
                elif first == _jem_raw.CODE:
                    codes[entry[1]] = Code(*entry[2:6])
        return count


class Code:
    """A code object the tracer named: where it is, and its line table (sys.monitoring
    reports returns and exceptions by instruction offset, the monitor finds the line)."""

    __slots__ = ("file", "func", "first", "table", "lines")

    def __init__(self, file: str, func: str, first: int, table: tuple | None):
        self.file, self.func, self.first, self.table = file, func, first, table or ()
        self.lines: dict[int, int] = {}

    def line_at(self, offset: int) -> int:
        line = self.lines.get(offset)
        if line is None:
            line = self.first
            for start, end, number in self.table:
                if start <= offset < end:
                    if number is not None:
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

    def poll_raw(self) -> int:
        """Turn what the Python processes sent since the last poll into records."""
        count = 0
        with self.lock:
            for pid, path in files_by_pid(self.raw_dir, ".bin"):
                feed = self.feeds.get(pid)
                if feed is None:
                    feed = self.feeds[pid] = RawFeed(path, self.writer(pid))
                count += feed.poll()
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
