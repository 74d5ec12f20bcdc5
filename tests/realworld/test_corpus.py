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
import time
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
    """Run `argv` in `cwd` with its streams apart, then (given two verbosities) `> f 2>&1`, plain
    (`out` None) or under `jemgui run`, one archive each; `during(proc, cwd)` acts while it runs."""
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
        rc_both = _spawn(command(1), cwd, env, both, subprocess.STDOUT, during) if len(verbosities) > 1 else 0
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


def assert_same_bytes(what: str, under: bytes, plain: bytes) -> None:
    """Equal bytes, or one short message at the first line that differs (pytest's own diff of
    megabytes of output takes minutes)."""
    if under == plain:
        return
    a, b = under.splitlines(keepends=True), plain.splitlines(keepends=True)
    i = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    pytest.fail(f"{what}: {len(under)} bytes under the monitor, {len(plain)} plain; first difference "
                f"at line {i + 1}: {a[i][:200] if i < len(a) else b'<end>'!r} vs "
                f"{b[i][:200] if i < len(b) else b'<end>'!r}", pytrace=False)


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
    for what in ("out", "err", "both"):
        assert_same_bytes(what, mask(getattr(under, what)), mask(getattr(plain, what)))
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
    assert _stack(summaries[1]) == printed  # at verbosity 3 the lines of every frame are known


def _stack(s: dict) -> list[list]:
    """The failure's stack as Python prints it: file name, line, function's own name."""
    return [[Path(fr["file"]).name, fr["line"], fr["func"].rsplit(".", 1)[-1]] for fr in s["failure"]["stack"]]


def test_the_failure_stack_at_verbosity_2_has_pythons_lines(tmp_path):
    python = interpreter("3.11")
    cwd = tmp_path / "job"
    cwd.mkdir()
    shutil.copy(CORPUS / "failing_job.py", cwd)
    plain = run_job([python, "failing_job.py"], cwd, job_env(), verbosities=(2,))
    under = run_job([python, "failing_job.py"], cwd, job_env(), out=tmp_path / "archives", verbosities=(2,))
    printed = [[Path(f).name, int(line), func] for f, line, func in PY_TRACEBACK.findall(plain.err.decode())]
    assert under.rc == plain.rc == 1 and len(printed) == 5
    assert _stack(summaries_of(under.archives)[0]) == printed


# -- programs nobody here wrote: pytest, pip ------------------------------------------------------


@pytest.fixture(scope="session")
def pytest_313(tmp_path_factory) -> str:
    """A CPython 3.13 venv with pytest from the package index, made once per session."""
    venv = tmp_path_factory.mktemp("venv-3.13")
    made = subprocess.run([interpreter("3.13"), "-m", "venv", str(venv)], capture_output=True, text=True,
                          timeout=TIMEOUT)
    python = venv / "bin" / "python"
    if made.returncode == 0:
        made = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                               "pytest"], capture_output=True, text=True, timeout=TIMEOUT)
    if made.returncode != 0:
        last = (made.stderr.strip().splitlines() or ["no message"])[-1]
        pytest.fail(f"cannot install pytest into a CPython 3.13 venv: {last}", pytrace=False)
    return str(python)


def _pytest_timing(data: bytes) -> bytes:
    return re.sub(rb" in \d+\.\d+s( \(\d+:\d\d:\d\d\))?", b" in <time>", data)


@pytest.mark.slow
@pytest.mark.parametrize("version", ["3.11", "3.13"])
def test_pytest_run_of_a_real_test_file(tmp_path, version, request):
    """pytest with passing, parametrized and failing tests and pytest.raises: the same report
    (its timing masked) and exit code 1; the failure named is the failing test's assertion,
    not an exception a `pytest.raises` expected."""
    python = interpreter("3.11") if version == "3.11" else request.getfixturevalue("pytest_313")
    argv = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "calib_checks.py"]
    plain, summaries = same_job(tmp_path, argv, files=("calib_checks.py",), mask=_pytest_timing,
                                verbosities=(2, 3))
    assert plain.rc == 1 and b"1 failed, 7 passed in" in plain.out, plain.out[-1000:]
    for s in summaries:
        f = s["failure"]
        assert f is not None, s["hint"]
        assert (f["kind"], f["type"].rsplit(".", 1)[-1]) == ("exception", "AssertionError"), f
        assert (f["func"], f["line"]) == ("test_calibration_drift", line_of("calib_checks.py", "assert drift"))
        assert "ZeroDivisionError" not in s["hint"]["based_on"] and "KeyError" not in s["hint"]["based_on"]


