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


def check(rec: object) -> str | None:
    """Why `rec` is not a usable record, or None when it is.

    Only the fields every reader relies on are checked; a record that passes
    may still lack optional fields, which readers treat as empty.
    """
    if not isinstance(rec, dict):
        return "not a JSON object"
    seq, ts, pid, kind = rec.get("seq"), rec.get("ts"), rec.get("pid"), rec.get("kind")
    if type(seq) is not int or seq < 0:
        return "seq is missing or not a non-negative integer"
    if type(ts) not in (float, int):
        return "ts is missing or not a number"
    if type(pid) is not int:
        return "pid is missing or not an integer"
    if type(kind) is not str:
        return "kind is missing or not a string"
    return None


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
