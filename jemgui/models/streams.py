"""Read the records of a job's streams, check each, and merge them into the timeline.

A bad line costs only itself: invalid JSON, a wrong field type, bytes that are
not UTF-8, a repeated `seq` are reported and skipped (or, for bad UTF-8,
repaired and kept); a `seq` jump is a hole, reported and remembered.

Speed: a stream is read in chunks of whole lines and each line is decoded by
msgspec straight into a typed struct chosen by its `kind` (`_by_kind`: a frame
record's has only the frame kinds' fields), else into `Rec`. A
chunk where any line fails that strict decoding, or whose `seq` do not simply
count on, is read again line by line with orjson and the lenient rules of
`records.py` (`_lenient`), which give the same `Rec` for every line the strict
path accepts. Streams are merged a window at a time with numpy.
"""

from __future__ import annotations

import bisect
import heapq
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from operator import attrgetter, itemgetter
from typing import Annotated, Union

import msgspec
import numpy as np
import orjson

from jemgui.models import records
from jemgui.models.inputs import Stream, TooLarge
from jemgui.models.records import (
    INT64_MAX,
    INT64_MIN,
    MAX_DEPTH,
    MAX_TS,
    as_str,
    as_vars,
    check,
    clean,
)
from jemgui.models.report import ImportReport

I64 = Annotated[int, msgspec.Meta(ge=INT64_MIN, le=INT64_MAX)]
Vars = dict[str, tuple[str, str]]
Str = str | None
#: bytes read at a time (a stream's own `read_size` when it has one)
CHUNK = 1 << 20


class Rec(msgspec.Struct, gc=False):
    """A record as the index reads it; every field the spec names is typed, so that a line that
    decodes strictly here holds nothing a reader could trip on (`records.FIELDS` are the same
    rules for the lenient path). Kinds the index stores whole are read again from the line.

    `func` is None when absent (a shell command's default is `main`, a frame's "").
    """

    seq: Annotated[int, msgspec.Meta(ge=0, le=INT64_MAX)]
    ts: Annotated[float, msgspec.Meta(ge=0, lt=MAX_TS)]
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
    traceback: list[tuple[str, I64 | None, str]] | None = None
    value: tuple[str, str] | None = None
    values: dict[str, I64 | float] | None = None
    argv: list[str] | None = None
    ppid: I64 | None = None
    exit_code: I64 | None = None
    signal: I64 | None = None
    accepted: bool | None = None
    verbosity: I64 | None = None
    locals: Vars | None = None
    text: Str = None
    type: Str = None
    message: Str = None
    path: Str = None
    sha256: Str = None
    lang: Str = None
    python: Str = None
    cwd: Str = None
    phase: Str = None
    state: Str = None
    stream: Str = None
    cmd: Str = None
    sender: Str = None
    error: Str = None
    executable: Str = None


class _Known(Rec, forbid_unknown_fields=True):
    """A record with no field the spec (or the monitor) does not name: msgspec skips unknown
    fields without looking at how deep they nest, so a line that has any is checked (`_shallow`)."""


#: the fields of a record of one of the four frame kinds (over nine records in ten)
_FRAME_FIELDS = ("seq", "ts", "pid", "tid", "fid", "file", "line", "func", "depth", "args", "changed", "deleted",
                 "resume", "yield_", "traceback", "value", "type", "message", "locals")


def _by_kind() -> msgspec.json.Decoder:
    """A decoder that picks a struct by the record's `kind`: a frame record gets one with only the
    frame kinds' fields (19 instead of Rec's 40: 0.3 to 0.5 us less a record to decode, fill and free),
    any other kind one with all of Rec's. Each struct has Rec's field types and refuses unknown
    fields, as `_Known` does; a line it refuses (an unknown kind or field) is read by `_Known`,
    which gives it the same values."""
    specs = {f.name: (f.name, f.type, msgspec.field(default=f.default, name=f.encode_name))
             for f in msgspec.structs.fields(Rec) if f.name != "kind"}
    frame = [specs[name] for name in _FRAME_FIELDS]
    others = list(specs.values())
    types = []
    for i, kind in enumerate(records.KINDS):
        fields = frame if records.CALL <= i <= records.EXCEPTION else others
        types.append(msgspec.defstruct(f"_{kind.capitalize()}", fields, namespace={"kind": kind}, tag=kind,
                                       tag_field="kind", forbid_unknown_fields=True, gc=False))
    return msgspec.json.Decoder(Union[tuple(types)])  # noqa: UP007 - a union built at run time


