"""Opening a big archive with nothing cached (issue 14, "Open").

    python -m benchmarks.open [--sizes 1000000,10000000] [--workdir DIR]

For each size (a synthetic archive, `benchmarks.synth`, written once into
the work folder) a new process starts the window offscreen the way a user
does (`MainWindow.open_path`, an empty index cache) and reports:

- first usable: from the process's start until the window shows the job and
  its first records, can be stepped through and is painted;
- fully indexed: until the index is complete and the window shows it whole;
- the indexing rate, records per second, and its ratio to the bare decode
  of the same lines (`orjson.loads` of every line, measured in the same run);
- the peak RSS of the window's process (the decoding worker apart);
- the CPU seconds of the window's process and of its worker from the open
  to fully indexed, against the bare decode's (steadier than wall times on a
  machine whose load comes and goes).

Beside them, the toolkit's floor measured in the same run (a new process that
imports PySide6, pyqtgraph and numpy and shows a bare window with one plot,
`benchmarks.window`). Goals: first usable within 1 s plus that floor, peak
RSS under 300 MB, indexing at least 0.5x the bare decode. `--against REF`
opens each archive with git REF's code too, just before (each with its own
bare decode), for a before/after from one run.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOALS = {"usable_over_floor_s": 1.0, "rss_mb": 300, "ratio": 0.5}


def child_open(archive: str) -> None:
    """Open `archive` in a new window; print when it was first usable and when fully indexed."""
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import QSettings

    from jemgui.app import dispose, make_app, settle
    from jemgui.views.main_window import MainWindow

    app = make_app()
    window = MainWindow(QSettings(str(Path(os.environ["JEMGUI_CACHE_DIR"]) / "bench.ini"),
                                  QSettings.Format.IniFormat))
    window.resize(1600, 1000)
    window.show()
    done = []
    window.opener.opened.connect(lambda *_: done.append(time.time()))
    window.opener.failed.connect(lambda _p, why: sys.exit(why))
    t_open, cpu_open = time.time(), _cpu(resource.RUSAGE_SELF)
    window.open_path(archive)
    while window.inspection is None:
        app.processEvents()
        time.sleep(0.001)
    settle(app)
    usable = time.time()
    while not done:
        app.processEvents()
        time.sleep(0.005)
    settle(app)
    indexed = time.time()
    cpu = _cpu(resource.RUSAGE_SELF) - cpu_open
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"OPEN {t_open:.6f} {usable:.6f} {indexed:.6f} {window.inspection.index.count} {rss:.0f} {worker:.0f} "
          f"{cpu:.3f} {_cpu(resource.RUSAGE_CHILDREN):.3f}", flush=True)
    dispose(app, window)


def _cpu(who) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def baseline(archive: Path, cpu: bool = False) -> tuple[int, float]:
    """(lines, seconds) of `orjson.loads` over every line of the archive's streams (CPU seconds
    with `cpu`: under a load that comes and goes, CPU time is the steadier measure)."""
    import orjson

    clock = time.process_time if cpu else time.perf_counter
    loads, n = orjson.loads, 0
    t = clock()
    for f in sorted(Path(archive, "events").glob("*.jsonl")):
        with open(f, "rb") as fh:
            for line in fh:
                loads(line)
                n += 1
    return n, clock() - t


def open_once(archive: Path, root: str | None = None) -> dict:
    """Open `archive` in a new process, with the code of the folder `root` (this checkout's if None)."""
    with tempfile.TemporaryDirectory(prefix="jemgui-open-") as cache:
        env = {**os.environ, "JEMGUI_CACHE_DIR": cache}
        if root is not None:  # before the editable install's finder; the indexing worker inherits it
            env["PYTHONPATH"] = root
        t0 = time.time()
        out = subprocess.run([sys.executable, "-m", "benchmarks.open", "--child", str(archive)], cwd=root,
                             capture_output=True, text=True, env=env, check=True)
        line = next(ln for ln in out.stdout.splitlines() if ln.startswith("OPEN"))
        _, t_open, usable, indexed, count, rss, worker, cpu, worker_cpu = line.split()
        return {"usable": float(usable) - t0, "indexed": float(indexed) - t0,
                "indexing": float(indexed) - float(t_open), "records": int(count),
                "rss_mb": float(rss), "worker_rss_mb": float(worker),
                "cpu": float(cpu), "worker_cpu": float(worker_cpu)}


def checkout(ref: str, into: Path) -> str:
    """The package and benchmarks of git `ref` in `into`, with this benchmark's own child (same output)."""
    import shutil

    top = Path(__file__).resolve().parent.parent
    tar = subprocess.run(["git", "-C", str(top), "archive", ref, "jemgui", "benchmarks"], capture_output=True,
                         check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=tar, check=True)
    shutil.copy(__file__, into / "benchmarks" / "open.py")
    return str(into)


def report(label: str, n: int, r: dict, floor: float, lines: int, decode: float, decode_cpu: float) -> None:
    rate = r["records"] / r["indexing"]
    ratio = rate / (lines / decode)
    print(f"{label}{n:>11,} records  first usable {r['usable']:.2f} s (toolkit floor {floor:.2f} s, "
          f"over it {r['usable'] - floor:.2f} s, goal {GOALS['usable_over_floor_s']:.0f} s)  "
          f"fully indexed {r['indexed']:.1f} s  rate {rate:,.0f}/s = {ratio:.2f}x bare decode "
          f"({lines / decode:,.0f}/s, goal {GOALS['ratio']}x)  window RSS {r['rss_mb']:.0f} MB "
          f"(goal {GOALS['rss_mb']}), worker {r['worker_rss_mb']:.0f} MB", flush=True)
    print(f"{'':>{len(label) + 11}}          CPU from the open to fully indexed: window {r['cpu']:.1f} s + worker "
          f"{r['worker_cpu']:.1f} s = {(r['cpu'] + r['worker_cpu']) / decode_cpu:.1f}x the bare decode's "
          f"{decode_cpu:.2f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="1000000,10000000")
    p.add_argument("--workdir", default="/tmp/jemgui-bench")
    p.add_argument("--child")
    p.add_argument("--against", metavar="REF", help="also open with git REF's code, just before (before/after)")
    args = p.parse_args(argv)
    if args.child:
        child_open(args.child)
        return 0
    from benchmarks.window import _archive, launch

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    for n in (int(s) for s in args.sizes.split(",")):
        archive = _archive(workdir, n)
        floor = launch(None, dict(os.environ))[0]
        lines, decode = baseline(archive)
        decode_cpu = baseline(archive, cpu=True)[1]
        if args.against:
            with tempfile.TemporaryDirectory(prefix="jemgui-ref-") as ref:
                report(f"{args.against}: ", n, open_once(archive, checkout(args.against, Path(ref))), floor, lines,
                       decode, decode_cpu)
            lines, decode = baseline(archive)
            decode_cpu = baseline(archive, cpu=True)[1]
        report("now: " if args.against else "", n, open_once(archive), floor, lines, decode, decode_cpu)
    return 0


if __name__ == "__main__":
    sys.exit(main())
