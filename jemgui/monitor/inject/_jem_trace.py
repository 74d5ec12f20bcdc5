"""JEM's tracer: records the Python side of a monitored job from inside each of its processes.

`sitecustomize` (in this folder, put on the job's PYTHONPATH by the monitor) calls
`start()` in every Python process the job starts. Standard library only, CPython
3.9 to 3.13: `sys.monitoring` where it exists (3.12+), `sys.settrace` before.

What it records goes to the monitor as tuples (see `_jem_raw`), which the monitor
writes to `events/<pid>.jsonl`; what it obeys comes from the monitor's run folder
(`$JEM_RUN_DIR`): `config.json` (fixed for the job) and `control.json` (verbosity
and snapshot requests, polled every 0.1 s by a small thread that also flushes the
queue). A fault inside the tracer becomes a `marker` record and tracing stops for
this process; the job runs on.

The hooks run for every event of the job's user code, so they are written for speed:
a frame's state is a list (see `FID` ...), records are tuples.
"""

# ruff: noqa: UP031  (%-formatting: the fastest way to build records in the job's hot path)

import _thread
import atexit
import hashlib
import json
import os
import sys
import threading
import time
from itertools import count
from types import BuiltinFunctionType, FunctionType, ModuleType

try:  # imported by the monitor (and its tests) as part of the jemgui package
    from . import _jem_raw, _jem_values
except ImportError:  # imported by sitecustomize inside the job
    import _jem_raw
    import _jem_values

CONFIG_FILE = "config.json"
CONTROL_FILE = "control.json"
POLL = 0.1
MESSAGE_LIMIT = 2000
SOURCE_LIMIT = 4 << 20
TOOL_IDS = (4, 3)  # sys.monitoring ids nobody in the standard library claims

CALL, LINE, RETURN, EXCEPTION = _jem_raw.CALL, _jem_raw.LINE, _jem_raw.RETURN, _jem_raw.EXCEPTION
RESUMED = {"resume": True}
ADOPTED = {"adopted": True}
CO_NEWLOCALS = 0x2
CO_SUSPENDS = 0x20 | 0x80 | 0x200  # generator, coroutine, async generator
_HIDDEN = (type, ModuleType, FunctionType, BuiltinFunctionType)
_SCALARS = {int: True, float: True, complex: True, str: True, bytes: True, bool: True,
            type(None): True, range: True}  # type -> are its values immutable (grows as types come)
_IMMUTABLE = {("re", "Match"), ("re", "Pattern"), ("decimal", "Decimal"), ("fractions", "Fraction"),
              ("datetime", "datetime"), ("datetime", "date"), ("datetime", "timedelta"),
              ("pathlib", "PosixPath"), ("pathlib", "PurePosixPath"), ("uuid", "UUID")}
_UNKEPT = object()
# A traced frame's state: [fid, depth, frame, info, locals state, saw an exception]
FID, DEPTH, FRAME, INFO, VARS, EXC = range(6)
# What is known of a code object: (code, cid or None when untraced, module level, suspends,
# first line, bytecode (settrace only))

_time = time.time
_get_ident = _thread.get_ident
_native_id = getattr(_thread, "get_native_id", _get_ident)
_getframe = sys._getframe
_dumps = json.JSONEncoder(separators=(",", ":"), default=repr).encode
_pair = _jem_values.named_pair
_HERE = os.path.dirname(os.path.abspath(__file__))


class _Thread:
    """Traced frames of one thread, outermost first, for one tracing generation."""

    __slots__ = ("tid", "stack", "gen", "exc_id")

    def __init__(self, gen):
        self.tid = _native_id()
        self.stack = []
        self.gen = gen
        self.exc_id = None


