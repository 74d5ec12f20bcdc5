"""A multiprocessing Pool used as a context manager: its __exit__ terminates the workers
(SIGTERM) as soon as the results are in. Prints how many tasks each worker pid ran, and
how each worker ended (multiprocessing's exit code: -15 for SIGTERM)."""

import json
import multiprocessing
import os
import sys


def work(x):
    return os.getpid()


if __name__ == "__main__":
    context = multiprocessing.get_context(sys.argv[1])
    with context.Pool(3) as pool:
        pids = pool.map(work, range(int(sys.argv[2])), chunksize=10)
    workers = pool._pool  # a test's look inside: how each worker ended
    for proc in workers:
        proc.join()
    counts = {}
    for pid in pids:
        counts[pid] = counts.get(pid, 0) + 1
    print(json.dumps({"tasks": counts, "exits": {p.pid: p.exitcode for p in workers}}))
