"""The failure a summary names, on real jobs recorded by the real monitor.

Each job is a program of a shape found on the grid (a test suite that expects an
exception, a bash wrapper under `set -e`, a Python that crashes in C code, a job
killed from outside), run with `jemgui run`; the oracle is what the job itself did
(which exception escaped, which command bash stopped at, which signal ended it).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
JEMGUI = ROOT / ".venv" / "bin" / "jemgui"
PYENV = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
#: one CPython per back-end and the oldest: settrace (3.9, 3.11) and sys.monitoring (3.13)
PYTHONS = {v: PYENV / f"{v}.{p}" / "bin" / "python" for v, p in (("3.9", 18), ("3.11", 7), ("3.13", 0))}


def DIED_OF(sig: int) -> tuple[int, int]:  # noqa: N802 - reads as a constant
    """The statuses of `jemgui run` for a job killed by `sig`: it dies of the same signal, or exits 128+sig."""
    return (-sig, 128 + sig)


def job_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JEM_")}
    for name in ("PYTHONPATH", "BASH_ENV", "PYTEST_ADDOPTS", "PYTEST_CURRENT_TEST"):
        env.pop(name, None)
    return env


def record(out: Path, verbosity: int, *argv, cwd: Path) -> int:
    """Run `argv` under `jemgui run` (a real monitor); the job's exit status."""
    r = subprocess.run([str(JEMGUI), "run", "--out", str(out), "--verbosity", str(verbosity), "--", *map(str, argv)],
                       cwd=cwd, env=job_env(), capture_output=True, timeout=300)
    return r.returncode


def jemgui(*args) -> subprocess.CompletedProcess:
    return subprocess.run([str(JEMGUI), *map(str, args)], capture_output=True, text=True, timeout=300)


