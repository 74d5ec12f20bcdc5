"""A multiprocessing Pool used as a context manager (its __exit__ terminates the workers).

Besides its result, the job leaves in `workers.<pid>.json` how many tasks each worker ran.
"""

import collections
import json
import multiprocessing
import os
import sys


def square(x):
    return os.getpid(), x * x


def main(method, n):
    ctx = multiprocessing.get_context(method)
    with ctx.Pool(2) as pool:
        results = pool.map(square, range(n), chunksize=10)
    print(method, len(results), sum(value for _, value in results))
    with open(f"workers.{os.getpid()}.json", "w") as f:
        json.dump(collections.Counter(pid for pid, _ in results), f)
    print("done", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
