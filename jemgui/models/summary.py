"""What a shifter wants first: what the job was, how it ended, where and why it failed.

The hint tells a site problem (out of memory, disk full, lost worker, killed
from outside) from a task problem (import error, bad input, an exception in user
code, a failed command, a crash of the job's own process), from the exit, the
failure (see `failure.py`) and the last metrics; it is a first guess and says
what it is based on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jemgui.models import failure as failures
from jemgui.models.at_exception import failing_stack
from jemgui.models.gridlogs import summary as grid_summary
from jemgui.models.records import FINAL_STATES

if TYPE_CHECKING:
    from jemgui.models.index import Index

#: exception types that point at the worker node rather than the task
OOM_TYPES = ("MemoryError",)
IMPORT_TYPES = ("ImportError", "ModuleNotFoundError")
INPUT_TYPES = ("FileNotFoundError", "ValueError", "KeyError", "json.decoder.JSONDecodeError", "JSONDecodeError",
               "UnicodeDecodeError", "EOFError", "IsADirectoryError", "PermissionError", "zlib.error")
DISK_FULL_WORDS = ("No space left on device", "Disk quota exceeded", "errno 28", "[Errno 28]", "[Errno 122]")


def _final_state(ix: Index) -> str | None:
    states = ix.states()
    return states[-1][3] if states else None


def _job_failed(ix: Index) -> bool:
    job = ix.job
    code = job.get("exit_code")
    state = _final_state(ix)
    if isinstance(code, int) and code != 0:
        return True
    if state in ("FAILED", "KILLED"):
        return True
    if code == 0 or state == "DONE":
        return False
    return True  # no verdict recorded: the job did not end cleanly


def failure_pos(ix: Index) -> int | None:
    """The position of the job's failure (see `failure.find`), or None when it did not fail."""
    if not _job_failed(ix):
        return None
    found = failures.find(ix)
    return found.position if found else None


def _hint(ix: Index, failure: dict | None, job: dict, processes: list[dict], peak: dict) -> dict | None:
    state = _final_state(ix)
    signals = [p.get("signal") for p in processes if p.get("signal")]
    kind = (failure or {}).get("kind")
    etype = (failure or {}).get("type") or ""
    message = (failure or {}).get("message") or ""
    short = etype.rsplit(".", 1)[-1]
    doubt = "" if (failure or {}).get("certain", True) else " (uncertain: it may have been handled)"
    if short in OOM_TYPES or (9 in signals and peak.get("mem_avail_min", 1) < 64 * 1024**2):
        return {"class": "site", "reason": "out of memory", "based_on": f"{etype or 'SIGKILL'} with memory exhausted"}
    if any(w.lower() in message.lower() for w in DISK_FULL_WORDS):
        return {"class": "site", "reason": "disk full", "based_on": f"{etype or 'command'}: {message}"}
    if kind == "signal":
        return {"class": "task", "reason": "crashed",
                "based_on": f"{failure['signal_name']} in the job's own process {failure['pid']}"
                            + (f", at {failure['file']}:{failure['line']}" if failure["file"] else "")}
    outside = [s for s in signals if s not in failures.CRASH_SIGNALS]
    if state == "KILLED" and not signals or outside:
        sig = outside[-1] if outside else None
        return {"class": "site", "reason": "killed",
                "based_on": f"state {state}" + (f", {failures.signal_name(sig)} from outside the job" if sig else "")}
    if ix.meta.get("aborted") and not failure:
        return {"class": "site", "reason": "lost worker",
                "based_on": "the record stops without an end: the worker node or the monitor went away"}
    if kind == "command":
        return {"class": "task", "reason": "command failed",
                "based_on": f"`{message}` at {failure['file']}:{failure['line']}, {failure['type']}"}
    if short in IMPORT_TYPES:
        return {"class": "task", "reason": "import error", "based_on": f"{etype}: {message}{doubt}"}
    if short in INPUT_TYPES or etype in INPUT_TYPES:
        return {"class": "task", "reason": "bad input", "based_on": f"{etype}: {message}{doubt}"}
    if failure:
        return {"class": "task", "reason": "exception in user code", "based_on": f"{etype}: {message}{doubt}"}
    code = job.get("exit_code")
    if not _job_failed(ix):
        return None  # a job that succeeded has no problem to class
    if isinstance(code, int):
        return {"class": "task", "reason": "non-zero exit", "based_on": f"exit code {code}"}
    return {"class": "unknown", "reason": "no exit code recorded",
            "based_on": f"state {state or 'not recorded'}, and no exit code: the job's outcome is not known"}


