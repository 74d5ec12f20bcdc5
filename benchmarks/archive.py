"""Speed and memory of the archive engine on synthetic archives (issue 2, "Speed and memory").

    python -m benchmarks.archive [--sizes 1000000,10000000] [--workdir DIR] [--queries 500]

For each size it writes (once, kept in the work folder) a synthetic archive
(`benchmarks.synth`), then measures, each phase in a fresh process so that
peak RSS is that phase's own:

- a baseline in the same run: `orjson.loads` of every line of the same
  streams, the floor of any Python reader; indexing is also given as a ratio to it;
- indexing: records per second (the build alone, and the first open with the
  content hash), peak RSS of the inspector process (and of its decoding worker);
- cached reopen: `open_index` of the same input in a new process;
- query latency p50/p99 at random positions: a seek with the full state
  (`state_at` and the current thread's top-frame locals), step over and step
  out in both directions, the last change of a variable; peak RSS;
- index size per record.

Figures are printed beside the issue's goals. Wall times depend on the load
of the machine; CPU seconds are printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

GOALS = {"rate": 400_000, "reopen": 0.2, "p99_ms": 5.0, "rss_mb": 300}


def _rss_mb(who=resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime


def _archive(workdir: Path, n: int) -> Path:
    from benchmarks.synth import write_archive

    path = workdir / f"synth-{n}"
    done = path / ".complete"
    if not done.exists():
        print(f"  writing a synthetic archive of {n:,} records to {path} ...", flush=True)
        t = time.perf_counter()
        write_archive(path, n)
        done.write_text("")
        print(f"  written in {time.perf_counter() - t:.0f} s", flush=True)
    return path


# --- phases, each run in its own process -------------------------------------------------------------


def phase_baseline(archive: str) -> dict:
    """orjson.loads of every line: what reading alone costs any Python reader."""
    import orjson

    loads, n = orjson.loads, 0
    t, c = time.perf_counter(), _cpu()
    for f in sorted(Path(archive, "events").glob("*.jsonl")):
        with open(f, "rb") as fh:
            for line in fh:
                loads(line)
                n += 1
    return {"records": n, "wall": time.perf_counter() - t, "cpu": _cpu() - c}


def phase_index(archive: str) -> dict:
    """Index from scratch (the cache folder is this run's own)."""
    from jemgui.models import indexer
    from jemgui.models.cache import content_key
    from jemgui.models.index import Index, Indexer

    t0 = time.perf_counter()
    content_key(archive)
    hashed = time.perf_counter() - t0
    job = Indexer(archive)
    if job.cached:
        indexer.remove(job.final_path)
    t, c = time.perf_counter(), _cpu()
    job.run()
    wall, cpu = time.perf_counter() - t, _cpu() - c
    ix = Index(job.final_path)
    size = sum(os.path.getsize(str(job.final_path) + s) for s in ("", "-wal") if os.path.exists(str(job.final_path) + s))
    return {"records": ix.count, "wall": wall, "cpu": cpu, "hash": hashed, "size": size,
            "rss_mb": _rss_mb(), "worker_rss_mb": _rss_mb(resource.RUSAGE_CHILDREN)}


def phase_reopen(archive: str) -> dict:
    from jemgui.models.index import open_index

    t = time.perf_counter()
    ix = open_index(archive)
    wall = time.perf_counter() - t
    return {"wall": wall, "records": ix.count, "rss_mb": _rss_mb()}


def _pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))] * 1000


def phase_query(archive: str, n: int, seed: int) -> dict:
    from jemgui.models.index import open_index

    ix = open_index(archive)
    rng = random.Random(seed)
    positions = [rng.randrange(ix.count) for _ in range(n)]
    times: dict[str, list[float]] = {k: [] for k in (
        "seek", "over", "over_back", "out", "out_back", "var_change")}
    clock = time.perf_counter
    for pos in positions:
        t = clock()
        state = ix.state_at(pos)
        thread = state.thread(state.current_thread)
        local = thread.stack[-1].locals if thread and thread.stack else {}
        times["seek"].append(clock() - t)
        if thread is None:
            continue
        for action, back, key in (("over", False, "over"), ("over", True, "over_back"),
                                  ("out", False, "out"), ("out", True, "out_back")):
            t = clock()
            ix.step(pos, action, back)
            times[key].append(clock() - t)
        if local:
            name = rng.choice(sorted(local))
            t = clock()
            ix.var_change(thread.stack[-1].frame_id, name, pos)
            times["var_change"].append(clock() - t)
    out = {k: {"n": len(v), "p50": _pct(v, 0.5), "p99": _pct(v, 0.99), "max": max(v) * 1000}
           for k, v in times.items() if v}
    return {"latency": out, "rss_mb": _rss_mb()}