# --- state of this process -----------------------------------------------------------
_config = None
_run_dir = None
_raw = None
_put = None
_verbosity = 0
_limit = 200
_redact = True
_include = ()
_exclude = ()
_system = ()
_gen = 0  # bumped when every thread must rebuild its stack (level crossed 2, fork)
_codes = {}  # id(code) -> info (see above)
_files = {}  # filename -> traced?
_sources = set()  # paths whose source this stream has sent
_tls = _thread._local()  # .st: this thread's _Thread (thread ids are reused; locals are not)
_suspended = {}  # frame -> _Frame of a suspended generator or coroutine
_fids = count(1)
_cids = count(1)
_backend = None
_faulted = False
_exit_code = None
_ctl_ident = None
_ctl_token = None
_ctl_wake = None
_ctl_done = None
_ctl_key = None
_last_snapshot = None
_keep = []  # ctypes callbacks that must outlive their call


# --- what is user code -----------------------------------------------------------------
def _system_dirs():
    """Folders of the standard library and installed packages (not user code)."""
    dirs = {_HERE}
    if getattr(os, "__file__", None):
        dirs.add(os.path.dirname(os.path.abspath(os.__file__)))
    try:
        import site

        dirs.update(getattr(site, "getsitepackages", list)())
        user = site.getusersitepackages() if hasattr(site, "getusersitepackages") else None
        if user:
            dirs.add(user)
    except Exception:
        pass
    for entry in sys.path:
        if "site-packages" in entry or "dist-packages" in entry:
            dirs.add(entry)
    out = set()
    for d in dirs:
        if d:
            for p in (os.path.abspath(d), os.path.realpath(d)):
                out.add(p.rstrip(os.sep) + os.sep)
    return tuple(sorted(out))


def is_traced(file, include=None, exclude=None, system=None):
    """Is `file` user code? Include patterns win, then exclude patterns, then the default
    (not in the standard library or installed packages). Patterns are fnmatch globs."""
    include = _include if include is None else include
    exclude = _exclude if exclude is None else exclude
    if include or exclude:
        from fnmatch import fnmatch

        for pattern in include:
            if fnmatch(file, pattern):
                return True
        for pattern in exclude:
            if fnmatch(file, pattern):
                return False
    if not file or file.startswith("<"):
        return False
    path = os.path.abspath(file)
    real = os.path.realpath(path)
    for prefix in _system if system is None else system:
        if path.startswith(prefix) or real.startswith(prefix):
            return False
    return True


def _learn(code, send_source=True):
    """Cache what the hooks need about a code object; define its id and send its source once."""
    file = code.co_filename
    traced = _files.get(file)
    if traced is None:
        traced = _files[file] = is_traced(file)
    cid = None
    if traced:
        if send_source and file not in _sources:
            _sources.add(file)
            _send_source(file)
        cid = next(_cids)
        _put((_jem_raw.CODE, cid, file, getattr(code, "co_qualname", code.co_name)))
    info = (code, cid, not (code.co_flags & CO_NEWLOCALS), bool(code.co_flags & CO_SUSPENDS),
            code.co_firstlineno, code.co_code if cid is not None and _backend == "settrace" else None)
    _codes[id(code)] = info
    return info


def _record(kind, fields):
    _put((_jem_raw.RECORD, kind, _time(), fields))


def _send_source(path):
    try:
        with open(path, "rb") as f:
            data = f.read(SOURCE_LIMIT + 1)
    except OSError:
        return
    text = data[:SOURCE_LIMIT].decode("utf-8", "replace")
    fields = {
        "path": path,
        "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "lang": "python",
        "text": text,
    }
    if len(data) > SOURCE_LIMIT:
        fields["truncated"] = True
    _record("source", fields)


# --- values ------------------------------------------------------------------------------
def _items(frame, module_level):
    """(name, value) of a frame's locals; module and class bodies skip their definitions."""
    items = list(frame.f_locals.items())
    if module_level:
        items = [
            (n, v) for n, v in items
            if not (n.startswith("__") and n.endswith("__")) and not isinstance(v, _HIDDEN)
        ]
    return items


def vars_map(frame, module_level):
    """The frame's locals as a vars map (spec section 2)."""
    return {n: _pair(n, v, _limit, _redact) for n, v in _items(frame, module_level)}