def summary(archive: Path) -> dict:
    r = jemgui("summary", archive, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def at_failure(archive: Path) -> dict:
    r = jemgui("inspect", archive, "--failure", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def require(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"{path} is missing: the real-world tests need it (pyenv's CPythons)")
    return path


# -- an exception the code handled is not the job's failure ------------------------------------

PYTEST_JOB = '''\
import pytest


def lookup(table, key):
    return table[key]


def divide(a, b):
    return a / b


def test_lookup_fails():
    assert lookup({"a": 1}, "run_4711") == 1


def test_handled_division():
    with pytest.raises(ZeroDivisionError):
        divide(1, 0)
    total = divide(6, 3)
    assert total == 2
'''

UNITTEST_JOB = '''\
import unittest


def lookup(table, key):
    return table[key]


def divide(a, b):
    return a / b


class Calibration(unittest.TestCase):
    def test_a_lookup_fails(self):
        self.assertEqual(lookup({"a": 1}, "run_4711"), 1)

    def test_b_handled_division(self):
        with self.assertRaises(ZeroDivisionError):
            divide(1, 0)
        total = divide(6, 3)
        self.assertEqual(total, 2)


if __name__ == "__main__":
    unittest.main()
'''


def check_named_failure(archive: Path) -> dict:
    """The summary names the KeyError that escaped the failing test, never the handled division."""
    s = summary(archive)
    f = s["failure"]
    assert f is not None, s["hint"]
    assert f["type"].rsplit(".", 1)[-1] == "KeyError" and f["message"] == "'run_4711'"
    assert (f["func"], f["line"]) == ("lookup", 5)
    assert f["certain"] is True
    assert "ZeroDivisionError" not in s["hint"]["based_on"]
    st = at_failure(archive)
    assert st["record"]["kind"] == "exception" and st["record"]["type"].endswith("KeyError")
    return s


@pytest.mark.parametrize("verbosity", [2, 3])
def test_pytest_raises_is_not_the_failure(tmp_path, verbosity):
    (tmp_path / "test_calib.py").write_text(PYTEST_JOB)
    rc = record(tmp_path / "a", verbosity, sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                "test_calib.py", cwd=tmp_path)
    assert rc == 1
    check_named_failure(tmp_path / "a")


@pytest.mark.parametrize("version", list(PYTHONS))
@pytest.mark.parametrize("verbosity", [2, 3])
def test_assert_raises_is_not_the_failure(tmp_path, version, verbosity):
    (tmp_path / "calib.py").write_text(UNITTEST_JOB)
    rc = record(tmp_path / "a", verbosity, require(PYTHONS[version]), "calib.py", cwd=tmp_path)
    assert rc == 1
    check_named_failure(tmp_path / "a")


HANDLED_ONLY = '''\
import sys


def parse(text):
    return int(text)


def main():
    try:
        parse("n/a")
    except ValueError:
        pass
    sys.stdout.flush()


main()
sys.stdout.flush()
import os
os._exit(3)
'''


@pytest.mark.parametrize("version", ["3.11", "3.13"])
def test_a_job_failing_without_an_exception_does_not_name_a_handled_one(tmp_path, version):
    """At verbosity 2 the frame's later records show that `parse`'s ValueError was caught."""
    (tmp_path / "job.py").write_text(HANDLED_ONLY)
    assert record(tmp_path / "a", 2, require(PYTHONS[version]), "job.py", cwd=tmp_path) == 3
    s = summary(tmp_path / "a")
    assert s["failure"] is None or s["failure"]["type"] != "ValueError", s["failure"]
    assert "ValueError" not in s["hint"]["based_on"]


UNCAUGHT = '''\
def parse(text):
    return int(text)


def main():
    return parse("n/a")


main()
'''


@pytest.mark.parametrize("version", list(PYTHONS))
def test_an_uncaught_exception_at_verbosity_2_is_named_as_certain(tmp_path, version):
    (tmp_path / "job.py").write_text(UNCAUGHT)
    assert record(tmp_path / "a", 2, require(PYTHONS[version]), "job.py", cwd=tmp_path) == 1
    f = summary(tmp_path / "a")["failure"]
    assert (f["type"].rsplit(".", 1)[-1], f["func"], f["line"], f["certain"]) == ("ValueError", "parse", 2, True)


# -- bash `set -e` -----------------------------------------------------------------------------

SET_E = '''\
#!/bin/bash
set -e
echo "staging input"
grep -q calibration missing_conditions.db
echo "never reached"
'''


def test_set_e_failure_is_the_command_and_line_that_failed(tmp_path):
    (tmp_path / "wrapper.sh").write_text(SET_E)
    assert record(tmp_path / "a", 2, "bash", "wrapper.sh", cwd=tmp_path) == 2  # grep's status for a missing file
    s = summary(tmp_path / "a")
    f = s["failure"]
    assert f is not None, s["hint"]
    assert (f["kind"], os.path.basename(f["file"]), f["line"]) == ("command", "wrapper.sh", 4)
    assert f["message"] == "grep -q calibration missing_conditions.db" and f["exit_code"] == 2
    st = at_failure(tmp_path / "a")
    assert st["position"] == f["position"] and st["position"] > 1
    assert (st["record"]["kind"], st["record"]["line"]) == ("command", 4)
    assert s["hint"]["class"] == "task" and "grep" in s["hint"]["based_on"]
    text = jemgui("summary", tmp_path / "a").stdout
    assert "wrapper.sh:4" in text and "grep -q calibration" in text


def test_set_e_in_a_called_script_names_the_inner_command(tmp_path):
    (tmp_path / "inner.sh").write_text(SET_E)
    (tmp_path / "outer.sh").write_text("#!/bin/bash\nset -e\necho outer\nbash inner.sh\necho done\n")
    assert record(tmp_path / "a", 1, "bash", "outer.sh", cwd=tmp_path) == 2
    f = summary(tmp_path / "a")["failure"]
    assert (os.path.basename(f["file"]), f["line"], f["exit_code"]) == ("inner.sh", 4, 2)


def test_set_e_with_an_exit_trap_names_the_command_before_the_handler(tmp_path):
    """Batch wrappers clean up in an EXIT trap: its commands run after the one that failed."""
    (tmp_path / "wrapper.sh").write_text("set -e\ncleanup() {\n  echo cleaning\n}\ntrap cleanup EXIT\n"
                                         "echo start\ngrep -q gain missing.db\necho never\n")
    assert record(tmp_path / "a", 1, "bash", "wrapper.sh", cwd=tmp_path) == 2
    f = summary(tmp_path / "a")["failure"]
    assert (f["line"], f["message"]) == (7, "grep -q gain missing.db")


def test_a_wrapper_passing_on_pythons_status_names_the_exception(tmp_path):
    """The usual wrapper: run the payload, keep its status, clean up, exit with it."""
    (tmp_path / "job.py").write_text(UNCAUGHT)
    (tmp_path / "run.sh").write_text(f"{PYTHONS['3.11']} job.py\nrc=$?\necho cleanup\nexit $rc\n")
    assert record(tmp_path / "a", 2, "bash", "run.sh", cwd=tmp_path) == 1
    f = summary(tmp_path / "a")["failure"]
    assert (f["kind"], f["type"].rsplit(".", 1)[-1], f["func"]) == ("exception", "ValueError", "parse")


def test_a_python_failure_the_script_ignored_is_not_the_failure(tmp_path):
    (tmp_path / "job.py").write_text(UNCAUGHT)
    (tmp_path / "run.sh").write_text(f"set -e\n{PYTHONS['3.11']} job.py || true\ngrep -q gain missing.db\n")
    assert record(tmp_path / "a", 2, "bash", "run.sh", cwd=tmp_path) == 2
    f = summary(tmp_path / "a")["failure"]
    assert (f["kind"], f["line"], f["message"]) == ("command", 3, "grep -q gain missing.db")


# -- crashes and kills -------------------------------------------------------------------------

SEGFAULT = '''\
import ctypes


def read_header(address):
    return ctypes.string_at(address)


read_header(0)
'''


@pytest.mark.parametrize("version", ["3.11", "3.13"])
def test_a_segfault_of_the_jobs_own_code_is_a_task_problem(tmp_path, version):
    (tmp_path / "crash.py").write_text(SEGFAULT)
    assert record(tmp_path / "a", 2, require(PYTHONS[version]), "crash.py", cwd=tmp_path) in DIED_OF(signal.SIGSEGV)
    s = summary(tmp_path / "a")
    assert s["hint"]["class"] == "task" and "SIGSEGV" in s["hint"]["based_on"], s["hint"]
    f = s["failure"]
    assert f["kind"] == "signal" and f["signal"] == signal.SIGSEGV and f["record"].startswith(f"{f['pid']}:")
    crashed = next(p for p in s["processes"] if p["signal"] == signal.SIGSEGV)
    assert f["pid"] == crashed["pid"]
    # the stack at the crash, when the tracer's last records reached the archive (the monitor's part)
    assert [fr["func"] for fr in f["stack"]][-1:] in ([], ["read_header"])


def test_a_job_killed_from_outside_stays_a_site_problem(tmp_path):
    (tmp_path / "sleeper.py").write_text("import os, time\nprint(os.getpid(), flush=True)\ntime.sleep(60)\n")
    out = tmp_path / "a"
    proc = subprocess.Popen([str(JEMGUI), "run", "--out", str(out), "--verbosity", "2", "--",
                             str(require(PYTHONS["3.11"])), "sleeper.py"], cwd=tmp_path, env=job_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        pid = int(proc.stdout.readline())
        os.kill(pid, signal.SIGKILL)
        assert proc.wait(timeout=60) in DIED_OF(signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
    s = summary(out)
    assert s["hint"]["class"] == "site" and s["hint"]["reason"] in ("killed", "out of memory")


# -- one grammar: PID:SEQ ----------------------------------------------------------------------


def test_the_record_summary_prints_is_accepted_by_inspect(tmp_path):
    (tmp_path / "job.py").write_text(UNCAUGHT)
    record(tmp_path / "a", 3, require(PYTHONS["3.11"]), "job.py", cwd=tmp_path)
    text = jemgui("summary", tmp_path / "a").stdout
    named = re.search(r"\(record (\d+:\d+)\)", text)
    assert named, text
    r = jemgui("inspect", tmp_path / "a", "--record", named.group(1), "--json")
    assert r.returncode == 0, r.stderr
    rec = json.loads(r.stdout)["record"]
    assert f"{rec['pid']}:{rec['seq']}" == named.group(1) and rec["kind"] == "exception"
    assert summary(tmp_path / "a")["failure"]["record"] == named.group(1)


def test_hint_wording_of_a_successful_job(tmp_path):
    (tmp_path / "ok.sh").write_text("echo fine\n")
    assert record(tmp_path / "a", 1, "bash", "ok.sh", cwd=tmp_path) == 0
    text = jemgui("summary", tmp_path / "a").stdout
    hint = next(line for line in text.splitlines() if line.startswith("Hint"))
    assert hint.split(None, 1)[1] == "no problem: the job succeeded (exit code 0)"
    assert jemgui("summary", "--json", tmp_path / "a").stdout.count('"hint": null') == 1

