"""A corpus of real-shaped jobs, each run plain and under `jemgui run`, checked against oracles
the project did not write (issue 12).

Every job here is a real program nobody here wrote, or a job script of a shape found on the
grid (tests/realworld/corpus/), run on pyenv's real CPythons. The oracles are independent of
the monitor: the plain run for the exit status and the output bytes (stdout and stderr apart,
and both into one file as in `> job.log 2>&1`), cProfile for call counts, the `trace` module
for line counts, Python's own printed traceback, CPython's own test suite's verdict, and what
bash and the kernel report of a job killed from outside. Every archive must be readable by
`jemgui summary --json`, whose exit code and state must be the job's.

Grow it whenever a real job breaks the monitor: a breakage not yet fixed stays here as a
strict xfail naming it, so its fix shows up as an unexpected pass.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).resolve().parent / "corpus"
JEMGUI = ROOT / ".venv" / "bin" / "jemgui"
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"  # has numpy and pytest
PYENV = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
VERSIONS = {"3.9": "3.9.18", "3.10": "3.10.13", "3.11": "3.11.7", "3.12": "3.12.1", "3.13": "3.13.0"}
TIMEOUT = 240


def interpreter(version: str) -> str:
    """pyenv's real CPython `version`; a missing one fails the test with one line."""
    exe = PYENV / VERSIONS[version] / "bin" / "python"
    if not exe.exists():
        pytest.fail(f"CPython {version} is missing ({exe}): the corpus runs on pyenv's CPythons", pytrace=False)
    return str(exe)


