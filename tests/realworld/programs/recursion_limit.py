"""Recursion to the interpreter's limit: `probe` prints the deepest descent that works here;
`check N` descends N and N + 1 levels and prints what each did; `caught` recurses without
end, catches the RecursionError and goes on calling; every mode prints what the job sees
of tracing (sys.gettrace, threading.gettrace, the recursion limit, sys.monitoring's tools)."""

import sys
import threading


def down(n):
    # no nested C call (a comparison) in the deepest frame: up to 3.11 CPython counts those
    # against the limit too, and the tracer only guarantees the frames
    if n:
        return down(n - 1) + 1
    return 0


def attempt(n):
    try:
        return down(n) == n
    except RecursionError:
        return "RecursionError"


def probe():
    low, high = 1, 100000
    while low < high:
        mid = (low + high + 1) // 2
        if attempt(mid) is True:
            low = mid
        else:
            high = mid - 1
    return low


def check(n):
    return attempt(n), attempt(n + 1)


def forever(n):
    return forever(n + 1)


def after(i):
    return i * i


def seen():
    tools = None
    if hasattr(sys, "monitoring"):
        tools = [sys.monitoring.get_tool(i) for i in range(6)]
    return [repr(sys.gettrace()), repr(getattr(threading, "gettrace", lambda: None)()),
            sys.getrecursionlimit(), tools]


mode = sys.argv[1]
print("seen", seen())
if mode == "probe":
    print("deepest", probe())
elif mode == "check":
    print("results", check(int(sys.argv[2])))
elif mode == "caught":
    for _ in range(2):
        try:
            forever(0)
        except RecursionError as exc:
            print("caught", exc)
    # A test suite's way: switch tracing off for a while, then put back what was there.
    old = sys.gettrace()
    sys.settrace(None)
    sys.settrace(old)
    print("after", [after(i) for i in range(5)])
elif mode == "uncaught":
    forever(0)
print("seen", seen())