def _vars_state(frame, module_level, old):
    """name -> (the value if immutable, its pair). An immutable value that is still the very
    same object keeps its pair without a new repr (it is held, so its id cannot be reused)."""
    state = {}
    for name, value in _items(frame, module_level):
        kind = type(value)
        immutable = _SCALARS.get(kind)
        if immutable is None:
            immutable = _SCALARS[kind] = (getattr(kind, "__module__", ""), kind.__name__) in _IMMUTABLE
        if immutable:
            prev = old.get(name) if old else None
            if prev is not None and prev[0] is value:
                state[name] = prev
            else:
                state[name] = (value, _pair(name, value, _limit, _redact))
        else:
            state[name] = (_UNKEPT, _pair(name, value, _limit, _redact))
    return state


def _args(fs, frame, extra=None):
    fs[VARS] = state = _vars_state(frame, fs[INFO][2], None)
    out = {"args": {n: e[1] for n, e in state.items()}}
    if extra:
        out.update(extra)
    return out


def _changes(fs, frame, extra=None):
    """`changed`/`deleted` since this frame's previous record, added to `extra`."""
    old = fs[VARS] or {}
    fs[VARS] = new = _vars_state(frame, fs[INFO][2], old)
    changed = {}
    for name, entry in new.items():
        prev = old.get(name)
        if prev is not entry and (prev is None or prev[1] != entry[1]):
            changed[name] = entry[1]
    deleted = [n for n in old if n not in new] if len(old) + len(changed) > len(new) else None
    if not changed and not deleted:
        return extra
    out = dict(extra) if extra else {}
    if changed:
        out["changed"] = changed
    if deleted:
        out["deleted"] = deleted
    return out


# --- thread stacks ---------------------------------------------------------------------
def _adopt(start):
    """A thread's state for this generation, taking over the traced frames already running.

    Frames that began before tracing reached this thread (tracing raised, a fork) get
    a `call` record with `adopted` so a reader's stack matches the real one.
    """
    ident = _get_ident()
    if ident == _ctl_ident or _faulted:
        return None
    st = _Thread(_gen)
    chain = []
    f = start
    while f is not None:
        info = _codes.get(id(f.f_code)) or _learn(f.f_code)
        if info[1] is not None:
            chain.append((f, info))
        f = f.f_back
    chain.reverse()
    for f, info in chain:
        _push_adopted(st, f, info)
        if _backend == "settrace":
            f.f_trace = _local
            f.f_trace_lines = _verbosity >= 3
    _tls.st = st
    return st


def _push_adopted(st, frame, info):
    fs = [next(_fids), len(st.stack), frame, info, None, False]
    st.stack.append(fs)
    extra = _args(fs, frame, ADOPTED) if _verbosity >= 4 else ADOPTED
    _put((info[1], CALL, _time(), st.tid, fs[FID], frame.f_lineno, fs[DEPTH], extra))
    return fs


def _top(st, frame):
    """The state of `frame` on this thread's stack (normally the top one)."""
    stack = st.stack
    if stack and stack[-1][FRAME] is frame:
        return stack[-1]
    for i in range(len(stack) - 2, -1, -1):
        if stack[i][FRAME] is frame:
            del stack[i + 1:]  # frames above it ended unseen
            return stack[i]
    return _push_adopted(st, frame, _codes.get(id(frame.f_code)) or _learn(frame.f_code))


def _pop(st, fs):
    stack = st.stack
    if stack and stack[-1] is fs:
        stack.pop()
    elif fs in stack:
        del stack[stack.index(fs):]


# --- records shared by both back-ends ----------------------------------------------------
def _begin(frame, info, st):
    stack = st.stack
    fs = _suspended.pop(frame, None)
    if fs is not None:
        fs[DEPTH] = len(stack)
        stack.append(fs)
        _put((info[1], CALL, _time(), st.tid, fs[FID], frame.f_lineno, fs[DEPTH], RESUMED))
        return
    fs = [next(_fids), len(stack), frame, info, None, False]
    stack.append(fs)
    _put((info[1], CALL, _time(), st.tid, fs[FID], info[4], fs[DEPTH],
          _args(fs, frame) if _verbosity >= 4 else None))


def _line(fs, st, frame, line):
    _put((fs[INFO][1], LINE, _time(), st.tid, fs[FID], line, fs[DEPTH],
          _changes(fs, frame) if _verbosity >= 4 else None))


