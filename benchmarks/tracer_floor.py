"""The least a standard-library tracer can cost: `python tracer_floor.py MODE SCRIPT [ARGS...]`.

Runs SCRIPT (as `__main__`) with hooks on its own code only, the way the monitor's
tracer limits itself to user code, but hooks that record nothing:

- `calls`: a no-op callback on every call and return (what verbosity 2 must at least pay);
- `lines`: and on every line (verbosity 3);
- `locals`: and every line reads the frame's locals and copies them, the least a tracer
  must do to tell which locals changed (verbosity 4), before rendering or writing anything.

sys.monitoring on 3.12+, sys.settrace before. Standard library only: it runs in any
CPython the benchmark measures, like the tracer it is the floor of.

The profile of verbosity 2's per-call path (issue 13): `parts:PART` runs hooks that do the
tracer's own work on each call and return, cumulatively, up to PART, so the difference
between two neighbouring parts is what that part costs (same code, same run):

- `state`: this thread's state and its stack of frames (push at the call, pop at the return);
- `ids`: the code's id, its lookup among the traced codes, and a new frame id;
- `time`: the record's timestamp;
- `record`: the 8 items of the record queued for the writer (`_jem_raw.RawWriter.frame`),
  a thread dropping the queue every 50 ms;
- `write`: that thread marshalling the queue and appending it to a file instead (the
  tracer's own `_jem_raw.RawWriter.flush`).

What verbosity 2 costs beyond `write` is the rest of its hooks: the checks that keep the job's
stack depth, generators, verbosity changes and faults right.
"""

import os
import sys
import tempfile
import threading
import time
import types
from itertools import count

PARTS = ("state", "ids", "time", "record", "write")


def _codes(code):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


def _noop(*_):
    return None


def _copy_locals(*_):
    return dict(sys._getframe(1).f_locals)


def _with_monitoring(mode, code):
    mon = sys.monitoring
    ev = mon.events
    tool = mon.PROFILER_ID
    mon.use_tool_id(tool, "floor")
    events = ev.PY_START | ev.PY_RETURN
    mon.register_callback(tool, ev.PY_START, _noop)
    mon.register_callback(tool, ev.PY_RETURN, _noop)
    if mode != "calls":
        events |= ev.LINE
        mon.register_callback(tool, ev.LINE, _copy_locals if mode == "locals" else _noop)
    for each in _codes(code):
        mon.set_local_events(tool, each, events)


def _with_settrace(mode, filename):
    def local(frame, event, arg):
        if mode == "locals" and event == "line":
            dict(frame.f_locals)
        return local

    def start(frame, event, arg):
        if frame.f_code.co_filename != filename:
            return None
        frame.f_trace_lines = mode != "calls"
        return local

    sys.settrace(start)


# The hooks of `parts:PART`, as source: a line tagged `#@part` is kept from that part on.
_MONITORING_PARTS = """
def start(code, offset):
    key = id(code)  #@ids
    if key not in traced: return  #@ids
    tid, stack, vars_of, _ = tls.st  #@state
    fid = next(fids)  #@ids
    fid = 0  #@state-only
    now = time_()  #@time-only
    frame((key, 0, time_(), tid, fid, None, len(stack), None))  #@record
    stack.append(fid)  #@state

def end(code, offset, value):
    tid, stack, vars_of, _ = tls.st  #@state
    fid = stack.pop()  #@state
    key = id(code)  #@ids
    now = time_()  #@time-only
    frame((key, 2, time_(), tid, fid, -1 - offset, len(stack), None))  #@record
"""

_SETTRACE_PARTS = """
def start(frame, event, arg):
    code = frame.f_code
    if code.co_filename != filename: return None
    info = fid = None  #@state-only
    info = traced.get(id(code))  #@ids
    fid = next(fids)  #@ids
    now = time_()  #@time-only
    put((info[4], 0, time_(), tid, fid, None, len(stack), None))  #@record
    append((frame, fid, info))  #@state
    frame.f_trace_lines = False
    return local

def local(frame, event, arg):
    top = stack[-1]  #@state
    if top[0] is not frame: raise RuntimeError("stack out of step")  #@state
    if event == "return":
        stack.pop()  #@state
        now = time_()  #@time-only
        put((top[2][4], 2, time_(), tid, top[1], frame.f_lineno, len(stack), None))  #@record
    return local
"""


def _parts_source(template, part):
    """The hooks' source with the lines of `part` and the parts before it."""
    upto = PARTS.index(part)
    out = []
    for line in template.splitlines():
        text, _, tag = line.partition("  #@")
        if tag.endswith("-only"):
            keep = tag[:-5] == part
        else:
            keep = not tag or PARTS.index(tag) <= upto
        if keep:
            out.append(text)
    return "\n".join(out)


def _with_parts(part, code, filename):
    """Hooks doing the tracer's per-call work up to `part` (see the module's docstring)."""
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(os.path.dirname(here), "jemgui", "monitor", "inject"))
    import _jem_raw

    fd, path = tempfile.mkstemp(suffix=".bin")  # a file, as the tracer's feed is
    os.close(fd)
    writer = _jem_raw.RawWriter(path)
    os.unlink(path)
    if part in ("record", "write"):  # the queue is taken every 50 ms, and written out or dropped
        def flush_every():
            queue = writer.queue
            while True:
                time.sleep(_jem_raw.FLUSH_EVERY)
                if part == "write":
                    writer.flush()
                else:
                    del queue[:len(queue)]

        threading.Thread(target=flush_every, daemon=True).start()
    tls = threading.local()
    tls.st = (threading.get_native_id(), [], {}, [None])
    codes = list(_codes(code))
    space = {"tls": tls, "traced": {id(c): (c, False, False, None, id(c)) for c in codes},
             "fids": count(1), "time_": time.time, "frame": writer.frame, "put": writer.frame,
             "filename": filename, "tid": tls.st[0], "stack": tls.st[1],
             "append": tls.st[1].append}
    if hasattr(sys, "monitoring"):
        exec(_parts_source(_MONITORING_PARTS, part), space)
        mon = sys.monitoring
        ev = mon.events
        mon.use_tool_id(mon.PROFILER_ID, "floor")
        mon.register_callback(mon.PROFILER_ID, ev.PY_START, space["start"])
        mon.register_callback(mon.PROFILER_ID, ev.PY_RETURN, space["end"])
        for each in codes:
            mon.set_local_events(mon.PROFILER_ID, each, ev.PY_START | ev.PY_RETURN)
    else:
        exec(_parts_source(_SETTRACE_PARTS, part), space)
        sys.settrace(space["start"])


def main():
    mode, path = sys.argv[1], sys.argv[2]
    part = mode.partition(":")[2]
    if mode not in ("calls", "lines", "locals") and part not in PARTS:
        raise SystemExit(f"tracer_floor: unknown mode {mode!r}")
    with open(path, encoding="utf-8") as f:
        code = compile(f.read(), path, "exec")
    sys.argv = sys.argv[2:]
    if part:
        _with_parts(part, code, path)
    elif hasattr(sys, "monitoring"):
        _with_monitoring(mode, code)
    else:
        _with_settrace(mode, path)
    exec(code, {"__name__": "__main__", "__file__": path})


if __name__ == "__main__":
    main()
