"""Write an indexed job as JSONL records, as the event table in CSV, or as a Chrome trace.

Every exporter takes an index (`job`, `count`, `iter_records()` in timeline
order) and a binary file, streams the records through once, and returns how
many items it wrote; memory does not grow with the job.

The Chrome trace opens in Perfetto's UI and in chrome://tracing: one complete
(`X`) slice per frame activation (a generator's every resumption is a slice of
its own), instant (`i`) events for exceptions, commands, output, markers and
state changes, counter (`C`) events for metrics, and `M` events naming
processes and threads. Times are whole microseconds so that slices nest
exactly. Every slice and instant event names its record as `PID:SEQ` in its
args (`record`), the form the CSV's first column and `inspect --record` use. A frame whose end was not recorded (the job was killed, or a record
shows that the frame is gone) ends at the last record of its thread.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import BinaryIO

import orjson

from jemgui import __version__
from jemgui.models.records import as_int, as_str, describe

CSV_COLUMNS = ("record", "position", "time", "pid", "tid", "kind", "file", "line", "func", "detail")
#: longest name of an instant event; the full text is in its args
NAME_LIMIT = 120


def export_jsonl(index, out: BinaryIO) -> int:
    """One record per line, in timeline order: a single stream file that opens again."""
    n = 0
    dumps = orjson.dumps
    for rec in index.iter_records():
        out.write(dumps(rec) + b"\n")
        n += 1
    return n


def record_name(rec: dict) -> str:
    """`PID:SEQ`: how every output names a record, and what `inspect --record` takes."""
    return f"{rec.get('pid')}:{rec.get('seq')}"


@lru_cache(maxsize=1024)
def _iso_second(sec: int) -> str:
    return datetime.fromtimestamp(sec, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def iso_time(ts: object) -> str:
    """ISO-8601 UTC with microseconds, or the value as it is when it is not a usable time."""
    try:
        sec, us = divmod(round(ts * 1e6), 1_000_000)
        return f"{_iso_second(sec)}.{us:06d}Z"
    except (TypeError, ValueError, OverflowError, OSError):
        return str(ts)


def export_csv(index, out: BinaryIO) -> int:
    """The event table: record (PID:SEQ, as `inspect --record` takes it), position, time, pid, tid,
    kind, file, line, func, detail."""
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    try:
        writer = csv.writer(text)
        writer.writerow(CSV_COLUMNS)
        n = 0
        for n, rec in enumerate(index.iter_records(), 1):
            line, tid = rec.get("line"), rec.get("tid")
            writer.writerow((
                record_name(rec), n - 1, iso_time(rec.get("ts")), rec.get("pid"), tid if type(tid) is int else "",
                as_str(rec.get("kind")), as_str(rec.get("file")), line if type(line) is int else "",
                as_str(rec.get("func")), describe(rec),
            ))
        text.flush()
        return n
    finally:
        text.detach()


def _us(ts: float) -> int:
    return round(ts * 1e6)


def _slice_name(rec: dict) -> str:
    """`func (file:line)`, the way VizTracer names slices, so the trace converts back."""
    func, file, line = as_str(rec.get("func")), as_str(rec.get("file")), rec.get("line")
    return f"{func} ({file}:{line})" if file and type(line) is int else func or "?"


def _slice_args(rec: dict, fid: object, depth: int) -> dict:
    args = {"fid": fid, "depth": depth, "record": record_name(rec)}
    if rec.get("resume"):
        args["resume"] = True
    return args


@dataclass
class _Frame:
    fid: int
    depth: int
    start: int
    name: str
    args: dict


class _ChromeWriter:
    """Streams trace events into the `traceEvents` array and keeps each thread's open frames."""

    def __init__(self, out: BinaryIO):
        self.out = out
        self.count = 0
        self.stacks: dict[tuple[int, int], list[_Frame]] = {}
        self.last: dict[tuple[int, int], int] = {}
        self.process_names: dict[int, str] = {}
        self.thread_names: dict[tuple[int, int], str] = {}
        self.pids: set[int] = set()

    def write(self, event: dict) -> None:
        self.out.write((b",\n" if self.count else b"\n") + orjson.dumps(event))
        self.count += 1

    def instant(self, rec: dict, us: int, name: str, scope: str, args: dict) -> None:
        pid = rec["pid"]
        tid = rec.get("tid") if type(rec.get("tid")) is int else pid
        self.write({"ph": "i", "pid": pid, "tid": tid, "ts": us, "s": scope,
                    "name": name[:NAME_LIMIT] or rec["kind"], "cat": rec["kind"],
                    "args": {**args, "record": record_name(rec)}})

    def close(self, key: tuple[int, int], n: int, us: int) -> None:
        """End the frames of a thread above its lowest `n` at `us`."""
        stack = self.stacks[key]
        while len(stack) > n:
            f = stack.pop()
            self.write({"ph": "X", "pid": key[0], "tid": key[1], "ts": f.start, "dur": max(0, us - f.start),
                        "name": f.name, "cat": "python", "args": f.args})

    def frame(self, rec: dict, us: int) -> None:
        """Open, keep or close the frame a call/line/return/exception record is in."""
        key = (rec["pid"], rec["tid"])
        self.last[key] = us
        stack = self.stacks.get(key)
        if stack is None:
            stack = self.stacks[key] = []
        fid, kind = rec.get("fid"), rec["kind"]
        if kind != "call" and stack and stack[-1].fid == fid:
            at = len(stack) - 1
        else:
            at = None if kind == "call" else next(
                (i for i in range(len(stack) - 2, -1, -1) if stack[i].fid == fid), None)
            if at is None:
                # A call, or a record in a frame whose call was not recorded: the
                # frames at its depth or deeper are over.
                depth = as_int(rec.get("depth"))
                self.close(key, sum(1 for f in stack if f.depth < depth), us)
                stack.append(_Frame(fid, depth, us, _slice_name(rec), _slice_args(rec, fid, depth)))
                at = len(stack) - 1
            else:
                self.close(key, at + 1, us)
        if kind == "return":
            self.close(key, at, us)

    def record(self, rec: dict) -> None:
        kind, ts, pid = rec.get("kind"), rec.get("ts"), rec.get("pid")
        if type(ts) not in (int, float) or type(pid) is not int:
            return
        us = _us(ts)
        self.pids.add(pid)
        if kind in ("call", "line", "return", "exception") and type(rec.get("tid")) is int:
            self.frame(rec, us)
        if kind == "exception":
            self.instant(rec, us, as_str(rec.get("type")) or "exception", "t", {
                "message": as_str(rec.get("message")), "file": as_str(rec.get("file")),
                "line": rec.get("line"), "func": as_str(rec.get("func"))})
        elif kind == "metric":
            values = rec.get("values")
            for name, value in (values.items() if isinstance(values, dict) else ()):
                if type(value) in (int, float):
                    self.write({"ph": "C", "pid": pid, "ts": us, "name": str(name), "args": {"value": value}})
        elif kind == "state":
            self.instant(rec, us, f"state {as_str(rec.get('state'))}", "g", {"state": rec.get("state")})
        elif kind == "process":
            self.process(rec, us)
        elif kind in ("command", "log", "marker", "control"):
            detail = describe(rec)
            args = {"text": detail}
            if kind == "command":
                args.update(file=as_str(rec.get("file")), line=rec.get("line"), func=as_str(rec.get("func")),
                            depth=rec.get("depth"))
            if kind == "log":
                args["stream"] = as_str(rec.get("stream"))
            scope = "t" if type(rec.get("tid")) is int or kind == "command" else "p"
            self.instant(rec, us, detail.split("\n", 1)[0], scope, args)

    def process(self, rec: dict, us: int) -> None:
        pid = rec["pid"]
        if rec.get("phase") == "exit":
            self.instant(rec, us, describe(rec), "p", {})
            return
        argv = rec.get("argv")
        name = as_str(rec.get("name")) or (
            " ".join(os.path.basename(str(a)) if i == 0 else str(a) for i, a in enumerate(argv))
            if isinstance(argv, list) else "")
        if name:
            self.process_names[pid] = name[:NAME_LIMIT]
        threads = rec.get("threads")
        for tid, tname in (threads.items() if isinstance(threads, dict) else ()):
            if str(tid).lstrip("-").isdigit() and isinstance(tname, str):
                self.thread_names[(pid, int(tid))] = tname
        self.instant(rec, us, describe(rec), "p", {"lang": rec.get("lang"), "argv": argv})

    def finish(self) -> None:
        for key in list(self.stacks):
            self.close(key, 0, self.last[key])
        for pid in sorted(self.pids):
            if pid in self.process_names:
                self.write({"ph": "M", "pid": pid, "tid": pid, "name": "process_name",
                            "args": {"name": self.process_names[pid]}})
        for (pid, tid), name in sorted(self.thread_names.items()):
            self.write({"ph": "M", "pid": pid, "tid": tid, "name": "thread_name", "args": {"name": name}})


def export_chrome(index, out: BinaryIO) -> int:
    """A Chrome trace-event JSON object; returns how many trace events it holds."""
    other = {"exporter": f"jemgui {__version__}", "job": index.job}
    out.write(b'{"displayTimeUnit":"ms","otherData":' + orjson.dumps(other) + b',"traceEvents":[')
    writer = _ChromeWriter(out)
    for rec in index.iter_records():
        writer.record(rec)
    writer.finish()
    out.write(b"\n]}\n")
    return writer.count


EXPORTERS: dict[str, Callable[[object, BinaryIO], int]] = {
    "chrome": export_chrome, "csv": export_csv, "jsonl": export_jsonl,
}
#: output file endings -> format, for `jemgui export` without --format
SUFFIXES = {".json": "chrome", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