_decode = msgspec.json.Decoder(Rec).decode
_decode_known = msgspec.json.Decoder(_Known).decode
_decode_by_kind = _by_kind().decode
_DECODE_ERRORS = (msgspec.DecodeError, UnicodeDecodeError, ValueError, RecursionError)
_get_pid, _get_seq, _get_ts = attrgetter("pid"), attrgetter("seq"), attrgetter("ts")


def _int64(value: object, default):
    return value if type(value) is int and INT64_MIN <= value <= INT64_MAX else default


def _lenient(rec: object) -> Rec | str:
    """A decoded JSON value as a `Rec`, or why it is not a usable record (after `clean`)."""
    problem = check(rec)
    if problem is not None:
        return problem
    deleted, func = rec.get("deleted"), rec.get("func")
    return Rec(
        rec["seq"], float(rec["ts"]), rec["pid"], rec["kind"], tid=_int64(rec.get("tid"), 0),
        fid=_int64(rec.get("fid"), None), file=as_str(rec.get("file")), line=_int64(rec.get("line"), None),
        func=func if isinstance(func, str) else None, depth=_int64(rec.get("depth"), 0),
        args=as_vars(rec.get("args")) or None, changed=as_vars(rec.get("changed")) or None,
        deleted=[n for n in deleted if isinstance(n, str)] if isinstance(deleted, list) else None,
        resume=bool(rec.get("resume")), yield_=bool(rec.get("yield")), traceback=rec.get("traceback"),
        locals=as_vars(rec.get("locals")) or None,
    )


@dataclass
class StreamStats:
    """What reading a stream found out, beside its records.

    A file that holds several processes has one StreamStats for each: the
    first pid's is this one, the others are in `others` (`every`).
    """

    name: str
    pid: int | None = None
    records: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    holes: list[list[int]] = field(default_factory=list)
    cut_line: int | None = None
    others: dict[int, StreamStats] = field(default_factory=dict)

    def every(self) -> list[StreamStats]:
        return [self, *self.others.values()]


def every_stats(stats: list[StreamStats]) -> list[StreamStats]:
    """The stats of every process of the streams read (a file may hold several)."""
    return [s for st in stats for s in st.every()]


#: good records of a stream, in file order, and their JSON lines (without the newline)
Chunk = tuple[list[Rec], list[bytes]]


class _Pids:
    """The streams of one file by pid, at most `limit` of them."""

    def __init__(self, stats: StreamStats, limit: int, report: ImportReport):
        self.stats, self.limit, self.report = stats, max(limit, 1), report
        self.by_pid: dict[int, StreamStats] = {} if stats.pid is None else {stats.pid: stats}

    def get(self, pid: int, n: int) -> StreamStats | None:
        """The stats of `pid`'s stream, a new one if there is room, else None (reported)."""
        st = self.by_pid.get(pid)
        if st is not None:
            return st
        if len(self.by_pid) >= self.limit:
            self.report.add(self.stats.name, n, "too-many-streams",
                            f"a record of pid {pid} skipped: more than {self.limit} processes in this input")
            return None
        if self.stats.pid is None:
            st = self.stats
            st.pid = pid
        else:
            st = self.stats.others[pid] = StreamStats(name=f"{self.stats.name}#{pid}", pid=pid)
        self.by_pid[pid] = st
        return st


