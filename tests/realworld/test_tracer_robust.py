"""The tracer on real jobs that strain it (issue 12, items 4, 5 and 9), under `jemgui run`.

Each program runs plain and under the real monitor on every CPython 3.9-3.13 (settrace
below 3.12, sys.monitoring from 3.12); a missing interpreter fails the test. The oracle
is the plain run: the deepest recursion that works, what the job sees of tracing
(`sys.gettrace()`, the recursion limit, `sys.monitoring`'s tools), how many tasks each
pool worker ran, CPython's own test suite's verdict.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.monitor.tracing import read_streams

PROGRAMS = Path(__file__).resolve().parent / "programs"
PYENV = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
VERSIONS = {"3.9": "3.9.18", "3.10": "3.10.13", "3.11": "3.11.7", "3.12": "3.12.1", "3.13": "3.13.0"}


@pytest.fixture(params=list(VERSIONS))
def python(request) -> str:
    exe = PYENV / VERSIONS[request.param] / "bin" / "python"
    assert exe.exists(), f"CPython {request.param} is missing: these tests need every 3.9 to 3.13"
    return str(exe)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JEM_")} | extra
    for name in ("PYTHONPATH", "BASH_ENV", "PYTEST_ADDOPTS", "PYTEST_CURRENT_TEST"):
        env.pop(name, None)
    return env


def plain(python: str, *args, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([python, *map(str, args)], cwd=cwd, env=env or clean_env(), capture_output=True,
                          text=True, timeout=300)


def monitored(python: str, *args, out: Path, verbosity: int, cwd: Path, timeout: float = 300,
              env: dict | None = None) -> tuple[subprocess.CompletedProcess, list[dict]]:
    """Run under `jemgui run` (the real monitor); its result and every record it archived."""
    command = [sys.executable, "-E", "-m", "jemgui.monitor", "--out", str(out), "--verbosity",
               str(verbosity), "--", python, *map(str, args)]
    done = subprocess.run(command, cwd=cwd, env=env or clean_env(), capture_output=True, text=True,
                          timeout=timeout)
    return done, read_streams(out / "events")


def calls_of(records: list[dict], func: str) -> list[dict]:
    return [r for r in records if r["kind"] == "call" and r["func"] == func]


def faults(records: list[dict]) -> list[dict]:
    return [r for r in records if r["kind"] == "marker" and r.get("fault")]


def unreturned(records: list[dict]) -> list[dict]:
    """Calls of a process whose frame never returned (nor suspended)."""
    ended = {(r["pid"], r["fid"]) for r in records if r["kind"] == "return"}
    return [r for r in records if r["kind"] == "call" and (r["pid"], r["fid"]) not in ended]


# -- item 4: recursion ------------------------------------------------------------------------


@pytest.mark.parametrize("verbosity", [2, 4])
def test_recursion_reaches_the_same_depth_as_plain(python, verbosity, tmp_path):
    """The deepest recursion that works plain works under the monitor, one deeper fails in both,
    and every frame of it is recorded."""
    program = PROGRAMS / "recursion_limit.py"
    alone = plain(python, program, "probe", cwd=tmp_path)
    assert alone.returncode == 0, alone.stderr
    deepest = int(alone.stdout.split("deepest ")[1].split()[0])
    under, records = monitored(python, program, "probe", out=tmp_path / "probe", verbosity=verbosity,
                               cwd=tmp_path)
    assert (under.returncode, under.stdout) == (0, alone.stdout), under.stderr

    check = plain(python, program, "check", deepest, cwd=tmp_path)
    assert "results (True, 'RecursionError')" in check.stdout
    under, records = monitored(python, program, "check", deepest, out=tmp_path / "check",
                               verbosity=verbosity, cwd=tmp_path)
    assert (under.returncode, under.stdout) == (0, check.stdout), under.stderr
    assert not faults(records)
    assert not unreturned(records)
    # the successful descent: deepest + 1 frames of down, all of them recorded
    assert len(calls_of(records, "down")) >= deepest + 1
    assert max(r["depth"] for r in calls_of(records, "down")) >= deepest + 2  # <module>, check, attempt


def test_caught_recursion_error_then_calls_are_recorded(python, tmp_path):
    """After a RecursionError the job catches, tracing goes on; the job sees sys.gettrace(), the
    recursion limit and sys.monitoring as it does plain, also after switching tracing off and on."""
    program = PROGRAMS / "recursion_limit.py"
    alone = plain(python, program, "caught", cwd=tmp_path)
    assert alone.returncode == 0 and "after [0, 1, 4, 9, 16]" in alone.stdout, alone.stderr
    under, records = monitored(python, program, "caught", out=tmp_path / "a", verbosity=2, cwd=tmp_path)
    assert (under.returncode, under.stdout, under.stderr) == (0, alone.stdout, alone.stderr)
    assert len(calls_of(records, "after")) == 5
    assert not faults(records)
    assert not unreturned(records)


def test_uncaught_recursion_error_prints_as_plain(python, tmp_path):
    """Recursion without end, not caught: the job fails with the traceback Python prints
    plain, entry for entry (the tracer's refusal of the frame too deep leaves no trace)."""
    program = PROGRAMS / "recursion_limit.py"
    alone = plain(python, program, "uncaught", cwd=tmp_path)
    assert alone.returncode == 1 and alone.stderr.rstrip().endswith("RecursionError: maximum recursion depth exceeded")
    under, records = monitored(python, program, "uncaught", out=tmp_path / "a", verbosity=2, cwd=tmp_path)
    assert (under.returncode, under.stdout, under.stderr) == (1, alone.stdout, alone.stderr)
    assert not faults(records)


@pytest.mark.slow
def test_cpython_test_json_passes_under_the_monitor(tmp_path):
    """CPython's own test_json (recursion tests, tracing switched off and back) passes under
    the monitor at verbosity 2 as it does plain, and alters no part of its environment."""
    python = PYENV / VERSIONS["3.11"] / "bin" / "python"
    assert python.exists()
    (tmp_path / "tmp").mkdir()  # its own temporary folder: the runner's is named by pid
    env = clean_env(TMPDIR=str(tmp_path / "tmp"))
    alone = plain(str(python), "-m", "test", "test_json", cwd=tmp_path, env=env)
    assert alone.returncode == 0 and "Result: SUCCESS" in alone.stdout, alone.stdout[-2000:]
    under, records = monitored(str(python), "-m", "test", "test_json", out=tmp_path / "a", verbosity=2,
                               cwd=tmp_path, timeout=120, env=env)
    assert under.returncode == 0, under.stdout[-2000:]
    assert "Result: SUCCESS" in under.stdout and "env changed" not in under.stdout, under.stdout[-2000:]
    assert "Warning" not in under.stdout + under.stderr, under.stdout[-2000:]
    assert not faults(records)


# -- item 5: processes killed before their tracer wrote out ------------------------------------


def gap_markers(records: list[dict], pid: int) -> list[dict]:
    return [r for r in records if r["pid"] == pid and r["kind"] == "marker" and r.get("gap")
            and str(pid) in r["text"]]


def exits(records: list[dict], pid: int) -> list[dict]:
    return [{k: r.get(k) for k in ("exit_code", "signal")} for r in records
            if r["pid"] == pid and r["kind"] == "process" and r["phase"] == "exit"]


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_pool_as_context_manager_loses_no_record(python, method, tmp_path):
    """Pool.__exit__ terminates the workers (SIGTERM) right after the last result: every call
    of every worker is recorded, no worker's stream is marked as missing records, and each
    ends as multiprocessing saw it (by SIGTERM, or 0 when it saw the pool's end first)."""
    program = PROGRAMS / "pool_ctx.py"
    under, records = monitored(python, program, method, 600, out=tmp_path / "a", verbosity=2, cwd=tmp_path)
    assert under.returncode == 0, under.stderr
    ran = json.loads(under.stdout)
    tasks = {int(pid): n for pid, n in ran["tasks"].items()}
    assert sum(tasks.values()) == 600
    recorded = Counter(r["pid"] for r in calls_of(records, "work"))
    assert recorded == tasks
    for pid, code in ran["exits"].items():  # a worker that saw the pool's end first exits 0
        assert not gap_markers(records, int(pid))
        ended = [{"exit_code": None, "signal": 15}] if code == -15 else [{"exit_code": code, "signal": None}]
        if code == -15:  # SIGTERM in the last moments of a worker already leaving Python (it saw the
            # pool's end): its tracer had written its exit code, and its parent reaped it unseen
            ended.append({"exit_code": 0, "signal": None})
            # KNOWN LIMIT (README): on a loaded machine a spawn worker SIGTERMed before its tracer
            # started (it ran no task) may be reaped by its parent before the monitor reads how it
            # ended, so its exit is null, or it is not in the archive at all if it lived less than
            # one scan of the process tree; every call of every worker is still checked above
            ended.append({"exit_code": None, "signal": None})
            if not exits(records, int(pid)):
                continue
        assert exits(records, int(pid))[-1] in ended, f"worker {pid} ended with {code}"


def test_sigterm_taken_by_another_thread_while_main_waits(python, tmp_path):
    """SIGTERM delivered to a job's thread while the main thread waits for good on a lock (so
    no Python signal handler can run there): the process ends by SIGTERM at once, as plain,
    with all its calls recorded."""
    program = PROGRAMS / "term_in_thread.py"
    alone = plain(python, program, 3000, cwd=tmp_path)
    assert (alone.returncode, alone.stdout) == (-15, "3000\n"), alone.stderr
    under, records = monitored(python, program, 3000, out=tmp_path / "a", verbosity=2, cwd=tmp_path,
                               timeout=60)
    assert (under.returncode, under.stdout, under.stderr) == (alone.returncode, alone.stdout, alone.stderr)
    assert len(calls_of(records, "step")) == 3000
    pid = calls_of(records, "step")[0]["pid"]
    assert not gap_markers(records, pid) and not faults(records)


def test_the_jobs_signal_handling_is_as_plain(python, tmp_path):
    """The job sees its own handlers and wakeup fd (not the tracer's), its handler is called,
    SIG_IGN ignores, and a SIGTERM at the default action ends it the same way."""
    program = PROGRAMS / "signals_seen.py"
    alone = plain(python, program, cwd=tmp_path)
    assert alone.returncode == -15 and "handled SIGUSR1" in alone.stdout, alone.stderr
    assert "not reached" not in alone.stdout
    for verbosity in (1, 3):
        under, records = monitored(python, program, out=tmp_path / f"a{verbosity}", verbosity=verbosity,
                                   cwd=tmp_path)
        assert (under.returncode, under.stdout, under.stderr) == (alone.returncode, alone.stdout, alone.stderr)
        assert not faults(records)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_sigkilled_worker_is_marked(python, method, tmp_path):
    """A worker killed by SIGKILL right after its calls: a marker in its stream names it as a
    process whose last records may be missing; no process that ended normally gets one."""
    program = PROGRAMS / "killed_worker.py"
    under, records = monitored(python, program, method, 2000, out=tmp_path / "a", verbosity=2, cwd=tmp_path)
    assert under.returncode == 0, under.stderr
    pid, made = map(int, under.stdout.split())
    recorded = sum(1 for r in calls_of(records, "step") if r["pid"] == pid)
    assert recorded <= made and gap_markers(records, pid), f"{recorded} of {made} calls, no marker"
    others = {r["pid"] for r in records} - {pid}
    assert others and not [r for r in records if r["pid"] in others and r.get("gap")]


# -- item 9: a forked child's first frames ------------------------------------------------------


def test_forked_child_starts_with_named_frames(python, tmp_path):
    program = PROGRAMS / "fork_child.py"
    under, records = monitored(python, program, out=tmp_path / "a", verbosity=2, cwd=tmp_path)
    assert under.returncode == 0, under.stderr
    child = int(under.stdout.split()[-1])
    frames = [r for r in records if r["pid"] == child and r["kind"] in ("call", "return")]
    assert [r["func"] for r in frames if r["kind"] == "call"][:3] == ["<module>", "main", "child_work"]
    assert all(r["file"] == str(program) and r["func"] for r in frames)


def test_keyboard_interrupt_in_a_hook_then_calls_are_recorded(python, tmp_path):
    """SIGINT lands while the job is deep in traced calls (most of that time is the hooks'):
    the job gets its KeyboardInterrupt as it does plain, and its later calls are recorded;
    those made at once are recorded too, and the records stay nested (on 3.9, which may run
    the handler on a hook's very first instruction, a marker says calls may be missing)."""
    program = PROGRAMS / "interrupted.py"
    alone = plain(python, program, cwd=tmp_path)
    assert alone.stdout == "interrupted\nafter [1, 2, 3, 4, 5]\nlater [-1, 0, 1, 2, 3]\n", alone.stderr
    under, records = monitored(python, program, out=tmp_path / "a", verbosity=2, cwd=tmp_path)
    assert (under.returncode, under.stdout, under.stderr) == (alone.returncode, alone.stdout, alone.stderr)
    assert len(calls_of(records, "later")) == 5
    job = calls_of(records, "later")[0]["pid"]
    gaps = [r for r in records if r["pid"] == job and r["kind"] == "marker" and r.get("gap")]
    assert len(calls_of(records, "after")) == 5 or gaps
    assert not faults(records)
    if "3.9." not in python:  # from 3.10 the hook hands the interrupt back: nothing is lost
        assert not gaps, gaps
    if "3.9." not in python and "3.10." not in python:  # (3.10 checks after a list.append too)
        assert not misnested(records), misnested(records)[:3]


def misnested(records: list[dict]) -> list[dict]:
    """Records whose frame is not the innermost open one of its thread: a `return` or an
    `exception` of another frame, as when a start or resumption was not recorded."""
    stacks: dict[tuple, list] = {}
    wrong = []
    for r in records:
        if r["kind"] not in ("call", "return", "exception") or r.get("adopted"):
            continue
        stack = stacks.setdefault((r["pid"], r["tid"]), [])
        if r["kind"] == "call":
            stack.append(r["fid"])
        elif not stack or stack[-1] != r["fid"]:
            wrong.append(r)
        elif r["kind"] == "return":
            stack.pop()
    return wrong


# Where CPython cannot get the job its exception where it arises plain (README, "Known
# limits"): 3.9 checks for signals at nearly every instruction while a trace function is
# set, so the exception leaves a hook from where it arose.
SIGNAL_LIMITS = {"3.9": {"resumed_after_yield_from", "started"}}


@pytest.mark.parametrize("verbosity", [2, 3])
def test_a_signal_at_a_hook_arises_where_it_would_plain(python, verbosity, tmp_path):
    """A signal's exception pending when a hook starts (a generator resumed after `yield from`,
    a function's start, a return, a yield, a line; CPython's test_generators
    SignalAndYieldFromTest is the first): the same `try` catches it as plain, with the same
    traceback (no frame of the tracer's), and the records stay nested (3.11 and 3.13 send no
    call event for a frame whose start or resumption raised it)."""
    program = PROGRAMS / "signal_points.py"
    alone = plain(python, program, cwd=tmp_path)
    assert alone.returncode == 0, alone.stderr
    under, records = monitored(python, program, out=tmp_path / "a", verbosity=verbosity, cwd=tmp_path)
    assert under.returncode == 0, under.stderr

    def by_scenario(out: str) -> dict[str, str]:
        return {part.split()[0]: part for part in re.split(r"^(?=\w)", out, flags=re.M) if part}

    version = next(v for v, full in VERSIONS.items() if full in python)
    got, want = by_scenario(under.stdout), by_scenario(alone.stdout)
    assert got.keys() == want.keys()
    differ = {name for name in want if got[name] != want[name]}
    assert differ == SIGNAL_LIMITS.get(version, set()), (under.stdout, alone.stdout)
    assert re.sub(r"0x[0-9a-f]+", "", under.stderr) == re.sub(r"0x[0-9a-f]+", "", alone.stderr)
    assert not misnested(records) and not faults(records)
    gaps = [r for r in records if r["kind"] == "marker" and r.get("gap")]
    assert not gaps or version in SIGNAL_LIMITS  # (3.9: re-armed after the hook lost the exception)
    ran = len(re.findall("target ran", alone.stdout))
    assert ran <= len(calls_of(records, "target")) <= ran + 2  # + those a signal ended as they started


def test_job_claiming_the_tracers_monitoring_ids_runs_as_plain(python, tmp_path):
    """A job that claims sys.monitoring tool ids (the ones the tracer holds, 3.12+) gets them,
    sees the tools as it does plain, and its calls are still recorded, before and after."""
    program = PROGRAMS / "monitoring_tools.py"
    alone = plain(python, program, cwd=tmp_path)
    assert alone.returncode == 0, alone.stderr
    under, records = monitored(python, program, out=tmp_path / "a", verbosity=2, cwd=tmp_path)
    assert (under.returncode, under.stdout, under.stderr) == (0, alone.stdout, alone.stderr)
    assert len(calls_of(records, "work")) == 6
    assert not faults(records)
