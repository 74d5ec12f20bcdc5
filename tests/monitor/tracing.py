"""Run programs under JEM's tracer exactly as the monitor injects it, and read what it wrote.

The tracer is loaded the way a job's interpreter loads it (PYTHONPATH with the
`inject` folder, `JEM_RUN_DIR` with the config), and what it sent is turned into
streams by the monitor's own `Streams`, without the rest of the monitor, so the
correctness tests can run many programs on every Python the machine has.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from jemgui.monitor.streams import Streams

ROOT = Path(__file__).resolve().parents[2]
INJECT = ROOT / "jemgui" / "monitor" / "inject"
PROGRAMS = Path(__file__).resolve().parent / "programs"


#: the CPythons the tracer must be tested on (CI has them from pyenv); on a developer machine
#: JEMGUI_TEST_PYTHONS=3.11,3.12 asks for fewer, but never for fewer than both back-ends
REQUIRED = ("3.9", "3.10", "3.11", "3.12", "3.13")


def backend(version: str) -> str:
    """The tracer's back-end on CPython `version` ("3.12"): sys.settrace before 3.12, then sys.monitoring."""
    return "sys.monitoring" if int(version.split(".")[1]) >= 12 else "settrace"


def required_versions() -> tuple[str, ...]:
    wanted = os.environ.get("JEMGUI_TEST_PYTHONS", "")
    return tuple(v.strip() for v in wanted.split(",") if v.strip()) or REQUIRED


def find_pythons() -> tuple[dict[str, str], dict[str, str]]:
    """`({"3.12": executable}, {"3.9": why it is missing})`: pyenv's CPythons 3.9+ and the default one.

    Every required version is a key of the first dict, found or not, so the tests
    parametrized over it are there to fail (tests/conftest.py fails them with the
    second dict's reason) instead of the run silently shrinking.
    """
    found = {"{}.{}".format(*sys.version_info[:2]): sys.executable}
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for exe in sorted(root.glob("3.*/bin/python3")):
        m = re.match(r"3\.(\d+)\.", exe.parent.parent.name + ".")
        if m and int(m.group(1)) >= 9:
            found.setdefault(f"3.{m.group(1)}", str(exe))
    required = required_versions()
    missing = {v: f"CPython {v} is not installed (looked for {root}/{v}.*/bin/python3)"
               for v in required if v not in found}
    backends = {backend(v) for v in required}
    for name, versions in (("settrace", "< 3.12"), ("sys.monitoring", ">= 3.12")):
        if name not in backends:
            missing[name] = (f"JEMGUI_TEST_PYTHONS={','.join(required)} has no CPython {versions}: "
                              f"the tracer's {name} back-end would go untested")
    everything = {**found, **{v: str(root / v / "bin" / "python3") for v in missing}}
    return dict(sorted(everything.items(), key=lambda kv: _minor(kv[0]))), missing


def _minor(version: str) -> int:
    tail = version.split(".")[1]
    return int(tail) if tail.isdigit() else 99


PYTHONS, MISSING_PYTHONS = find_pythons()


@dataclass
class Traced:
    """What one traced run left: its exit, output, and every record of every stream."""

    returncode: int
    stdout: str
    stderr: str
    records: list[dict]

    def of(self, kind: str, pid: int | None = None) -> list[dict]:
        return [r for r in self.records if r["kind"] == kind and (pid is None or r["pid"] == pid)]

    def pids(self) -> list[int]:
        return sorted({r["pid"] for r in self.records})


def read_streams(events: Path) -> list[dict]:
    """All records of all streams; checks that each stream's seq goes 0, 1, 2, ..."""
    records = []
    for path in sorted(events.glob("*.jsonl")):
        stream = [json.loads(line) for line in path.read_text().splitlines()]
        assert [r["seq"] for r in stream] == list(range(len(stream))), f"seq holes in {path.name}"
        assert {r["pid"] for r in stream} <= {int(path.stem)}
        records.extend(stream)
    return records


def make_run_dir(tmp: Path, verbosity: int, **config) -> tuple[Path, Path]:
    run, events = tmp / "run", tmp / "events"
    for sub in ("bash", "py", "snap", "raw"):
        (run / sub).mkdir(parents=True, exist_ok=True)
    events.mkdir(exist_ok=True)
    conf = {"raw": str(run / "raw"), "monitor_pid": 1, "verbosity": verbosity, "repr_limit": 200,
            "redact": True, **config}
    (run / "config.json").write_text(json.dumps(conf))
    (run / "control.json").write_text(json.dumps({"verbosity": verbosity}))
    return run, events


def traced_env(run: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["JEM_RUN_DIR"] = str(run)
    env["PYTHONPATH"] = str(INJECT)
    return env


def run_traced(python: str, program: Path, tmp: Path, verbosity: int = 3, args: tuple = (),
               timeout: float = 60, **config) -> Traced:
    """Run `program` with the tracer at `verbosity`; returns what it printed and recorded."""
    run, events = make_run_dir(tmp, verbosity, **config)
    proc = subprocess.run([python, str(program), *args], env=traced_env(run), capture_output=True,
                          text=True, cwd=tmp, timeout=timeout)
    streams = Streams(events, run / "raw")
    streams.poll_raw()
    streams.close()
    return Traced(proc.returncode, proc.stdout, proc.stderr, read_streams(events))


def run_helper(python: str, code: str, *args: str, timeout: float = 60) -> str:
    """Run a helper script (an independent tool: cProfile, trace) without the tracer."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.pop("JEM_RUN_DIR", None)
    proc = subprocess.run([python, "-c", code, *args], capture_output=True, text=True, env=env,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def stacks_at(records: list[dict], until: dict) -> list[dict]:
    """The call stack of `until`'s thread just before `until`, rebuilt from call/return records."""
    stack: list[dict] = []
    for rec in records:
        if rec is until:
            break
        if rec["pid"] != until["pid"] or rec.get("tid") != until.get("tid"):
            continue
        if rec["kind"] == "call":
            stack.append(dict(rec))
        elif rec["kind"] == "line" and stack and stack[-1]["fid"] == rec["fid"]:
            stack[-1]["line"] = rec["line"]
        elif rec["kind"] == "return":
            assert stack and stack[-1]["fid"] == rec["fid"], f"return of a frame not on top: {rec}"
            stack.pop()
    return stack


def printed_traceback(stderr: str) -> list[list]:
    """[[file, line, func], ...] of the last traceback Python printed."""
    block = stderr[stderr.rindex("Traceback (most recent call last):"):]
    return [[m.group(1), int(m.group(2)), m.group(3)]
            for m in re.finditer(r'^  File "(.+)", line (\d+), in (.+)$', block, re.M)]
