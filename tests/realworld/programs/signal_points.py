"""A signal handler's exception at the points where the tracer's hooks run first.

Each scenario trips a signal from C code (`_thread.interrupt_main`, called by an iterator
that C code drives), so no bytecode that checks for pending signals runs between the trip
and the point under test: a generator resumed after `yield from` (CPython's
test_generators.SignalAndYieldFromTest), a function's start, a return, a yield, a line.
Plain, CPython's own rules fix which `try` catches it; under the monitor it must be the
same one, with the same exception (type, arguments and, for a custom handler, its frame).
"""

import _thread
import signal
import sys
import traceback
from itertools import chain

try:
    import _testcapi
except ImportError:
    _testcapi = None

ANY_SIGNAL = sys.version_info >= (3, 10)  # _thread.interrupt_main(signum)


class Timeout(Exception):
    """What the job's own SIGUSR1 handler raises (as a timeout decorator does)."""


def on_usr1(signum, frame):
    raise Timeout("usr1", signum)


def trip():
    """Iterated by C code: trips SIGINT and ends, with no bytecode run in between."""
    return iter(_thread.interrupt_main, None)


def trip_usr1():
    return map(_thread.interrupt_main, [signal.SIGUSR1])


# -- a generator resumed after `yield from` (the resumed generator catches it) ---------------
def generator1():
    return (yield from generator2())


def generator2():
    try:
        yield
    except KeyboardInterrupt:
        return "generator2 caught"
    return "generator2 not interrupted"


def resumed_after_yield_from():
    gen = generator1()
    gen.send(None)
    try:
        _testcapi.raise_SIGINT_then_send_None(gen)
    except StopIteration as stop:
        return stop.value
    return "not stopped"


# -- a function's start (the caller catches it: the callee's try is not entered yet) ---------
def target(x):
    try:
        return "target ran"
    except KeyboardInterrupt:
        return "target caught"


def started():
    return list(chain(trip(), map(target, [1])))


# -- a return (the caller catches it, not the returning function) ----------------------------
def returning():
    try:
        return [*trip()]
    except KeyboardInterrupt:
        return "returning caught"


# -- a yield (the consumer catches it, not the generator) ------------------------------------
def yielding():
    try:
        yield [*trip()]
    except KeyboardInterrupt:
        yield "yielding caught"


def consumed():
    return next(yielding())


# -- a line (no check before the function returns: the caller catches it) --------------------
def lines():
    try:
        x = [*trip()]
        y = x
    except KeyboardInterrupt:
        return "lines caught"
    return "lines ran " + repr(y)


# -- the job's own handler: its exception raised at a function's start ----------------------
def started_usr1():
    return list(chain(trip_usr1(), map(target, [1])))


# -- ... and at a return: the caller's next C call that checks for signals (print) gets it ---
def returning_usr1():
    try:
        return [*trip_usr1()]
    except Timeout:
        return "returning_usr1 caught"


def main():
    scenarios = [started, returning, consumed, lines]
    if _testcapi is not None and hasattr(_testcapi, "raise_SIGINT_then_send_None"):
        scenarios.insert(0, resumed_after_yield_from)
    if ANY_SIGNAL:
        signal.signal(signal.SIGUSR1, on_usr1)
        scenarios += [started_usr1, returning_usr1]
    for scenario in scenarios:
        try:
            result = scenario()
            print(scenario.__name__, "returned", result, flush=True)
        except (KeyboardInterrupt, Timeout) as exc:
            print(scenario.__name__, "caller caught", type(exc).__name__, exc.args, flush=True)
            names = [entry.name for entry in traceback.extract_tb(exc.__traceback__)]
            print("  traceback", names, flush=True)
        print("  then", [target(i) for i in range(2)], flush=True)


if __name__ == "__main__":
    main()