def _return(fs, st, frame, kind, value):
    """kind: 0 returned, 1 suspended (yield), 2 left by an exception."""
    _pop(st, fs)
    if kind == 1:
        _suspended[frame] = fs
        extra = {"yield": True}
    else:
        extra = None
    if kind != 2 and _verbosity >= 4:
        extra = extra or {}
        extra["value"] = _jem_values.pair(value, _limit, _redact)
    _put((fs[INFO][1], RETURN, _time(), st.tid, fs[FID], frame.f_lineno, fs[DEPTH], extra))


def _exception(fs, st, frame, exc, tb):
    global _exit_code
    inner = tb
    while inner is not None and inner.tb_next is not None:
        inner = inner.tb_next
    first = id(exc) != st.exc_id or (inner is not None and inner.tb_frame is frame)
    st.exc_id = id(exc)
    fs[EXC] = True
    try:
        message = str(exc)
    except Exception:
        message = "<str failed>"
    extra = {"type": _jem_values.type_name(exc), "message": _jem_values.cut(message, MESSAGE_LIMIT)}
    if first:
        extra["traceback"] = _traceback(frame, tb)
    if _verbosity >= 4:
        extra = _changes(fs, frame, extra)
    _put((fs[INFO][1], EXCEPTION, _time(), st.tid, fs[FID], frame.f_lineno, fs[DEPTH], extra))
    if fs[DEPTH] == 0 and isinstance(exc, SystemExit):
        code = exc.code
        _exit_code = 0 if code is None else code if isinstance(code, int) else 1


def _traceback(frame, tb):
    """[[file, line, func], ...] outermost first, as Python prints it for this exception."""
    outer = []
    f = frame.f_back
    while f is not None:
        outer.append([f.f_code.co_filename, f.f_lineno, f.f_code.co_name])
        f = f.f_back
    outer.reverse()
    while tb is not None and tb.tb_frame is not frame:
        tb = tb.tb_next
    if tb is None:
        outer.append([frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name])
    while tb is not None:
        code = tb.tb_frame.f_code
        outer.append([code.co_filename, tb.tb_lineno, code.co_name])
        tb = tb.tb_next
    return outer


# --- sys.settrace back-end (CPython 3.9 to 3.11) -----------------------------------------
def _opcodes():
    import opcode

    op = opcode.opmap
    return op["RETURN_VALUE"], op.get("YIELD_VALUE"), op.get("YIELD_FROM"), op.get("RESUME")


_RETURN_VALUE = _YIELD_VALUE = _YIELD_FROM = _RESUME = None
if not hasattr(sys, "monitoring"):
    _RETURN_VALUE, _YIELD_VALUE, _YIELD_FROM, _RESUME = _opcodes()


def _exit_kind(frame, fs):
    """How a frame left, from the instruction it stopped at (settrace says only "return")."""
    code = fs[INFO][5]  # co_code builds a new bytes object on each read from 3.11 on
    lasti = frame.f_lasti
    if lasti < 0 or lasti >= len(code):
        return 0
    op = code[lasti]
    if fs[INFO][3]:
        if _RESUME is not None:  # 3.11: a suspension is followed by RESUME
            if lasti + 2 < len(code) and code[lasti + 2] == _RESUME and op != _RETURN_VALUE:
                return 1
        elif op == _YIELD_VALUE or op == _YIELD_FROM or (
            lasti + 2 < len(code) and code[lasti + 2] == _YIELD_FROM
        ):
            return 1
    if op == _RETURN_VALUE:
        return 0
    return 2 if fs[EXC] else 0


def _global(frame, event, arg):
    """The thread's trace function: sees each new frame and resumption ('call' events)."""
    if _verbosity < 2:
        sys.settrace(None)
        return None
    try:
        info = _codes.get(id(frame.f_code)) or _learn(frame.f_code)
        if info[1] is None:
            return None
        st = getattr(_tls, "st", None)
        if st is None or st.gen != _gen:
            st = _adopt(frame.f_back)
            if st is None:
                return None
        _begin(frame, info, st)
        frame.f_trace_lines = _verbosity >= 3
        return _local
    except Exception as exc:
        _fault(exc)
        return None