def read_stream(stream: Stream, report: ImportReport, stats: StreamStats) -> Iterator[Chunk]:
    """Yield the good records of `stream` in file order, a chunk at a time; report its holes at the end.

    The file is read once whatever the number of processes it holds: each
    record is checked against its own pid's stream (`_Pids`).
    """
    pids = _Pids(stats, stream.max_pids, report)
    if stream.records is not None:
        yield _converted(stream, report, pids)
    else:
        try:
            f = stream.open()
        except OSError as exc:
            report.add(stream.name, 0, "bad-member", f"cannot open stream ({exc})")
            return
        name = stream.name
        with f:
            for n0, lines, ended, clean_text in _line_chunks(f, name, report, records.MAX_LINE_BYTES,
                                                              stream.read_size or CHUNK):
                chunk = _fast(lines, pids) if clean_text else None
                if chunk is None:
                    chunk = _slow(list(zip(range(n0 + 1, n0 + len(lines) + 1), lines, strict=True)),
                                  ended, name, report, pids)
                if chunk[0]:
                    yield chunk
    for st in stats.every():
        report_holes(st, report)


def _shallow(lines: list[bytes]) -> bool:
    """True when no line can nest deeper than MAX_DEPTH (counting brackets inside strings too,
    so a False may be wrong, never a True): msgspec skips unknown fields however deep."""
    block = b"\n".join(lines)
    if block.count(b"[") + block.count(b"{") <= MAX_DEPTH:
        return True
    a = np.frombuffer(block, np.uint8)
    opens, closes = a == ord("["), a == ord("]")
    opens |= a == ord("{")
    closes |= a == ord("}")
    level = np.cumsum(opens.view(np.int8) - closes.view(np.int8), dtype=np.int32)
    if int(level.max()) - min(int(level.min()), 0) <= MAX_DEPTH:
        return True
    starts = np.concatenate(([0], np.flatnonzero(a == 10) + 1))
    starts = starts[starts < len(a)]
    base = np.where(starts > 0, level[np.maximum(starts - 1, 0)], 0)
    return bool((np.maximum.reduceat(level, starts) - base).max() <= MAX_DEPTH)


def decode_strict(lines: list[bytes]) -> list | None:
    """Every line decoded strictly into its typed struct, or None when one needs the lenient
    reading (which gives the same values for every line this accepts)."""
    try:
        return [_decode_by_kind(line) for line in lines]
    except _DECODE_ERRORS:
        pass
    try:
        return [_decode_known(line) for line in lines]
    except _DECODE_ERRORS:
        pass
    try:
        recs = [_decode(line) for line in lines]
    except _DECODE_ERRORS:
        return None
    return recs if _shallow(lines) else None


def of_pid(recs: list, pid: int) -> bool:
    """All the records are of `pid` (a C loop: a Python one per record cost 0.3 us each)."""
    return list(map(_get_pid, recs)).count(pid) == len(recs)


def counts_on(recs: list, last: int) -> bool:
    """The records' seqs are last+1, last+2, ... (C loops)."""
    n = len(recs)
    return (recs[0].seq == last + 1 and recs[-1].seq == last + n
            and list(map(_get_seq, recs)) == list(range(last + 1, last + n + 1)))


def _fast(lines: list[bytes], pids: _Pids) -> Chunk | None:
    """The chunk decoded strictly, or None when a line needs the lenient reading."""
    recs = decode_strict(lines)
    if recs is None:
        return None
    stats = pids.stats
    pid = recs[0].pid if stats.pid is None else stats.pid
    if not of_pid(recs, pid):
        return _fast_several(recs, lines, pids)
    last = -1 if stats.last_seq is None else stats.last_seq
    if not counts_on(recs, last):
        return None
    n = len(recs)
    st = pids.get(pid, 0)
    if st is None:
        return None
    if last < 0:
        st.first_seq = 0
    st.last_seq = last + n
    st.records += n
    return recs, lines


