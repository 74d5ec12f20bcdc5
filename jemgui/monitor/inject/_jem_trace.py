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
records are flat tuples, the monitor turns offsets into lines and code ids into names,
sys.monitoring calls back only for user code (local events, DISABLE elsewhere) and
settrace hooks are per-thread closures (no lookup of the thread's state per event).
"""

# ruff: noqa: UP031  (%-formatting: the fastest way to build records in the job's hot path)

import _thread
import atexit
import hashlib
import json
import os
import signal
import sys
import threading
import time
from itertools import count
from types import BuiltinFunctionType, FunctionType, ModuleType

try:  # imported by the monitor (and its tests) as part of the jemgui package
    from . import _jem_changes, _jem_raw, _jem_values
except ImportError:  # imported by sitecustomize inside the job
    import _jem_changes
    import _jem_raw
    import _jem_values

CONFIG_FILE = "config.json"
CONTROL_FILE = "control.json"
POLL = _jem_raw.FLUSH_EVERY  # s between flushes of the queue to the monitor (a live record waits this long at most)
MESSAGE_LIMIT = 2000
SOURCE_LIMIT = 4 << 20
TOOL_IDS = (4, 3)  # sys.monitoring ids nobody in the standard library claims
SPARE_TOOL_IDS = (5, 2, 1, 0)  # where the tracer moves when the job claims its id

CALL, LINE, RETURN, EXCEPTION = _jem_raw.CALL, _jem_raw.LINE, _jem_raw.RETURN, _jem_raw.EXCEPTION
RESUMED = {"resume": True}
ADOPTED = {"adopted": True}
CO_NEWLOCALS = 0x2
CO_SUSPENDS = 0x20 | 0x80 | 0x200  # generator, coroutine, async generator
_HIDDEN = (type, ModuleType, FunctionType, BuiltinFunctionType)
YIELDED = {"yield": True}
# What is known of a traced code object: (code, module level, suspends, bytecode (settrace),
# id(code), kept so a settrace hook reads it instead of calling id(), which audits and makes an int).
# Records name it by id(code): the code stays referenced here, so its id is never reused.
# A thread's state: (tid, stack of fids (settrace: (frame, fid, info)), fid -> locals state
# (verbosity 4), [id of the exception last recorded]).

_time = time.time
_get_ident = _thread.get_ident
_native_id = getattr(_thread, "get_native_id", _get_ident)
_getframe = sys._getframe
_dumps = json.JSONEncoder(separators=(",", ":"), default=repr).encode
_pair = _jem_values.named_pair
_value_pair = _jem_values.pair
_HERE = os.path.dirname(os.path.abspath(__file__))


# --- state of this process -----------------------------------------------------------
_config = None
_run_dir = None
_raw = None
_put = None  # an entry that is not a frame's (RawWriter.put)
_frame = None  # a frame entry, its 8 items (RawWriter.frame)
_verbosity = 0
_limit = 200
_redact = True
_include = ()
_exclude = ()
_system = ()
_traced = {}  # id(code) -> info (see above), user code only
_untraced = {}  # id(code) -> code, for everything else
_files = {}  # filename -> traced?
_sources = set()  # paths whose source this stream has sent
# .st: this thread's state. A new generation (level crossed 2, fork) is a new object, so
# every thread rebuilds its stack; thread idents are reused, thread-locals are not.
_tls = _thread._local()
# frame -> (fid, locals state, thread state, code id, line) of a suspended generator or coroutine
_suspended = {}
_fids = count(1)
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


def _new_generation():
    global _tls, _suspended, _main_state
    _tls = _thread._local()
    _suspended = {}
    _main_state = None


# --- what the job sees of the tracer ---------------------------------------------------------
# The hooks run on the job's own stack, a frame or more above the job's deepest. While they
# run (verbosity 2+) the interpreter's recursion limit is HEADROOM above the job's, and
# sys.getrecursionlimit/setrecursionlimit show and set the job's own: a user frame deeper
# than the job's limit still gets the RecursionError it would get plain (checked once the
# thread has DEEP_SHARE of the limit in traced frames: setting the limit makes CPython
# compare it with the depth, for a few tens of ns). sys.gettrace/settrace (settrace
# back-end) and sys.monitoring.get_tool show the job's own tracers, never JEM's.
HEADROOM = 50
RECURSION_MESSAGE = "maximum recursion depth exceeded"
_real_settrace = sys.settrace
_real_gettrace = sys.gettrace
_real_setprofile = sys.setprofile
_real_getprofile = sys.getprofile
_real_setlimit = sys.setrecursionlimit
_real_getlimit = sys.getrecursionlimit
_real_threading_settrace = threading.settrace
_job_limit = _real_getlimit()
_deep = _job_limit // 2  # traced frames on a thread from which its depth is checked
# The limit, over the job's, that CPython refuses to set exactly when the frame a hook sees
# start is one deeper than the job may go (measured on CPython 3.9 to 3.13: up to 3.11 the
# C call into the hook counts as a level of its own). Up to 3.11 C calls that nest (a
# comparison, a repr) count too: in the job's deepest frame they may nest one level more
# than plain, never less.
_DEPTH_PROBE = 4 if sys.version_info < (3, 12) else 3
_lifted = False  # is the real limit the job's plus HEADROOM
_lost = {}  # exception type name -> events the hooks dropped because of it
_main_ident = threading.main_thread().ident
_refused = [None, None]  # the RecursionError raised for the job, and the frame it refused
_rearm_pending = False  # a pending call will check the main thread (_watch_main)
_rearm_keep = []  # its ctypes callback and Py_AddPendingCall, made once
_watch_ticks = 0
_suspect = False  # did the last check find the main thread untraced
_main_state = None  # the main thread's state (settrace), for _watch_main
_main_job_tracer = False  # the job's own trace function runs in the main thread
WATCH_EVERY = 4  # control ticks between checks that the main thread is still traced
_hidden = False


def _ours(fn):
    return getattr(fn, "__module__", None) == __name__


# A signal whose default action ends the process (SIGTERM from Pool.__exit__ or a batch
# system, SIGHUP, SIGUSR1/2) would cost what is queued since the last flush. Where the job
# leaves one at its default action, the tracer's handler writes everything out, puts the
# default action back and sends the signal again: the process ends by it, as plain.
# A Python handler runs in the main thread between two bytecodes: a main thread that
# caught the signal just before it blocked (in a lock, a read) would never run it, so the
# control thread learns of it too, within POLL (its pipe is the process's wakeup fd; it blocks
# these signals itself, so the kernel interrupts another thread) and does the same from there.
# signal.getsignal/signal/set_wakeup_fd show and set the job's own: the job's handler
# replaces the tracer's, and SIG_DFL brings it back.
_TERM_SIGNALS = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGHUP", "SIGUSR1", "SIGUSR2")
                      if hasattr(signal, n))
_real_signal = signal.signal
_real_getsignal = signal.getsignal
_real_set_wakeup_fd = signal.set_wakeup_fd
_wake_fds = None  # the control thread's pipe (read, write); the write end is the wakeup fd
_dying = False
_finished = False
_deferred = None  # a signal that came while the main thread itself was writing out
_die_lock = _thread.allocate_lock()  # the main thread's handler and the control thread: one at a time
_term_lock = _thread.allocate_lock()  # the job putting a default action back, and _woken


def _on_term(signum, frame):
    """The job's default action for `signum`, after writing out what the process recorded."""
    global _deferred
    raw = _raw
    if raw is not None and raw.holder == _get_ident():  # inside this thread's own write:
        _deferred = signum  # _wrote_out ends the process once that write is whole
        return
    _die(signum, True)


def _wrote_out():
    """After a write by the job's own thread: the signal that came meanwhile ends it now."""
    if _deferred is not None:
        _die(_deferred, True)


def _die(signum, in_main):
    """Write out, then end the process by `signum`; whoever comes second waits for the first
    (never released: the process ends)."""
    global _dying
    _die_lock.acquire(True, 2.0)
    try:
        raw = _raw  # a forked child's own from _open_raw on (its queue, not _put's yet)
        if not _dying and raw is not None and raw.fd >= 0 and raw.pid == os.getpid():
            _dying = True
            if os.getppid() != _config.get("monitor_pid"):
                raw.put((_jem_raw.RECORD, "process", _time(),
                                  {"phase": "exit", "signal": int(signum)}))
            raw.put((_jem_raw.END,))
            raw.flush(1.0)
    finally:
        try:
            _real_signal(signum, signal.SIG_DFL)
        except ValueError:  # only the main thread may call signal.signal
            import ctypes

            _capi("PyOS_setsig", ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p)(int(signum), None)
        os.kill(os.getpid(), signum)


def _open_wake():
    """The control thread's pipe, made the wakeup fd (at start and in a forked child)."""
    global _wake_fds
    try:
        r, w = os.pipe()
        os.set_blocking(r, False)
        os.set_blocking(w, False)
    except OSError:  # no descriptor left: the control thread sleeps instead
        _wake_fds = None
        return
    _wake_fds = (r, w)
    _own_wakeup(True)


def _own_wakeup(on):
    """Make the pipe the process's wakeup fd (on), or none; never take the job's. Only the
    main thread can."""
    if _wake_fds is None:
        return
    try:
        if on:
            if _real_set_wakeup_fd(_wake_fds[1], warn_on_full_buffer=False) != -1:
                _real_set_wakeup_fd(-1)  # the job's: put it back
        elif _real_set_wakeup_fd(-1) not in (-1, _wake_fds[1]):
            _real_set_wakeup_fd(-1)
    except (ValueError, OSError, TypeError):
        pass


def _woken(wake):
    """Wait up to POLL (less when _stop_control wakes it); a signal that ends the process and
    came meanwhile, unhandled, ends it from here."""
    wake.acquire(True, POLL)
    if _wake_fds is None:
        return
    with _term_lock:
        try:
            data = os.read(_wake_fds[0], 512)
        except OSError:  # none came
            return
        for signum in data:
            if signum in _TERM_SIGNALS and _real_getsignal(signum) is _on_term:
                _die(signum, False)


def _stale_trip(signum, frame):
    """A signal that came while the job had a handler of its own, run once the job has put
    the default action back: CPython ignores it then (it was not the default action's)."""


def _set_wakeup_fd(fd, **kwargs):
    old = _real_set_wakeup_fd(fd, **kwargs)
    if _wake_fds is not None:
        if fd == -1:  # the job gave its own up: the tracer's is back
            _own_wakeup(True)
        if old == _wake_fds[1]:
            old = -1
    return old


def _arm_term(on):
    """Put the tracer's handler on each signal the job leaves at its default (on), or take it
    off again; only the main thread can."""
    for signum in _TERM_SIGNALS:
        try:
            if on and _real_getsignal(signum) == signal.SIG_DFL:
                _real_signal(signum, _on_term)
            elif not on and _real_getsignal(signum) is _on_term:
                _real_signal(signum, signal.SIG_DFL)
        except (ValueError, OSError, TypeError):
            pass


def _getsignal(signalnum):
    handler = _real_getsignal(signalnum)
    if handler is _one_shot:  # (for the moment between a hook and the job's next check)
        handler = _held[signalnum][1]
    return signal.SIG_DFL if handler is _on_term else handler


def _signal(signalnum, handler):
    old = _real_signal(signalnum, handler)  # the job's own argument checks and errors
    if isinstance(handler, int) and handler == signal.SIG_DFL and signalnum in _TERM_SIGNALS:
        with _term_lock:  # signals that came under the job's own handler must not end it now:
            _real_signal(signalnum, _stale_trip)  # those still pending run this (after this call)
            _real_signal(signalnum, _on_term)
            _drain_wake()  # and the control thread must not read their bytes
    return signal.SIG_DFL if old is _on_term else old


def _drain_wake():
    if _wake_fds is not None:
        try:
            while os.read(_wake_fds[0], 512):
                pass
        except OSError:  # empty
            pass


def _set_headroom(on):
    """Give the hooks HEADROOM frames above the job's limit (on), or take it back."""
    global _lifted
    if on == _lifted:
        return
    try:
        _real_setlimit(_job_limit + HEADROOM if on else _job_limit)
        _lifted = on
    except RecursionError:  # a thread is deeper than the job's limit right now: keep it
        pass


def _getrecursionlimit():
    return _job_limit


def _setrecursionlimit(new_limit):
    global _job_limit, _deep
    try:
        _real_setlimit(new_limit)  # the job's own argument checks and errors
    except RecursionError:  # maybe only because this wrapper is one frame deeper
        try:
            _real_setlimit(new_limit + 1)
        except RecursionError as exc:
            text = str(exc)
            depth = text.rpartition("depth ")[2].partition(":")[0]
            if depth.isdigit():
                text = text.replace("to %d at" % (new_limit + 1), "to %d at" % new_limit)
                text = text.replace("depth " + depth, "depth %d" % (int(depth) - 1))
            error = RecursionError(text)
        else:
            error = None
        if error is not None:
            _real_setlimit(_job_limit + HEADROOM if _lifted else _job_limit)
            raise error from None
    _job_limit = new_limit
    _deep = new_limit // 2
    if _lifted:
        _real_setlimit(new_limit + HEADROOM)


def _too_deep():
    """Is the frame that the calling hook is seeing start deeper than the job's limit?"""
    try:
        _real_setlimit(_job_limit + _DEPTH_PROBE)
        return False
    except RecursionError:
        return True
    finally:
        _real_setlimit(_job_limit + HEADROOM)


def _c_gettrace():
    """sys.gettrace for the job, made of C callables only (so the job's own trace function never
    sees it run): the tracer's hooks read as None."""
    from functools import partial
    from itertools import repeat

    end = object()
    modules = map(getattr, iter(_real_gettrace, end), repeat("__module__"), repeat(None))
    return partial(next, map({__name__: None}.get, modules, iter(_real_gettrace, end)))


def _settrace(fn):
    """sys.settrace for the job until it sets a trace function of its own: that one replaces
    JEM's in this thread (a marker says so). From then on sys.settrace is CPython's own (this
    wrapper would show in the job's trace function) and the audit hook follows the job's
    calls (it costs every audited event from then on, each `frame.f_code` of the hooks among
    them, which is why it is not there from the start)."""
    before = _real_gettrace()
    was = "none" if before is None else "jem" if _ours(before) else "job"
    del before
    if fn is not None and not _ours(fn) and sys.settrace is _settrace:
        sys.settrace = _real_settrace
        sys.addaudithook(_AUDIT.get)
    _real_settrace(_settrace_done(was, fn))  # the last thing: the job's function sees nothing after


class _SettraceEvent:
    """The one key of the audit hook's dict (_AUDIT.get, a C function): only "sys.settrace" has
    its hash, so its __eq__, Python code, runs for that event alone."""

    __slots__ = ()

    def __hash__(self):
        return hash("sys.settrace")

    def __eq__(self, event):
        if event == "sys.settrace":
            _audit_settrace()
        return False


_AUDIT = {_SettraceEvent(): None}


def _audit_settrace():
    """The job calls CPython's sys.settrace: CPython tells its audit hooks (no tracer or profiler
    sees their code) just before it changes the trace function; a one-shot profile function
    sees the outcome at the thread's next call or return (a job that profiles meanwhile is left
    as it is)."""
    if _faulted or _real_getprofile() is not None or _getframe(2).f_code.co_filename == __file__:
        return
    before = _real_gettrace()  # never kept: the job's object dies where it dies plain
    was = "none" if before is None else "jem" if _ours(before) else "job"
    del before

    def after(frame, event, arg):
        _real_setprofile(None)
        fn = _real_gettrace()
        target = _settrace_done(was, fn)
        if target is not fn:
            _real_settrace(target)

    _real_setprofile(after)


def _settrace_done(was, fn):
    """The trace function this thread gets when the job sets `fn` (`was`: whose it had): the
    job's own replaces JEM's (a marker says so) until it sets None again, when JEM's comes back."""
    global _main_job_tracer
    active = _verbosity >= 2 and not _faulted
    mine = fn is None or _ours(fn)
    if _get_ident() == threading.main_thread().ident:
        _main_job_tracer = not mine
    if not mine:
        if active and was == "jem":
            _record("marker", {"text": "the job set its own trace function (sys.settrace): thread "
                                       "%d is not traced until it removes it" % _native_id(),
                               "gap": True})
        return fn
    if not active:
        return None
    if was == "job":
        _record("marker", {"text": "the job removed its own trace function: tracing "
                                   "resumes in thread %d" % _native_id()})
    return _global


def _threading_settrace(fn):
    if fn is None or _ours(fn):
        fn = _global if _verbosity >= 2 and not _faulted and _backend == "settrace" else None
    _real_threading_settrace(fn)


def _threading_gettrace():
    fn = getattr(threading, "_trace_hook", None)
    return None if _ours(fn) else fn


def _hide():
    """Put the job's views of the tracer in place (once per process)."""
    global _hidden
    if _hidden:
        return
    _hidden = True
    _in_place(sys, "getrecursionlimit", _getrecursionlimit)
    _in_place(sys, "setrecursionlimit", _setrecursionlimit)
    _in_place(signal, "signal", _signal)
    _in_place(signal, "getsignal", _getsignal)
    _in_place(signal, "set_wakeup_fd", _set_wakeup_fd)
    if _backend == "settrace":
        sys.gettrace = _c_gettrace()
        _in_place(sys, "settrace", _settrace)
        _in_place(threading, "settrace", _threading_settrace)
        if hasattr(threading, "gettrace"):
            _in_place(threading, "gettrace", _threading_gettrace)
    else:
        monitoring = sys.monitoring
        real_get_tool, real_use_tool_id = monitoring.get_tool, monitoring.use_tool_id

        def get_tool(tool_id):
            return None if tool_id == _tool and tool_id is not None else real_get_tool(tool_id)

        def use_tool_id(tool_id, name):
            if tool_id == _tool and tool_id is not None:
                _move_tool()
            return real_use_tool_id(tool_id, name)

        _in_place(monitoring, "get_tool", get_tool)
        _in_place(monitoring, "use_tool_id", use_tool_id)


def _in_place(module, name, wrapper):
    """Put `wrapper` in the place of the job's `module.name`, under its name, module and doc
    (CPython's test_signal checks that each function of signal says it is signal's)."""
    from functools import update_wrapper

    update_wrapper(wrapper, getattr(module, name))
    wrapper.__module__ = module.__name__
    setattr(module, name, wrapper)


def _move_tool():
    """The job claims JEM's sys.monitoring tool id: JEM moves to a free one (none free: it
    stops, with a marker)."""
    global _tool
    old = _tool
    new = next((t for t in TOOL_IDS + SPARE_TOOL_IDS if t != old and _M.get_tool(t) is None), None)
    _M.set_events(old, 0)
    for code in _local_codes + [_ctl_main.__code__]:
        _M.set_local_events(old, code, 0)
    for event, _ in _CALLBACKS:
        _M.register_callback(old, event, None)
    _M.free_tool_id(old)
    _tool = None
    if new is None:
        _fault(RuntimeError("the job claimed sys.monitoring tool %d and no other is free" % old))
        return
    _M.use_tool_id(new, "jem")
    _tool = new
    for event, callback in _CALLBACKS:
        _M.register_callback(new, event, callback)
    _M.set_local_events(new, _ctl_main.__code__, _E.INSTRUCTION)
    _M.set_events(new, _GLOBAL_EVENTS if _verbosity >= 2 else 0)
    if _local_events:
        for code in _local_codes:
            _M.set_local_events(new, code, _local_events)


def _rearm_later(exc):
    """`exc` is leaving a settrace hook (KeyboardInterrupt, or the job's own RecursionError),
    so CPython drops this thread's trace function: a one-shot profile hook puts it back at
    the thread's next event. When that event is the return of a traced frame (3.9 and 3.10
    send no other event first), the frame's exception and return are recorded from it."""
    previous = _real_getprofile()

    def rearm(frame, event, arg):
        _real_setprofile(previous)
        if _verbosity < 2 or _faulted or _real_gettrace() is not None:
            return
        _real_settrace(_global)
        local = frame.f_trace
        if event == "return" and _ours(local):
            local(frame, "exception", (type(exc), exc, exc.__traceback__))
            local(frame, "return", None)

    _real_setprofile(rearm)


class _TooDeep(Exception):
    """A settrace hook saw a frame start deeper than the job's limit."""


def _strip(exc, tb):
    """Cut the refused frame and the hook from the traceback `tb` of a RecursionError the
    tracer raised for the job (settrace), at the first exception event of a frame further
    out: it then reads as CPython's own (also in how many entries a printed one keeps)."""
    if exc is not _refused[0]:
        return
    refused = _refused[1]
    if tb is None or tb.tb_frame is refused:
        return
    while tb.tb_next is not None:
        if tb.tb_next.tb_frame is refused or _ours_code(tb.tb_next.tb_frame.f_code):
            tb.tb_next = None
            _refused[:] = [None, None]
            return
        tb = tb.tb_next


def _ours_code(code):
    return code.co_filename == __file__


def _dropped(exc):
    """A hook could not finish its event (RecursionError or MemoryError on the job's
    stack): the event is lost, tracing goes on, and the first loss of each kind is said."""
    name = type(exc).__name__
    seen = _lost.get(name, 0)
    _lost[name] = seen + 1
    if not seen:
        _record("marker", {"text": "the tracer lost an event to a %s in its hook; records "
                                   "near it may be missing" % name, "gap": True})


# --- the job's exception where it would arise plain ----------------------------------------
# CPython runs a signal handler (and raises an asynchronous exception) at its next check of
# pending work: after a call, at a backward jump, where a function starts or a generator is
# resumed by next() or send(). A hook's own calls are such checks, so the job's exception
# (KeyboardInterrupt, or what its own handler raised) often arises inside a hook. Left to
# go from there, it would reach the job at the hook's event, where CPython does not check:
# a generator resumed by `yield from` would get it instead of the generator it resumes, a
# function at its return or yield instead of its caller, and the job's traceback would
# show the hook. So a hook hands it back, as the last thing it does, to be raised at the
# first check after the hook, where CPython would have raised it:
# - the signal is tripped again (C code that checks for signals, in I/O or a sleep, sees it
#   too): SIGINT's default handler makes a new KeyboardInterrupt; a handler of the job's,
#   which has run already, is replaced for that once by _one_shot, which raises its
#   exception again and puts it back (its frame is then cut from the traceback);
# - an asynchronous exception is posted to the thread again (a new one of its class, as
#   CPython makes it).
# A hook starts with no check (3.11+: its first RESUME reads as a resumption after `yield
# from`, which CPython does not check), so an exception pending when it starts arises at its
# first call, the gate, which has no effect: the hook then does its whole work (_redo)
# before it hands the exception back. One that arises later in a hook is handed back as it
# is (_settle). A call checks when it is done, a subscript does not: the handing back is a
# subscript whose __getitem__ is C code, and _redo and _settle are called by a subscript
# too, so that nothing checks between it and the hook's return. 3.9 checks at almost every
# instruction while a trace function is set: there the hook lets the exception go.
_CAN_POST = sys.version_info >= (3, 10)
_posters = {}  # thread ident -> its poster
_held = {}  # signum -> (the exception its handler raised in a hook, that handler): _one_shot
_raised_again = []  # the exception _one_shot raised, until its traceback is cut


def _capi(name, restype, *argtypes):
    """A C API function of this interpreter with its own prototype (the job's
    ctypes.pythonapi attributes stay as the job set them)."""
    import ctypes

    return ctypes.PYFUNCTYPE(restype, *argtypes)((name, ctypes.pythonapi))


def _by_subscript(func):
    """An object whose `[key]` calls func(key) from C, with no check after it."""
    return type("_BySubscript", (), {"__getitem__": staticmethod(func), "__slots__": ()})()


def _no_entry_check(code, nested=()):
    """`code` (and its nested code objects named in `nested`) starting with no check of
    pending work (3.11+; see above)."""
    import opcode

    resume = opcode.opmap.get("RESUME")  # 3.11+
    if resume is None:
        return code
    raw = bytearray(code.co_code)
    for i in range(0, len(raw), 2):
        if raw[i] == resume:
            raw[i + 1] = 2  # RESUME_AFTER_YIELD_FROM
            break
    consts = tuple(_no_entry_check(c) if getattr(c, "co_name", None) in nested else c
                   for c in code.co_consts)
    return code.replace(co_code=bytes(raw), co_consts=consts)


def _post_of(exc, signum):
    """How to hand back `exc`, which the job's handler of `signum` (if any) raised: (poster,
    key) for `poster[key]`, or None when it cannot be."""
    if not _CAN_POST:
        return None
    in_main = _get_ident() == threading.main_thread().ident
    if signum is not None:
        if not in_main:
            return None
        tb = exc.__traceback__
        while tb is not None and _ours_code(tb.tb_frame.f_code):
            tb = tb.tb_next
        exc.__traceback__ = tb  # its handler's frames
        _held[signum] = (exc, _real_getsignal(signum))
        _real_signal(signum, _one_shot)
        return _interrupter, signum
    if (in_main and type(exc) is KeyboardInterrupt and not exc.args
            and _real_getsignal(signal.SIGINT) is signal.default_int_handler):
        return _interrupter, signal.SIGINT
    return _poster(), type(exc)


def _one_shot(signum, frame):
    """The handler of `signum` for once: raises again the exception the job's own handler
    raised inside a hook, and puts that handler back."""
    exc, handler = _held.pop(signum)
    _real_signal(signum, handler)
    _raised_again[:] = [exc]
    raise exc


def _cut_ours(tb):
    """Take the tracer's frames out of the traceback `tb` of an exception _one_shot raised or
    a hook let go (at the first exception event a hook sees of it)."""
    del _raised_again[:]
    while tb is not None and tb.tb_next is not None:
        if _ours_code(tb.tb_next.tb_frame.f_code):
            tb.tb_next = tb.tb_next.tb_next
        else:
            tb = tb.tb_next


def _poster():
    """This thread's poster: `poster[cls]` makes cls this thread's asynchronous exception."""
    tid = _get_ident()
    poster = _posters.get(tid)
    if poster is None:
        import ctypes
        from functools import partial

        post = _capi("PyThreadState_SetAsyncExc", ctypes.c_int, ctypes.c_ulong, ctypes.py_object)
        poster = _posters[tid] = _by_subscript(partial(post, tid))
    return poster


def _let_go(exc):
    """`exc` leaves the hook as it is (3.9, or it cannot be posted)."""
    if _backend == "settrace":
        _rearm_later(exc)  # an exception leaving a settrace hook drops the trace function
    _raised_again[:] = [exc]
    raise exc


def _claim(exc):
    """(poster, key) to hand `exc` back with `poster[key]` when it is the job's own (from a
    signal handler, or not an Exception: KeyboardInterrupt, SystemExit, an asynchronous
    exception); it leaves the hook as it is (_let_go) when it cannot be handed back. None when
    it is not the job's to hand back (see _unclaimed)."""
    if exc is _refused[0]:
        return None
    signum = _handler_signal(exc)
    if isinstance(exc, Exception) and signum is None:
        return None
    post = _post_of(exc, signum)
    if post is None:
        _let_go(exc)
    return post


def _unclaimed(exc):
    """The job's own RecursionError goes on, raised where the hook decided; a fault of the
    tracer's is recorded (tracing stops) and the hook returns None."""
    if exc is _refused[0]:
        raise exc
    _fault(exc)


def _redo_work(key):
    """A hook's gate caught `exc`: the hook's whole work, then `exc` handed back; key is (exc,
    hook, its arguments...)."""
    exc, hook = key[0], key[1]
    post = _claim(exc)
    if post is None:
        return _unclaimed(exc)
    poster, what = post
    try:
        return hook(*key[2:])
    finally:
        poster[what]


def _settle_work(exc):
    """`exc` stopped a hook midway: handed back when it is the job's (the hook returns None,
    its event maybe not recorded), else _unclaimed."""
    post = _claim(exc)
    if post is None:
        return _unclaimed(exc)
    poster, what = post
    poster[what]


_redo = _by_subscript(_redo_work)
_settle = _by_subscript(_settle_work)
_interrupter = _by_subscript(_thread.interrupt_main)


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


def _is_user(code):
    file = code.co_filename
    traced = _files.get(file)
    if traced is None:
        traced = _files[file] = is_traced(file)
    return traced


def _learn(code):
    """What the hooks need about a code object (None: not user code). The first time, send
    its source (once per file) and its name, and switch on its local events."""
    key = id(code)
    info = _traced.get(key)
    if info is not None or key in _untraced:
        return info
    if not _is_user(code):
        _untraced[key] = code
        return None
    info = (code, not (code.co_flags & CO_NEWLOCALS), bool(code.co_flags & CO_SUSPENDS),
            code.co_code if _backend == "settrace" else None, key)
    _traced[key] = info
    _send_code(code)
    if _backend == "monitoring":
        _local_codes.append(code)
        if _local_events:
            _M.set_local_events(_tool, code, _local_events)
    return info


def _send_code(code):
    file = code.co_filename
    if file not in _sources:
        _sources.add(file)
        _send_source(file)
    lines = tuple(code.co_lines()) if _backend == "monitoring" else None
    _put((_jem_raw.CODE, id(code), file, getattr(code, "co_qualname", code.co_name),
          code.co_firstlineno, lines))


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
    items = frame.f_locals.items()
    if module_level:
        return [
            (n, v) for n, v in items
            if not (n.startswith("__") and n.endswith("__")) and not isinstance(v, _HIDDEN)
        ]
    return items


def vars_map(frame, module_level):
    """The frame's locals as a vars map (spec section 2)."""
    return {n: _pair(n, v, _limit, _redact) for n, v in _items(frame, module_level)}


# A frame's locals are compared in full at its call, return and exception records and at its
# bound; its other lines compare only what the line before may have changed (_jem_changes).
_changes = _jem_changes.full
_line_changes = _jem_changes.line


# --- thread stacks -------------------------------------------------------------------------
def _adopt(start):
    """This thread's state for the current generation, taking over the traced frames
    already running from `start` outwards. Frames that began before tracing reached this
    thread (verbosity raised, a fork) get a `call` record with `adopted` so a reader's
    stack matches the real one."""
    if _get_ident() == _ctl_ident or _faulted:
        return None
    st = (_native_id(), [], {}, [None])
    chain = []
    f = start
    while f is not None:
        info = _learn(f.f_code)
        if info is not None:
            chain.append((f, info))
        f = f.f_back
    local = None
    if _backend == "settrace":
        _tls.hooks = call, local = _hooks(st)
        _real_settrace(call)
    for f, info in reversed(chain):
        _push_adopted(st, f, info, local)
    _tls.st = st
    if _backend == "settrace" and _get_ident() == threading.main_thread().ident:
        global _main_state
        _main_state = st
    return st


def _push_adopted(st, frame, info, local=None):
    tid, stack, vars_of, _ = st
    fid = next(_fids)
    extra = (_changes(vars_of, fid, frame, info[1], ADOPTED, "args") if _verbosity >= 4
             else ADOPTED)
    key, now, depth = id(frame.f_code), _time(), len(stack)
    if local is None:
        stack.append(fid)
    else:
        stack.append((frame, fid, info))
        frame.f_trace = local
        frame.f_trace_lines = _verbosity >= 3
    _frame((key, CALL, now, tid, fid, frame.f_lineno, depth, extra))  # last (see _hooks)
    return fid


def _exception(st, fid, depth, frame, exc, tb, line):
    global _exit_code
    if _raised_again and exc is _raised_again[0]:
        _cut_ours(tb)
    tid, _, vars_of, last = st
    inner = tb
    while inner is not None and inner.tb_next is not None:
        inner = inner.tb_next
    first = id(exc) != last[0] or (inner is not None and inner.tb_frame is frame)
    last[0] = id(exc)
    try:
        message = str(exc)
    except Exception:
        message = "<str failed>"
    extra = {"type": _jem_values.type_name(exc), "message": _jem_values.cut(message, MESSAGE_LIMIT)}
    if first:
        extra["traceback"] = _traceback(frame, tb)
    module_level = _traced[id(frame.f_code)][1]
    if _verbosity >= 4:  # all locals (spec: they replace what the frame's records built)
        extra = _changes(vars_of, fid, frame, module_level, extra)
        extra.pop("changed", None)
        extra["locals"] = {name: kept[1] for name, kept in vars_of[fid].items()}
    else:
        extra["locals"] = vars_map(frame, module_level)
    _frame((id(frame.f_code), EXCEPTION, _time(), tid, fid, line, depth, extra))
    if depth == 0 and isinstance(exc, SystemExit):
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


def _exit_kind(frame, info):
    """0 returned, 1 suspended, 2 left by an exception: from the instruction the frame
    stopped at (settrace says only "return"). An exception thrown into a generator
    (close(), throw()) leaves it from its yield: the hook tells that case by the
    exception event before the return with no line between."""
    code = info[3]  # co_code builds a new bytes object on each read from 3.11 on
    lasti = frame.f_lasti
    if lasti < 0 or lasti >= len(code):
        return 0
    op = code[lasti]
    if info[2]:
        if _RESUME is not None:  # 3.11: a suspension is followed by RESUME
            if lasti + 2 < len(code) and code[lasti + 2] == _RESUME and op != _RETURN_VALUE:
                return 1
        elif op == _YIELD_VALUE or op == _YIELD_FROM or (
            lasti + 2 < len(code) and code[lasti + 2] == _YIELD_FROM
        ):
            return 1
    return 0 if op == _RETURN_VALUE else 2


def _global(frame, event, arg):
    """The trace function a thread starts with: builds its state and its own hooks."""
    try:
        return _with_hooks(frame, event, arg, frame.f_back, 0)
    except BaseException as exc:
        return _settle[exc]


def _stale(frame, event, arg):
    """A traced frame's event after its thread's hooks went stale (a new generation)."""
    try:
        return _with_hooks(frame, event, arg, frame, 1)
    except BaseException as exc:
        return _settle[exc]


def _with_hooks(frame, event, arg, outer, which):
    """This thread's hooks (made, adopting the frames from `outer` out, when it has none)
    become its trace function and hook `which` of them takes this event."""
    try:
        hooks = getattr(_tls, "hooks", None)  # the gate (see _redo)
    except BaseException as exc:
        return _redo[exc, _with_hooks, frame, event, arg, outer, which]
    if _verbosity < 2:
        _real_settrace(None)
        return None
    if hooks is None:
        if _adopt(outer) is None:
            return None
        hooks = _tls.hooks
    _real_settrace(hooks[0])
    return hooks[which](frame, event, arg)


def _hooks(st):
    """The trace functions of one thread for one generation: `call` sees each new frame
    and resumption, `local` the lines, exceptions and return of a traced frame. The
    thread's state lives in their cells. Each reads what its event needs first, then
    changes the state with no call that checks for signals, its record last (see _redo)."""
    tid, stack, vars_of, _ = st
    tls = _tls
    put, time_, fids = _frame, _time, _fids
    raised = {}  # generator frames an exception is passing through, no line run since

    def call(frame, event, arg):
        try:
            info = _traced.get(id(frame.f_code))  # the gate (see _redo; len() would not check)
            if tls is not _tls or _verbosity < 2:
                return _global(frame, event, arg)
            depth = len(stack)
            if depth >= _deep and _too_deep():
                raise _TooDeep
            if info is None:
                info = _learn(frame.f_code)
                if info is None:
                    return None
            if not info[2] or (got := _suspended.get(frame)) is None:
                fid = next(fids)
                entry = (info[4], CALL, time_(), tid, fid, None, depth,
                         _changes(vars_of, fid, frame, info[1], None, "args")
                         if _verbosity >= 4 else None)
            else:
                entry = None
        except _TooDeep:
            pass
        except BaseException as exc:
            return _redo[exc, call, frame, event, arg]
        else:
            try:
                frame.f_trace_lines = _verbosity >= 3
                if entry is None:
                    _push_resumed(st, frame, info, got)
                    return local
                stack.append((frame, fid, info))
                put(entry)
                return local
            except BaseException as exc:
                return _settle[exc] or local
        exc = RecursionError(RECURSION_MESSAGE)  # what the job gets plain, one frame up
        _refused[:] = [exc, frame]
        _rearm_later(exc)
        raise exc

    def local(frame, event, arg):
        try:  # (a block of its own: 3.10 checks at a function's first instruction unless it
            now = time_()  # is a SETUP_FINALLY with no EXTENDED_ARG; the gate, see _redo)
        except BaseException as exc:
            return _redo[exc, local, frame, event, arg]
        try:
            if tls is not _tls or _verbosity < 2:
                return _stale(frame, event, arg)
            top = stack[-1] if stack else None
            if top is None or top[0] is not frame:
                top = _resync(st, frame, local)
            _, fid, info = top
            depth = len(stack) - 1
            if event == "return":
                if not info[2] and _verbosity < 4:  # a function that returns (the call storm)
                    entry = (info[4], RETURN, now, tid, fid, frame.f_lineno, depth, None)
                    try:
                        stack.pop()  # (cheaper than del stack[-1], but it checks for signals:)
                    except BaseException as exc:  # after it, so only the record is left to do
                        put(entry)
                        return _settle[exc] or local
                    try:
                        put(entry)
                    except BaseException as exc:
                        return _settle[exc] or local
                    return local
                kind, extra, state = _ending(frame, info, fid, arg, vars_of, frame in raised)
                entry = (info[4], RETURN, now, tid, fid, frame.f_lineno, depth, extra)
            elif event == "line":  # (changes nothing a second pass would change again)
                if raised and frame in raised:
                    del raised[frame]
                if _verbosity < 3:
                    frame.f_trace_lines = False
                    return local
                line = frame.f_lineno
                entry = (info[4], LINE, now, tid, fid, line, depth,
                         _line_changes(vars_of, fid, frame, info[1], line, now)
                         if _verbosity >= 4 else None)
                try:
                    put(entry)
                except BaseException as exc:
                    return _settle[exc] or local
                return local
            elif arg[1] is _refused[0]:
                _strip(arg[1], arg[2])
        except BaseException as exc:
            return _redo[exc, local, frame, event, arg]
        try:
            if event == "return":
                if raised and frame in raised:
                    del raised[frame]
                if state is not None:
                    del vars_of[fid]
                if kind == 1:
                    _suspended[frame] = (fid, state, st, info[4], frame.f_lineno)
                try:
                    stack.pop()  # (as above)
                except BaseException as exc:
                    put(entry)
                    return _settle[exc] or local
                put(entry)
            elif event == "exception":
                if info[2]:  # handled if a line runs before the frame returns (see _exit_kind)
                    raised[frame] = None
                    frame.f_trace_lines = True
                _exception(st, fid, depth, frame, arg[1], arg[2], frame.f_lineno)
            return local
        except BaseException as exc:
            return _settle[exc] or local

    return call, local


for _hook in (_global, _stale, _with_hooks, _redo_work, _settle_work):
    _hook.__code__ = _no_entry_check(_hook.__code__)
_hooks.__code__ = _no_entry_check(_hooks.__code__, ("call", "local"))


def _ending(frame, info, fid, arg, vars_of, raised):
    """How a generator's frame, or any at verbosity 4, ended (settrace's `return` event):
    (kind: 0 returned, 1 suspended, 2 left by an exception, the record's extra, its values'
    state). Apart from `local`, which it would make longer for every event."""
    kind = _exit_kind(frame, info)
    if kind == 1 and arg is None and raised:
        kind = 2  # thrown in at the yield, it left from there
    extra = state = None
    if _verbosity >= 4:
        if kind != 2:  # (left by an exception: its record compared them all)
            extra = _changes(vars_of, fid, frame, info[1], {"value": _value_pair(arg, _limit, _redact)})
        state = vars_of.get(fid)
    if kind == 1:
        extra = dict(extra, **YIELDED) if extra else YIELDED
    return kind, extra, state


def _resync(st, frame, local):
    """The stack entry of `frame` when it is not on top: frames above it ended unseen (the
    job replaced the trace function for a while), or it began or resumed unseen (3.11 checks
    for pending work before the call event: the job's exception may arise there)."""
    stack = st[1]
    for i in range(len(stack) - 1, -1, -1):
        if stack[i][0] is frame:
            del stack[i + 1:]
            return stack[i]
    info = _learn(frame.f_code)
    got = _suspended.get(frame)
    if got is None:
        _push_adopted(st, frame, info, local)
    else:
        _push_resumed(st, frame, info, got)
    return stack[-1]


def _push_resumed(st, frame, info, got):
    """The `call` record and stack entry of a suspended generator's frame that resumes;
    got is its entry in _suspended (settrace). What it reads first, its record last."""
    tid, stack, vars_of, _ = st
    fid, state = got[0], got[1]
    if state is not None:
        vars_of[fid] = state
    now = _time()
    extra = _changes(vars_of, fid, frame, info[1], RESUMED) if _verbosity >= 4 else RESUMED
    _unsuspend(_suspended, frame)
    stack.append((frame, fid, info))
    _frame((info[4], CALL, now, tid, fid, frame.f_lineno, len(stack) - 1, extra))


def _unsuspend(suspended, frame):
    """Take a resumed frame out of `suspended` with no call that checks for signals (the
    control thread may have taken it out already)."""
    try:
        del suspended[frame]
    except KeyError:
        pass


_unsuspend.__code__ = _no_entry_check(_unsuspend.__code__)


def _settrace_install(level, old):
    if level >= 2:
        _real_threading_settrace(_global)
        if _get_ident() == _ctl_ident:
            if old < 2:
                _schedule_main_thread()
            if level >= 3 and old == 2:
                for top in sys._current_frames().values():
                    f = top
                    while f is not None:
                        if f.f_trace is not None and id(f.f_code) in _traced:
                            f.f_trace_lines = True
                        f = f.f_back
        else:
            _real_settrace(_global)
    else:
        _real_threading_settrace(None)
        if _get_ident() != _ctl_ident and _ours(_real_gettrace()):
            _real_settrace(None)


def _schedule_main_thread():
    """Start tracing in the running main thread (settrace only reaches the calling thread).

    A pending call runs in the main thread at its next bytecode boundary; it installs
    the trace function there and takes over the frames already running.
    """
    import ctypes

    callback_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)

    def in_main_thread(_arg):
        try:
            if _verbosity >= 2 and not _faulted and getattr(_tls, "st", None) is None:
                _real_settrace(_global)
                _adopt(_getframe(1))
        except Exception as exc:
            _fault(exc)
        return 0

    callback = callback_type(in_main_thread)
    _keep[:] = [callback]
    _capi("Py_AddPendingCall", ctypes.c_int, callback_type, ctypes.c_void_p)(callback, None)


