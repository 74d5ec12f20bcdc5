"""Convert a Chrome trace-event JSON file (what VizTracer and other tracers write) to JEM records.

The file is an object with `traceEvents` or a bare array of events; `ts` and
`dur` are microseconds. Each `pid` becomes a stream and each (pid, tid) a
thread: complete (`X`) and begin/end (`B`/`E`) events become `call`/`return`
records nested by time, counters (`C`) become `metric`, instants (`i`, `I`,
`R`) become `marker`, and the `M` names of processes and threads are kept on
the stream's `process` record (`name`, and `threads` as {tid: name}). A name
like VizTracer's `func (file:line)` gives `func`, `file` and `line`; VizTracer's
logged arguments and return values become `args` and `value`, and the sources
it embeds (`file_info`) become `source` records.

Tracers count time from an origin of their own; when the file says where that
is (`baseTimeNanoseconds`), times become Unix times, otherwise they stay
seconds since the tracer's origin.

Damage never stops the conversion: a cut or invalid file is salvaged event by
event, a stray `E` or an unclosed `B` is reported (an unclosed frame stays
open at the end, as when a job is killed), a slice that overlaps its parent is
cut to fit.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from typing import BinaryIO

import orjson

from jemgui.models.converted import Converted
from jemgui.models.report import ImportReport

#: cut of a value's repr, as the monitor does (spec section 2)
REPR_LIMIT = 200
INSTANT_PHASES = frozenset(("i", "I", "R"))

_NAME = re.compile(r"^(?P<func>.+?) \((?P<file>.+):(?P<line>\d+)\)$")


@dataclass
class _Slice:
    """One frame activation of a thread: from `start` to `end` (None: never ended)."""

    start: float
    end: float | None
    name: str
    order: int
    args: dict = field(default_factory=dict)


def _cut(text: str) -> str:
    return text if len(text) <= REPR_LIMIT else text[: REPR_LIMIT - 1] + "…"


def _repr(value: object) -> list[str]:
    """A JSON value as the spec's `[type, repr]` pair (tracers log reprs as strings)."""
    if isinstance(value, str):
        return ["", _cut(value)]
    return [type(value).__name__, _cut(orjson.dumps(value).decode())]


def _number(value: object) -> float | None:
    if type(value) in (int, float) and math.isfinite(value):
        return value
    return None


def _ident(value: object) -> int | None:
    """A pid or tid as an int (tracers write ints, sometimes numbers as strings)."""
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def split_name(name: str) -> dict:
    """`func`, `file`, `line` of a slice name like `func (file:line)`; else the name as `func`."""
    m = _NAME.match(name)
    if m:
        return {"file": m["file"], "line": int(m["line"]), "func": m["func"]}
    return {"file": "", "func": name}


