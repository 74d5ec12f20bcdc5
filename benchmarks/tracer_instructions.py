"""The tracer's cost in the job's CPU instructions, this tree against an earlier revision:
`python -m benchmarks.tracer_instructions --before REV [--python 3.12 ...] [--levels 2,3]`.

Wall and CPU time on a shared machine vary by far more than the 5 % a change to the
tracer may cost (issue 12); instructions counted by valgrind's callgrind (all the job's
threads, the tracer's writer included) repeat to about 1 %. For each CPython it prints,
under `jemgui run` at each verbosity with the monitor of REV ("before") and of this tree
("after"), run the same way:

- the call storm: instructions per call of `fib` (a call and its return), the count of
  fib(16) less that of fib(1) over the 3 192 calls between them, and plain's beside it;
- the realistic workload of benchmarks/monitor.py (15 000 log lines): the job's
  instructions as a ratio to the same job plain.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.monitor import CALL_HEAVY, REALISTIC, before_package, pythons

FIB_CALLS = 3193 - 1  # calls of fib(16) less those of fib(1)


def instructions(command: list[str], cwd: Path, env: dict) -> int:
    """The instructions the job ran under callgrind (`command` has valgrind wrap the job's
    Python, inside the monitor's command line when there is one)."""
    out = cwd / "callgrind.out"
    out.unlink(missing_ok=True)
    at = command.index("valgrind") + 1
    full = command[:at] + [f"--callgrind-out-file={out}"] + command[at:]
    done = subprocess.run(full, cwd=cwd, env=env, capture_output=True, text=True)
    totals = re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.M) if out.exists() else None
    if done.returncode != 0 or totals is None:
        raise RuntimeError(f"{' '.join(full[:8])}... failed: {done.stderr.strip()[-500:]}")
    return int(totals.group(1))


def commands(python: str, script: Path, arg: str, work: Path, before: Path, levels) -> dict[str, list[str]]:
    grind = ["valgrind", "--tool=callgrind", "-q"]
    now = [sys.executable, "-E", "-m", "jemgui.monitor"]
    old = [sys.executable, "-E", "-c", "import sys; sys.path.insert(0, sys.argv.pop(1)); "
           "from jemgui.cli import main; sys.exit(main(['run', *sys.argv[1:]]))", str(before)]
    out = {"plain": grind + [python, str(script), arg]}
    for level in levels:
        for name, monitor in (("before", old), ("after", now)):
            out[f"{name} v{level}"] = monitor + ["--out", str(work / f"jem-{name}-{level}"), "--verbosity",
                                                 str(level), "--"] + grind + [python, str(script), arg]
    return out


def run(python: str, source: str, args: tuple[str, ...], before: Path, levels) -> dict[str, list[int]]:
    """Instructions of each mode, for each argument of the workload."""
    counts: dict[str, list[int]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        script = work / "job.py"
        script.write_text(source)
        env = {k: v for k, v in os.environ.items() if not k.startswith("JEM_")}
        env.pop("PYTHONPATH", None)
        for arg in args:
            for mode, command in commands(python, script, arg, work, before, levels).items():
                for stale in work.glob("jem-*"):
                    subprocess.run(["rm", "-rf", str(stale)], check=True)
                counts.setdefault(mode, []).append(instructions(command, work, env))
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tracer_instructions", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, metavar="REV", help="the git revision to compare with")
    parser.add_argument("--python", action="append", help="only these versions (default: every 3.9+ of pyenv)")
    parser.add_argument("--levels", default="2,3", help="verbosities (default 2,3)")
    parser.add_argument("--storm-only", action="store_true", help="the call storm alone")
    args = parser.parse_args(argv)
    levels = tuple(int(v) for v in args.levels.split(","))
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / "jemgui-bench"
    before = before_package(args.before, workdir)
    found = pythons(every=True)
    chosen = {v: p for v, p in found.items() if not args.python or v in args.python}
    print(f"before: {args.before}; instructions (callgrind, all the job's threads)")
    print("| CPython | instructions a call: plain | " + " | ".join(f"v{lv} before / after" for lv in levels)
          + " | realistic, ratio to plain: " + " | ".join(f"v{lv} before / after" for lv in levels) + " |")
    print("|---" * (2 + 2 * len(levels)) + "|")
    for version, python in sorted(chosen.items(), key=lambda item: tuple(map(int, item[0].split(".")))):
        storm = run(python, CALL_HEAVY, ("16", "1"), before, levels)
        per_call = {mode: (big - small) / FIB_CALLS for mode, (big, small) in storm.items()}
        real = {} if args.storm_only else run(python, REALISTIC, ("15000",), before, levels)
        ratio = {mode: counts[0] / real["plain"][0] for mode, counts in real.items()}
        cells = [f"{version}", f"{per_call['plain']:,.0f}"]
        for lv in levels:
            b, a = per_call[f"before v{lv}"], per_call[f"after v{lv}"]
            cells.append(f"{b:,.0f} / {a:,.0f} ({(a / b - 1) * 100:+.1f} %)")
        for lv in levels if ratio else ():
            b, a = ratio[f"before v{lv}"], ratio[f"after v{lv}"]
            cells.append(f"{b:.2f}x / {a:.2f}x ({(a / b - 1) * 100:+.1f} %)")
        print("| " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
