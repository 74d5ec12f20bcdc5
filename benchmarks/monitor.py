"""How much the monitor slows a job: `python -m benchmarks.monitor [--repeat N] [--quick]`.

The same workloads run plain, under `jemgui run` at each verbosity, and under
VizTracer (in a venv of each Python, made once in the work folder), in one run.
Each workload times its own body, so the ratios are what the job feels; the wall
time of the whole command (start-up, the tracer's final writes, VizTracer's save)
is printed beside it. Then the CPU the monitor itself spends (metrics, the tick
loop) while a job sleeps.

Beside them, the floor of any standard-library tracer (`benchmarks/tracer_floor.py`): the
same hooks on the same code, doing nothing (`floor calls`, `floor lines`), or only copying
the frame's locals on each line (`floor locals`), which verbosity 4 cannot do less than.

Goals (issue 3): verbosity 1 within 3% of plain; verbosity 2 no worse than
VizTracer; verbosity 4 under 4x plain on the realistic workload; monitor CPU under
1% of a core.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

CALL_HEAVY = '''
import sys, time


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


t0, c0 = time.perf_counter(), time.process_time()
fib(int(sys.argv[1]) if len(sys.argv) > 1 else 25)
print("ELAPSED %.6f CPU %.6f" % (time.perf_counter() - t0, time.process_time() - c0))
'''

REALISTIC = '''
import json, os, re, sys, tempfile, time

LINE = re.compile(r"(?P<ts>[0-9.]+) (?P<level>[A-Z]+) (?P<src>[a-z0-9.]+): (?P<msg>.*)")


def make_lines(n):
    levels = ("INFO", "WARN", "ERROR")
    return ["%.1f %s mod.sub%d: event %d value=%d" % (1000 + i * 0.5, levels[i % 3], i % 7, i, i * 3 % 17)
            for i in range(n)]


def value_of(msg):
    _, _, value = msg.rpartition("value=")
    return int(value) if value.isdigit() else None


def parse(line):
    match = LINE.match(line)
    if match is None:
        return None
    rec = match.groupdict()
    rec["ts"] = float(rec["ts"])
    rec["value"] = value_of(rec["msg"])
    return rec


def summarize(records):
    by_source = {}
    for rec in records:
        entry = by_source.setdefault(rec["src"], {"n": 0, "sum": 0})
        entry["n"] += 1
        entry["sum"] += rec["value"] or 0
    return by_source


def roundtrip(obj, path):
    with open(path, "w") as f:
        json.dump(obj, f)
    with open(path) as f:
        return json.load(f)


t0, c0 = time.perf_counter(), time.process_time()
n = int(sys.argv[1]) if len(sys.argv) > 1 else 60000
with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, "log.txt")
    with open(path, "w") as f:
        f.write("\\n".join(make_lines(n)))
    with open(path) as f:
        records = [parse(line) for line in f.read().splitlines()]
    summary = summarize(records)
    back = roundtrip({"summary": summary, "records": records[: n // 10]}, os.path.join(folder, "s.json"))
assert len(back["records"]) == n // 10
print("ELAPSED %.6f CPU %.6f" % (time.perf_counter() - t0, time.process_time() - c0))
'''

# A real library, traced as the job's own code: pyflakes (installed into the work folder, outside
# any site-packages) checking the standard library's modules of a few packages, the first N files.
PYFLAKES = '''
import os, sys, time
sys.path.insert(0, os.environ["BENCH_LIB"])
from pyflakes.api import checkPath
from pyflakes.reporter import Reporter


class Quiet:
    def write(self, text):
        pass


stdlib = os.path.dirname(os.__file__)
files = []
for package in ("json", "email", "http", "logging", "xml", "urllib", "concurrent", "importlib", "asyncio"):
    for folder, _, names in sorted(os.walk(os.path.join(stdlib, package))):
        files += [os.path.join(folder, n) for n in sorted(names) if n.endswith(".py")]
files = files[: int(sys.argv[1])]
reporter = Reporter(Quiet(), Quiet())
t0, c0 = time.perf_counter(), time.process_time()
warnings = sum(checkPath(path, reporter) for path in files)
print("ELAPSED %.6f CPU %.6f" % (time.perf_counter() - t0, time.process_time() - c0))
'''

NO_VIZTRACER = False  # --no-viztracer
EXACT = False  # --exact: also verbosity 4 with --values=exact
CPU = False  # --cpu: the job's CPU time (all its threads), steadier than its wall time on a busy machine
PARTS = False  # --parts: also the floor hooks doing verbosity 2's per-call work part by part
WORKLOADS = {"call-heavy": (CALL_HEAVY, "25"), "realistic": (REALISTIC, "60000"), "pyflakes": (PYFLAKES, "60")}
QUICK = {"call-heavy": "21", "realistic": "15000", "pyflakes": "10"}


def library(workdir: Path) -> str:
    """The folder pyflakes is installed in (once, with pip, from the package index)."""
    target = workdir / "pyflakes-lib"
    if not (target / "pyflakes").is_dir():
        done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--target", str(target), "pyflakes"],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"cannot install pyflakes: {done.stderr.strip()[-300:]}")
    return str(target)


def before_package(rev: str, workdir: Path) -> Path:
    """This project's `jemgui` package as it was at git revision `rev`, unpacked in the work folder."""
    root = Path(__file__).resolve().parents[1]
    commit = subprocess.run(["git", "rev-parse", "--short", rev], cwd=root, capture_output=True, text=True,
                            check=True).stdout.strip()
    folder = workdir / f"before-{commit}"
    if not (folder / "jemgui").is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", commit, "jemgui"], cwd=root, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def pythons(every: bool = False) -> dict[str, str]:
    """The default Python, and one per minor version from pyenv where sys.monitoring matters (every: 3.9+)."""
    found = {"{}.{}".format(*sys.version_info[:2]): sys.executable}
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for exe in sorted(root.glob("3.*/bin/python3") if every else root.glob("3.1[2-9].*/bin/python3")):
        version = tuple(int(part) for part in exe.parent.parent.name.split(".")[:2])
        if version >= (3, 9):  # the tracer's CPythons; older ones are not traced
            found.setdefault("{}.{}".format(*version), str(exe))
    return found


