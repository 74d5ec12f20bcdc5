"""Where a failed job failed: the exception that escaped the job's code, the shell command
bash stopped at, or the crash that ended a process.

An exception record says only that an exception passed a frame; whether the frame
handled it shows in what the frame did next. The records after the raise are read
as evidence: the frame ran another line, called a function, returned a value or
left from another line: handled. The frame left from the raising line and its
caller got the exception: it propagated. When an exception leaves the outermost
traced frame, or a frame whose traced caller never sees it (a test runner or a
framework between them caught it), it escaped the job's code: a failure. At
verbosity 2 (no lines, no return values) that last step can lack evidence; the
failure is then marked uncertain, unless the process printed the exception as
Python or a test runner prints an escaped one.
"""

from __future__ import annotations

import shlex
import signal
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from jemgui.models.records import CALL, COMMAND, EXCEPTION, FRAME_KINDS, LINE, LOG, RETURN

if TYPE_CHECKING:
    from jemgui.models.index import Index

#: signals a process gets from its own code (a crash), not from another process
CRASH_SIGNALS = frozenset(int(s) for s in (signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL,
                                           signal.SIGABRT, signal.SIGSYS, signal.SIGTRAP))
#: records of one thread read after a raise before the verdict is "uncertain"
WALK_LIMIT = 20_000
#: raises looked at, latest first, before the search stops
RAISES_LIMIT = 5_000
#: output records of the process read for the printed exception
LOG_LIMIT = 2_000

HANDLED, ESCAPED, UNCERTAIN = "handled", "escaped", "uncertain"


def signal_name(sig: int | None) -> str:
    try:
        return signal.Signals(sig).name
    except (ValueError, TypeError):
        return f"signal {sig}"


@dataclass
class Failure:
    """The failure of a job: `kind` is "exception", "command" or "signal"."""

    kind: str
    position: int
    certain: bool
    why: str
    pid: int | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class _Raise:
    pos: int
    pid: int
    verdict: str
    why: str
    system_exit: bool


def find(ix: Index) -> Failure | None:
    """The failure of `ix`'s job (None when it did not fail, or left no trace of where)."""
    cached = ix.__dict__.get("_failure")
    if cached is not None and cached[0] == (ix.count, ix.complete):
        return cached[1]
    result = _find(ix)
    ix.__dict__["_failure"] = ((ix.count, ix.complete), result)
    return result


def _find(ix: Index) -> Failure | None:
    procs = {p["pid"]: p for p in ix.processes()}
    shell = _shell_failure(ix, procs)

    def counts(pid: int, certain: bool) -> bool:
        """Exceptions of a process that exited 0 are not the job's failure, nor those of one that
        ended before the shell's failing command with another status than the shell's (the
        script went on: `|| true`); one of a process killed by a signal must be certain."""
        p = procs.get(pid)
        if p is None:
            return True
        if p.get("exit_code") == 0 and p.get("signal") is None:
            return False
        if shell is not None and p.get("exit_pos") is not None and p["exit_pos"] < shell.position \
                and p.get("exit_code") != shell.extra["exit_code"]:
            return False
        return certain or p.get("signal") is None

    best: _Raise | None = None
    rank = None
    for r in _escapes(ix):
        if not counts(r.pid, r.verdict == ESCAPED):
            continue
        key = (r.verdict == ESCAPED, not r.system_exit)
        if rank is None or key > rank:
            best, rank = r, key
            if key == (True, True):
                break
    if best is not None and best.verdict == ESCAPED:
        return Failure("exception", best.pos, True, best.why, best.pid)
    crash = _crash(ix, procs)
    if crash is not None:
        return crash
    if best is not None and not best.system_exit:
        return Failure("exception", best.pos, False, best.why, best.pid)
    if shell is not None:
        return shell
    if best is not None:
        return Failure("exception", best.pos, False, best.why, best.pid)
    return None


# -- exceptions --------------------------------------------------------------------------------

def _escapes(ix: Index):
    """Raises whose exception escaped (or may have escaped) the job's code, latest first."""
    rows = ix.db.execute("SELECT pos FROM raises ORDER BY pos DESC LIMIT ?", (RAISES_LIMIT,)).fetchall()
    for (pos,) in rows:
        rec = ix.record(pos)
        if _clean_exit(rec):
            continue
        verdict, why = fate(ix, pos)
        if verdict != HANDLED:
            yield _Raise(pos, rec.get("pid"), verdict, why, _short(rec.get("type")) == "SystemExit")


def _short(etype) -> str:
    return str(etype or "").rsplit(".", 1)[-1]