@pytest.mark.parametrize("version", ["3.11", "3.13"])
def test_pip_version_and_list(tmp_path, version):
    """pip reads every installed distribution: the monitor's injected folder must not show."""
    python = interpreter(version)
    script = '"$PY" -m pip --version && "$PY" -m pip list'
    plain, _ = same_job(tmp_path, ["bash", "-c", script], env=job_env(PY=python), verbosities=(2, 4))
    assert plain.rc == 0 and b"pip " in plain.out and b"Package" in plain.out, plain.err


# -- processes: pools, executors, threads ----------------------------------------------------------


def gap_marked(archive: Path, pid: int) -> bool:
    """The archive says that records of process `pid` may be missing."""
    return any(r["kind"] == "marker" and r.get("gap") and str(pid) in r["text"] for r in records(archive))


def main_pid(archive: Path, script: str) -> int:
    """The pid of the job's Python process that runs `script`."""
    return next(r["pid"] for r in records(archive) if r["kind"] == "process" and r["phase"] == "start"
                and r["lang"] == "python" and script in r["argv"])


def calls_by_process(archive: Path, script: str, func: str) -> Counter:
    return Counter(r["pid"] for r in records(archive) if r["kind"] == "call" and _is(r, script, func))


@pytest.mark.slow
@pytest.mark.parametrize("method", ["fork", "spawn"])
@pytest.mark.parametrize("version", ["3.11", "3.13"])
def test_multiprocessing_pool_as_a_context_manager(tmp_path, version, method):
    """`with Pool(2) as pool: pool.map(...)`: __exit__ terminates the workers (SIGTERM); every call
    of every worker is recorded, and no worker's stream says records may be missing."""
    plain, _ = same_job(tmp_path, [interpreter(version), "pool_job.py", method, "200"], files=("pool_job.py",),
                        verbosities=(2, 3))
    assert plain.out == f"{method} 200 2646700\n".encode()
    for archive in (tmp_path / "archives").iterdir():
        recorded = calls_by_process(archive, "pool_job.py", "square")
        ran = json.loads((tmp_path / "job" / f"workers.{main_pid(archive, 'pool_job.py')}.json").read_text())
        for pid, n in ran.items():
            assert recorded[int(pid)] == n, f"{archive.name}: worker {pid} ran {n} tasks, {recorded[int(pid)]} recorded"
            assert not gap_marked(archive, int(pid)), f"{archive.name}: worker {pid} marked as missing records"
        assert set(recorded) <= {int(pid) for pid in ran}


@pytest.mark.parametrize("version", ["3.11", "3.13"])
def test_process_pool_executor_and_threads(tmp_path, version):
    """concurrent.futures' process pool (its workers exit when it shuts down), threads sharing a
    lock and a thread pool: every call in every process and thread is recorded."""
    plain, _ = same_job(tmp_path, [interpreter(version), "futures_job.py"], files=("futures_job.py",),
                        verbosities=(2, 3))
    assert plain.rc == 0 and plain.out.startswith(b"checksums [")
    for archive in (tmp_path / "archives").iterdir():
        checksums = calls_by_process(archive, "futures_job.py", "checksum")
        assert sum(checksums.values()) == 20 and len(checksums) <= 2, (archive.name, checksums)
        main = main_pid(archive, "futures_job.py")
        assert main not in checksums
        words = [r for r in records(archive) if r["kind"] == "call" and _is(r, "futures_job.py", "count_words")]
        assert len(words) == 7 and {r["pid"] for r in words} == {main}
        assert len({r["tid"] for r in words}) >= 2  # the plain threads' and the thread pool's


# -- jobs killed from outside ----------------------------------------------------------------------


def _payload_pid(cwd: Path) -> int:
    """The pid the payload wrote once it runs (the file is removed for the next run)."""
    pidfile = cwd / "payload.pid"
    deadline = time.monotonic() + 60
    while not (pidfile.exists() and pidfile.read_text().strip()):
        assert time.monotonic() < deadline, "the payload never started"
        time.sleep(0.05)
    time.sleep(0.3)  # mid-run: its loop has called tick() many times
    pid = int(pidfile.read_text())
    pidfile.unlink()
    return pid