def has_viztracer(python: str) -> bool:
    return subprocess.run([python, "-c", "import viztracer"], capture_output=True).returncode == 0


def with_viztracer(version: str, python: str, workdir: Path) -> str:
    """`python`, or a venv of it kept in `workdir` with VizTracer installed, so that every
    version has its peer (the same interpreter binary: plain and monitored runs compare alike).
    Without a package index the version simply has no VizTracer column."""
    if has_viztracer(python):
        return python
    venv = workdir / f"viztracer-{version}"
    exe = venv / "bin" / "python"
    if not exe.exists():
        made = subprocess.run([python, "-m", "venv", str(venv)], capture_output=True)
        if made.returncode != 0:
            return python
        subprocess.run([str(exe), "-m", "pip", "install", "-q", "viztracer"], capture_output=True)
    return str(exe) if has_viztracer(str(exe)) else python


def measure(command: list[str], env: dict, cwd: Path) -> tuple[float, float]:
    """(the workload's own time, the command's wall time)."""
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd)
    wall = time.perf_counter() - start
    match = re.search(r"CPU ([0-9.]+)" if CPU else r"ELAPSED ([0-9.]+)", done.stdout)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"{' '.join(command[:6])}... failed: {done.stderr.strip()[-500:]}")
    return float(match.group(1)), wall


def modes(python: str, script: Path, arg: str, work: Path, before: Path | None = None,
          levels: tuple[int, ...] = (0, 1, 2, 3, 4)) -> dict[str, list[str]]:
    monitor = [sys.executable, "-E", "-m", "jemgui.monitor"]
    out = {"plain": [python, str(script), arg]}
    for level in levels:
        out[f"jem v{level}"] = monitor + ["--out", str(work / f"jem-v{level}"), "--verbosity",
                                          str(level), "--", python, str(script), arg]
    if 4 in levels and EXACT:
        out["jem v4 exact"] = monitor + ["--out", str(work / "jem-v4x"), "--verbosity", "4", "--values",
                                         "exact", "--", python, str(script), arg]
    if before is not None:  # the monitor of an earlier revision, run from its unpacked package
        old = [sys.executable, "-E", "-c", "import sys; sys.path.insert(0, sys.argv.pop(1)); "
               "from jemgui.cli import main; sys.exit(main(['run', *sys.argv[1:]]))", str(before)]
        for level in (lv for lv in levels if lv >= 2):
            out[f"before v{level}"] = old + ["--out", str(work / f"jem-before-v{level}"), "--verbosity",
                                             str(level), "--", python, str(script), arg]
    floor = str(Path(__file__).with_name("tracer_floor.py"))
    for level in ("calls", "lines", "locals"):
        out[f"floor {level}"] = [python, floor, level, str(script), arg]
    if PARTS:  # the profile of verbosity 2's per-call path, part by part (tracer_floor.py)
        for part in ("state", "ids", "time", "record", "write"):
            out[f"part {part}"] = [python, floor, f"parts:{part}", str(script), arg]
    if has_viztracer(python) and not NO_VIZTRACER:
        out["viztracer"] = [python, "-m", "viztracer", "--quiet", "-o", str(work / "viz.json"),
                            str(script), arg]
    return out