def _watch_main():
    """Re-arm the main thread when CPython dropped its trace function unseen (settrace).

    An exception from a signal handler (KeyboardInterrupt) can land on a hook's very first
    instruction, before its `try` (3.11 runs signal handlers there): CPython then drops the
    thread's trace function and no hook of the tracer ever runs in it again. Every
    WATCH_EVERY ticks the control thread compares the main thread's innermost traced frame
    with the top of its hooks' stack; when they differ twice in a row, a pending call in the
    main thread checks, and puts the hooks back (and the local trace of the traced frames
    that lost it), with a marker. (The call runs as Python code in the main thread, which a
    job's own profiler or trace function would see: it runs only when tracing was lost.)"""
    global _rearm_pending, _watch_ticks, _suspect
    if _backend != "settrace" or _verbosity < 2 or _faulted or _rearm_pending:
        return
    _watch_ticks += 1
    if _watch_ticks % WATCH_EVERY:
        return
    lost = _main_lost()
    _suspect, suspected = lost, _suspect
    if not (lost and suspected):
        return
    _suspect = False
    import ctypes

    if not _rearm_keep:
        _rearm_keep.append(ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)(_rearm_main))
        _rearm_keep.append(_capi("Py_AddPendingCall", ctypes.c_int, type(_rearm_keep[0]),
                                 ctypes.c_void_p))
    callback, add = _rearm_keep
    _rearm_pending = True  # before the call: the main thread may run it at once
    if add(callback, None) != 0:
        _rearm_pending = False


