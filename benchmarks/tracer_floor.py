"""The least a standard-library tracer can cost: `python tracer_floor.py MODE SCRIPT [ARGS...]`.

Runs SCRIPT (as `__main__`) with hooks on its own code only, the way the monitor's
tracer limits itself to user code, but hooks that record nothing:

- `calls`: a no-op callback on every call and return (what verbosity 2 must at least pay);
- `lines`: and on every line (verbosity 3);
- `locals`: and every line reads the frame's locals and copies them, the least a tracer
  must do to tell which locals changed (verbosity 4), before rendering or writing anything.

sys.monitoring on 3.12+, sys.settrace before. Standard library only: it runs in any
CPython the benchmark measures, like the tracer it is the floor of.
"""

import sys
import types


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


def main():
    mode, path = sys.argv[1], sys.argv[2]
    if mode not in ("calls", "lines", "locals"):
        raise SystemExit(f"tracer_floor: unknown mode {mode!r}")
    with open(path, encoding="utf-8") as f:
        code = compile(f.read(), path, "exec")
    sys.argv = sys.argv[2:]
    if hasattr(sys, "monitoring"):
        _with_monitoring(mode, code)
    else:
        _with_settrace(mode, path)
    exec(code, {"__name__": "__main__", "__file__": path})


if __name__ == "__main__":
    main()