def _load(data: bytes, name: str, report: ImportReport) -> tuple[dict, list]:
    """The top-level object (empty for a bare array) and the list of events, salvaged when damaged."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        report.add(name, 0, "bad-json", f"not valid JSON ({exc}); reading what can be read")
        text = data.decode("utf-8", errors="replace")
        if "\ufffd" in text and b"\xef\xbf\xbd" not in data:
            report.add(name, 0, "bad-utf8", "bytes that are not UTF-8, replaced")
        try:
            doc = json.loads(text)
        except (ValueError, RecursionError):
            return {}, _salvage(text, name, report)
    if isinstance(doc, list):
        return {}, doc
    if isinstance(doc, dict):
        events = doc.get("traceEvents")
        if isinstance(events, list):
            return doc, events
        report.add(name, 0, "bad-record", "no traceEvents list: not a Chrome trace")
        return doc, []
    report.add(name, 0, "bad-record", "neither a list of events nor an object with traceEvents")
    return {}, []


def _salvage(text: str, name: str, report: ImportReport) -> list:
    """The events that still parse in a cut or damaged file, one object at a time."""
    key = text.find('"traceEvents"')
    pos = text.find("[", key if key >= 0 else 0)
    if pos < 0:
        return []
    decoder = json.JSONDecoder()
    events, lost = [], 0
    pos += 1
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            break
        if text[pos] == "{":
            try:
                event, pos = decoder.raw_decode(text, pos)
                events.append(event)
                continue
            except (ValueError, RecursionError):
                lost += 1
        nxt = text.find("{", pos + 1)
        if nxt < 0:
            break
        pos = nxt
    if lost:
        report.add(name, 0, "bad-json", f"{lost} damaged event(s) skipped")
    return events


class _Converter:
    """State of one conversion: slices per thread, other records per process, names."""

    def __init__(self, name: str, report: ImportReport, base: float):
        self.name = name
        self.report = report
        self.base = base
        self.slices: dict[tuple[int, int], list[_Slice]] = {}
        self.marks: dict[tuple[int, int], list[tuple[float, int, str, dict]]] = {}
        self.other: dict[int, list[dict]] = {}
        self.process_names: dict[int, str] = {}
        self.thread_names: dict[int, dict[str, str]] = {}
        self.bad = 0

    def problem(self, code: str, message: str) -> None:
        self.report.add(self.name, 0, code, message)

    def seconds(self, us: float) -> float:
        """A tracer time (microseconds) as seconds, to the nanosecond."""
        return round(self.base + us / 1e6, 9)

    def event(self, i: int, ev: object) -> None:
        if not isinstance(ev, dict):
            self.bad += 1
            return
        ph = ev.get("ph")
        pid = _ident(ev.get("pid", 0))
        tid = _ident(ev.get("tid", pid))
        if not isinstance(ph, str) or pid is None or tid is None:
            self.bad += 1
            return
        label = ev.get("name")
        label = label if isinstance(label, str) else ""
        args = ev.get("args")
        args = args if isinstance(args, dict) else {}
        if ph == "M":
            self.metadata(pid, tid, label, args)
            return
        ts = _number(ev.get("ts"))
        if ts is None:
            self.bad += 1
            return
        if ph == "X":
            dur = _number(ev.get("dur"))
            if dur is None or dur < 0:
                self.problem("bad-record", f"event {i + 1}: {label!r} has no valid duration; taken as 0")
                dur = 0.0
            sl = _Slice(self.seconds(ts), self.seconds(ts + dur), label, i, args)
            self.slices.setdefault((pid, tid), []).append(sl)
            return
        ts = self.seconds(ts)
        if ph in ("B", "E"):
            self.marks.setdefault((pid, tid), []).append((ts, i, ph, {"name": label, "args": args}))
        elif ph == "C":
            values = {}
            for key, value in args.items():
                number = _number(value)
                if number is not None:
                    values[label if key in (label, "value") or not label else f"{label}.{key}"] = number
            if values:
                self.other.setdefault(pid, []).append(
                    {"ts": ts, "pid": pid, "kind": "metric", "values": values})
        elif ph in INSTANT_PHASES:
            rec = {"ts": ts, "pid": pid, "kind": "marker", "tid": tid, "text": label}
            if args:
                rec["args"] = {k: _repr(v) for k, v in args.items()}
            self.other.setdefault(pid, []).append(rec)
        else:
            self.report.count("unknown-kind")

    def metadata(self, pid: int, tid: int, label: str, args: dict) -> None:
        value = args.get("name")
        if not isinstance(value, str):
            return
        if label == "process_name":
            self.process_names[pid] = value
        elif label == "thread_name":
            self.thread_names.setdefault(pid, {})[str(tid)] = value

    def pair(self, key: tuple[int, int]) -> list[_Slice]:
        """Slices from a thread's `B`/`E` events: an `E` ends the innermost open `B` of its name."""
        out, stack, stray = [], [], 0
        for ts, order, ph, ev in sorted(self.marks.get(key, ()), key=lambda m: (m[0], m[1])):
            if ph == "B":
                stack.append(_Slice(ts, None, ev["name"], order, ev["args"]))
                continue
            if not stack:
                stray += 1
                continue
            j = len(stack) - 1
            if ev["name"]:
                j = next((k for k in range(j, -1, -1) if stack[k].name == ev["name"]), j)
            ret = ev["args"].get("return_value")
            for k in range(len(stack) - 1, j - 1, -1):
                done = stack.pop()
                done.end = ts
                if k == j and ret is not None:
                    done.args = {**done.args, "return_value": ret}
                out.append(done)
        if stray:
            self.problem("bad-record", f"pid {key[0]} tid {key[1]}: {stray} end event(s) without a begin, skipped")
        if stack:
            self.problem("bad-record", f"pid {key[0]} tid {key[1]}: {len(stack)} begin event(s) never ended; "
                         "left open")
        return out + stack

    def thread(self, key: tuple[int, int], fids: dict[int, int]) -> list[dict]:
        """The `call`/`return` records of one thread, nested by time, in order."""
        pid, tid = key
        slices = self.slices.get(key, []) + self.pair(key)
        slices.sort(key=lambda s: (s.start, -(s.end if s.end is not None else math.inf), s.order))
        out: list[dict] = []
        stack: list[tuple[_Slice, dict]] = []
        cut = 0

        def close() -> None:
            sl, where = stack.pop()
            rec = {"ts": sl.end, "pid": pid, "kind": "return", **where}
            ret = sl.args.get("return_value")
            if ret is not None:
                rec["value"] = _repr(ret)
            out.append(rec)

        for sl in slices:
            while stack and stack[-1][0].end is not None and stack[-1][0].end <= sl.start:
                close()
            parent_end = stack[-1][0].end if stack else None
            if parent_end is not None and (sl.end is None or sl.end > parent_end):
                cut += sl.end is not None
                sl.end = parent_end
            fids[pid] = fids.get(pid, 0) + 1
            where = {"tid": tid, "fid": fids[pid], **split_name(sl.name), "depth": len(stack)}
            rec = {"ts": sl.start, "pid": pid, "kind": "call", **where}
            call_args = sl.args.get("func_args")
            if isinstance(call_args, dict):
                rec["args"] = {str(k): _repr(v) for k, v in call_args.items()}
            elif sl.args:
                rec["args"] = {str(k): _repr(v) for k, v in sl.args.items() if k != "return_value"}
            out.append(rec)
            stack.append((sl, where))
        while stack and stack[-1][0].end is not None:
            close()
        if cut:
            self.problem("bad-record", f"pid {pid} tid {tid}: {cut} slice(s) overlapped their parent; cut")
        return out