def _child(args: list[str], env: dict) -> dict:
    out = subprocess.run([sys.executable, "-m", "benchmarks.archive", "--phase", *args],
                         capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise SystemExit(f"phase {args[0]} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- the report -------------------------------------------------------------------------------------------


def run_size(workdir: Path, n: int, queries: int, reuse: bool) -> None:
    archive = _archive(workdir, n)
    env = {**os.environ, "JEMGUI_CACHE_DIR": str(workdir / f"cache-{n}")}
    print(f"\n== {n:,} records ({sum(f.stat().st_size for f in (archive / 'events').iterdir()) / 1e6:,.0f} MB "
          f"of JSONL), {archive}", flush=True)
    base = _child(["baseline", str(archive)], env)
    base_rate = base["records"] / base["wall"]
    print(f"baseline: orjson.loads of every line  {base_rate:12,.0f} rec/s   "
          f"({base['wall']:.1f} s wall, {base['cpu']:.1f} s CPU)", flush=True)
    if not reuse:
        ix = _child(["index", str(archive)], env)
        rate = ix["records"] / ix["wall"]
        print(f"indexing                              {rate:12,.0f} rec/s   goal {GOALS['rate']:,}   "
              f"= {rate / base_rate:.2f} x the baseline  ({ix['wall']:.1f} s wall, {ix['cpu']:.1f} s CPU "
              f"in both processes)")
        print(f"  first open incl. content hash       {ix['records'] / (ix['wall'] + ix['hash']):12,.0f} rec/s"
              f"   (hash {ix['hash']:.1f} s)")
        print(f"  peak RSS, inspector process         {ix['rss_mb']:12,.0f} MB      goal < {GOALS['rss_mb']}"
              f"   (decoding worker {ix['worker_rss_mb']:,.0f} MB)")
        print(f"  index size                          {ix['size'] / ix['records']:12,.0f} B/record "
              f"({ix['size'] / 1e6:,.0f} MB; the JSONL is "
              f"{sum(f.stat().st_size for f in (archive / 'events').iterdir()) / ix['records']:.0f} B/record)",
              flush=True)
    re = _child(["reopen", str(archive)], env)
    print(f"cached reopen                         {re['wall']:12.3f} s        goal < {GOALS['reopen']}"
          f"   (peak RSS {re['rss_mb']:.0f} MB)", flush=True)
    q = _child(["query", str(archive), str(queries), "1"], env)
    print(f"query latency, ms (n={queries} random positions)          p50      p99      max   goal p99 < "
          f"{GOALS['p99_ms']}")
    labels = {"seek": "seek + full state + top locals", "over": "step over", "over_back": "step over, back",
              "out": "step out", "out_back": "step out, back", "var_change": "last change of a variable"}
    for key, label in labels.items():
        v = q["latency"].get(key)
        if v:
            print(f"  {label:48} {v['p50']:8.2f} {v['p99']:8.2f} {v['max']:8.2f}")
    print(f"  peak RSS, query process             {q['rss_mb']:12,.0f} MB      goal < {GOALS['rss_mb']}",
          flush=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--phase"]:
        phase, *rest = argv[1:]
        fn = {"baseline": phase_baseline, "index": phase_index, "reopen": phase_reopen}.get(phase)
        result = fn(rest[0]) if fn else phase_query(rest[0], int(rest[1]), int(rest[2]))
        print(json.dumps(result))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,10000000", help="records per archive, comma-separated")
    parser.add_argument("--workdir", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "jemgui-bench"),
                        help="where archives and their indexes are kept between runs")
    parser.add_argument("--queries", type=int, default=500, help="random positions per query kind")
    parser.add_argument("--reuse", action="store_true", help="keep an index already built (query figures only)")
    args = parser.parse_args(argv)
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"jemgui archive benchmark: python {sys.version.split()[0]}, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}")
    for n in (int(s) for s in args.sizes.split(",") if s.strip()):
        run_size(workdir, n, args.queries, args.reuse)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