def test_a_payload_terminated_from_outside(tmp_path):
    """SIGTERM to the Python payload of a wrapper (a batch system's limit on it): bash reports
    143 and exits with it, as plain; the archive is readable and says SIGTERM came from outside."""
    def terminate_payload(proc, cwd):
        os.kill(_payload_pid(cwd), signal.SIGTERM)

    plain, summaries = same_job(tmp_path, ["bash", "terminated.sh"], files=("terminated.sh",),
                                env=job_env(PY=interpreter("3.11")), during=terminate_payload, verbosities=(2, 4))
    assert plain.rc == 143 and plain.err == b"Terminated\npayload ended with 143\n"
    for s in summaries:
        payload = next(p for p in s["processes"] if p["lang"] == "python")
        assert payload["signal"] == signal.SIGTERM, payload
        assert s["hint"]["class"] == "site" and "SIGTERM" in s["hint"]["based_on"], s["hint"]


def test_a_job_whose_process_group_is_terminated(tmp_path):
    """The batch system ends the whole job (SIGTERM to its process group): the same end as plain."""
    def terminate_group(proc, cwd):
        _payload_pid(cwd)
        os.killpg(proc.pid, signal.SIGTERM)

    plain, summaries = same_job(tmp_path, ["bash", "terminated.sh"], files=("terminated.sh",),
                                env=job_env(PY=interpreter("3.13")), during=terminate_group, verbosities=(2, 4))
    assert plain.rc == -signal.SIGTERM
    for s in summaries:
        assert s["hint"]["class"] == "site", s["hint"]


