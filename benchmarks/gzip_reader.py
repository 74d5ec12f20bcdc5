"""Indexing a gzipped stream against the same stream uncompressed (issue 16, "Speed").

    python -m benchmarks.gzip_reader [--mib 20] [--rounds 3] [--workdir /tmp/jemgui-bench-gzip]

Writes (once, kept in the work folder) a bare `.jsonl` of about `--mib` MiB
cut from a synthetic job (`benchmarks.synth`, one process's stream) and the
same bytes gzipped, then indexes each `--rounds` times, alternating, in this
process and without the worker (what differs is only the reading). Prints the
median wall and CPU seconds of each and the ratio gz/plain, the figure the
issue sets at 1.5 or less; the machine is shared, so only the ratio of the
same run means anything.
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import tempfile
import time
from pathlib import Path


def _inputs(workdir: Path, mib: int) -> tuple[Path, Path]:
    from benchmarks.synth import write_archive

    plain, packed = workdir / f"stream-{mib}.jsonl", workdir / f"stream-{mib}.jsonl.gz"
    if not packed.exists():
        job = workdir / "synth"
        if not (job / ".complete").exists():
            write_archive(job, max(mib * 16_000, 10_000))
            (job / ".complete").write_text("")
        biggest = max((job / "events").glob("*.jsonl"), key=lambda p: p.stat().st_size)
        data = biggest.read_bytes()[: mib << 20]
        plain.write_bytes(data[: data.rfind(b"\n") + 1])
        packed.write_bytes(gzip.compress(plain.read_bytes(), 6))
    return plain, packed


def _index_once(path: Path) -> tuple[float, float, int]:
    from jemgui.models.indexer import build
    from jemgui.models.inputs import open_input

    with tempfile.TemporaryDirectory() as tmp:
        cpu, wall = time.process_time(), time.perf_counter()
        inp = open_input(path)
        build(inp, Path(tmp) / "index.sqlite")
        records = inp.report.counts  # touched so the report is complete before the clock stops
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        inp.close()
    return wall, cpu, sum(records.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mib", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "jemgui-bench-gzip")
    args = ap.parse_args()
    os.environ["JEMGUI_INDEX_WORKER"] = "0"
    args.workdir.mkdir(parents=True, exist_ok=True)
    plain, packed = _inputs(args.workdir, args.mib)
    print(f"plain {plain.stat().st_size / 2**20:.1f} MiB, gzip {packed.stat().st_size / 2**20:.1f} MiB")
    runs: dict[str, list[tuple[float, float, int]]] = {"plain": [], "gzip": []}
    for _ in range(args.rounds):
        runs["plain"].append(_index_once(plain))
        runs["gzip"].append(_index_once(packed))
    wall = {k: statistics.median(r[0] for r in v) for k, v in runs.items()}
    cpu = {k: statistics.median(r[1] for r in v) for k, v in runs.items()}
    problems = {k: v[0][2] for k, v in runs.items()}
    for k in runs:
        print(f"{k:>5}: wall {wall[k]:.2f} s, cpu {cpu[k]:.2f} s (median of {args.rounds}), "
              f"{problems[k]} report entries")
    print(f"gzip / plain: wall {wall['gzip'] / wall['plain']:.2f}x, cpu {cpu['gzip'] / cpu['plain']:.2f}x "
          "(goal: 1.5x or less)")


if __name__ == "__main__":
    main()