def _python_lines(stack: list[dict], traceback: list | None) -> list[dict]:
    """Each frame of the stack at the line Python's traceback names for it: without line records
    (verbosity 2) an outer frame knows only where it began. Frames are matched in order by file
    and function; a frame the traceback does not name keeps its line."""
    if not isinstance(traceback, list):
        return stack
    start = 0
    for frame in stack:
        func = str(frame.get("func") or "").rsplit(".", 1)[-1]
        for i in range(start, len(traceback)):
            entry = traceback[i]
            if isinstance(entry, list) and len(entry) == 3 and entry[0] == frame.get("file") and entry[2] == func:
                frame["line"], start = entry[1], i + 1
                break
    return stack


def _failure_json(ix: Index, found: failures.Failure) -> dict:
    """The failure as `summary --json` gives it: where (as PID:SEQ too), what, and the stack there."""
    rec = ix.record(found.position)
    state = ix.state_at(found.position)
    thread = state.thread(state.current_thread)
    out = {
        "kind": found.kind, "position": found.position, "record": f"{rec.get('pid')}:{rec.get('seq')}",
        "pid": rec.get("pid"), "seq": rec.get("seq"), "tid": rec.get("tid"),
        "type": rec.get("type"), "message": rec.get("message"),
        "file": rec.get("file"), "line": rec.get("line"), "func": rec.get("func"),
        "traceback": rec.get("traceback"),
        "stack": _python_lines(failing_stack(ix, thread, found.position), rec.get("traceback")),
        "certain": found.certain, "why": found.why,
    }
    if found.kind == "command":
        code = found.extra["exit_code"]
        out.update(type=f"exit code {code}", message=found.extra["text"], exit_code=code)
    elif found.kind == "signal":
        top = out["stack"][-1] if out["stack"] else {}
        out.update(type=found.extra["signal_name"], message=f"process {found.pid} crashed",
                   file=top.get("file", rec.get("file")), line=top.get("line", rec.get("line")),
                   func=top.get("func", rec.get("func")), **found.extra)
    return out


def summarize(ix: Index) -> dict:
    """Job facts, outcome, failure point, peaks, counts, processes, holes, import problems, hint."""
    job = ix.job
    processes = ix.processes()
    streams = ix.streams()
    first = ix.time_at(0) if ix.count else None
    last = ix.time_at(ix.count - 1) if ix.count else None
    started = job.get("started") if isinstance(job.get("started"), (int, float)) else first
    ended = job.get("ended") if isinstance(job.get("ended"), (int, float)) else last
    peak = dict(ix.meta.get("peak") or {})
    if "mem_avail" in ix.metric_names():
        vals = ix.metric_series("mem_avail")[1]
        if len(vals):
            peak["mem_avail_min"] = float(vals.min())
    found = failures.find(ix) if _job_failed(ix) else None
    failure = _failure_json(ix, found) if found else None
    report = ix.report
    final_state = _final_state(ix)
    return grid_summary.amend(ix, {  # a pilot log tarball's job: its exit, pilot error and verdict
        "job": job,
        "label": ix.label,
        "complete": ix.complete,
        "records": ix.count,
        "started": started,
        "ended": ended,
        "duration": (ended - started) if started is not None and ended is not None else None,
        "exit_code": job.get("exit_code"),
        "final_state": final_state,
        "ended_abruptly": bool(ix.meta.get("aborted")) or (final_state not in FINAL_STATES and ix.count > 0
                                                            and job.get("ended") is None),
        "failure": failure,
        "peak": {"rss": peak.get("rss"), "vms": peak.get("vms"), "load1": peak.get("load1"),
                 "cpu": peak.get("cpu"), "threads": peak.get("threads"), "fds": peak.get("fds")},
        "kinds": ix.meta.get("kinds") or {},
        "processes": [{k: p.get(k) for k in ("pid", "ppid", "argv", "lang", "python", "exit_code", "signal")}
                      for p in processes],
        "streams": [{"pid": s["pid"], "name": s["name"], "records": s["records"], "holes": s["holes"],
                     "cut_line": s["cut_line"]} for s in streams],
        "holes": sum(len(s["holes"]) for s in streams),
        "problems": report.to_json(),
        "hint": _hint(ix, failure, job, processes, peak),
    })