def bench_workload(python: str, name: str, repeat: int, quick: bool, workdir: Path | None = None,
                   before: Path | None = None, levels: tuple[int, ...] = (0, 1, 2, 3, 4)) -> list[tuple]:
    source, arg = WORKLOADS[name]
    arg = QUICK[name] if quick else arg
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        script = work / f"{name}.py"
        script.write_text(source)
        env = {k: v for k, v in os.environ.items() if not k.startswith("JEM_")}
        env.pop("PYTHONPATH", None)
        if name == "pyflakes":
            env["BENCH_LIB"] = library(workdir or work)
        commands = modes(python, script, arg, work, before, levels)
        times: dict[str, list[tuple[float, float]]] = {m: [] for m in commands}
        for _ in range(repeat):  # interleaved, so load changes hit every mode alike
            for mode, command in commands.items():
                for stale in work.glob("jem-*"):
                    shutil.rmtree(stale)
                times[mode].append(measure(command, env, work))
        base = statistics.median(t for t, _ in times["plain"])
        base_wall = statistics.median(w for _, w in times["plain"])
        for mode, values in times.items():
            own = statistics.median(t for t, _ in values)
            wall = statistics.median(w for _, w in values)
            rows.append((name, mode, own, own / base, wall, wall / base_wall))
    return rows


def monitor_cpu(seconds: float = 6.0) -> float:
    """Percent of one core the monitor uses while its job sleeps (metrics, tick loop)."""
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen([sys.executable, "-E", "-m", "jemgui.monitor", "--out",
                                 str(Path(tmp) / "a"), "--verbosity", "1", "--", "sleep",
                                 str(seconds)])
        handle = psutil.Process(proc.pid)
        time.sleep(1.5)  # past the start-up imports
        t0, c0 = time.perf_counter(), sum(handle.cpu_times()[:2])
        time.sleep(seconds - 2.5)
        t1, c1 = time.perf_counter(), sum(handle.cpu_times()[:2])
        proc.wait()
    return 100.0 * (c1 - c0) / (t1 - t0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.monitor", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs per mode (median is shown)")
    parser.add_argument("--quick", action="store_true", help="small workloads, for a smoke run")
    parser.add_argument("--python", action="append", help="only these versions (e.g. 3.12)")
    parser.add_argument("--workload", action="append", choices=list(WORKLOADS), help="only these workloads")
    parser.add_argument("--levels", default="0,1,2,3,4", help="verbosities to run (default 0,1,2,3,4)")
    parser.add_argument("--before", metavar="REV", help="also run verbosity 2-4 with the monitor of this git "
                                                        "revision (before/after in the same run)")
    parser.add_argument("--no-viztracer", action="store_true", help="leave VizTracer out")
    parser.add_argument("--files", type=int, help="files pyflakes checks (default 60, quick 10)")
    parser.add_argument("--exact", action="store_true", help="also verbosity 4 with --values=exact")
    parser.add_argument("--cpu", action="store_true", help="the job's CPU time instead of its wall time")
    parser.add_argument("--parts", action="store_true", help="also the profile of verbosity 2's per-call path: "
                                                             "the floor's hooks doing its work part by part")
    parser.add_argument("--no-monitor-cpu", action="store_true", help="skip the monitor's idle CPU measure")
    parser.add_argument("--all-pythons", action="store_true", help="every CPython 3.9+ of pyenv, not only "
                                                                   "the default one and 3.12+")
    parser.add_argument("--workdir", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "jemgui-bench"),
                        help="where the VizTracer venvs are kept between runs")
    args = parser.parse_args(argv)
    global NO_VIZTRACER, CPU, EXACT, PARTS
    if args.files:
        WORKLOADS["pyflakes"] = (PYFLAKES, str(args.files))
        QUICK["pyflakes"] = str(args.files)
    NO_VIZTRACER, CPU, EXACT, PARTS = args.no_viztracer, args.cpu, args.exact, args.parts
    found = pythons(args.all_pythons)
    levels = tuple(int(v) for v in args.levels.split(","))
    chosen = {v: p for v, p in found.items() if not args.python or v in args.python}
    print(f"{'python':<7} {'workload':<11} {'mode':<13} {'job s':>8} {'ratio':>7} "
          f"{'wall s':>8} {'wall ratio':>10}")
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    before = before_package(args.before, workdir) if args.before else None
    for version, python in chosen.items():
        python = python if args.no_viztracer else with_viztracer(version, python, workdir)
        backend = "sys.monitoring" if tuple(map(int, version.split("."))) >= (3, 12) else "settrace"
        for name in args.workload or WORKLOADS:
            for row in bench_workload(python, name, args.repeat, args.quick, workdir, before, levels):
                _, mode, own, ratio, wall, wall_ratio = row
                print(f"{version:<7} {name:<11} {mode:<13} {own:8.3f} {ratio:6.2f}x "
                      f"{wall:8.3f} {wall_ratio:9.2f}x", flush=True)
        print(f"        ({version}: tracer back-end {backend})", flush=True)
    if not args.no_monitor_cpu:
        print(f"monitor CPU while the job sleeps (metrics every 1 s): {monitor_cpu():.2f}% of a core")
    return 0


if __name__ == "__main__":
    sys.exit(main())
