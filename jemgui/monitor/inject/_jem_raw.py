"""The tracer's end of the record channel: entries, batched with marshal, appended to a file.

Runs inside the job's interpreter: standard library only. Building JSON text costs the
job microseconds per record; queuing a tuple costs tens of nanoseconds. So the job
queues entries, a small thread appends them in batches (`marshal`, behind a 4-byte
length), and the monitor turns them into `events/<pid>.jsonl` in its own process
(`jemgui.monitor.streams`). A batch cut short by a kill is simply never read.

The queue is one flat list: a frame entry is its 8 items in a row (`RawWriter.frame`,
list.extend), any other entry one tuple (`RawWriter.put`); `read_batches` gives back
tuples. On a call storm this halves what the job pays per record beyond building it
(profiled, issue 13): no 8-tuple stays alive for the cyclic GC to traverse between
flushes, the flush takes the queue with one slice instead of a pop per entry, and
records of numbers only are marshalled in format 2 (see `RawWriter.version`).

Entries (the first item tells them apart):
    (cid, kind, ts, tid, fid, line, depth, extra)  a frame record; kind 0 call, 1 line,
                                                     2 return, 3 exception; extra a dict or None;
                                                     line None: the code's first line, below 0:
                                                     at instruction offset -1 - line
    (-1, kind, ts, fields)                          any other record
    (-2, cid, file, func, first line, line table)  code id `cid` (the id of a code object,
                                                     sent again if reused) names this code;
                                                     the table is co_lines() or None
    (-3,)                                           the tracer wrote out all it had (the process
                                                     exits, or exec's): a feed that does not end
                                                     so lost the records of its last moments
"""

import _thread
import marshal
import os
import struct

HEADER = struct.Struct("<I")
CALL, LINE, RETURN, EXCEPTION = 0, 1, 2, 3
RECORD, CODE, END = -1, -2, -3
FLUSH_EVERY = 0.05  #: s between the tracer's writes: what a kill of its process may cost


class RawWriter:
    """Queue of one process's entries and the file they are appended to."""

    def __init__(self, path):
        self.path = path
        self.queue = []
        self.put = self.queue.append  #: an entry that is not a frame's, as one tuple
        self.frame = self.queue.extend  #: a frame entry's 8 items
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0),
                          0o644)
        self.lock = _thread.allocate_lock()
        self.holder = None  #: the thread flushing now (a signal handler may run inside its flush)
        self.pid = os.getpid()  #: a forked child has a copy until it opens its own
        self.broken = None
        #: marshal format: 2 for numbers (no lookup of each shared int in a table of references:
        #: 0 to 13 % fewer instructions per record than 4), 4 for values (verbosity 4: each
        #: name and string written once, half the time of 2)
        self.version = 2

    def flush(self, wait=-1):
        """Append everything queued as one batch; returns how many entries. `wait`: at most
        this many seconds for another thread's flush (a signal handler must not hang)."""
        me = _thread.get_ident()
        if self.holder == me or not self.lock.acquire(True, wait):
            return 0
        try:
            self.holder = me
            queue = self.queue
            if not queue or self.broken is not None or self.fd < 0:
                return 0
            # Each list operation is atomic under the GIL and hooks only add at the end: what
            # they add between the slice and the del stays queued.
            count = len(queue)
            items = queue[:count]
            del queue[:count]
            data = marshal.dumps(items, self.version)
            view = memoryview(HEADER.pack(len(data)) + data)
            try:
                while view:
                    view = view[os.write(self.fd, view):]
            except OSError as exc:
                self.broken = exc
            return len(items)
        finally:
            self.holder = None
            self.lock.release()

    def close(self):
        self.flush()
        try:
            os.close(self.fd)
        except OSError:
            pass
        self.fd = -1

    def abandon(self):
        """Forget the queue and the file without writing (a forked child's copy)."""
        self.queue = []
        self.put, self.frame = self.queue.append, self.queue.extend
        try:
            os.close(self.fd)
        except OSError:
            pass
        self.fd = -1


#: no batch is this big (the tracer writes one every POLL): a bigger length is a damaged feed
MAX_BATCH = 256 << 20


def read_batches(data):
    """The complete batches at the start of `data`: (list of entry lists, bytes used, what is
    wrong at that point or None). Damage (a cut write after a full disk, say) stops the
    reading there; the batches before it are kept."""
    batches = []
    pos = 0
    size = HEADER.size
    while len(data) - pos >= size:
        (length,) = HEADER.unpack_from(data, pos)
        if length > MAX_BATCH:
            return batches, pos, f"a batch length of {length} bytes"
        if len(data) - pos - size < length:
            break
        try:
            batch = marshal.loads(data[pos + size:pos + size + length])
        except (ValueError, EOFError, TypeError) as exc:
            return batches, pos, f"{type(exc).__name__}: {exc}"
        if type(batch) is not list:
            return batches, pos, f"a batch that is a {type(batch).__name__}, not a list"
        batches.append(_entries(batch))
        pos += size + length
    return batches, pos, None


def _entries(flat):
    """The entries of a flat batch: a tuple is one entry, a frame entry is 8 items in a row
    (one cut short is returned short, and the reader reports it as damage)."""
    if not flat or type(flat[0]) is tuple and all(type(item) is tuple for item in flat):
        return flat
    out = []
    append = out.append
    i, end = 0, len(flat)
    while i < end:
        item = flat[i]
        if type(item) is tuple:
            append(item)
            i += 1
        else:
            append(tuple(flat[i:i + 8]))
            i += 8
    return out
