"""Read the records of a job's streams, check each, and merge them into the timeline.

A bad line costs only itself: invalid JSON, a wrong field type, bytes that are
not UTF-8, a repeated `seq` are reported and skipped (or, for bad UTF-8,
repaired and kept); a `seq` jump is a hole, reported and remembered.

Speed: a stream is read in chunks of whole lines and each line is decoded by
msgspec straight into `Rec`, typed, with only the fields the index needs. A
chunk where any line fails that strict decoding, or whose `seq` do not simply
count on, is read again line by line with orjson and the lenient rules of
`records.py` (`_lenient`), which give the same `Rec` for every line the strict
path accepts. Streams are merged a window at a time with numpy.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

import msgspec
import numpy as np
import orjson

from jemgui.models import records
from jemgui.models.inputs import PID_FIELD, Stream, TooLarge
from jemgui.models.records import as_str, as_vars, check
from jemgui.models.report import ImportReport

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
I64 = Annotated[int, msgspec.Meta(ge=INT64_MIN, le=INT64_MAX)]
Vars = dict[str, tuple[str, str]]
#: bytes read at a time
CHUNK = 1 << 20


class Rec(msgspec.Struct, gc=False):
    """The fields of a record that the index reads; kinds it stores whole are read from the line.

    `func` is None when absent (a shell command's default is `main`, a frame's "").
    """

    seq: Annotated[int, msgspec.Meta(ge=0, le=INT64_MAX)]
    ts: float
    pid: I64
    kind: str
    tid: I64 = 0
    fid: I64 | None = None
    file: str = ""
    line: I64 | None = None
    func: str | None = None
    depth: I64 = 0
    args: Vars | None = None
    changed: Vars | None = None
    deleted: list[str] | None = None
    resume: bool = False
    yield_: bool = msgspec.field(default=False, name="yield")
    traceback: Any = None
    # Decoded (loosely) only so that a number no reader can hold (1e999) fails here as it would in
    # orjson: msgspec skips the fields a type does not name without converting their numbers.
    value: Any = None
    values: Any = None
    argv: Any = None
    ppid: Any = None
    exit_code: Any = None
    signal: Any = None
    accepted: Any = None
    error: Any = None


_decode = msgspec.json.Decoder(Rec).decode
_DECODE_ERRORS = (msgspec.DecodeError, UnicodeDecodeError, ValueError)


def _int64(value: object, default):
    return value if type(value) is int and INT64_MIN <= value <= INT64_MAX else default


def _lenient(rec: object) -> Rec | str:
    """A decoded JSON value as a `Rec`, or why it is not a usable record."""
    problem = check(rec)
    if problem is not None:
        return problem
    seq, pid = rec["seq"], rec["pid"]
    if seq > INT64_MAX or _int64(pid, None) is None:
        return "seq or pid is out of range"
    deleted, func = rec.get("deleted"), rec.get("func")
    return Rec(
        seq, float(rec["ts"]), pid, rec["kind"], tid=_int64(rec.get("tid"), 0), fid=_int64(rec.get("fid"), None),
        file=as_str(rec.get("file")), line=_int64(rec.get("line"), None), func=func if isinstance(func, str) else None,
        depth=_int64(rec.get("depth"), 0), args=as_vars(rec.get("args")) or None,
        changed=as_vars(rec.get("changed")) or None,
        deleted=[n for n in deleted if isinstance(n, str)] if isinstance(deleted, list) else None,
        resume=bool(rec.get("resume")), yield_=bool(rec.get("yield")), traceback=rec.get("traceback"),
    )


@dataclass
class StreamStats:
    """What reading a stream found out, beside its records."""

    name: str
    pid: int | None = None
    records: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    holes: list[list[int]] = field(default_factory=list)
    cut_line: int | None = None


#: good records of a stream, in file order, and their JSON lines (without the newline)
Chunk = tuple[list[Rec], list[bytes]]


def read_stream(stream: Stream, report: ImportReport, stats: StreamStats) -> Iterator[Chunk]:
    """Yield the good records of `stream` in file order, a chunk at a time; report its holes at the end."""
    if stream.records is not None:
        yield _converted(stream, report, stats)
    else:
        try:
            f = stream.open()
        except OSError as exc:
            report.add(stream.name, 0, "bad-member", f"cannot open stream ({exc})")
            return
        name = stream.name
        only = None if stream.only_pid is None else b"%d" % stream.only_pid
        with f:
            for n0, lines, ended, clean in _line_chunks(f, name, report, records.MAX_LINE_BYTES):
                numbered = None
                if only is not None:  # one process's lines of a file that holds several
                    numbered = [(n0 + i, line) for i, line in enumerate(lines, 1) if _mine(line, only, stream.strays)]
                    lines = [line for _, line in numbered]
                    if not lines:
                        continue
                chunk = _fast(lines, stats) if clean else None
                if chunk is None:
                    chunk = _slow(numbered or list(zip(range(n0 + 1, n0 + len(lines) + 1), lines, strict=True)),
                                  ended, name, report, stats)
                if chunk[0]:
                    yield chunk
    report_holes(stats, report)


def _mine(line: bytes, only: bytes, strays: bool) -> bool:
    m = PID_FIELD.search(line)
    return strays if m is None else m[1] == only


def _fast(lines: list[bytes], stats: StreamStats) -> Chunk | None:
    """The chunk decoded strictly, or None when a line needs the lenient reading."""
    try:
        recs = [_decode(line) for line in lines]
    except _DECODE_ERRORS:
        return None
    last = -1 if stats.last_seq is None else stats.last_seq
    n = len(recs)
    if recs[0].seq != last + 1 or recs[-1].seq != last + n or [r.seq for r in recs] != list(range(last + 1, last + n + 1)):
        return None
    if stats.pid is None:
        stats.pid = recs[0].pid
    if last < 0:
        stats.first_seq = 0
    stats.last_seq = last + n
    stats.records += n
    return recs, lines


def _slow(numbered: list[tuple[int, bytes]], ended: bool, name: str, report: ImportReport,
          stats: StreamStats) -> Chunk:
    """Line by line, with orjson and the lenient rules, reporting each problem.

    `ended` is False when the last line has no newline (the end of a stream cut short).
    """
    loads, out_recs, out_raws = orjson.loads, [], []
    last_index = len(numbered) - 1
    for i, (n, line) in enumerate(numbered):
        try:
            rec = loads(line)
        except orjson.JSONDecodeError as exc:
            if not line.strip():
                continue
            if i == last_index and not ended:
                stats.cut_line = n
                report.add(name, n, "cut-line", "the last line is cut short (the job ended abruptly)")
                continue
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                try:
                    rec = loads(line.decode("utf-8", "replace"))
                except orjson.JSONDecodeError:
                    report.add(name, n, "bad-json", "not valid JSON (and not UTF-8)")
                    continue
                report.add(name, n, "bad-utf8", "bytes that are not UTF-8, replaced by U+FFFD")
                line = orjson.dumps(rec)  # the repaired record, re-encoded
            else:
                report.add(name, n, "bad-json", f"not valid JSON ({str(exc).split(':')[0]})")
                continue
        r = _accept(rec, n, name, report, stats)
        if r is not None:
            out_recs.append(r)
            out_raws.append(line)
    return out_recs, out_raws


def _accept(rec: object, n: int, name: str, report: ImportReport, stats: StreamStats) -> Rec | None:
    """Check one decoded record against its stream's `seq` so far.

    A `seq` at or below the last one is a repeat, unless it falls in an open hole: then it is
    a late record, which fills it (one record with a far-ahead `seq` costs nothing after it).
    """
    r = _lenient(rec)
    if isinstance(r, str):
        report.add(name, n, "bad-record", r)
        return None
    seq, last = r.seq, -1 if stats.last_seq is None else stats.last_seq
    if seq <= last:
        if not _fill_hole(stats.holes, seq):
            report.add(name, n, "seq-repeat", f"seq {seq} after {last}: repeated, skipped")
            return None
    else:
        if last < 0:
            stats.first_seq = seq
            if seq > 0:
                stats.holes.append([0, seq - 1])
        elif seq != last + 1:
            stats.holes.append([last + 1, seq - 1])
        stats.last_seq = seq
    stats.records += 1
    if stats.pid is None:
        stats.pid = r.pid
    return r


def _fill_hole(holes: list[list[int]], seq: int) -> bool:
    """Take `seq` out of the hole that holds it (a late record, not a repeat); False if none does."""
    for i in range(len(holes) - 1, -1, -1):
        a, b = holes[i]
        if a <= seq <= b:
            parts = [p for p in ([a, seq - 1], [seq + 1, b]) if p[0] <= p[1]]
            holes[i:i + 1] = parts
            return True
    return False


def report_holes(stats: StreamStats, report: ImportReport) -> None:
    """Report the holes still open once the stream is read."""
    for a, b in stats.holes:
        report.add(stats.name, 0, "seq-hole", f"records {a}..{b} are missing")


def _converted(stream: Stream, report: ImportReport, stats: StreamStats) -> Chunk:
    recs, raws, dumps = [], [], orjson.dumps
    for n, rec in enumerate(stream.records or (), 1):
        r = _accept(rec, n, stream.name, report, stats)
        if r is not None:
            recs.append(r)
            raws.append(dumps(rec))
    return recs, raws


def _line_chunks(f, name: str, report: ImportReport, limit: int) -> Iterator[tuple[int, list[bytes], bool, bool]]:
    """(lines before, whole lines, True, clean) per read, then (n, [last line], False, False) if it
    has no newline. Clean lines are UTF-8 (msgspec does not check the fields it skips).

    A line longer than `limit` is read through (never held whole), reported and skipped.
    """
    n, rest, skipping = 0, b"", False
    while True:
        try:
            data = f.read(CHUNK)
        except (OSError, EOFError, TooLarge, zlib.error) as exc:
            report.add(name, n + 1, "bad-member", f"stream is cut or damaged here ({exc})")
            return
        if not data:
            if rest:
                yield n, [rest], False, False
            return
        if skipping:
            i = data.find(b"\n")
            if i < 0:
                continue
            skipping, data = False, data[i + 1:]
        buf = rest + data if rest else data
        end = buf.rfind(b"\n")
        if end < 0:
            rest = buf
            if len(buf) > limit:
                n += 1
                report.add(name, n, "too-long", f"line longer than {limit} bytes, skipped")
                rest, skipping = b"", True
            continue
        first = buf.find(b"\n")
        if first > limit:  # only the first line can have grown past one read
            n += 1
            report.add(name, n, "too-long", f"line longer than {limit} bytes, skipped")
            buf, end = buf[first + 1:], end - first - 1
            if end < 0:
                rest = buf
                continue
        block, rest = buf[:end], buf[end + 1:]
        lines = block.split(b"\n")
        yield n, lines, True, block.isascii() or _is_utf8(block)
        n += len(lines)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# --- the timeline -------------------------------------------------------------------------------------


class _Source:
    """One stream's pending records and their merge keys: (running max of ts, stream pid, ordinal).

    For a well-formed stream that is (ts, pid, seq); a clock stepping back or a late record that
    fills a hole keeps its place in its stream.
    """

    def __init__(self, chunks: Iterator[Chunk]):
        self.chunks, self.done = chunks, False
        self.recs: list[Rec] = []
        self.raws: list[bytes] = []
        self.ts = self.seq = np.empty(0)
        self.pid: int | None = None
        self.max_ts = float("-inf")
        self.read = 0  # records read so far: the next one's ordinal

    def fill(self) -> None:
        """Read the next chunk when nothing is pending."""
        while not self.recs and not self.done:
            chunk = next(self.chunks, None)
            if chunk is None:
                self.done = True
                return
            recs, self.raws = chunk
            self.recs = recs
            ts = np.fromiter((r.ts for r in recs), np.float64, len(recs))
            ts = np.maximum.accumulate(np.maximum(ts, self.max_ts))
            self.max_ts = float(ts[-1])
            self.ts = ts
            self.seq = np.arange(self.read, self.read + len(recs), dtype=np.int64)
            self.read += len(recs)
            if self.pid is None:
                self.pid = recs[0].pid

    def last_key(self) -> tuple:
        return float(self.ts[-1]), self.pid, int(self.seq[-1])

    def upto(self, key: tuple) -> int:
        """How many pending records have a key <= `key`."""
        ts, pid, seq = key
        lo = int(np.searchsorted(self.ts, ts, "left"))
        hi = int(np.searchsorted(self.ts, ts, "right"))
        if lo == hi or self.pid < pid:
            return hi
        if self.pid > pid:
            return lo
        return lo + int(np.searchsorted(self.seq[lo:hi], seq, "right"))

    def take(self, n: int) -> tuple[list[Rec], list[bytes], np.ndarray, np.ndarray]:
        out = self.recs[:n], self.raws[:n], self.ts[:n], self.seq[:n]
        self.recs, self.raws, self.ts, self.seq = self.recs[n:], self.raws[n:], self.ts[n:], self.seq[n:]
        return out


def merge(streams: list[Iterator[Chunk]]) -> Iterator[Chunk]:
    """The streams' records in timeline order: by ts, ties by pid then seq (spec section 1).

    Every record whose key is at most the smallest last pending key of the
    streams still being read can be placed now: those go out, sorted.
    """
    if len(streams) == 1:
        yield from streams[0]
        return
    sources = [_Source(s) for s in streams]
    while True:
        for s in sources:
            s.fill()
        live = [s for s in sources if s.recs]
        if not live:
            return
        waiting = [s for s in live if not s.done]
        if len(live) == 1:
            s = live[0]
            recs, raws, _, _ = s.take(len(s.recs))
            yield recs, raws
            continue
        frontier = min(s.last_key() for s in waiting) if waiting else None
        parts = [(s, s.take(len(s.recs) if frontier is None else s.upto(frontier))) for s in live]
        parts = [(s, p) for s, p in parts if p[0]]
        if len(parts) == 1:
            yield parts[0][1][0], parts[0][1][1]
            continue
        recs = [r for _, p in parts for r in p[0]]
        raws = [r for _, p in parts for r in p[1]]
        order = np.lexsort((
            np.concatenate([p[3] for _, p in parts]),
            np.concatenate([np.full(len(p[0]), s.pid, np.int64) for s, p in parts]),
            np.concatenate([p[2] for _, p in parts]),
        )).tolist()
        yield list(map(recs.__getitem__, order)), list(map(raws.__getitem__, order))
