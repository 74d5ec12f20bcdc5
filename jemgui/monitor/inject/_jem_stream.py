"""One process's record stream, `events/<pid>.jsonl`, written without slowing its writer.

Also runs inside the job's interpreter: standard library only. A record is queued as
the text of its JSON object without `seq` and `pid`; `flush()` numbers the queued
records in order and appends them with one write. Appending to a deque is atomic, so
any thread may queue while another flushes, and `seq` grows by exactly one per record.
"""

# ruff: noqa: UP031  (%-formatting: the fastest way to build records in the job's hot path)

import json
import os
import time
from collections import deque

try:
    import _thread
except ImportError:  # pragma: no cover
    import thread as _thread

_DUMPS = json.JSONEncoder(separators=(",", ":"), default=repr).encode


def encode_fields(fields):
    """`,"name":value...` for extra fields, ready to close a record body."""
    if not fields:
        return ""
    return "," + _DUMPS(fields)[1:-1]


def next_seq(path):
    """The `seq` that follows the last complete record of an existing stream file.

    A process that replaced itself with exec keeps its pid and goes on in the same
    stream; a file that ends in a cut line gets a newline first.
    """
    try:
        size = os.path.getsize(path)
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


class Stream:
    """Append-only JSONL stream of one pid; thread-safe `put`, `flush` from anywhere."""

    def __init__(self, path, pid, clock):
        self.path = path
        self.pid = pid
        self.clock = clock
        self.queue = deque()
        self.seq, cut = next_seq(path)
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0), 0o644)
        self.lock = _thread.allocate_lock()
        self.broken = None
        #: a callable that says whether the file may be written yet (see `hold_until`)
        self.ready = None
        if cut:
            self._write(b"\n")

    def hold_until(self, ready):
        """Queue without writing until `ready()` is true; `seq` then follows the file.

        A bash script that exec'd Python keeps its pid: the monitor still has to append
        the shell's last commands to this file before the Python side goes on.
        """
        self.ready = ready

    def put(self, body):
        """Queue a record body: `"ts":...,"kind":...}` (the text after `{"seq":N,"pid":P,`)."""
        self.queue.append(body)

    def record(self, kind, fields=None, ts=None):
        """Queue a record of `kind` with extra `fields`, stamped `ts` or now."""
        when = self.clock() if ts is None else ts
        self.queue.append('"ts":%.6f,"kind":"%s"%s}' % (when, kind, encode_fields(fields)))

    def flush(self):
        """Write every queued record; returns how many. Write errors stop the stream."""
        with self.lock:
            queue = self.queue
            if not queue or self.broken:
                return 0
            if self.ready is not None:
                if not self.ready():
                    return 0
                self.ready = None
                self.seq, cut = next_seq(self.path)
                if cut:
                    self._write(b"\n")
            parts = []
            append = parts.append
            pop = queue.popleft
            seq = self.seq
            pid = self.pid
            while queue:
                append('{"seq":%d,"pid":%d,%s\n' % (seq, pid, pop()))
                seq += 1
            self.seq = seq
            self._write("".join(parts).encode("utf-8", "surrogateescape"))
            return len(parts)

    def _write(self, data):
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self.fd, view):]
        except OSError as exc:
            self.broken = exc

    def close(self):
        while self.ready is not None and not self.ready():
            time.sleep(0.01)
        self.flush()
        try:
            os.close(self.fd)
        except OSError:
            pass
        self.fd = -1

    def abandon(self):
        """Forget queued records and the file without writing (a forked child's copy)."""
        self.queue = deque()
        try:
            os.close(self.fd)
        except OSError:
            pass