def _main_lost():
    """Does the main thread run a traced frame its hooks did not see start (or see end)?"""
    st = _main_state
    if st is None or _main_job_tracer:
        return False
    f = sys._current_frames().get(threading.main_thread().ident)
    while f is not None and id(f.f_code) not in _traced:
        f = f.f_back
    stack = st[1]
    return f is not None and (not stack or stack[-1][0] is not f)


def _rearm_main(_arg):
    """The pending call of _watch_main, in the main thread."""
    global _rearm_pending
    _rearm_pending = False
    try:
        hooks = getattr(_tls, "hooks", None)
        if _verbosity < 2 or _faulted or _real_gettrace() is not None or hooks is None:
            return 0
        _real_settrace(_global)
        _record("marker", {"text": "an exception reached the tracer's hook in the main thread "
                                   "before the hook could see it; tracing is back, the calls "
                                   "of the last %d ms are not recorded" % (POLL * WATCH_EVERY * 1000),
                           "gap": True})
        on_stack = {entry[0] for entry in _tls.st[1]}
        f = _getframe(1)
        while f is not None:
            if f.f_trace is None and f in on_stack:
                f.f_trace = hooks[1]
                f.f_trace_lines = _verbosity >= 3
            f = f.f_back
    except KeyboardInterrupt:  # the job's, arrived in this very call: it gets it again
        _thread.interrupt_main()
    except Exception as exc:
        _fault(exc)
    return 0


