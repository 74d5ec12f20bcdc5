"""The job's failure from the last bytes of each stream, before indexing reaches it.

A big archive takes minutes to index, but a shifter's first question is how
the job ended. The exception that ended a Python process is the last one
that passed its outermost frame (depth 0), near the end of its stream; the
manifest says whether the job failed at all. This reads the last `TAIL`
bytes of each plain stream file, nothing else, so the window can show the
failure badge at once; the index's own summary replaces it once complete.
"""

from __future__ import annotations

import os

import orjson

from jemgui.models.inputs import JobInput

#: bytes read from the end of each stream
TAIL = 256 * 1024


def early_failure(inp: JobInput) -> dict | None:
    """The likely failure as the summary's `failure` dict (`pid`, `seq` name its record), or None."""
    code = inp.job.get("exit_code")
    if code == 0:
        return None
    best = None
    for stream in inp.streams:
        path = getattr(stream, "path", None)
        if path is None or getattr(stream, "only_pid", None) is not None or path.suffix == ".gz":
            continue
        for rec in _tail_records(path):
            if rec.get("kind") != "exception" or rec.get("depth") != 0:
                continue
            if best is None or rec.get("ts", 0) >= best.get("ts", 0):
                best = rec
    if best is None:
        return None
    return {"kind": "exception", "type": str(best.get("type") or "exception"), "message": str(best.get("message", "")),
            "file": str(best.get("file") or ""), "line": best.get("line"), "func": str(best.get("func") or ""),
            "pid": best.get("pid"), "seq": best.get("seq"), "record": f"{best.get('pid')}:{best.get('seq')}",
            "certain": False, "why": "read from the end of the streams while indexing runs", "early": True}


def _tail_records(path) -> list[dict]:
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - TAIL))
            data = f.read(TAIL)
    except OSError:
        return []
    lines = data.split(b"\n")
    if size > TAIL:
        lines = lines[1:]  # the first is a part of a line
    out = []
    for line in lines:
        if b'"exception"' not in line:
            continue
        try:
            rec = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out