def _local(frame, event, arg):
    """The trace function of a traced frame: its lines, exceptions and return."""
    if _verbosity < 2:
        sys.settrace(None)
        return None
    try:
        st = getattr(_tls, "st", None)
        if st is None or st.gen != _gen:
            st = _adopt(frame)
            if st is None:
                return None
        fs = _top(st, frame)
        if event == "line":
            if _verbosity < 3:
                frame.f_trace_lines = False
            else:
                _line(fs, st, frame, frame.f_lineno)
        elif event == "return":
            _return(fs, st, frame, _exit_kind(frame, fs), arg)
        elif event == "exception":
            _exception(fs, st, frame, arg[1], arg[2])
        return _local
    except Exception as exc:
        _fault(exc)
        return None


def _settrace_install(level, old):
    if level >= 2:
        threading.settrace(_global)
        if _get_ident() == _ctl_ident:
            if old < 2:
                _schedule_main_thread()
            if level >= 3 and old == 2:
                for top in sys._current_frames().values():
                    f = top
                    while f is not None:
                        if f.f_trace is _local:
                            f.f_trace_lines = True
                        f = f.f_back
        else:
            sys.settrace(_global)
    else:
        threading.settrace(None)
        if _get_ident() != _ctl_ident:
            sys.settrace(None)


def _schedule_main_thread():
    """Start tracing in the running main thread (settrace only reaches the calling thread).

    A pending call runs in the main thread at its next bytecode boundary; it installs
    the trace function there and takes over the frames already running.
    """
    import ctypes

    callback_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)

    def in_main_thread(_arg):
        try:
            if _verbosity >= 2 and not _faulted:
                sys.settrace(_global)
                st = getattr(_tls, "st", None)
                if st is None or st.gen != _gen:
                    _adopt(_getframe(1))
        except Exception as exc:
            _fault(exc)
        return 0

    callback = callback_type(in_main_thread)
    _keep[:] = [callback]
    add = ctypes.pythonapi.Py_AddPendingCall
    add.argtypes = (callback_type, ctypes.c_void_p)
    add.restype = ctypes.c_int
    add(callback, None)