def _fast_several(recs: list[Rec], lines: list[bytes], pids: _Pids) -> Chunk | None:
    """A chunk of several processes' records, each counting on from its own stream's last `seq`."""
    last: dict[int, int] = {}
    new = 0
    for r in recs:
        prev = last.get(r.pid)
        if prev is None:
            st = pids.by_pid.get(r.pid)
            if st is None:
                new += 1
                if len(pids.by_pid) + new > pids.limit:
                    return None
            prev = -1 if st is None or st.last_seq is None else st.last_seq
        if r.seq != prev + 1:
            return None
        last[r.pid] = r.seq
    counts: dict[int, int] = {}
    for r in recs:
        counts[r.pid] = counts.get(r.pid, 0) + 1
    for pid, seq in last.items():
        st = pids.get(pid, 0)
        if st.last_seq is None:
            st.first_seq = 0
        st.last_seq = seq
        st.records += counts[pid]
    return recs, lines


def _slow(numbered: list[tuple[int, bytes]], ended: bool, name: str, report: ImportReport,
          pids: _Pids) -> Chunk:
    """Line by line, with orjson and the lenient rules, reporting each problem.

    `ended` is False when the last line has no newline (the end of a stream cut short).
    """
    loads, out_recs, out_raws = orjson.loads, [], []
    last_index = len(numbered) - 1
    for i, (n, line) in enumerate(numbered):
        repaired = False
        try:
            rec = loads(line)
        except orjson.JSONDecodeError as exc:
            if not line.strip():
                continue
            if i == last_index and not ended:
                pids.stats.cut_line = n
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
                repaired = True
            else:
                report.add(name, n, "bad-json", f"not valid JSON ({str(exc).split(':')[0]})")
                continue
        pid = rec.get("pid") if isinstance(rec, dict) else None
        st = pids.get(pid, n) if _int64(pid, None) is not None else pids.stats
        if st is None:
            continue
        cleaned = isinstance(rec, dict) and check(rec) is None and _cleaned(rec, n, name, report)
        r = _accept(rec, n, name, report, st)
        if r is not None:
            out_recs.append(r)
            out_raws.append(orjson.dumps(rec) if repaired or cleaned else line)  # what is stored is what was kept
    return out_recs, out_raws


def _cleaned(rec: dict, n: int, name: str, report: ImportReport) -> bool:
    """`records.clean` the record, reporting each field left out; True if any was."""
    problems = clean(rec)
    for p in problems:
        report.add(name, n, "bad-field", p)
    return bool(problems)


def _accept(rec: object, n: int, name: str, report: ImportReport, stats: StreamStats) -> Rec | None:
    """Check one decoded record against its stream's `seq` so far.

    A `seq` at or below the last one is a repeat, unless it falls in an open hole: then it is
    a late record, which fills it (one record with a far-ahead `seq` costs nothing after it).
    Fields of the wrong type or range are left out of `rec` (`records.clean`), in place.
    """
    if isinstance(rec, dict) and check(rec) is None:
        _cleaned(rec, n, name, report)
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
                _add_hole(stats, [0, seq - 1], n, report)
        elif seq != last + 1:
            _add_hole(stats, [last + 1, seq - 1], n, report)
        stats.last_seq = seq
    stats.records += 1
    if stats.pid is None:
        stats.pid = r.pid
    return r


#: holes a stream keeps open for late records; further ones are reported at once and not kept
MAX_HOLES = 10_000


def _add_hole(stats: StreamStats, hole: list[int], n: int, report: ImportReport) -> None:
    if len(stats.holes) < MAX_HOLES:
        stats.holes.append(hole)
    else:
        report.add(stats.name, n, "seq-hole", f"records {hole[0]}..{hole[1]} are missing (more than {MAX_HOLES} "
                                             "holes: a record that comes late for it is taken for a repeat)")


def _fill_hole(holes: list[list[int]], seq: int) -> bool:
    """Take `seq` out of the hole that holds it (a late record, not a repeat); False if none does.
    Holes are in `seq` order, so the search is a bisection (a scan made late records quadratic)."""
    i = bisect.bisect_right(holes, seq, key=itemgetter(0)) - 1
    if i < 0 or holes[i][1] < seq:
        return False
    a, b = holes[i]
    holes[i:i + 1] = [p for p in ([a, seq - 1], [seq + 1, b]) if p[0] <= p[1]]
    return True


def report_holes(stats: StreamStats, report: ImportReport) -> None:
    """Report the holes still open once the stream is read."""
    for a, b in stats.holes:
        report.add(stats.name, 0, "seq-hole", f"records {a}..{b} are missing")