def _clean_exit(rec: dict) -> bool:
    """`sys.exit()`, `sys.exit(0)`: a process that ended well, not the job's failure."""
    return _short(rec.get("type")) == "SystemExit" and rec.get("message", "") in ("", "0", "None", "False")


def fate(ix: Index, pos: int) -> tuple[str, str]:
    """(HANDLED, ESCAPED or UNCERTAIN, why) for the exception first recorded at `pos`."""
    row = ix.db.execute("SELECT thread, seg, depth, line FROM records WHERE pos=?", (pos,)).fetchone()
    if row is None or row[0] is None:
        return UNCERTAIN, "the raise is not in a thread's records"
    thread, seg, depth, line = row
    rec = ix.record(pos)
    same = (rec.get("type"), rec.get("message"))
    values = (ix.job.get("verbosity") or 0) >= 4
    frame = _Frame(seg, depth or 0, line, rec.get("func"))
    rows = ix.db.execute("SELECT pos, kind, seg, depth, line FROM records WHERE thread=? AND pos>? "
                         "ORDER BY pos LIMIT ?", (thread, pos, WALK_LIMIT))  # read lazily: most walks are short
    walked = 0
    for p, kind, s, d, ln in rows:
        walked += 1
        d = d or 0  # a record without a depth (damaged input) counts as outermost
        if kind not in FRAME_KINDS:
            continue
        if not frame.returned and s == frame.seg:
            if kind == LINE:
                frame.activity = f"{frame.func} ran line {ln} after it"
            elif kind == EXCEPTION:
                r = ix.record(p)
                if r.get("traceback") is not None or (r.get("type"), r.get("message")) != same:
                    return HANDLED, f"{frame.func} raised {_short(r.get('type'))} while handling it"
                frame.activity, frame.line = None, ln  # re-raised
            elif kind == RETURN:
                r = ix.record(p)
                if r.get("yield"):
                    return HANDLED, f"{frame.func} went on to yield"
                frame.returned, frame.return_line = True, ln
                if "value" in r:  # a normal return, unless its caller gets the exception next
                    frame.activity = f"{frame.func} returned a value"
            continue
        if not frame.returned and d > frame.depth:
            if kind == CALL and frame.activity is None:
                frame.activity = f"{frame.func} called {ix.string(ix.row(p)[10]) or 'a function'} after it"
            continue
        # the frame is gone (returned, or ended unseen): did its caller get the exception?
        if kind == EXCEPTION and d == frame.depth - 1:
            r = ix.record(p)
            if r.get("traceback") is None and (r.get("type"), r.get("message")) == same:
                frame = _Frame(s, d, ln, r.get("func"))  # it propagated: follow it into the caller
                continue
        return _decide(ix, frame, values, pos, rec, caller_went_on=True)
    if walked >= WALK_LIMIT:
        return UNCERTAIN, f"too many records after the raise to follow {frame.func}"
    if not frame.returned:
        if frame.activity:
            return HANDLED, frame.activity
        return _printed(ix, pos, rec, f"the process ended inside {frame.func} right after the raise")
    return _decide(ix, frame, values, pos, rec, caller_went_on=False)


@dataclass
class _Frame:
    """The frame the exception is in, and what it did after it."""

    seg: int
    depth: int
    line: int | None
    func: str | None
    returned: bool = False
    return_line: int | None = None
    activity: str | None = None


def _decide(ix: Index, frame: _Frame, values: bool, pos: int, rec: dict, caller_went_on: bool) -> tuple[str, str]:
    """The verdict once the exception reached its last traced frame."""
    if frame.activity:
        return HANDLED, frame.activity
    if frame.returned and frame.return_line is not None and frame.line is not None \
            and frame.return_line != frame.line:
        return HANDLED, f"{frame.func} left from line {frame.return_line}, not from line {frame.line}"
    where = "caught outside the job's code" if caller_went_on else "left the job's code"
    if frame.returned and values:
        return ESCAPED, f"{frame.func} returned no value: the exception {where}"
    lines_on = ix.db.execute("SELECT 1 FROM records WHERE seg=? AND kind=? LIMIT 1", (frame.seg, LINE)).fetchone()
    if frame.returned and lines_on:
        return ESCAPED, f"{frame.func} ran no line after it: the exception {where}"
    return _printed(ix, pos, rec, f"{frame.func} left from the raising line; without line or value records "
                                  "(verbosity 2) a return cannot be told from an unwinding there")