# --- sys.monitoring back-end (CPython 3.12+) ---------------------------------------------
# Global events: PY_START (to meet each code object once: DISABLE where it is not user
# code) and the exception events, which cannot be local. Each user code object gets the
# rest as local events, so the job's other code never calls back. Lines of returns,
# resumptions and exceptions are instruction offsets, which the monitor turns into lines
# (it has each code's line table): no frame object is made for them.
_tool = None
_local_events = 0
_local_codes = []  # code objects whose local events are set
_loop_lines = {}  # (id(code), offset of a backward jump) -> its line when it jumps to it, else None
# 3.13 checks for pending work (a signal) before it calls PY_START or PY_RESUME: a frame whose
# start or resumption raised the job's exception gets no such event, only RAISE at a RESUME.
_CHECKS_BEFORE_START = sys.version_info >= (3, 13)
_resumes = {}  # id(code) -> offsets of its RESUME instructions (traced code, 3.13+)
if hasattr(sys, "monitoring"):
    _M = sys.monitoring
    _E = _M.events
    _DISABLE = _M.DISABLE
    _GLOBAL_EVENTS = _E.PY_START | _E.PY_THROW | _E.PY_UNWIND | _E.RAISE
    _CALL_EVENTS = _E.PY_RESUME | _E.PY_RETURN | _E.PY_YIELD

    def _adopted_top(frame):
        """(state, depth, fid) of this thread's innermost frame when it had no state or an
        empty stack, now that it has adopted the running frames from `frame` out (_state)."""
        st = _state(frame)
        if st is None:
            return None, None, None
        depth = len(st[1]) - 1
        return st, depth, st[1][depth]

    def _job_frame():
        """The frame of the hook's event: the innermost that is not the tracer's (a hook may
        run inside _redo_work, or another hook)."""
        f = _getframe(2)
        while f.f_code.co_filename == __file__:
            f = f.f_back
        return f

    def _state(frame):
        """This thread's state when it has none (a new thread or generation), or when its
        stack is empty (a frame that began unseen): adopts the running traced frames."""
        st = getattr(_tls, "st", None)
        if st is None:
            return _adopt(frame)
        if not st[1]:
            _push_adopted(st, frame, _learn(frame.f_code))
        return st

    # Each hook reads what its event needs first (an exception of the job's there: the
    # hook's whole work again, then the exception handed back), then changes the state with
    # no call that checks for signals, its record last (see _redo).
    def _m_start(code, offset):
        try:
            key = id(code)
            if key not in _traced and _learn(code) is None:
                return _DISABLE
            try:
                tid, stack, vars_of, _ = _tls.st
            except AttributeError:
                st = _adopt(_job_frame().f_back)
                if st is None:
                    return None
                tid, stack, vars_of, _ = st
            depth = len(stack)
        except BaseException as exc:
            return _redo[exc, _m_start, code, offset]
        if depth >= _deep and _too_deep():
            stack.append(None)  # a frame that fails at its start, as it would plain
            exc = RecursionError(RECURSION_MESSAGE)
            _refused[:] = [exc, _job_frame()]
            raise exc
        try:
            fid = next(_fids)
            entry = (key, CALL, _time(), tid, fid, None, depth,
                     _changes(vars_of, fid, _job_frame(), _traced[key][1], None, "args")
                     if _verbosity >= 4 else None)
        except BaseException as exc:
            return _redo[exc, _m_start, code, offset]
        try:
            stack.append(fid)
            _frame(entry)
            return None
        except BaseException as exc:
            return _settle[exc]

    def _m_resume(code, offset):
        try:
            frame = _getframe(1)
        except BaseException as exc:
            return _redo[exc, _resumed, code, offset, _getframe(1)]
        _resumed(code, offset, frame)

    def _m_throw(code, offset, exc):
        """PY_THROW (a global event: of any code), as a resumption."""
        try:
            frame = _job_frame()
        except BaseException as caught:
            return _redo[caught, _m_throw, code, offset, exc]
        _resumed(code, offset, frame)

    def _resumed(code, offset, frame):
        try:
            key = id(code)
            if key not in _traced:
                return
            try:
                tid, stack, vars_of, _ = _tls.st
            except AttributeError:
                st = _adopt(frame.f_back)
                if st is None:
                    return
                tid, stack, vars_of, _ = st
            suspended = _suspended
            got = suspended.get(frame)
            if got is None:  # suspended before this generation
                fid = next(_fids)
                extra = (_changes(vars_of, fid, frame, _traced[key][1], ADOPTED, "args")
                         if _verbosity >= 4 else ADOPTED)
            else:
                fid, state = got[0], got[1]
                if state is not None:
                    vars_of[fid] = state
                extra = (_changes(vars_of, fid, frame, _traced[key][1], RESUMED)
                         if _verbosity >= 4 else RESUMED)
            now = _time()
        except BaseException as exc:
            return _redo[exc, _resumed, code, offset, frame]
        try:
            if got is not None:
                _unsuspend(suspended, frame)
            stack.append(fid)
            _frame((key, CALL, now, tid, fid, -1 - offset, len(stack) - 1, extra))
        except BaseException as exc:
            return _settle[exc]

    def _m_return(code, offset, value):
        try:
            try:
                tid, stack, vars_of, _ = _tls.st
                depth = len(stack) - 1  # (stack[-1] would never be specialized)
                fid = stack[depth]
            except (AttributeError, IndexError):
                st, depth, fid = _adopted_top(_job_frame())
                if st is None:
                    return
                tid, stack, vars_of, _ = st
            entry = (id(code), RETURN, _time(), tid, fid, -1 - offset, depth,
                     _changes(vars_of, fid, _job_frame(), _traced[id(code)][1],
                              {"value": _value_pair(value, _limit, _redact)})
                     if _verbosity >= 4 else None)
        except BaseException as exc:
            return _redo[exc, _m_return, code, offset, value]
        try:
            if vars_of and fid in vars_of:
                del vars_of[fid]
            stack.pop()  # (cheaper than del stack[-1], but it checks for signals:)
        except BaseException as exc:  # after it, so only the record is left to do
            _frame(entry)
            return _settle[exc]
        try:
            _frame(entry)
        except BaseException as exc:
            return _settle[exc]

    def _m_yield(code, offset, value):
        try:
            frame, key = _job_frame(), id(code)
            try:
                st = _tls.st
                tid, stack, vars_of, _ = st
                depth = len(stack) - 1
                fid = stack[depth]
            except (AttributeError, IndexError):
                st, depth, fid = _adopted_top(frame)
                if st is None:
                    return
                tid, stack, vars_of, _ = st
            entry = (key, RETURN, _time(), tid, fid, -1 - offset, depth, YIELDED if _verbosity < 4
                     else _changes(vars_of, fid, frame, _traced[key][1],
                                   {"yield": True, "value": _value_pair(value, _limit, _redact)}))
            state = vars_of.get(fid) if vars_of else None
        except BaseException as exc:
            return _redo[exc, _m_yield, code, offset, value]
        try:
            if state is not None:
                del vars_of[fid]
            _suspended[frame] = (fid, state, st, key, -1 - offset)
            stack.pop()  # (checks for signals after it: only the record is left to do)
        except BaseException as exc:
            _frame(entry)
            return _settle[exc]
        try:
            _frame(entry)
        except BaseException as exc:
            return _settle[exc]

    def _m_unwind(code, offset, exc):
        try:
            key = id(code)
            if key not in _traced:
                return
            try:
                tid, stack, vars_of, _ = _tls.st
                depth = len(stack) - 1  # (stack[-1] would never be specialized)
                fid = stack[depth]
            except (AttributeError, IndexError):
                st, depth, fid = _adopted_top(_job_frame())
                if st is None:
                    return
                tid, stack, vars_of, _ = st
            entry = (key, RETURN, _time(), tid, fid, -1 - offset, depth, None)
        except BaseException as caught:
            return _redo[caught, _m_unwind, code, offset, exc]
        try:
            if vars_of and fid in vars_of:
                del vars_of[fid]
            stack.pop()  # (checks for signals after it: only the record is left to do)
        except BaseException as caught:
            if fid is not None:
                _frame(entry)
            return _settle[caught]
        try:
            if fid is not None:  # (None: the frame failed at its start, never recorded)
                _frame(entry)
        except BaseException as caught:
            return _settle[caught]

    def _m_raise(code, offset, exc):
        try:
            key = id(code)
            if key not in _traced:
                return
            frame = _job_frame()
            st = getattr(_tls, "st", None)
            if st is None or not st[1]:
                st = _state(frame)
                if st is None:
                    return
            stack = st[1]
            # 3.13: raised where it starts or resumes, before PY_START or PY_RESUME
            unseen = (_CHECKS_BEFORE_START and stack[-1] is not None
                      and offset in _resumes_of(code))
        except BaseException as caught:
            return _redo[caught, _m_raise, code, offset, exc]
        try:
            if stack[-1] is None:  # the frame failed at its start (_m_start)
                if exc is _refused[0]:
                    exc.__traceback__ = None  # the caller's frame starts it again, as plain
                return
            if unseen:
                if frame in _suspended:
                    _resumed(code, offset, frame)
                else:
                    _m_start(code, offset)
            _exception(st, stack[-1], len(stack) - 1, frame, exc, exc.__traceback__,
                       -1 - offset)
        except BaseException as caught:
            return _settle[caught]

    def _resumes_of(code):
        """The offsets of code's RESUME instructions."""
        found = _resumes.get(id(code))
        if found is None:
            import opcode

            raw, resume = code.co_code, opcode.opmap["RESUME"]
            found = _resumes[id(code)] = frozenset(i for i in range(0, len(raw), 2) if raw[i] == resume)
        return found

    def _m_line(code, line):
        try:
            now, key = _time(), id(code)
            try:
                tid, stack, vars_of, _ = _tls.st
                depth = len(stack) - 1  # (stack[-1] would never be specialized)
                fid = stack[depth]
            except (AttributeError, IndexError):
                st, depth, fid = _adopted_top(_job_frame())
                if st is None:
                    return
                tid, stack, vars_of, _ = st
            extra = (_line_changes(vars_of, fid, _job_frame(), _traced[key][1], line, now)
                     if _verbosity >= 4 else None)
        except BaseException as exc:
            return _redo[exc, _m_line, code, line]
        try:
            _frame((key, LINE, now, tid, fid, line, depth, extra))
        except BaseException as exc:
            return _settle[exc]

    def _m_jump(code, src, dest):
        """A backward jump to the line it jumps from (a loop on one line, a comprehension):
        settrace, the spec's semantics, calls that a new line, LINE does not. Every other
        jump is disabled where it is, at its first pass."""
        if dest > src:
            return _DISABLE
        try:
            key = (id(code), src)
            line = _loop_lines.get(key, 0)
            if line == 0:
                line = _loop_lines[key] = _same_line(code, src, dest)
            if line is None:
                return _DISABLE
            try:  # _m_line's record, inline: this runs once per pass of a one-line loop
                tid, stack, vars_of, _ = _tls.st
                depth = len(stack) - 1
                fid = stack[depth]
            except (AttributeError, IndexError):
                return _m_line(code, line)
            now = _time()
            extra = (_line_changes(vars_of, fid, _job_frame(), _traced[key[0]][1], line, now)
                     if _verbosity >= 4 else None)
        except BaseException as exc:
            return _redo[exc, _m_jump, code, src, dest]
        try:
            _frame((key[0], LINE, now, tid, fid, line, depth, extra))
        except BaseException as exc:
            return _settle[exc]
        return None

    def _m_host(code, offset):
        """The control thread's loop, run inside this callback of the tracer at an instruction
        of _ctl_main (the only code with this event): inside a callback no tool sees events,
        so the job's cProfile, which sees every thread, does not count the tracer's work."""
        box = _getframe(1).f_locals.get("box")
        if box:
            args = box[:]
            del box[:]
            _ctl_loop(*args)

    def _same_line(code, src, dest):
        """The line of `dest` when `src` is on it too, else None."""
        lines = {}
        for start, end, line in code.co_lines():
            for offset in (src, dest):
                if start <= offset < end:
                    lines[offset] = line
        line = lines.get(dest)
        return line if line is not None and line == lines.get(src) else None

    for _hook in (_m_start, _m_resume, _m_throw, _resumed, _m_return, _m_yield, _m_unwind, _m_raise,
                  _m_line, _m_jump):
        _hook.__code__ = _no_entry_check(_hook.__code__)
    _CALLBACKS = (
        (_E.PY_START, _m_start), (_E.PY_RESUME, _m_resume), (_E.PY_THROW, _m_throw),
        (_E.PY_RETURN, _m_return), (_E.PY_YIELD, _m_yield), (_E.PY_UNWIND, _m_unwind),
        (_E.RAISE, _m_raise), (_E.LINE, _m_line), (_E.JUMP, _m_jump),
        (_E.INSTRUCTION, _m_host),
    )


