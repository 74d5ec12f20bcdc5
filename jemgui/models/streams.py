"""Read one stream's records, checking each and reporting what is wrong.

A bad line costs only itself: invalid JSON, a wrong field type, bytes that are
not UTF-8, a repeated `seq` are reported and skipped (or, for bad UTF-8,
repaired and kept); a `seq` jump is a hole, reported and remembered.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import orjson

from jemgui.models.inputs import PID_FIELD, Stream, iter_lines
from jemgui.models.records import MAX_LINE_BYTES, check
from jemgui.models.report import ImportReport

#: (ts, pid, seq, raw bytes, record) as the merge wants them
Item = tuple[float, int, int, bytes, dict]


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


def read_stream(stream: Stream, report: ImportReport, stats: StreamStats) -> Iterator[Item]:
    """Yield the good records of `stream` in file order."""
    if stream.records is not None:
        yield from _checked(_converted(stream), stream, report, stats)
        return
    try:
        f = stream.open()
    except OSError as exc:
        report.add(stream.name, 0, "bad-member", f"cannot open stream ({exc})")
        return
    with f:
        yield from _checked(_parsed(f, stream, report, stats), stream, report, stats)


def _converted(stream: Stream) -> Iterator[tuple[int, dict, bytes | None]]:
    for n, rec in enumerate(stream.records or (), 1):
        yield n, rec, None


def _parsed(f, stream: Stream, report: ImportReport, stats: StreamStats):
    loads, name = orjson.loads, stream.name
    only = None if stream.only_pid is None else b"%d" % stream.only_pid
    for n, line, ended in iter_lines(f, name, report, MAX_LINE_BYTES):
        if only is not None:
            m = PID_FIELD.search(line)
            if (m is None and not stream.strays) or (m is not None and m[1] != only):
                continue  # another process's line
        try:
            rec = loads(line)
        except orjson.JSONDecodeError as exc:
            if not line.strip():
                continue
            if not ended:
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
                line = orjson.dumps(rec) + b"\n"  # the repaired record, re-encoded
                yield n, rec, line
                continue
            report.add(name, n, "bad-json", f"not valid JSON ({str(exc).split(':')[0]})")
            continue
        yield n, rec, line


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


def _checked(items, stream: Stream, report: ImportReport, stats: StreamStats) -> Iterator[Item]:
    name, dumps = stream.name, orjson.dumps
    last = -1 if stats.last_seq is None else stats.last_seq
    for n, rec, raw in items:
        # the common case inline; `check` explains the rest
        if type(rec) is dict:
            seq, ts, pid, kind = rec.get("seq"), rec.get("ts"), rec.get("pid"), rec.get("kind")
            ok = type(seq) is int and seq >= 0 and type(ts) in (float, int) and type(pid) is int and type(kind) is str
        else:
            ok = False
        if not ok:
            report.add(name, n, "bad-record", check(rec) or "unusable record")
            continue
        if seq <= last:
            if not _fill_hole(stats.holes, seq):
                report.add(name, n, "seq-repeat", f"seq {seq} after {last}: repeated, skipped")
                continue
            seq_back = True
        else:
            seq_back = False
            if last < 0:
                stats.first_seq = seq
                if seq > 0:
                    stats.holes.append([0, seq - 1])
            elif seq != last + 1:
                stats.holes.append([last + 1, seq - 1])
        if not seq_back:
            last = seq
            stats.last_seq = seq
        stats.records += 1
        if stats.pid is None:
            stats.pid = pid
        if raw is None:
            raw = dumps(rec) + b"\n"
        elif raw[-1:] != b"\n":
            raw += b"\n"
        yield float(ts), pid, seq, raw, rec
    report_holes(stats, report)