def _printed(ix: Index, pos: int, rec: dict, doubt: str) -> tuple[str, str]:
    """ESCAPED when the job printed the exception after the raise (as Python's last words
    or a test runner's report do), else UNCERTAIN with `doubt`. The monitor records the
    job's output as one stream, so any process's output counts."""
    message = str(rec.get("message") or "").removesuffix("…")
    if _short(rec.get("type")) == "SystemExit":  # Python prints no traceback: the exit status tells
        status = ix.db.execute("SELECT exit_code FROM processes WHERE pid=?", (rec.get("pid"),)).fetchone()
        wanted = int(message) if message.lstrip("-").isdigit() else 1
        if status is not None and status[0] == wanted:
            return ESCAPED, f"the process exited with the status SystemExit({message}) gives"
        return UNCERTAIN, doubt
    needle = f"{_short(rec.get('type'))}: {message}" if message else f"{_short(rec.get('type'))}\n"
    for (p,) in ix.db.execute("SELECT pos FROM records WHERE kind=? AND pos>? ORDER BY pos LIMIT ?",
                              (LOG, pos, LOG_LIMIT)):
        if needle in str(ix.record(p).get("text") or ""):
            return ESCAPED, "the process printed it as an escaped exception"
    return UNCERTAIN, doubt


# -- shells and signals ------------------------------------------------------------------------

def _shell_failure(ix: Index, procs: dict[int, dict]) -> Failure | None:
    """The command a failing shell stopped at: its last traced command (under `set -e` the one
    that failed; without it, the one whose status became the script's), in the innermost
    failing shell that command started."""
    failed = [p for p in procs.values() if p.get("lang") == "shell" and p.get("exit_code")]  # not a kill
    roots = [p for p in failed if p.get("ppid") not in procs or procs[p["ppid"]] is p]
    if not roots:
        return None
    shell = max(roots, key=lambda p: p.get("exit_pos") or -1)
    found = None
    for _ in range(64):
        row = ix.db.execute("SELECT max(pos) FROM records WHERE pid=? AND kind=?", (shell["pid"], COMMAND)).fetchone()
        if row[0] is None:
            break
        found = (row[0], shell)
        inner = [p for p in failed if p.get("ppid") == shell["pid"] and (p.get("start_pos") or -1) > row[0]]
        if not inner:
            break
        shell = max(inner, key=lambda p: p.get("exit_pos") or -1)
    if found is None:
        return None
    pos, shell = found
    pos = _before_exit_trap(ix, shell["pid"], pos)
    rec = ix.record(pos)
    code = shell.get("exit_code")
    return Failure("command", pos, True, f"the last command bash ran before it ended with exit code {code}",
                   shell["pid"], {"exit_code": code, "text": rec.get("text")})


def _before_exit_trap(ix: Index, pid: int, last: int) -> int:
    """The last command before an EXIT (or ERR) trap's handler ran, when the script set one: the
    handler's commands come after the one that failed. Found by the handler's first command as
    `trap` was given it (a function name, a literal command)."""
    rows = ix.db.execute("SELECT pos FROM records WHERE pid=? AND kind=? ORDER BY pos DESC LIMIT 2000",
                         (pid, COMMAND)).fetchall()
    texts = [(p, str(ix.record(p).get("text") or "")) for (p,) in rows]
    first = None
    for _, text in texts:
        try:
            words = shlex.split(text)
        except ValueError:
            continue
        if len(words) >= 3 and words[0] == "trap" and {"EXIT", "0", "ERR", "SIGEXIT"} & set(words[2:]):
            first = words[1].split(";")[0].strip()
            break
    if not first:
        return last
    for i, (_, text) in enumerate(texts[:-1]):
        if text.strip() == first and not text.startswith("trap "):
            return texts[i + 1][0]
    return last


def _crash(ix: Index, procs: dict[int, dict]) -> Failure | None:
    """A process of the job that crashed (SIGSEGV, SIGABRT, ...): its last frame record."""
    crashed = [p for p in procs.values() if p.get("signal") in CRASH_SIGNALS]
    if not crashed:
        return None
    p = max(crashed, key=lambda p: p.get("exit_pos") or -1)
    stop = p.get("exit_pos") if p.get("exit_pos") is not None else ix.count
    kinds = tuple(FRAME_KINDS | {COMMAND})
    row = ix.db.execute(f"SELECT max(pos) FROM records WHERE pid=? AND pos<? AND kind IN ({','.join('?' * len(kinds))})",
                        (p["pid"], stop, *kinds)).fetchone()
    pos = row[0] if row[0] is not None else (p.get("exit_pos") if p.get("exit_pos") is not None else p.get("start_pos"))
    if pos is None:
        return None
    name = signal_name(p["signal"])
    return Failure("signal", pos, True, f"process {p['pid']} crashed with {name}", p["pid"],
                   {"signal": p["signal"], "signal_name": name})