def _claim_tool():
    """The tracer's sys.monitoring tool id, claimed once (None: none is free)."""
    global _tool
    if _tool is None:
        tool = next((t for t in TOOL_IDS if _M.get_tool(t) is None), None)
        if tool is None:
            return None
        _M.use_tool_id(tool, "jem")
        _tool = tool
        for event, callback in _CALLBACKS:
            _M.register_callback(_tool, event, callback)
    return _tool


def _monitoring_install(level, old):
    global _local_events
    if _tool is None:
        if level < 2:
            return
        if _claim_tool() is None:
            raise RuntimeError("no free sys.monitoring tool id")
    _M.set_events(_tool, _GLOBAL_EVENTS if level >= 2 else 0)
    events = 0 if level < 2 else _CALL_EVENTS | (_E.LINE | _E.JUMP if level >= 3 else 0)
    if events != _local_events:
        _local_events = events
        for code in _local_codes:
            _M.set_local_events(_tool, code, events)


def _install(level, old):
    _set_headroom(level >= 2)
    if _raw is not None:
        _raw.version = 4 if level >= 4 else 2
    if _backend == "monitoring":
        _monitoring_install(level, old)
    else:
        _settrace_install(level, old)

# --- generators that end unseen ----------------------------------------------------------
# A suspended generator can end with no event a hook sees: on 3.13 close() (or its garbage
# collection) of one suspended outside any try block just drops its frame, and on 3.9/3.10
# one whose last reference was a stale copy of a frame's locals dies inside the tracer's
# own call, where CPython reports nothing. The control thread looks at the suspended
# frames every tick (SWEEP_LIMIT of them a tick) and records the end of those whose
# generator let them go: on 3.12 and before a generator that ends resumes first (as
# cProfile counts it), unseen, so a marker says that what it ran then is not recorded;
# on 3.13 it does not resume.
SWEEP_LIMIT = 500
_CLEAR_PROBE = sys.version_info >= (3, 13)  # frame.clear() refuses a suspended frame only from 3.13
_refcount = sys.getrefcount
_sweep_at = 0
_unseen_said = False


