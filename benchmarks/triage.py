"""Speed and memory of `jemgui triage` on a corpus of pilot log tarballs (issue 17, "Speed").

    python -m benchmarks.triage [--jobs 2000] [--subset 400] [--workdir /tmp/jemgui-triage-bench]

Writes (once, kept in the work folder) `--jobs` tarballs of about 2.3 MB each
(`tests/triage/corpus.py`: pilot log, payload output, athena and AthenaMP worker logs
of `--log-lines` lines, prmon, JSON reports, and a compressed performance-monitor file
the reader skips but must read through), then runs `jemgui triage --json` in a fresh
process per phase, each with an empty cache of its own:

- on the first `--subset` tarballs: 1 worker (the baseline), 2 workers, and a Dask
  LocalCluster of 2 single-thread worker processes (`--scheduler`), with the CPU seconds
  per job of all the processes (the Dask workers' own counted through the client);
- on the whole corpus: 2 workers, then the same again (cached: no log is read).

It prints jobs per second and each as a ratio to the 1-worker baseline of the same run
(the machine is shared: ratios, not absolute times, compare), and the peak RSS of the
triage process and of its largest worker. The Dask run's result is checked equal to the
pool's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

RUNNER = """
import resource, sys
from jemgui.cli import main
code = main(["triage", *sys.argv[1:]])
me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
print(f"RSS {me.ru_maxrss / 1024:.0f} {kids.ru_maxrss / 1024:.0f} {cpu:.2f}", file=sys.stderr)
sys.exit(code)
"""


def _write_part(args):
    from tests.triage.corpus import make_corpus

    root, n, part, log_lines, binary_kb = args
    return len(make_corpus(Path(root), n=n, seed=2026, log_lines=log_lines, binary_kb=binary_kb, part=part))


def make(root: Path, n: int, log_lines: int, binary_kb: int) -> list[Path]:
    done = root / f"done-{n}-{log_lines}-{binary_kb}"
    if not done.exists():
        t = time.monotonic()
        with ProcessPoolExecutor(2) as pool:
            list(pool.map(_write_part, [(str(root / "corpus"), n, (k, 2), log_lines, binary_kb) for k in range(2)]))
        done.write_text("")
        print(f"corpus: {n} tarballs written in {time.monotonic() - t:.0f} s")
    files = sorted((root / "corpus").rglob("*.tgz.1"))[:n]
    size = sum(f.stat().st_size for f in files)
    print(f"corpus: {len(files)} tarballs, {size / 2**30:.2f} GiB, {size / len(files) / 2**20:.2f} MiB each on average")
    return files


def run(inputs: list[str], cache: Path, *extra: str) -> tuple[float, dict, float, float, float]:
    """(wall seconds, result, peak RSS MiB of the triage process, of its largest child, CPU seconds
    of the triage process and its children)."""
    env = {**os.environ, "JEMGUI_CACHE_DIR": str(cache)}
    t = time.monotonic()
    done = subprocess.run([sys.executable, "-c", RUNNER, *inputs, "--json", *extra], capture_output=True,
                          env=env)
    wall = time.monotonic() - t
    if done.returncode != 0:
        raise SystemExit(f"triage failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    rss = next(line for line in done.stderr.decode().splitlines() if line.startswith("RSS ")).split()
    return wall, json.loads(done.stdout), float(rss[1]), float(rss[2]), float(rss[3])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2000)
    ap.add_argument("--subset", type=int, default=400)
    ap.add_argument("--log-lines", type=int, default=1000)
    ap.add_argument("--binary-kb", type=int, default=2000)
    ap.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "jemgui-triage-bench"))
    a = ap.parse_args()
    root = Path(a.workdir)
    root.mkdir(parents=True, exist_ok=True)
    files = make(root, a.jobs, a.log_lines, a.binary_kb)
    subset = [str(f) for f in files[:a.subset]]
    caches = Path(tempfile.mkdtemp(prefix="caches-", dir=root))
    rows = []

    def phase(name, inputs, cache, *extra, other_cpu=lambda: 0.0):
        before = other_cpu()
        wall, result, rss, child, cpu = run(inputs, caches / cache, *extra)
        cpu += other_cpu() - before
        n = result["totals"]["jobs"]
        rows.append((name, n, wall, rss, child))
        print(f"  {name:<38} {n:>5} jobs {wall:7.1f} s {n / wall:6.2f} jobs/s, {cpu / n * 1000:5.0f} ms CPU/job, "
              f"rss {rss:4.0f} MiB, largest worker {child:4.0f} MiB", flush=True)
        return result, n / wall

    print(f"subset of {len(subset)} tarballs, each phase with an empty cache:")
    _, base = phase("pool, 1 worker (baseline)", subset, "one", "--workers", "1")
    pool_result, two = phase("pool, 2 workers", subset, "two", "--workers", "2")

    import resource

    from distributed import Client, LocalCluster

    def usage():
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime, r.ru_maxrss / 1024

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      env={"JEMGUI_CACHE_DIR": str(caches / "dask")}) as cluster, Client(cluster) as client:
        client.wait_for_workers(2)
        dask_result, dask = phase("Dask LocalCluster, 2 workers", subset, "dask-client", "--scheduler",
                                  cluster.scheduler_address,
                                  other_cpu=lambda: sum(c for c, _ in client.run(usage).values()))
        worker_mb = max(m for _, m in client.run(usage).values())
    print(f"  Dask workers' peak RSS {worker_mb:.0f} MiB; result equal to the pool's: {dask_result == pool_result}")

    print(f"whole corpus of {len(files)} tarballs:")
    inputs = [str(root / "corpus")]
    full, full_rate = phase("pool, 2 workers", inputs, "full", "--workers", "2")
    assert full["totals"]["jobs"] == len(files), full["totals"]
    _, cached_rate = phase("pool, 2 workers, second run (cached)", inputs, "full", "--workers", "2")
    print()
    print(f"scaling 1 -> 2 workers: x{two / base:.2f}; Dask 2 workers vs pool 2 workers: x{dask / two:.2f}; "
          f"whole corpus at 2 workers: x{full_rate / base:.2f} of the baseline; cached second run: "
          f"x{cached_rate / full_rate:.0f} faster ({len(files) / cached_rate:.1f} s for {len(files)} jobs)")


if __name__ == "__main__":
    main()
