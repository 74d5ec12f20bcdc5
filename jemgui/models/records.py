"""Record kinds of the JEM format (spec section 2) and the check every record passes.

Kinds are stored as small integers in the index; the order below is the code.
"""

from __future__ import annotations

KINDS = (
    "process", "source", "command", "call", "line", "return",
    "exception", "metric", "state", "log", "control", "marker",
)
KIND_CODE = {k: i for i, k in enumerate(KINDS)}
#: code of a kind this reader does not know (kept, counted, never an error)
OTHER = len(KINDS)
KIND_NAMES = (*KINDS, "other")

PROCESS, SOURCE, COMMAND, CALL, LINE, RETURN, EXCEPTION, METRIC, STATE, LOG, CONTROL, MARKER = range(
    len(KINDS)
)
#: kinds that belong to a frame of a Python thread
FRAME_KINDS = frozenset((CALL, LINE, RETURN, EXCEPTION))

#: lifecycle states that end a job
FINAL_STATES = frozenset(("DONE", "FAILED", "KILLED"))

#: largest record line a reader accepts; longer lines are skipped and reported
MAX_LINE_BYTES = 16 * 1024 * 1024
#: deepest nesting of arrays and objects a record may have (the spec's own records go 4 deep)
MAX_DEPTH = 64
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: times are seconds since 1970 before this (the year 5138): any later one is a crafted value
MAX_TS = 1e11


def check(rec: object) -> str | None:
    """Why `rec` is not a usable record, or None when it is.

    Only the fields every reader relies on are checked here; `clean` checks
    the others. A record that passes may still lack optional fields, which
    readers treat as empty.
    """
    if not isinstance(rec, dict):
        return "not a JSON object"
    seq, ts, pid, kind = rec.get("seq"), rec.get("ts"), rec.get("pid"), rec.get("kind")
    if type(seq) is not int or not 0 <= seq <= INT64_MAX:
        return "seq is missing or not an integer in 0..2^63-1"
    if type(ts) not in (float, int) or not 0 <= ts < MAX_TS:
        return f"ts is missing, not a number or outside 0..{MAX_TS:g}"
    if type(pid) is not int or not INT64_MIN <= pid <= INT64_MAX:
        return "pid is missing or not a 64-bit integer"
    if type(kind) is not str:
        return "kind is missing or not a string"
    if depth(rec) > MAX_DEPTH:
        return f"nested deeper than {MAX_DEPTH} levels"
    return None