def _refcounts(items):
    return [_refcount(pair[0]) for pair in items]


def _alone():
    """What _refcounts says of a key of _suspended that nothing else holds."""
    keys = {object(): None}
    return _refcounts(list(keys.items()))[0]


_ALONE = _alone()


def _sweep(limit=SWEEP_LIMIT):
    """Record the end of the suspended generators that ended unseen (see above)."""
    global _sweep_at, _unseen_said
    suspended = _suspended
    if not suspended or _verbosity < 2:
        return
    items = list(suspended.items())
    if len(items) > limit:
        start = _sweep_at % len(items)
        _sweep_at = start + limit
        items = (items[start:] + items[:start])[:limit]
    refs = _refcounts(items)
    for i, (frame, entry) in enumerate(items):
        if refs[i] > _ALONE:
            if not _CLEAR_PROBE:
                continue
            try:  # done and dropped by close() (a no-op then), or still suspended (refused)
                frame.clear()
            except RuntimeError:
                continue
        if suspended.pop(frame, None) is not entry:
            continue
        fid, _, st, key, line = entry
        tid, depth, now = st[0], len(st[1]), _time()
        if not _CLEAR_PROBE:
            _frame((key, CALL, now, tid, fid, line, depth, RESUMED))
            if not _unseen_said:
                _unseen_said = True
                code = _traced[key][0]
                _record("marker", {"gap": True, "text": (
                    "generator %s (%s) ended inside the tracer's own call, where CPython reports "
                    "no events (3.9/3.10: its last reference was the tracer's copy of a frame's "
                    "locals): what it and others like it ran as they closed is not recorded"
                    % (getattr(code, "co_qualname", code.co_name), code.co_filename))})
        _frame((key, RETURN, now, tid, fid, line, depth, None))


