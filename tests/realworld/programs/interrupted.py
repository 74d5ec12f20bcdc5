"""A KeyboardInterrupt (SIGINT from a timer thread) lands while the job is deep in calls,
most likely inside the tracer's hook; the job catches it and goes on calling, at once and
a little later."""

import os
import signal
import threading
import time


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def after(i):
    return i + 1


def later(i):
    return i - 1


threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
start = time.time()
try:
    while time.time() - start < 30:
        fib(15)
    print("no interrupt")
except KeyboardInterrupt:
    print("interrupted")
print("after", [after(i) for i in range(5)])
time.sleep(0.5)
print("later", [later(i) for i in range(5)])