def depth(value: object) -> int:
    """How deep arrays and objects nest in `value` (0 for a scalar), without recursion."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        v, d = todo.pop()
        if isinstance(v, dict):
            v = v.values()
        elif not isinstance(v, list):
            continue
        if d > deepest:
            deepest = d
            if d > MAX_DEPTH:
                return d
        todo.extend((x, d + 1) for x in v if isinstance(x, (dict, list)))
    return deepest


def _int64(v) -> bool:
    return type(v) is int and INT64_MIN <= v <= INT64_MAX


def _str(v) -> bool:
    return isinstance(v, str)


def _pair(v) -> bool:
    return isinstance(v, list) and len(v) == 2 and isinstance(v[0], str) and isinstance(v[1], str)


def _vars(v) -> bool:
    """A vars map is an object; its malformed entries are left for `as_vars` to pass over."""
    return isinstance(v, dict)


def _frame(v) -> bool:
    return (isinstance(v, list) and len(v) == 3 and isinstance(v[0], str) and (v[1] is None or _int64(v[1]))
            and isinstance(v[2], str))


def _number(v) -> bool:
    return type(v) is float or _int64(v)


#: the spec's optional fields (section 2) and the values they may hold besides null
FIELDS = {
    **dict.fromkeys(("tid", "fid", "line", "depth", "ppid", "exit_code", "signal", "verbosity"), _int64),
    **dict.fromkeys(("file", "func", "text", "type", "message", "path", "sha256", "lang", "python", "cwd", "phase",
                     "state", "stream", "cmd", "sender", "error", "executable"), _str),
    **dict.fromkeys(("resume", "yield", "accepted"), lambda v: type(v) is bool),
    **dict.fromkeys(("args", "changed", "locals"), _vars),
    "argv": lambda v: isinstance(v, list) and all(isinstance(a, str) for a in v),
    "deleted": lambda v: isinstance(v, list) and all(isinstance(a, str) for a in v),
    "value": _pair,
    "traceback": lambda v: isinstance(v, list) and all(_frame(f) for f in v),
    "values": lambda v: isinstance(v, dict),
}


def clean(rec: dict) -> list[str]:
    """Drop the fields of a checked record that hold a value of the wrong type or range, and
    the metric values that are not 64-bit numbers; say which. Readers then meet only what the
    spec allows (or nothing)."""
    bad = [k for k, ok in FIELDS.items() if k in rec and rec[k] is not None and not ok(rec[k])]
    for k in bad:
        del rec[k]
    out = [f"field {k} of the wrong type or out of range, left out" for k in bad]
    values = rec.get("values")
    if isinstance(values, dict) and not all(_number(v) for v in values.values()):
        wrong = [k for k, v in values.items() if not _number(v)]
        rec["values"] = {k: v for k, v in values.items() if _number(v)}
        out.append(f"metric {', '.join(map(repr, wrong[:5]))} not a 64-bit number, left out")
    return out


def as_int(value: object, default: int = 0) -> int:
    """An int field, or `default` when it is missing or of another type."""
    return value if type(value) is int else default


def as_str(value: object, default: str = "") -> str:
    """A string field, or `default` when it is missing or of another type."""
    return value if isinstance(value, str) else default


def as_vars(value: object) -> dict[str, list]:
    """A vars map, keeping only well-formed `name: [type, repr]` entries."""
    if not isinstance(value, dict):
        return {}
    return {
        k: v for k, v in value.items()
        if isinstance(k, str) and isinstance(v, list) and len(v) == 2
        and isinstance(v[0], str) and isinstance(v[1], str)
    }


def location(rec: dict) -> str:
    """`file:line` of a record, or "" when it has none."""
    file = rec.get("file")
    if not isinstance(file, str) or not file:
        return ""
    line = rec.get("line")
    return f"{file}:{line}" if type(line) is int else file


def describe(rec: dict) -> str:
    """The event table's last column: called file, exception, command or text.

    One line, short, for tables and exports; the full record is elsewhere.
    """
    kind = rec.get("kind")
    if kind == "call":
        return ("resume " if rec.get("resume") else "") + location(rec)
    if kind == "return":
        value = rec.get("value")
        shown = value[1] if isinstance(value, list) and len(value) == 2 else ""
        return ("yield " if rec.get("yield") else "return ") + str(shown)
    if kind == "exception":
        return f"{as_str(rec.get('type'))}: {as_str(rec.get('message'))}"
    if kind == "command":
        return as_str(rec.get("text"))
    if kind == "process":
        if rec.get("phase") == "exit":
            sig = rec.get("signal")
            return f"exit signal {sig}" if sig is not None else f"exit {rec.get('exit_code')}"
        argv = rec.get("argv")
        return "start " + (" ".join(map(str, argv)) if isinstance(argv, list) else "")
    if kind == "metric":
        values = rec.get("values")
        if isinstance(values, dict):
            return " ".join(f"{k}={v}" for k, v in values.items())
        return ""
    if kind == "state":
        return as_str(rec.get("state"))
    if kind in ("log", "marker"):
        return as_str(rec.get("text")).rstrip("\n")
    if kind == "control":
        verdict = "accepted" if rec.get("accepted") else f"refused ({rec.get('error')})"
        return f"{as_str(rec.get('cmd'))} from {as_str(rec.get('sender'))}: {verdict}"
    if kind == "source":
        return as_str(rec.get("path"))
    if kind == "line":
        return _changes(rec)
    return ""


def _changes(rec: dict, limit: int = 120) -> str:
    """`name = value, ...` of the locals a line record changed or deleted, cut to `limit`."""
    parts = [f"{name} = {pair[1]}" for name, pair in as_vars(rec.get("changed")).items()]
    deleted = rec.get("deleted")
    if isinstance(deleted, list):
        parts += [f"del {name}" for name in deleted if isinstance(name, str)]
    text = ", ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"