def _sources(doc: dict) -> dict[str, str]:
    """VizTracer's embedded sources: {path: text}."""
    info = doc.get("file_info")
    files = info.get("files") if isinstance(info, dict) else None
    if not isinstance(files, dict):
        return {}
    out = {}
    for path, entry in files.items():
        text = entry[0] if isinstance(entry, list) and entry else entry
        if isinstance(path, str) and isinstance(text, str):
            out[path] = text
    return out


def _base(doc: dict) -> float:
    """Seconds to add to the tracer's times to make them Unix times (0 when unknown)."""
    meta = doc.get("viztracer_metadata")
    for holder in (doc, meta if isinstance(meta, dict) else {}):
        base = _number(holder.get("baseTimeNanoseconds"))
        if base is not None:
            return base / 1e9
    return 0.0


def convert_chrome(stream: BinaryIO, name: str, report: ImportReport) -> Converted:
    """Convert a Chrome trace; every damaged part is reported, never fatal."""
    doc, events = _load(stream.read(), name, report)
    conv = _Converter(name, report, _base(doc))
    for i, ev in enumerate(events):
        conv.event(i, ev)
    if conv.bad:
        report.add(name, 0, "bad-record", f"{conv.bad} event(s) without a usable ph, pid, tid or ts, skipped")

    per_pid: dict[int, list[dict]] = {}
    fids: dict[int, int] = {}
    for key in sorted(set(conv.slices) | set(conv.marks)):
        per_pid.setdefault(key[0], []).extend(conv.thread(key, fids))
    for pid, recs in conv.other.items():
        per_pid.setdefault(pid, []).extend(recs)

    sources = _sources(doc)
    streams: dict[int, list[dict]] = {}
    job: dict = {}
    for pid, recs in sorted(per_pid.items()):
        recs.sort(key=lambda r: r["ts"])  # stable: each thread's records are already in order
        first = recs[0]["ts"]
        files = {r["file"] for r in recs if r["kind"] == "call" and r["file"]}
        head = [{"ts": first, "pid": pid, "kind": "process", "phase": "start",
                 "lang": "python" if any(f.endswith(".py") for f in files) else "other"}]
        if pid in conv.process_names:
            head[0]["name"] = conv.process_names[pid]
        if pid in conv.thread_names:
            head[0]["threads"] = conv.thread_names[pid]
        for path in sorted(files & sources.keys()):
            text = sources[path]
            head.append({"ts": first, "pid": pid, "kind": "source", "path": path, "lang": "python",
                         "sha256": hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(),
                         "text": text})
        out = streams[pid] = []
        for seq, rec in enumerate(head + recs):
            out.append({"seq": seq, **rec})
        job["started"] = min(job.get("started", first), first)
        job["ended"] = max(job.get("ended", first), out[-1]["ts"])
    return Converted(job=job, streams=streams)
