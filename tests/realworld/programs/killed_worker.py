"""A worker process that makes calls, says so, and is killed at once by its parent
(SIGKILL): the parent prints the worker's pid and how many calls it made."""

import multiprocessing
import os
import signal
import sys


def step(i):
    return i + 1


def worker(conn, n):
    total = 0
    for _ in range(n):
        total = step(total)
    conn.send(total)
    signal.pause()


if __name__ == "__main__":
    context = multiprocessing.get_context(sys.argv[1])
    parent, child = context.Pipe()
    proc = context.Process(target=worker, args=(child, int(sys.argv[2])))
    proc.start()
    made = parent.recv()
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    print(proc.pid, made)
