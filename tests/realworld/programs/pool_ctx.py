"""A multiprocessing Pool used as a context manager: its __exit__ terminates the workers
(SIGTERM) as soon as the results are in. Prints how many tasks each worker pid ran."""

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
    counts = {}
    for pid in pids:
        counts[pid] = counts.get(pid, 0) + 1
    print(json.dumps(counts))