# --- verbosity, faults, control --------------------------------------------------------
def set_verbosity(level):
    """Change what this process records (0..4); a marker record shows the change."""
    global _verbosity
    if _faulted or level == _verbosity:
        return
    old = _verbosity
    if max(old, level) >= 1:
        _record("marker", {"text": "verbosity %d" % level, "verbosity": level})
    if (old < 2) != (level < 2):
        _new_generation()
    _verbosity = level
    _install(level, old)


def _handler_signal(exc):
    """The signal whose handler (the job's own, a Python function CPython ran inside a hook)
    raised `exc`, found in its traceback; None when no handler of the job's raised it."""
    try:
        signals = {}  # handler's code -> its signals
        for signum in signal.valid_signals():
            handler = _real_getsignal(signum)
            code = getattr(handler, "__code__", None) or getattr(
                getattr(handler, "__func__", None), "__code__", None)
            if code is not None and not _ours_code(code):
                signals.setdefault(code, []).append(signum)
        tb = exc.__traceback__
        while tb is not None:
            found = signals.get(tb.tb_frame.f_code)
            if found:  # several signals with one handler: the one it was called for
                f = tb.tb_frame
                args = [f.f_locals.get(name) for name in f.f_code.co_varnames[:2]]
                return next((signum for signum in found if signum in args), found[0])
            tb = tb.tb_next
    except Exception:
        pass
    return None