def job_env(**extra: str) -> dict[str, str]:
    """The environment of a job a batch system starts: none of this test run's own variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JEM_", "PYTEST_"))}
    for name in ("PYTHONPATH", "BASH_ENV", "COV_CORE_SOURCE"):
        env.pop(name, None)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"  # pip's "new version" notice depends on the network
    env.update(extra)
    return env


# -- running a job plain and under the monitor --------------------------------------------------


@dataclass
class Ran:
    """One way of running a job: its exit status (-N for signal N) and its bytes."""

    rc: int
    out: bytes  # stdout, to a pipe of its own
    err: bytes  # stderr, to a pipe of its own
    rc_both: int = 0
    both: bytes = b""  # stdout and stderr into one file, `> job.log 2>&1`
    archives: list[Path] = field(default_factory=list)


def _spawn(argv, cwd, env, stdout, stderr, during=None) -> int:
    proc = subprocess.Popen([str(a) for a in argv], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=stdout, stderr=stderr, start_new_session=True)
    try:
        if during:
            during(proc, cwd)
        proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode


def run_job(argv, cwd: Path, env: dict, *, out: Path | None = None, verbosities=(3, 4),
            options=(), during=None) -> Ran:
    """Run `argv` twice in `cwd`, streams apart and then `> f 2>&1`, plain (`out` None) or under
    `jemgui run` at the two verbosities, one archive each; `during(proc, cwd)` acts while it runs."""
    archives = []

    def command(n: int) -> list:
        if out is None:
            return list(argv)
        archives.append(out / f"v{verbosities[n]}-{n}")
        return [JEMGUI, "run", "--out", archives[-1], "--verbosity", verbosities[n], *options, "--", *argv]

    logs = cwd.parent / "logs"
    logs.mkdir(exist_ok=True)
    tag = "plain" if out is None else "monitored"
    with open(logs / f"{tag}.out", "wb") as o, open(logs / f"{tag}.err", "wb") as e:
        rc = _spawn(command(0), cwd, env, o, e, during)
    with open(logs / f"{tag}.log", "wb") as both:
        rc_both = _spawn(command(1), cwd, env, both, subprocess.STDOUT, during)
    return Ran(rc, (logs / f"{tag}.out").read_bytes(), (logs / f"{tag}.err").read_bytes(), rc_both,
               (logs / f"{tag}.log").read_bytes(), archives)


def jemgui(*args) -> subprocess.CompletedProcess:
    return subprocess.run([str(JEMGUI), *map(str, args)], capture_output=True, text=True, timeout=TIMEOUT,
                          env=job_env())


def summaries_of(archives: list[Path]) -> list[dict]:
    """`jemgui summary --json` of each archive, as a shifter asks for it: each must answer (exit 0).
    They run side by side: most of a summary's time is the start of the program."""
    procs = [subprocess.Popen([str(JEMGUI), "summary", "--json", str(a)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=job_env()) for a in archives]
    found = []
    for archive, proc in zip(archives, procs, strict=True):
        out, err = proc.communicate(timeout=TIMEOUT)
        assert proc.returncode == 0, f"summary of {archive.name} failed ({proc.returncode}): {err.strip()[-500:]}"
        found.append(json.loads(out))
    return found


def expected_state(rc: int) -> tuple[int, str]:
    """The exit code and final state a summary must give for a job that ended with `rc`."""
    if rc < 0:
        return 128 - rc, "KILLED"
    return rc, "DONE" if rc == 0 else "FAILED"


def same_job(tmp_path: Path, argv, *, env: dict | None = None, mask=None, verbosities=(3, 4), options=(),
             during=None, files: tuple[str, ...] = ()) -> tuple[Ran, list[dict]]:
    """The job's exit status and bytes under the monitor equal the plain run's, both ways of
    capturing them; each archive's summary answers with the job's exit code and state."""
    cwd = tmp_path / "job"
    cwd.mkdir()
    for name in files:
        shutil.copy(CORPUS / name, cwd / name)
    env = env or job_env()
    plain = run_job(argv, cwd, env, during=during)
    under = run_job(argv, cwd, env, out=tmp_path / "archives", verbosities=verbosities, options=options,
                    during=during)
    mask = mask or (lambda data: data)
    assert (under.rc, under.rc_both) == (plain.rc, plain.rc_both), (under.err[-2000:], plain.err[-2000:])
    assert mask(under.out) == mask(plain.out)
    assert mask(under.err) == mask(plain.err)
    assert mask(under.both) == mask(plain.both)
    summaries = summaries_of(under.archives)
    for archive, s, rc in zip(under.archives, summaries, (plain.rc, plain.rc_both), strict=True):
        assert (s["exit_code"], s["final_state"]) == expected_state(rc), (archive.name, s["hint"])
        assert s["complete"] and s["streams"], archive.name
    return plain, summaries


# -- what the archive holds, against cProfile and the trace module -------------------------------


def records(archive: Path) -> list[dict]:
    found = []
    for path in sorted((archive / "events").glob("*.jsonl")):
        found.extend(json.loads(line) for line in path.read_text().splitlines() if line.strip())
    return found


def recorded_calls(archive: Path, script: str, func: str) -> int:
    """`call` records of `func` in `script`, resumptions included (cProfile counts those too)."""
    return sum(1 for r in records(archive) if r["kind"] == "call" and _is(r, script, func))


def recorded_lines(archive: Path, script: str, first: int, last: int) -> Counter:
    """`line` records of lines `first`..`last` of `script`, of any frame (the `trace` module counts
    a line whatever code object runs it: comprehensions and generator expressions too)."""
    return Counter(r["line"] for r in records(archive) if r["kind"] == "line" and first <= r["line"] <= last
                   and Path(r["file"]).name == script)


def _is(record: dict, script: str, func: str) -> bool:
    """A record of function `func` (records name it qualified: `Counter.add`) in `script`."""
    return record["func"].rsplit(".", 1)[-1] == func and Path(record["file"]).name == script


PROFILE_CALLS = """
import json, pstats, sys
stats = pstats.Stats(sys.argv[1]).stats
print(json.dumps({f"{f.rsplit('/', 1)[-1]}:{name}": nc for (f, line, name), (cc, nc, tt, ct, callers)
                  in stats.items()}))
"""

TRACE_COUNTS = """
import json, sys, trace
prog = sys.argv[1]
sys.argv = sys.argv[1:]
sys.path[0] = __import__("os").path.dirname(prog)
code = compile(open(prog).read(), prog, "exec")
tracer = trace.Trace(count=1, trace=0)
namespace = {"__name__": "__main__", "__file__": prog}
tracer.runctx(code, namespace, namespace)
print(json.dumps([[line, n] for (f, line), n in tracer.results().counts.items() if f == prog]), file=sys.stderr)
"""


def cprofile_calls(python: str, cwd: Path, script: str, *args) -> dict[str, int]:
    """cProfile's call count of each function, `script:func`, from a plain run of the job."""
    prof = cwd.parent / "cprofile.out"
    subprocess.run([python, "-m", "cProfile", "-o", prof, script, *args], cwd=cwd, env=job_env(),
                   capture_output=True, timeout=TIMEOUT, check=True)
    done = subprocess.run([python, "-c", PROFILE_CALLS, prof], capture_output=True, text=True, check=True,
                          timeout=60)
    return json.loads(done.stdout)


def trace_lines(python: str, cwd: Path, script: str, first: int, last: int, *args) -> Counter:
    """The `trace` module's count of each line `first`..`last` of `script`, from a plain run."""
    done = subprocess.run([python, "-c", TRACE_COUNTS, str(cwd / script), *args], cwd=cwd, env=job_env(),
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr[-2000:]
    counts = json.loads(done.stderr.strip().splitlines()[-1])
    return Counter({line: n for line, n in counts if first <= line <= last})


def lines_of(script: str, func: str) -> tuple[int, int]:
    """The lines of top-level function `func`'s body in a corpus script (its `def` runs at import)."""
    text = (CORPUS / script).read_text().splitlines()
    first = next(i for i, line in enumerate(text, 1) if re.match(rf"(async )?def {func}\(", line))
    last = first
    for i in range(first, len(text)):
        if text[i] and not text[i][0].isspace():
            break
        if text[i].strip():
            last = i + 1
    return first + 1, last


def line_of(script: str, text: str) -> int:
    return next(i for i, line in enumerate((CORPUS / script).read_text().splitlines(), 1) if text in line)


# -- plain Python jobs: bytes, calls against cProfile, lines against trace ------------------------


@pytest.mark.parametrize("version", ["3.9", "3.11", "3.12", "3.13"])
def test_a_job_of_many_shapes_matches_cprofile_and_trace(tmp_path, version):
    """Recursion, a generator, methods, a caught ValueError, comprehensions (work.py)."""
    python = interpreter(version)
    same_job(tmp_path, [python, "work.py"], files=("work.py",))
    cwd, traced = tmp_path / "job", tmp_path / "archives" / "v3-0"
    profile = cprofile_calls(python, cwd, "work.py")
    for func in ("fib", "evens", "add", "parse", "main"):
        assert recorded_calls(traced, "work.py", func) == profile[f"work.py:{func}"], func
    for func in ("fib", "evens", "main"):
        span = lines_of("work.py", func)
        assert recorded_lines(traced, "work.py", *span) == trace_lines(python, cwd, "work.py", *span), func


@pytest.mark.parametrize("version", ["3.9", "3.11", "3.13"])
def test_asyncio_gather_tasks_and_a_timeout(tmp_path, version):
    """Coroutines resume many times: cProfile counts each resumption as a call, as `call` records do."""
    python = interpreter(version)
    same_job(tmp_path, [python, "asyncio_job.py"], files=("asyncio_job.py",))
    cwd, traced = tmp_path / "job", tmp_path / "archives" / "v3-0"
    profile = cprofile_calls(python, cwd, "asyncio_job.py")
    for func in ("fetch", "producer", "consumer", "slow", "broken", "main"):
        assert recorded_calls(traced, "asyncio_job.py", func) == profile[f"asyncio_job.py:{func}"], func
    for func in ("consumer", "producer"):
        span = lines_of("asyncio_job.py", func)
        assert recorded_lines(traced, "asyncio_job.py", *span) == trace_lines(python, cwd, "asyncio_job.py", *span)


def test_numpy_analysis(tmp_path):
    """numpy (installed, so not traced) around user functions that are."""
    python = str(VENV_PYTHON)
    same_job(tmp_path, [python, "numpy_job.py"], files=("numpy_job.py",))
    cwd, traced = tmp_path / "job", tmp_path / "archives" / "v3-0"
    assert recorded_calls(traced, "numpy_job.py", "normalise") == cprofile_calls(
        python, cwd, "numpy_job.py")["numpy_job.py:normalise"] == 5
    span = lines_of("numpy_job.py", "normalise")
    assert recorded_lines(traced, "numpy_job.py", *span) == trace_lines(python, cwd, "numpy_job.py", *span)


PY_TRACEBACK = re.compile(r'^  File "([^"]+)", line (\d+), in (\S+)$', re.M)


@pytest.mark.parametrize("version", ["3.9", "3.11", "3.13"])
def test_an_uncaught_exception_is_named_with_pythons_traceback(tmp_path, version):
    """The summary's failure is the exception Python printed, with the same stack."""
    python = interpreter(version)
    plain, summaries = same_job(tmp_path, [python, "failing_job.py"], files=("failing_job.py",),
                                verbosities=(2, 3))
    assert plain.rc == 1
    printed = [[Path(f).name, int(line), func] for f, line, func in PY_TRACEBACK.findall(plain.err.decode())]
    assert printed[-1] == ["failing_job.py", line_of("failing_job.py", "return runs[number]"), "read_run"]
    for s in summaries:
        f = s["failure"]
        assert (f["kind"], f["type"].rsplit(".", 1)[-1], f["message"]) == ("exception", "KeyError", "3"), f
        assert [[Path(fl).name, line, func] for fl, line, func in f["traceback"]] == printed
        assert f["certain"] is True and s["hint"]["class"] == "task"