def _converted(stream: Stream, report: ImportReport, pids: _Pids) -> Chunk:
    recs, raws, dumps = [], [], orjson.dumps
    for n, rec in enumerate(stream.records or (), 1):
        pid = rec.get("pid") if isinstance(rec, dict) else None
        st = pids.get(pid, n) if _int64(pid, None) is not None else pids.stats
        if st is None:
            continue
        r = _accept(rec, n, stream.name, report, st)
        if r is not None:
            recs.append(r)
            raws.append(dumps(rec))
    return recs, raws


def _line_chunks(f, name: str, report: ImportReport, limit: int,
                 size: int = CHUNK) -> Iterator[tuple[int, list[bytes], bool, bool]]:
    """(lines before, whole lines, True, clean) per read, then (n, [last line], False, False) if it
    has no newline. Clean lines are UTF-8 (msgspec does not check the fields it skips).

    A line longer than `limit` is read through (never held whole), reported and skipped.
    """
    n, rest, skipping = 0, b"", False
    while True:
        try:
            data = f.read(size)
        except TooLarge as exc:
            report.add(name, n + 1, "too-large", f"{exc}; the rest of the stream is left out")
            return
        except (OSError, EOFError, zlib.error) as exc:
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
            ts = np.fromiter(map(_get_ts, recs), np.float64, len(recs))
            ts = np.maximum.accumulate(np.maximum(ts, self.max_ts))
            self.max_ts = float(ts[-1])
            self.ts = ts
            self.seq = np.arange(self.read, self.read + len(recs), dtype=np.int64)
            self.read += len(recs)
            if self.pid is None:
                self.pid = recs[0].pid

    def last_key(self) -> tuple:
        return float(self.ts[-1]), self.pid, int(self.seq[-1])

    def first_key(self) -> tuple:
        return float(self.ts[0]), self.pid, int(self.seq[0])

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
    streams still being read (the frontier) can be placed now: those go out,
    sorted. Two heaps keep each step's cost to the streams it touches, so a
    job of many streams merges in near-linear time.
    """
    if len(streams) == 1:
        yield from streams[0]
        return
    sources = [_Source(s) for s in streams]
    lasts: list[tuple] = []  # (last pending key, i) of streams still being read; stale entries skipped
    firsts: list[tuple] = []  # (first pending key, i) of streams with records pending
    for i, s in enumerate(sources):
        _refill(s, i, lasts, firsts)
    while firsts:
        while lasts and (sources[lasts[0][1]].done or not sources[lasts[0][1]].recs
                         or sources[lasts[0][1]].last_key() != lasts[0][0]):
            heapq.heappop(lasts)
        frontier = lasts[0][0] if lasts else None
        parts = []
        while firsts and (frontier is None or firsts[0][0] <= frontier):
            _, i = heapq.heappop(firsts)
            s = sources[i]
            n = len(s.recs) if frontier is None else s.upto(frontier)
            if n:
                parts.append((s, s.take(n)))
            if s.recs:
                heapq.heappush(firsts, (s.first_key(), i))
            else:
                _refill(s, i, lasts, firsts)
        if len(parts) == 1:
            yield parts[0][1][0], parts[0][1][1]
        elif parts:
            recs = [r for _, p in parts for r in p[0]]
            raws = [r for _, p in parts for r in p[1]]
            order = np.lexsort((
                np.concatenate([p[3] for _, p in parts]),
                np.concatenate([np.full(len(p[0]), s.pid, np.int64) for s, p in parts]),
                np.concatenate([p[2] for _, p in parts]),
            )).tolist()
            yield list(map(recs.__getitem__, order)), list(map(raws.__getitem__, order))


def _refill(s: _Source, i: int, lasts: list, firsts: list) -> None:
    """Read a stream's next chunk and put it on the heaps (nothing when it has ended)."""
    s.fill()
    if s.recs:
        heapq.heappush(firsts, (s.first_key(), i))
        if not s.done:
            heapq.heappush(lasts, (s.last_key(), i))
