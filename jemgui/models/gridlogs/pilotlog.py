"""Read the PanDA pilot's `pilotlog.txt`: its lines, the job's facts, the payload process, phases.

Format (pilot3 `pilot/util/loggingsupport.py`): `%(asctime)s | %(levelname)-8s |
%(name)-32s | %(funcName)-25s | %(message)s` in debug mode, else `%(asctime)s |
%(levelname)-8s | %(message)s`, UTC, asctime like `2025-04-02 13:38:05,331`.
Names are not cut, so columns are split on ` | `, not by width. Lines without
the prefix continue the message above (job definition, `ls -lF`, tracebacks,
the `caught signal` stack dump) and take its time.

Facts come from the messages the reference (`grid-logs.md` section 2) names:
`job definition = {...}`, `pilot arguments: Namespace(...)`, `processing PanDA
job`, the server updates `data = {...}`, `started -- pid=`, `finished pid=...
exit_code=... state=...`, `pilotErrorCodes = [...]`, `caught signal: SIG...`.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field

_PREFIX = re.compile(r"^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d),(\d{3}) \| (\w+)\s*\| ?(.*)$")
_NAME = re.compile(r"^[\w.]+$")
_FUNC = re.compile(r"^[\w<>]+$")


def _fact(key: str) -> re.Pattern:
    return re.compile(r"['\"]" + key + r"['\"]\s*:\s*['\"]?([^'\",}]*)")


DEFINITION = {"id": _fact("PandaID"), "task": _fact("taskID"), "transformation": _fact("transformation"),
              "log_file": _fact("logFile"), "label": _fact("prodSourceLabel"), "site": _fact("computingSite"),
              "user": _fact("prodUserID")}
UPDATE = {"host": _fact("node"), "site": _fact("siteName"), "state": _fact("state")}
QUEUE = re.compile(r"\bqueue='([^']*)'")
PROCESSING = re.compile(r"processing PanDA job (\d+) from task (\d+)")
STARTED = re.compile(r"started -- pid=(\d+) executable=(\S*)")
FINISHED = re.compile(r"finished pid=(\d+) exit_code=(-?\d+) state=(\w+)")
ERROR_CODES = re.compile(r"(?:pilotErrorCodes = |error has already been set: )\[([\d,\s]*)\]")
SIGNAL = re.compile(r"caught signal: (SIG\w+)")
STAGE_IN = re.compile(r"(?i)\bstage-?in\b")
STAGE_OUT = re.compile(r"(?i)\bstage-?out\b")
ARCHIVE = re.compile(r"will create archive ")


@dataclass
class Line:
    n: int
    ts: float
    text: str
    level: str | None = None
    module: str | None = None
    func: str | None = None
    prefixed: bool = True


@dataclass
class PilotLog:
    """What one pilotlog.txt says."""

    #: the first and the last line (the lines themselves go to records as they are read)
    first: Line | None = None
    last: Line | None = None
    job: dict = field(default_factory=dict)
    #: the payload: pid, executable, start and end time, exit code, state (as the pilot logged them)
    payload: dict = field(default_factory=dict)
    #: (ts, state, line number): the pilot's phases
    phases: list[tuple[float, str, int]] = field(default_factory=list)
    error_codes: list[int] = field(default_factory=list)
    #: (line number, text) of the lines that set an error code or name a signal
    signal: str | None = None
    evidence: list[tuple[int, str]] = field(default_factory=list)


def parse_prefix(text: str) -> tuple[float, str, str | None, str | None, str] | None:
    """(ts, level, module, function, message) of a prefixed line, or None."""
    m = _PREFIX.match(text)
    if m is None:
        return None
    y, mo, d, h, mi, s, ms = (int(m[i]) for i in range(1, 8))
    try:
        ts = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) + ms / 1000
    except (ValueError, OverflowError):
        return None
    rest = m[9]
    parts = rest.split(" | ", 2)
    if len(parts) == 3 and _NAME.match(parts[0].strip()) and _FUNC.match(parts[1].strip()):
        return ts, m[8], parts[0].strip(), parts[1].strip(), parts[2]
    return ts, m[8], None, None, rest


class Reader:
    """Feed the lines of pilotlog.txt in order; `result` holds what was read."""

    def __init__(self) -> None:
        self.result = PilotLog()
        self._message: list[str] = []
        self._first_n = 0
        self._ts = 0.0

    def feed(self, n: int, text: str) -> Line:
        parsed = parse_prefix(text)
        res = self.result
        if parsed is None:
            prev = res.last
            if prev is None:
                line = Line(n, self._ts, text, prefixed=False)
            else:
                line = Line(n, prev.ts, text, prev.level, prev.module, prev.func, prefixed=False)
            self._message.append(text)
        else:
            self._end_message()
            ts, level, module, func, message = parsed
            ts = max(ts, self._ts)  # the log's clock never goes back; a line that does is held
            self._ts = ts
            line = Line(n, ts, text, level, module, func)
            self._message, self._first_n = [message], n
            if not res.phases:
                res.phases.append((ts, "STARTED", n))
            self._events(n, ts, message)
        if res.first is None:
            res.first = line
        res.last = line
        return line

    def _phase(self, ts: float, state: str, n: int) -> None:
        if state not in {p[1] for p in self.result.phases}:
            self.result.phases.append((ts, state, n))

    def _events(self, n: int, ts: float, msg: str) -> None:
        """The one-line facts: payload start and end, error codes, signals, phases."""
        res = self.result
        if m := STARTED.search(msg):
            res.payload.update(pid=int(m[1]), executable=m[2], started=ts, start_line=n)
            self._phase(ts, "RUNNING", n)
        elif m := FINISHED.search(msg):
            res.payload.update(pid=int(m[1]), exit_code=int(m[2]), state=m[3], ended=ts, end_line=n)
            res.evidence.append((n, msg))
        elif m := ERROR_CODES.search(msg):
            codes = [int(c) for c in re.findall(r"\d+", m[1])]
            if codes and not res.error_codes:
                res.error_codes = codes
                res.evidence.append((n, msg))
        elif m := SIGNAL.search(msg):
            res.signal = res.signal or m[1]
            res.evidence.append((n, msg))
            self._phase(ts, "KILLED", n)
        elif m := PROCESSING.search(msg):
            res.job.setdefault("id", m[1])
            res.job.setdefault("task", m[2])
        elif m := QUEUE.search(msg):
            if msg.startswith("pilot arguments"):
                res.job.setdefault("queue", m[1])
        elif ARCHIVE.search(msg):
            self._phase(ts, "LOG_CREATION", n)
        elif STAGE_OUT.search(msg) and "RUNNING" in {p[1] for p in res.phases}:
            self._phase(ts, "STAGE_OUT", n)
        elif STAGE_IN.search(msg) and "RUNNING" not in {p[1] for p in res.phases}:
            self._phase(ts, "STAGE_IN", n)

    def _end_message(self) -> None:
        """Facts from a whole (maybe multi-line) message: the job definition, server updates."""
        if not self._message:
            return
        msg = "\n".join(self._message)
        job = self.result.job
        if "job definition" in msg[:200]:
            for key, rx in DEFINITION.items():
                if (m := rx.search(msg)) and m[1].strip() and m[1] != "NULL":
                    job.setdefault(key, m[1].strip())
        elif "data = {" in msg[:200]:
            for key, rx in UPDATE.items():
                if (m := rx.search(msg)) and m[1].strip():
                    if key == "state":
                        job["last_reported_state"] = m[1].strip()
                    else:
                        job.setdefault(key, m[1].strip())

    def finish(self) -> PilotLog:
        self._end_message()
        self._message = []
        return self.result