@pytest.mark.parametrize("version", ["3.9", "3.11", "3.12", "3.13"])
def test_a_job_that_checkpoints_on_sigterm(tmp_path, version):
    """Preemption: the job's SIGTERM handler raises, the job checkpoints and exits 3, as plain."""
    def preempt(proc, cwd):
        pid = _payload_pid(cwd)
        os.kill(pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # ignored its SIGTERM: the batch system's SIGKILL
            os.kill(pid, signal.SIGKILL)

    plain, _ = same_job(tmp_path, [interpreter(version), "graceful_job.py"], files=("graceful_job.py",),
                        during=preempt, verbosities=(3, 3))  # most of the job's time is in hooks
    assert plain.rc == 3 and plain.err == b"preempted by SIGTERM\n"
    assert (tmp_path / "job" / "checkpoint.txt").read_text().isdigit()


def test_a_python_terminated_while_it_starts(tmp_path):
    """A Python killed before its tracer was loaded (a pool worker terminated as it starts; here
    a user site `.pth` hook holds its start): the archive names it and how it ended, not a failed
    tracer or a Python too old."""
    site = tmp_path / "userbase" / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    (site / "slow_start.pth").write_text("import time; time.sleep(60)\n")

    def terminate_python(proc, cwd):
        import psutil

        deadline = time.monotonic() + 60
        while True:
            tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
            python = [p for p in tree if p.cmdline()[-1:] == ["print('never')"]]
            if python and time.time() - python[0].create_time() > 1.5:
                python[0].terminate()
                return
            assert time.monotonic() < deadline, "the job's Python never started"
            time.sleep(0.1)

    plain, summaries = same_job(tmp_path, [interpreter("3.11"), "-c", "print('never')"], during=terminate_python,
                                env=job_env(PYTHONUSERBASE=str(tmp_path / "userbase")), verbosities=(1, 2))
    assert plain.rc == -signal.SIGTERM and plain.out == b""
    for archive in (tmp_path / "archives").iterdir():
        named = [r["text"] for r in records(archive) if r["kind"] == "marker" and r.get("untraced")]
        assert len(named) == 1 and "SIGTERM ended it while it started" in named[0], named


# -- bash wrappers ---------------------------------------------------------------------------------


def test_a_strict_bash_wrapper_that_calls_python_then_fails(tmp_path):
    """`set -euo pipefail`: Python runs, then a pipeline fails (grep finds nothing); the job ends
    with grep's status as plain, and the summary names that command at its line."""
    env = job_env(PY=interpreter("3.11"), CORPUS=str(tmp_path / "job"))
    plain, summaries = same_job(tmp_path, ["bash", "wrapper.sh"], files=("wrapper.sh", "work.py"), env=env,
                                verbosities=(1, 3))
    assert plain.rc == 1 and b"fib 610" in plain.out and b"never reached" not in plain.out
    for s in summaries:
        f = s["failure"]
        assert f is not None, s["hint"]
        assert (f["kind"], Path(f["file"]).name, f["line"]) == ("command", "wrapper.sh",
                                                                 line_of("wrapper.sh", "grep -q"))
        # bash's xtrace shows a pipeline's members as each starts, in no fixed order, so the failure
        # names the pipeline's line and either member's text (the last one traced)
        assert f["exit_code"] == 1 and ("grep -q" in f["message"] or "work.py" in f["message"]), f
        assert s["hint"]["class"] == "task"
        python = [p for p in s["processes"] if p["argv"][-1:] == ["work.py"] or "work.py" in " ".join(p["argv"])]
        assert python and all(p["exit_code"] in (0, None) for p in python), python


PIPELINES = [("work.py", "grep -q"), ("sys.exit(3)", "cat", "sys.exit(4)"), ("seq 1 3", "sum(map", "tr a b")]


def test_pipelines_of_python_and_tools_end_as_bash_saw_them(tmp_path):
    """Each member of a pipeline (traced Pythons among untraced tools) ends with the status bash
    printed from PIPESTATUS, or an unknown one; never another member's."""
    env = job_env(PY=interpreter("3.11"), CORPUS=str(tmp_path / "job"))
    plain, summaries = same_job(tmp_path, ["bash", "pipes.sh"], files=("pipes.sh", "work.py"), env=env,
                                verbosities=(1, 2))
    printed = [list(map(int, line.split()[1:])) for line in plain.out.decode().splitlines()
               if line.startswith("statuses")]
    assert printed == [[0, 1], [3, 0, 4], [0, 6, 0]]
    for s in summaries:
        for members, statuses in zip(PIPELINES, printed, strict=True):
            for member, status in zip(members, statuses, strict=True):
                found = [p for p in s["processes"] if member in " ".join(p["argv"]) and p["lang"] != "shell"]
                assert len(found) <= 1, found
                if found:
                    assert (found[0]["exit_code"], found[0]["signal"]) in ((status, None), (None, None)), \
                        (member, status, found[0])
                assert found or not member.startswith("sys.exit"), f"{member} is not listed"
            pythons = [p for p in s["processes"] if p["lang"] == "python"]
            assert len(pythons) == 4 and all(p["exit_code"] is not None for p in pythons), pythons


# -- CPython's own test suite, and the standard library's tracers as the job ----------------------

def _tests_result(data: bytes) -> list[bytes]:
    return [line for line in data.splitlines() if line.startswith(b"== Tests result:")]


@pytest.mark.parametrize("module, version, traced", [
    # test_json on 3.11: tests/realworld/test_tracer_robust.py runs it under the monitor already
    pytest.param("test_json", "3.13", False, marks=pytest.mark.slow),
    ("test_contextlib", "3.11", False),
    ("test_generators", "3.13", False),
    ("test_generators", "3.11", False),
    ("test_generators", "3.13", True),
    pytest.param("test_signal", "3.11", False, marks=pytest.mark.slow),
    pytest.param("test_signal", "3.12", False, marks=pytest.mark.slow),
    pytest.param("test_sys_settrace", "3.11", False, marks=pytest.mark.slow),
    pytest.param("test_sys_settrace", "3.13", False, marks=pytest.mark.slow),
], ids=lambda value: value if isinstance(value, str) else ('traced' if value else 'stdlib'))
def test_cpython_test_module_passes_as_plain(tmp_path, module, version, traced):
    """`python -m test MODULE`: the same exit code and "Tests result" line as plain; the
    regression test runner also checks that each test left the environment as it found it. The
    standard library is not traced (by design); `traced` traces the test module's own file."""
    python = interpreter(version)
    cwd = tmp_path / "job"
    cwd.mkdir()
    (tmp_path / "tmp").mkdir()  # its own temporary folder: the runner's is named by pid
    env = job_env(TMPDIR=str(tmp_path / "tmp"))
    argv = [python, "-m", "test", module]
    plain = run_job(argv, cwd, env, verbosities=(2,))
    under = run_job(argv, cwd, env, out=tmp_path / "archives", verbosities=(2, 2),
                    options=("--include", f"*/test/{module}.py") if traced else ())
    assert plain.rc == 0 and _tests_result(plain.out) == [b"== Tests result: SUCCESS =="], plain.out[-2000:]
    assert under.rc == plain.rc, under.out[-3000:]
    assert _tests_result(under.out) == _tests_result(under.both) == _tests_result(plain.out), under.out[-3000:]
    assert b"env changed" not in under.out + under.both
    for s in summaries_of(under.archives):
        assert (s["exit_code"], s["final_state"]) == (0, "DONE")


def _profile_table(data: bytes) -> bytes:
    """cProfile's printed table without its times and addresses, rows of equal counts in any order (the
    profiler lists those in the order of its code objects' addresses); the job's own output
    before the table stays as it is."""
    out = re.sub(rb"in \d+\.\d+ seconds", b"in <t> seconds", data)
    out = re.sub(rb" at 0x[0-9a-f]+}", b" at <address>}", out)  # a builtin's type object: where it loaded
    out = re.sub(rb"^( *\S+)( +\d+\.\d+){4}( +)", rb"\1 <times>\3", out, flags=re.M)
    head, sep, table = out.partition(b" function calls")
    return head + sep + b"\n".join(sorted(table.splitlines()))


@pytest.mark.parametrize("script, version", [
    ("work.py", "3.11"),
    ("waiting_job.py", "3.11"),
    ("waiting_job.py", "3.12"),
    ("waiting_job.py", "3.13"),
])
def test_cprofile_as_the_job(tmp_path, script, version):
    """`python -m cProfile -s ncalls SCRIPT`: the job's profiler sees the same calls as plain
    (none of the tracer's), and the archive's calls of fib are the profile's."""
    python = interpreter(version)
    plain, _ = same_job(tmp_path, [python, "-m", "cProfile", "-s", "ncalls", script], mask=_profile_table,
                        files=("work.py", "waiting_job.py"), verbosities=(2, 3))
    fib = re.search(rb"^ *(\d+)/\d+ .*work\.py:\d+\(fib\)$", plain.out, re.M)
    runs = 2 if script == "waiting_job.py" else 1
    assert fib and int(fib.group(1)) == 1973 * runs, plain.out[:3000]
    for archive in (tmp_path / "archives").iterdir():
        assert recorded_calls(archive, "work.py", "fib") == 1973 * runs, archive.name


@pytest.mark.parametrize("version", ["3.9", "3.11", "3.13"])
def test_the_trace_module_as_the_job(tmp_path, version):
    """`python -m trace --trace waiting_job.py` prints every line it runs: the same lines as plain."""
    python = interpreter(version)
    plain, _ = same_job(tmp_path, [python, "-m", "trace", "--trace", "waiting_job.py"],
                        files=("work.py", "waiting_job.py"), verbosities=(2, 3))
    assert plain.out.count(b"work.py(7):") == 2 * 1973


# -- more shapes ------------------------------------------------------------------------------------


def test_a_wrapper_that_execs_its_python(tmp_path):
    """`exec python job.py` at the end of a wrapper: the Python takes over the shell's pid; the
    job's end and its failure are the Python's, with Python's own traceback."""
    env = job_env(PY=interpreter("3.13"))
    plain, summaries = same_job(tmp_path, ["bash", "-c", 'echo staging; exec "$PY" failing_job.py'],
                                files=("failing_job.py",), env=env, verbosities=(2, 3))
    assert plain.rc == 1 and plain.out.startswith(b"staging\n")
    printed = [[Path(f).name, int(line), func] for f, line, func in PY_TRACEBACK.findall(plain.err.decode())]
    for s in summaries:
        f = s["failure"]
        assert (f["kind"], f["type"].rsplit(".", 1)[-1]) == ("exception", "KeyError"), f
        assert [[Path(fl).name, line, func] for fl, line, func in f["traceback"]] == printed


def test_output_that_is_not_text(tmp_path):
    """Bytes that are not UTF-8, a NUL, a 100 kB line and 600 kB in one go reach the same files
    unchanged; the archive's log records hold the job's lines."""
    plain, _ = same_job(tmp_path, [interpreter("3.11"), "bytes_job.py"], files=("bytes_job.py",),
                        verbosities=(1, 2))
    assert plain.rc == 0 and len(plain.out) > 600_000
    for archive in (tmp_path / "archives").iterdir():
        logged = "".join(r["text"] for r in records(archive) if r["kind"] == "log")
        assert "event  19999 energy 2499.875 GeV\n" in logged and "x" * 1000 in logged, archive.name
        assert logged.count("\n") == (plain.out + plain.err).count(b"\n"), archive.name