# --- sys.monitoring back-end (CPython 3.12+) ---------------------------------------------
if hasattr(sys, "monitoring"):
    _M = sys.monitoring
    _E = _M.events
    _DISABLE = _M.DISABLE
    _CALL_EVENTS = (
        _E.PY_START | _E.PY_RESUME | _E.PY_THROW | _E.PY_RETURN | _E.PY_YIELD
        | _E.PY_UNWIND | _E.RAISE
    )

    def _m_start(code, offset):
        info = _codes.get(id(code)) or _learn(code)
        if info[1] is None:
            return _DISABLE
        try:
            frame = _getframe(1)
            st = getattr(_tls, "st", None)
            if st is None or st.gen != _gen:
                st = _adopt(frame.f_back)
                if st is None:
                    return None
            _begin(frame, info, st)
        except Exception as exc:
            _fault(exc)

    def _resumed(code, frame, disable):
        info = _codes.get(id(code)) or _learn(code)
        if info[1] is None:
            return disable
        try:
            st = getattr(_tls, "st", None)
            if st is None or st.gen != _gen:
                st = _adopt(frame.f_back)
                if st is None:
                    return None
            if frame in _suspended:
                _begin(frame, info, st)
            else:  # began before this generation: show it as adopted
                _top(st, frame)
        except Exception as exc:
            _fault(exc)

    def _m_resume(code, offset):
        return _resumed(code, _getframe(1), _DISABLE)

    def _m_throw(code, offset, exc):
        _resumed(code, _getframe(1), None)

    def _m_end(code, kind, value, frame):
        try:
            st = getattr(_tls, "st", None)
            if st is None or st.gen != _gen:
                st = _adopt(frame)
                if st is None:
                    return
            stack = st.stack
            fs = stack[-1] if stack and stack[-1][FRAME] is frame else _top(st, frame)
            _return(fs, st, frame, kind, value)
        except Exception as exc:
            _fault(exc)

    def _m_return(code, offset, value):
        info = _codes.get(id(code)) or _learn(code)
        if info[1] is None:
            return _DISABLE
        _m_end(code, 0, value, _getframe(1))

    def _m_yield(code, offset, value):
        info = _codes.get(id(code)) or _learn(code)
        if info[1] is None:
            return _DISABLE
        _m_end(code, 1, value, _getframe(1))

    def _m_unwind(code, offset, exc):
        info = _codes.get(id(code)) or _learn(code)
        if info[1] is not None:
            _m_end(code, 2, None, _getframe(1))

    def _m_raise(code, offset, exc):
        info = _codes.get(id(code)) or _learn(code)
        if info[1] is None:
            return
        try:
            frame = _getframe(1)
            st = getattr(_tls, "st", None)
            if st is None or st.gen != _gen:
                st = _adopt(frame)
                if st is None:
                    return
            _exception(_top(st, frame), st, frame, exc, exc.__traceback__)
        except Exception as exc:
            _fault(exc)

    def _m_line(code, line):
        info = _codes.get(id(code)) or _learn(code)
        if info[1] is None:
            return _DISABLE
        try:
            frame = _getframe(1)
            st = getattr(_tls, "st", None)
            if st is None or st.gen != _gen:
                st = _adopt(frame)
                if st is None:
                    return None
            _line(_top(st, frame), st, frame, line)
        except Exception as exc:
            _fault(exc)

    _CALLBACKS = (
        (_E.PY_START, _m_start), (_E.PY_RESUME, _m_resume), (_E.PY_THROW, _m_throw),
        (_E.PY_RETURN, _m_return), (_E.PY_YIELD, _m_yield), (_E.PY_UNWIND, _m_unwind),
        (_E.RAISE, _m_raise), (_E.LINE, _m_line),
    )

_tool = None


def _monitoring_install(level, old):
    global _tool
    if _tool is None:
        if level < 2:
            return
        for tool in TOOL_IDS:
            if _M.get_tool(tool) is None:
                _M.use_tool_id(tool, "jem")
                _tool = tool
                break
        else:
            raise RuntimeError("no free sys.monitoring tool id")
        for event, callback in _CALLBACKS:
            _M.register_callback(_tool, event, callback)
    events = 0 if level < 2 else _CALL_EVENTS | (_E.LINE if level >= 3 else 0)
    _M.set_events(_tool, events)


def _install(level, old):
    if _backend == "monitoring":
        _monitoring_install(level, old)
    else:
        _settrace_install(level, old)


# --- verbosity, faults, control --------------------------------------------------------
def set_verbosity(level):
    """Change what this process records (0..4); a marker record shows the change."""
    global _verbosity, _gen, _suspended
    if _faulted or level == _verbosity:
        return
    old = _verbosity
    if max(old, level) >= 1:
        _record("marker", {"text": "verbosity %d" % level, "verbosity": level})
    if (old < 2) != (level < 2):
        _gen += 1
        _suspended = {}
    _verbosity = level
    _install(level, old)


def _fault(exc):
    """A fault inside the tracer: say so in the stream and stop tracing this process."""
    global _faulted, _verbosity
    if _faulted:
        return
    _faulted = True
    old, _verbosity = _verbosity, 0
    try:
        _install(0, old)
    except Exception:
        pass
    try:
        text = "tracer fault, tracing stopped in this process: %s: %s" % (
            type(exc).__name__, _jem_values.cut(str(exc), 500))
        _record("marker", {"text": text, "fault": True})
    except Exception:
        pass


def _read_json(path):
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _poll_control():
    global _ctl_key, _last_snapshot
    path = os.path.join(_run_dir, CONTROL_FILE)
    try:
        st = os.stat(path)
    except OSError:
        return
    key = (st.st_mtime_ns, st.st_size, st.st_ino)
    if key == _ctl_key:
        return
    _ctl_key = key
    data = _read_json(path)
    if data is None:
        return
    level = data.get("verbosity")
    if type(level) is int and 0 <= level <= 4:
        set_verbosity(level)
    request = data.get("snapshot")
    if request and request != _last_snapshot:
        _last_snapshot = request
        _answer_snapshot(str(request))


