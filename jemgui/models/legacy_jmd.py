"""Convert a JEM 2 monitoring log (`JEM_MON.jmd`, spec section 7) to JEM records.

What is known of the format comes from the Ganga client that read these files:
one message a line, `Key=Value` pairs joined by `;`, with `_&1_` `_&2_` `_&3_`
standing for `'` `=` `;` inside values and `<br>` joining the lines of a
multi-line value. `ExactTS` is `<unix seconds>.<microseconds>`, the
microseconds written as a plain integer without leading zeros (Ganga padded
them back to six digits on the left), or `???` when unknown; `TS`
(`YYYY-MM-DD HH:MM:SS`) is the coarser fallback.

Streams: the log names no process, so there is one stream per language
(`BASH` pid 2, `PYTHON` pid 3, any other language from pid 4 on), or per
process when a line carries a `PID`; worker-node samples, job states and peeked
output go to the job's own stream, pid 1. Python's module level (`Frame=?`)
becomes the frame `<module>`, a bash script's main level (`Frame=???`) the
frame `main`. JEM 2 logged calls and returns but no frame ids, so frames are
nested here by name: a record in a frame that is not open opens it (and the
stream's root frame under it), a record in an outer frame closes the frames
above it, and a Python call whose caller (`M3`) is on a new line moves the
caller there with a `line` record, so a replayed stack shows where each frame
was. Every record that belongs to a frame thus has a well-formed `fid` and
`depth`, and `seq` has no holes.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import BinaryIO

from jemgui.models.converted import Converted
from jemgui.models.inputs import iter_lines
from jemgui.models.records import MAX_LINE_BYTES
from jemgui.models.report import ImportReport

JOB_PID = 1
LANG_PIDS = {"BASH": 2, "PYTHON": 3}
FIRST_OTHER_PID = 4
#: JEM 2 language name -> `lang` of the spec's process record
PROCESS_LANG = {"PYTHON": "python", "BASH": "shell"}
#: a message that reports the user application's end
END_STATES = frozenset(("FINISHED", "DONE", "FAILED", "KILLED", "ABORTED"))
#: RESOURCE fields that are not numbers to plot
NOT_METRICS = frozenset(("Type", "SubType", "ExactTS", "TS", "WN", "FullSys", "Lang", "PID", "Pid"))
#: cut of a value's repr, as the monitor does (spec section 2)
REPR_LIMIT = 200

_ESCAPE = re.compile(r"_&([123])_")
_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_NUMBER = re.compile(r"\s*([-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)")
_TB_ENTRY = re.compile(r'\s*File "(?P<file>[^"]*)", line (?P<line>\d+), in (?P<func>.+?)\s*$')


def unescape(value: str) -> str:
    """A value with JEM 2's escapes for `'`, `=` and `;` undone."""
    return _ESCAPE.sub(lambda m: "'=;"[int(m[1]) - 1], value)


def split_line(text: str) -> dict[str, str]:
    """The `Key=Value` pairs of one message, values still escaped; empty when it does not split.

    A piece without `=` after a good pair is a `;` the writer failed to
    escape, so it goes back into the value before it rather than being lost.
    """
    pairs: dict[str, str] = {}
    last = None
    for piece in text.split(";"):
        key, eq, value = piece.partition("=")
        key = key.strip()
        if eq and _KEY.match(key):
            pairs[key] = value
            last = key
        elif last is not None and piece:
            pairs[last] += ";" + piece
    return pairs


def _digits(text: str) -> bool:
    """ASCII digits only: `str.isdigit` also takes superscripts, which int() and float() refuse."""
    return text.isascii() and text.isdigit()


def parse_time(fields: dict[str, str]) -> float | None:
    """Seconds since the epoch from `ExactTS`, else from `TS` (taken as UTC), else None."""
    exact = fields.get("ExactTS", "").strip().strip('"')
    sec, dot, frac = exact.partition(".")
    if _digits(sec) and (not dot or _digits(frac)):
        if not frac:
            return float(sec)
        if len(frac) <= 6:
            return int(sec) + int(frac) / 1e6
        return float(exact)
    stamp = fields.get("TS", "").strip().strip('"')
    if stamp:
        try:
            when = datetime.fromisoformat(stamp)
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return when.timestamp()
    return None


def _number(value: str) -> int | float | None:
    m = _NUMBER.match(value)
    if not m:
        return None
    text = m[1]
    try:
        return int(text)
    except ValueError:
        return float(text)


def _cut(text: str) -> str:
    return text if len(text) <= REPR_LIMIT else text[: REPR_LIMIT - 1] + "…"


def _pair(value: object) -> list[str]:
    """A value of a JEM 2 variable list as the spec's `[type, repr]` pair."""
    if isinstance(value, tuple) and len(value) == 2:
        return [str(value[0]).strip(), _cut(str(value[1]).strip())]
    if isinstance(value, str):
        return ["", _cut(value.strip())]
    return [type(value).__name__, _cut(repr(value))]


def parse_args(text: str) -> dict[str, list[str]] | None:
    """A call's `M1` (a Python dict literal of `name: (type, value)`) as a vars map, or None."""
    text = text.strip()
    if text.startswith("{{") and text.endswith("}}"):
        text = text[1:-1]
    if not text:
        return {}
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    if not isinstance(value, dict):
        return None
    return {str(k).strip(): _pair(v) for k, v in value.items()}


def parse_vars(text: str) -> dict[str, list[str]]:
    """An exception's `Vars`: `name: value` items joined by `<br>`."""
    out = {}
    for item in text.split("<br>"):
        name, sep, value = item.partition(": ")
        if sep and name.strip():
            out[name.strip()] = ["", _cut(value)]
    return out


def parse_traceback(text: str) -> list[list]:
    """`[[file, line, func], ...]` from a Python traceback joined by `<br>`, outermost first."""
    out = []
    for item in text.split("<br>"):
        m = _TB_ENTRY.match(item)
        if m:
            out.append([m["file"], int(m["line"]), m["func"]])
    return out


def _location(text: str) -> tuple[str, int | None]:
    """`file:line` split; the line is None when missing or not a number."""
    file, sep, line = text.strip().rpartition(":")
    if sep and _digits(line):
        return file, int(line)
    return text.strip(), None


def _line_no(value: str | None) -> int | None:
    value = (value or "").strip()
    return int(value) if _digits(value) else None


class _Stream:
    """One output stream: its records, and for a language stream its open frames."""

    def __init__(self, pid: int, lang: str | None):
        self.pid = pid
        self.lang = lang
        self.root = "<module>" if lang == "PYTHON" else "main"
        self.records: list[dict] = []
        self.stack: list[dict] = []
        self.next_fid = 1
        #: the stream's clock went back and its times are held at the last good one
        self.behind = False
        #: (type, message, depth) of the exception last seen passing through this stream's frames
        self.raising: tuple[str, str, int] | None = None
        if lang is not None:
            self.process = {"kind": "process", "phase": "start", "lang": PROCESS_LANG.get(lang, "other")}

    def emit(self, ts: float, kind: str, **fields) -> dict:
        if not self.records and self.lang is not None:
            self.records.append({"seq": 0, "ts": ts, "pid": self.pid, **self.process})
        rec = {"seq": len(self.records), "ts": ts, "pid": self.pid, "kind": kind, **fields}
        self.records.append(rec)
        return rec

    @property
    def last_ts(self) -> float | None:
        return self.records[-1]["ts"] if self.records else None

    def func_name(self, frame: str | None) -> str:
        """The frame's function; JEM 2's `?` and `???` are the stream's root level."""
        frame = (frame or "").strip()
        return self.root if frame in ("", "?", "???") else frame

    def _where(self, frame: dict) -> dict:
        where = {"tid": self.pid, "fid": frame["fid"], "file": frame["file"]}
        if frame["line"] is not None:
            where["line"] = frame["line"]
        return {**where, "func": frame["func"], "depth": frame["depth"]}

    def open(self, ts: float, func: str, file: str, line: int | None, **fields) -> dict:
        """Push a frame and write its `call`."""
        if not self.stack and func != self.root:
            self.open(ts, self.root, "", None)
        frame = {"fid": self.next_fid, "func": func, "file": file, "line": line,
                 "depth": len(self.stack), "vars": dict(fields.get("args", {}))}
        self.next_fid += 1
        frame["call"] = self.emit(ts, "call", **self._where(frame), **fields)
        self.stack.append(frame)
        self.raising = None
        return frame

    def close_above(self, n: int, ts: float) -> None:
        """Return from every frame above the lowest `n` (their return was not logged)."""
        while len(self.stack) > n:
            self.emit(ts, "return", **self._where(self.stack.pop()))

    def find(self, func: str) -> int | None:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i]["func"] == func:
                return i
        return None

    def frame(self, ts: float, func: str, file: str, line: int | None) -> dict:
        """The innermost open frame of `func`, frames above it closed; opened when not open."""
        i = self.find(func)
        if i is None:
            return self.open(ts, func, file, line)
        self.close_above(i + 1, ts)
        frame = self.stack[i]
        if file and not frame["file"]:
            frame["file"] = frame["call"]["file"] = file
        return frame

    def where(self, frame: dict, file: str, line: int | None) -> dict:
        """The frame's location fields at a record of it on `file:line`; the frame is now there."""
        if line is not None:
            frame["line"] = line
        where = self._where(frame)
        if file:
            where["file"] = file
        return where

    def at_line(self, ts: float, frame: dict, file: str, line: int | None) -> None:
        """A `line` record when a call shows its Python caller on another line than last known."""
        if line is not None and line != frame["line"]:
            where = self.where(frame, file, line)
            if self.lang == "PYTHON":
                self.emit(ts, "line", **where)


class _Converter:
    """State of one conversion: the streams, the job facts, what was already reported."""

    def __init__(self, name: str, report: ImportReport):
        self.name = name
        self.report = report
        self.streams: dict[int, _Stream] = {}
        self.other_langs: dict[str, int] = {}
        self.job: dict = {}
        self.full_systems = ""

    def problem(self, line: int, message: str, code: str = "legacy") -> None:
        self.report.add(self.name, line, code, message)

    def stream(self, fields: dict[str, str], lang_bound: bool) -> _Stream:
        lang = None
        if lang_bound:
            lang = fields.get("Lang", "").strip().upper() or _guess_lang(fields)
        pid_text = (fields.get("PID") or fields.get("Pid") or "").strip()
        if _digits(pid_text) and lang is not None:
            pid = int(pid_text)
        elif lang is None:
            pid = JOB_PID
        elif lang in LANG_PIDS:
            pid = LANG_PIDS[lang]
        else:
            pid = self.other_langs.setdefault(lang, FIRST_OTHER_PID + len(self.other_langs))
        found = self.streams.get(pid)
        if found is None:
            found = self.streams[pid] = _Stream(pid, lang)
        return found

    def message(self, n: int, ts: float, fields: dict[str, str]) -> None:
        kind = fields.get("Type", "").strip()
        handler = HANDLERS.get(kind)
        if handler is None:
            self.problem(n, f"unknown message type {kind!r}, skipped" if kind else
                         "message without a Type, skipped")
            return
        stream = self.stream(fields, kind in ("COMMAND", "EXCEPTION"))
        last = stream.last_ts
        if last is not None and ts < last:
            if not stream.behind:
                self.problem(n, "time goes backwards (clock reset?); kept in file order")
            stream.behind, ts = True, last
        else:
            stream.behind = False
        self.job["started"] = min(ts, self.job.get("started", ts))
        handler(self, stream, n, ts, fields)

    # --- one method per message type -------------------------------------------------

    def on_command(self, s: _Stream, n: int, ts: float, f: dict[str, str]) -> None:
        sub = f.get("SubType", "").strip().upper()
        func = s.func_name(f.get("Frame"))
        file, line = unescape(f.get("Script", "")).strip(), _line_no(f.get("Line"))
        if sub == "CALL":
            self.on_call(s, n, ts, f, func, file, line)
        elif sub == "RETURN":
            i = s.find(func)
            if i is None:
                self.problem(n, f"return from {func}, which was never called; kept as a marker")
                s.emit(ts, "marker", text=f"return from {func} ({file}:{line or '?'})")
                return
            s.close_above(i + 1, ts)
            frame = s.stack.pop()
            value = {"value": ["", _cut(unescape(f["M1"]))]} if "M1" in f else {}
            s.emit(ts, "return", **s.where(frame, file, line), **value)
        elif sub in ("BUILTIN", "EXTERNAL", "SYNTAX"):
            where = s.where(s.frame(ts, func, file, line), file, line)
            del where["fid"]  # the tid stays: a shell's commands and calls are one thread
            s.emit(ts, "command", **where, text=unescape(f.get("M1", "")).replace("<br>", "\n"))
        else:
            self.problem(n, f"unknown command subtype {sub!r}, skipped")

    def on_call(self, s: _Stream, n: int, ts: float, f: dict[str, str],
                func: str, file: str, line: int | None) -> None:
        if "M2" in f:
            caller_file, caller_line = _location(unescape(f.get("M3", "")))
            if caller_line is None:
                caller_line = _line_no(f.get("M4"))
            caller = s.frame(ts, s.func_name(unescape(f["M2"])), caller_file, caller_line)
            s.at_line(ts, caller, caller_file, caller_line)
        extra = {}
        if "M1" in f:
            args = parse_args(unescape(f["M1"]))
            if args is None:
                self.problem(n, "call arguments not readable, left out")
            else:
                extra["args"] = args
        s.open(ts, func, file, line, **extra)

    def on_exception(self, s: _Stream, n: int, ts: float, f: dict[str, str]) -> None:
        func = s.func_name(f.get("Frame"))
        file, line = unescape(f.get("Script", "")).strip(), _line_no(f.get("Line"))
        frame = s.frame(ts, func, file, line)
        rec = {**s.where(frame, file, line), "type": unescape(f.get("Error", "")).strip(),
               "message": unescape(f.get("Reason", ""))}
        # JEM 2 repeats the traceback in every frame the exception passes; the
        # spec keeps it on the first record of the chain only.
        passing = s.raising is not None and s.raising[:2] == (rec["type"], rec["message"]) \
            and frame["depth"] < s.raising[2]
        s.raising = (rec["type"], rec["message"], frame["depth"])
        traceback = parse_traceback(unescape(f.get("TB", "")))
        if traceback and not passing:
            rec["traceback"] = traceback
        if "Vars" in f:
            # only what is new or changed: the arguments keep the types their call gave
            known = frame["vars"]
            changed = {k: v for k, v in parse_vars(unescape(f["Vars"])).items()
                       if k not in known or known[k][1] != v[1]}
            known.update(changed)
            if changed:
                rec["changed"] = changed
        if f.get("Code"):
            rec["code"] = unescape(f["Code"]).split("<br>")
        s.emit(ts, "exception", **rec)

    def on_resource(self, s: _Stream, n: int, ts: float, f: dict[str, str]) -> None:
        host = unescape(f.get("WN", "")).strip()
        if host:
            self.job.setdefault("host", host)
        values = {}
        for key, raw in f.items():
            if key not in NOT_METRICS:
                number = _number(raw)
                if number is not None:
                    values["load1" if key == "Load" else key] = number
        if values:
            s.emit(ts, "metric", values=values)
        full = unescape(f.get("FullSys", "")).strip()
        if full != self.full_systems:
            self.full_systems = full
            if full:
                s.emit(ts, "marker", text=f"full file systems: {full}")

    def on_jobstate(self, s: _Stream, n: int, ts: float, f: dict[str, str]) -> None:
        state = unescape(f.get("Status", "")).strip()
        if not state:
            self.problem(n, "job state message without a Status, skipped")
            return
        s.emit(ts, "state", state=state)
        if state.upper() in END_STATES:
            self.job["ended"] = ts

    def on_peek(self, s: _Stream, n: int, ts: float, f: dict[str, str]) -> None:
        which = "stderr" if f.get("Type", "").strip() == "ERRPEEKLINE" else "stdout"
        text = unescape(f.get("M1", "")).replace("<br>", "\n")
        s.emit(ts, "log", stream=which, text=text + "\n")


HANDLERS = {
    "COMMAND": _Converter.on_command,
    "EXCEPTION": _Converter.on_exception,
    "RESOURCE": _Converter.on_resource,
    "JOBSTATE": _Converter.on_jobstate,
    "OUTPEEKLINE": _Converter.on_peek,
    "ERRPEEKLINE": _Converter.on_peek,
}


def _guess_lang(fields: dict[str, str]) -> str:
    """The language of a message that does not say: from its script's name, else its frame."""
    script = fields.get("Script", "").strip().lower()
    if script.endswith(".py"):
        return "PYTHON"
    if script.endswith((".sh", ".bash")):
        return "BASH"
    frame = fields.get("Frame", "").strip()
    if frame == "?":
        return "PYTHON"
    if frame == "???" or fields.get("SubType", "").strip().upper() in ("BUILTIN", "EXTERNAL", "SYNTAX"):
        return "BASH"
    return "OTHER"


def _messages(stream: BinaryIO, name: str, report: ImportReport) -> Iterator[tuple[int, float | None, dict]]:
    """(line number, time or None, pairs) of every line that splits; the others reported."""
    for n, raw, ended in iter_lines(stream, name, report, MAX_LINE_BYTES):
        if not ended:
            report.add(name, n, "cut-line", "the last line ends without a newline: cut short?")
        raw = raw.rstrip(b"\r\n")
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
            report.add(name, n, "bad-utf8", "line is not UTF-8, read as Latin-1")
        fields = split_line(text)
        if not fields:
            report.add(name, n, "legacy", "line does not split into Key=Value pairs, skipped")
            continue
        yield n, parse_time(fields), fields


def convert_jmd(stream: BinaryIO, name: str, report: ImportReport) -> Converted:
    """Convert a `JEM_MON.jmd` log; every line that cannot be used is reported, never fatal.

    A message without a readable time takes the time of the next message that
    has one (the last known time at the end of the log).
    """
    conv = _Converter(name, report)
    waiting: list[tuple[int, dict]] = []
    last = None
    for n, ts, fields in _messages(stream, name, report):
        if ts is None:
            waiting.append((n, fields))
            continue
        for m, held in waiting:
            report.add(name, m, "legacy", "message without a readable time; took the next one's")
            conv.message(m, ts, held)
        waiting.clear()
        conv.message(n, ts, fields)
        last = ts
    for m, held in waiting:
        report.add(name, m, "legacy", "message without a readable time; took the last one's")
        conv.message(m, last if last is not None else 0.0, held)
    return Converted(
        job=conv.job,
        streams={pid: s.records for pid, s in sorted(conv.streams.items()) if s.records},
    )
