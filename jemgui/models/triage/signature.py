"""What makes two failures the same failure, with the parts that differ per job normalised away.

A Python exception: its type and the innermost frame of the job's own code
(file name and function). A transform error: its exit acronym and the first
decisive log line. A site failure: the pilot error and the line that shows it.
Numbers, paths, hex ids, hostnames and times in the text become placeholders,
so "no space left on /scratch/job_8812" and "... on /scratch/job_17" agree.
"""

from __future__ import annotations

import re

#: each (pattern, placeholder) in order: times before numbers, paths and hosts before their parts
_RULES = [
    (re.compile(r"\b\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"), "<time>"),
    (re.compile(r"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) \w{3} +\d+ \d{2}:\d{2}:\d{2} \d{4}\b"), "<time>"),
    (re.compile(r"\b\d{2}:\d{2}:\d{2}(?:[.,]\d+)?\b"), "<time>"),
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"), "<hex>"),
    (re.compile(r"(?<![0-9a-zA-Z])0x[0-9a-fA-F]+\b"), "<hex>"),
    (re.compile(r"(?:[a-zA-Z][\w+.-]*://)?(?:~|\.{1,2})?(?:/[^\s/'\"(),:;\]\[{}<>]+)+/?"), "<path>"),
    (re.compile(r"\b(?=[\w-]*[a-zA-Z])[\w-]+(?:\.[a-zA-Z][\w-]*){2,}\b"), "<host>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"), "<hex>"),
    (re.compile(r"(?<![a-zA-Z])\d+(?:\.\d+)?(?![a-zA-Z])"), "N"),  # not the 4 of G4Navigator
]
#: a pilot log line's prefix: `date | LEVEL | module | function | ` (debug) or `date | LEVEL | `
_PILOT_PREFIX = re.compile(r"^\d{4}-\d{2}-\d{2} [\d:,]+ \| *\w+ *\|(?: *[\w.]+ *\| *[\w<>]+ *\|)? ?")
#: a transform's stdout prefix `name.func date LEVEL ` and an athena line's leading time
_TRF_PREFIX = re.compile(r"^[\w.]+ \d{4}-\d{2}-\d{2} [\d:,]+ ")
_ATHENA_TIME = re.compile(r"^\d{2}:\d{2}:\d{2} ")
#: frames that are not the job's own code
_LIBRARY = re.compile(r"(^/cvmfs/|/site-packages/|/dist-packages/|/lib/python\d|^<frozen |^<string>|/pilot3?/)")
MAX_TEXT = 160


def normalize(text: str) -> str:
    """`text` with times, hex ids, paths, hostnames and numbers replaced, on one line, capped."""
    out = " ".join(str(text).split())
    for pattern, repl in _RULES:
        out = pattern.sub(repl, out)
    return out[:MAX_TEXT]


def strip_prefix(text: str) -> str:
    """A log line without its logger's prefix (time, level columns), so the message is compared."""
    text = text.strip()
    for p in (_PILOT_PREFIX, _TRF_PREFIX, _ATHENA_TIME):
        text = p.sub("", text, count=1)
    return text


def _short_file(path: str | None) -> str:
    return (path or "?").replace("\\", "/").rsplit("/", 1)[-1]


def own_frame(failure: dict) -> tuple[str, str] | None:
    """(file name, function) of the innermost frame of the job's own code, else the innermost one."""
    frames = [(f[0], f[2]) for f in failure.get("traceback") or [] if isinstance(f, list) and len(f) >= 3]
    if not frames:
        frames = [(f.get("file"), f.get("func")) for f in failure.get("stack") or []]
    if not frames and failure.get("file"):
        frames = [(failure.get("file"), failure.get("func"))]
    if not frames:
        return None
    own = [f for f in frames if f[0] and not _LIBRARY.search(f[0])]
    file, func = (own or frames)[-1]
    return _short_file(file), func or "?"


def _first_line(evidence: list[dict], skip=("pilotlog.txt", "payload_error_report.json")) -> str | None:
    for e in evidence:
        if e.get("file") not in skip and e.get("text"):
            return e["text"]
    return None


def _pilot_evidence(evidence: list[dict]) -> str | None:
    """The first line that shows the failure, not the line listing the pilot's error codes."""
    for e in evidence:
        text = e.get("text") or ""
        if text and "pilotErrorCodes" not in text and "error has already been set" not in text:
            return text
    return None


def signature(f: dict) -> str | None:
    """The failure signature of one job's facts (see `facts.job_facts`); None when it did not fail."""
    if f.get("outcome") not in ("failed", "unknown"):
        return None
    cls = f.get("class")
    failure = f.get("failure") or {}
    evidence = f.get("evidence") or []
    perr = f.get("pilot_error") or {}
    pilot = f"pilot {perr.get('code')} {perr.get('name') or ''}".rstrip() if perr else None
    if cls == "site":  # the line that shows it, else what the verdict rests on (a JEM job: its final state)
        line = _pilot_evidence(evidence) or f.get("based_on")
        what = pilot or (f"exit {f.get('exit_code')}" + (f" {f['exit_acronym']}" if f.get("exit_acronym") else ""))
        return f"{what}: {normalize(strip_prefix(line))}" if line else what
    if failure.get("kind") == "exception" and failure.get("type"):
        where = own_frame(failure)
        at = f" at {where[0]} in {where[1]}" if where else ""
        return f"{failure['type']}{at}"
    if failure.get("kind") == "signal":
        where = own_frame(failure)
        return f"{failure.get('type')}" + (f" at {where[0]} in {where[1]}" if where else "")
    if failure.get("kind") == "command":
        return f"command failed: {normalize(failure.get('message') or '')} ({failure.get('type')})"
    acronym = f.get("exit_acronym")
    if acronym and acronym != "OK":
        line = _first_line(evidence) or f.get("exit_message") or ""
        return f"{acronym}: {normalize(strip_prefix(line))}" if line else acronym
    line = _pilot_evidence(evidence)
    what = pilot or f"exit code {f.get('exit_code')}"
    return f"{what}: {normalize(strip_prefix(line))}" if line else what


def headline(f: dict) -> str | None:
    """The one line a shifter reads first for a failed job: its exception, else the deciding log line."""
    if f.get("outcome") not in ("failed", "unknown"):
        return None
    failure = f.get("failure") or {}
    if failure.get("type") and f.get("class") != "site":
        where = own_frame(failure)
        at = f" (in {where[1]}, {where[0]})" if where else ""
        return f"{failure['type']}: {failure.get('message') or ''}{at}"[:300]
    line = _pilot_evidence(f.get("evidence") or [])
    return strip_prefix(line)[:300] if line else f.get("reason")