def snapshot():
    """Every thread's stack of this process, outermost first; locals for user frames."""
    threads = []
    names = {}
    for t in list(threading._active.values()):
        names[t.ident] = (getattr(t, "native_id", None), t.name)
    pid = os.getpid()
    for ident, top in sys._current_frames().items():
        if ident == _ctl_ident:
            continue
        frames = []
        f = top
        while f is not None:
            frames.append(f)
            f = f.f_back
        frames.reverse()
        stack = []
        for f in frames:
            info = _codes.get(id(f.f_code)) or _learn(f.f_code, send_source=False)
            entry = {
                "file": f.f_code.co_filename, "line": f.f_lineno,
                "func": getattr(f.f_code, "co_qualname", f.f_code.co_name),
                "user": info[1] is not None,
            }
            entry["locals"] = vars_map(f, info[2]) if info[1] is not None else {}
            stack.append(entry)
        native, name = names.get(ident, (None, None))
        if native is None:
            native = ident
        threads.append({"tid": native, "pid": pid, "name": name, "stack": stack})
    return {"pid": pid, "threads": threads}


def _answer_snapshot(request):
    folder = os.path.join(_run_dir, "snap", request)
    if not os.path.isdir(folder):
        return
    data = _dumps(snapshot())
    path = os.path.join(folder, "%d.json" % os.getpid())
    with open(path + ".tmp", "w") as f:
        f.write(data)
    os.replace(path + ".tmp", path)


def _ctl_loop(token, wake, done):
    global _ctl_ident
    _ctl_ident = _get_ident()
    try:
        while _ctl_token is token:
            wake.acquire(True, POLL)
            if _ctl_token is not token:
                break
            try:
                _raw.flush()
                _poll_control()
            except Exception as exc:
                _fault(exc)
    finally:
        done.release()


def _start_control():
    global _ctl_token, _ctl_wake, _ctl_done
    _ctl_token = token = object()
    _ctl_wake = _thread.allocate_lock()
    _ctl_wake.acquire()
    _ctl_done = _thread.allocate_lock()
    _ctl_done.acquire()
    _thread.start_new_thread(_ctl_loop, (token, _ctl_wake, _ctl_done))


def _stop_control():
    """Stop the control thread and wait until the OS has let it go.

    Python 3.12+ warns at fork() when the process has other threads; stopping ours
    around a fork keeps the job's stderr what it would be without the monitor.
    """
    global _ctl_token, _ctl_ident
    if _ctl_token is None:
        return
    before = _thread_count()
    _ctl_token = None
    try:
        _ctl_wake.release()
    except RuntimeError:
        pass
    if _ctl_ident != _get_ident():
        _ctl_done.acquire(True, 1.0)
        deadline = _time() + 0.05
        while before and _thread_count() >= before and _time() < deadline:
            time.sleep(0.0005)
    _ctl_ident = None