def _fault(exc):
    """A fault inside the tracer: say so in the stream and stop tracing this process.
    True when `exc` is the job's own (from its signal handler): the hook must raise it on,
    so the job sees it where it would have plain."""
    global _faulted, _verbosity
    if _handler_signal(exc) is not None:
        if _backend == "settrace":
            _rearm_later(exc)  # an exception leaving a settrace hook drops the trace function
        return True
    if _faulted:
        return False
    if isinstance(exc, (RecursionError, MemoryError)):  # the job's stack or memory, not a bug
        try:
            _dropped(exc)
        except Exception:
            pass
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
            code = f.f_code
            user = _is_user(code)
            entry = {
                "file": code.co_filename, "line": f.f_lineno,
                "func": getattr(code, "co_qualname", code.co_name), "user": user,
                "locals": vars_map(f, not (code.co_flags & CO_NEWLOCALS)) if user else {},
            }
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
        signal.pthread_sigmask(signal.SIG_BLOCK, _TERM_SIGNALS)
    except (AttributeError, OSError, ValueError):
        pass
    try:
        while _ctl_token is token:
            _woken(wake)
            if _ctl_token is not token:
                break
            try:
                _sweep()
                _raw.flush()
                _poll_control()
                _watch_main()
            except Exception as exc:
                _fault(exc)
    finally:
        done.release()


def _ctl_main(token, wake, done):
    """The control thread (on 3.12+ its loop runs in the tracer's callback _m_host)."""
    box = [token, wake, done]
    if box:
        _ctl_loop(token, wake, done)


def _start_control():
    global _ctl_token, _ctl_wake, _ctl_done
    _ctl_token = token = object()
    _ctl_wake = _thread.allocate_lock()
    _ctl_wake.acquire()
    _ctl_done = _thread.allocate_lock()
    _ctl_done.acquire()
    if _backend == "monitoring" and _claim_tool() is not None:
        _M.set_local_events(_tool, _ctl_main.__code__, _E.INSTRUCTION)
    _thread.start_new_thread(_ctl_main, (token, _ctl_wake, _ctl_done))


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
    global _raw, _put, _frame, _sources
    pid = os.getpid()
    _raw = _jem_raw.RawWriter(os.path.join(_config["raw"], "%d.bin" % pid))
    _put, _frame = _raw.put, _raw.frame
    _raw.version = 4 if _verbosity >= 4 else 2
    _sources = set()
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
    for info in list(_traced.values()):  # a forked child's stream names them afresh
        _send_code(info[0])
    # Only now may the hooks take over the running frames (a forked child's adopted calls
    # name codes this stream has just named; until here they write to the parent's queue).
    _new_generation()
    _raw.flush()  # a process killed early still leaves its start
    _wrote_out()
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
    global _verbosity, _finished
    if _raw is None or _finished or _raw.fd < 0:
        return
    _finished = True
    _stop_control()
    try:
        _sweep(len(_suspended))
    except Exception:
        pass
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
    lost = sum(_lost.values())
    if lost > len(_lost):
        _record("marker", {"text": "the tracer lost %d events in all (%s)" % (
            lost, ", ".join("%s: %d" % item for item in sorted(_lost.items()))), "gap": True})
    _put((_jem_raw.END,))
    _raw.flush()  # the file stays open: a signal that ends the process even now says so (_die)
    _register(False)
    # From here on a signal ends the process at once, as plain: Python runs no more handlers
    # once atexit is done, so one caught now would be lost. signal.signal runs a pending one.
    _arm_term(False)
    _own_wakeup(False)
    _wrote_out()


def _at_exit():
    try:
        _finish(_exit_code)
    except Exception:
        pass


def _before_fork():
    _stop_control()
    _own_wakeup(False)  # the child's signals must not wake this process's control thread
    try:
        _raw.flush()
    except Exception:
        pass
    _wrote_out()


def _after_fork_parent():
    _own_wakeup(True)
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
        for fd in _wake_fds or ():
            os.close(fd)
        _open_wake()
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
                _put((_jem_raw.END,))  # all written: the new image, if traced, goes on
                _raw.flush()
            except Exception:
                pass
            _wrote_out()
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
    _jem_changes.setup(_limit, _redact, config.get("values") == "exact")
    _include = tuple(config.get("include", ()))
    _exclude = tuple(config.get("exclude", ()))
    _system = _system_dirs()
    _backend = "monitoring" if hasattr(sys, "monitoring") else "settrace"
    control = _read_json(os.path.join(run_dir, CONTROL_FILE)) or {}
    level = control.get("verbosity", config.get("verbosity", 1))
    _verbosity = level if type(level) is int and 0 <= level <= 4 else 1
    _last_snapshot = control.get("snapshot")
    _open_raw()
    _hide()
    _arm_term(True)
    _open_wake()
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