def _thread_count():
    try:
        with open("/proc/self/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[17])
    except (OSError, ValueError, IndexError):
        return 0


# --- process life --------------------------------------------------------------------------
def _argv():
    try:
        with open("/proc/self/cmdline", "rb") as f:
            raw = f.read()
        argv = [a.decode("utf-8", "surrogateescape") for a in raw.split(b"\0")[:-1]]
    except OSError:
        argv = list(getattr(sys, "orig_argv", sys.argv))
    return _jem_values.redact_argv(argv) if _redact else argv


def _open_raw():
    global _raw, _put, _codes, _sources, _suspended, _gen
    pid = os.getpid()
    _raw = _jem_raw.RawWriter(os.path.join(_config["raw"], "%d.bin" % pid))
    _put = _raw.queue.append
    _codes = {}
    _sources = set()
    _suspended = {}
    _gen += 1
    try:
        cwd = os.getcwd()
    except OSError:
        cwd = ""
    _record("process", {
        "phase": "start", "argv": _argv(), "ppid": os.getppid(), "cwd": cwd, "lang": "python",
        "python": "%d.%d.%d" % sys.version_info[:3], "executable": sys.executable,
    })
    if _verbosity >= 1:
        _record("marker", {"text": "verbosity %d" % _verbosity, "verbosity": _verbosity})
    _raw.flush()  # a process killed early still leaves its start
    _register(True)


def _register(alive):
    """A file per live traced process, so the monitor knows whom to ask for snapshots."""
    path = os.path.join(_run_dir, "py", str(os.getpid()))
    try:
        if alive:
            open(path, "w").close()
        else:
            os.unlink(path)
    except OSError:
        pass


def _finish(code):
    """The process is ending: stop tracing, say how, write everything out."""
    global _verbosity
    if _raw is None or _raw.fd < 0:
        return
    _stop_control()
    old, _verbosity = _verbosity, 0
    try:
        _install(0, old)
    except Exception:
        pass
    if code is None:
        code = 1 if getattr(sys, "last_value", None) is not None else 0
    # The monitor reaps its own children and writes their exact exit status itself.
    if os.getppid() != _config.get("monitor_pid"):
        _record("process", {"phase": "exit", "exit_code": code})
    _raw.close()
    _register(False)


def _at_exit():
    try:
        _finish(_exit_code)
    except Exception:
        pass


def _before_fork():
    _stop_control()
    try:
        _raw.flush()
    except Exception:
        pass


def _after_fork_parent():
    if sys.version_info < (3, 13):
        _start_control()
        return
    # 3.13 counts the threads for its fork warning after this hook: restart the control
    # thread at this thread's next call or return instead, with a one-shot profile hook.
    previous = sys.getprofile()

    def restart(frame, event, arg):
        if frame.f_code.co_filename == __file__:
            return  # this hook's own return: os.fork() has not counted threads yet
        sys.setprofile(previous)
        if _ctl_token is None:
            _start_control()

    sys.setprofile(restart)


def _after_fork_child():
    try:
        _raw.abandon()
        _open_raw()
        _start_control()
    except Exception:
        pass


def _wrap_process_exits():
    """Flush before the process image goes away without running atexit (os._exit, exec)."""
    real_exit = os._exit

    def _exit(status):
        try:
            _finish(status)
        except Exception:
            pass
        real_exit(status)

    os._exit = _exit
    for name in ("execv", "execve"):
        real = getattr(os, name, None)
        if real is None:
            continue

        def wrapper(*args, _real=real, **kwargs):
            try:
                _raw.flush()
            except Exception:
                pass
            return _real(*args, **kwargs)

        wrapper.__name__ = name
        setattr(os, name, wrapper)


def start():
    """Begin recording this process when it runs under a JEM monitor; never raises."""
    global _config, _run_dir, _verbosity, _limit, _redact, _include, _exclude, _system
    global _backend, _last_snapshot, _ctl_key
    if _raw is not None:
        return
    run_dir = os.environ.get("JEM_RUN_DIR")
    if not run_dir:
        return
    config = _read_json(os.path.join(run_dir, CONFIG_FILE))
    if config is None or not os.path.isdir(config.get("raw", "")):
        return
    _config, _run_dir = config, run_dir
    _limit = int(config.get("repr_limit", 200))
    _redact = bool(config.get("redact", True))
    _include = tuple(config.get("include", ()))
    _exclude = tuple(config.get("exclude", ()))
    _system = _system_dirs()
    _backend = "monitoring" if hasattr(sys, "monitoring") else "settrace"
    control = _read_json(os.path.join(run_dir, CONTROL_FILE)) or {}
    level = control.get("verbosity", config.get("verbosity", 1))
    _verbosity = level if type(level) is int and 0 <= level <= 4 else 1
    _last_snapshot = control.get("snapshot")
    _open_raw()
    os.register_at_fork(
        before=_before_fork, after_in_parent=_after_fork_parent, after_in_child=_after_fork_child
    )
    _wrap_process_exits()
    atexit.register(_at_exit)
    _start_control()
    try:
        _install(_verbosity, 0)
    except Exception as exc:
        _fault(exc)
