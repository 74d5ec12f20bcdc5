"""The job's standard streams under the monitor are the ones it has alone.

Each job runs plain and under `jemgui run` with the same streams (a file shared by
stdout and stderr as in `> job.log 2>&1`, one pipe, two files, a pseudo-terminal);
the plain run is the oracle for the bytes, their order, and what the job sees.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from tests.realworld.io_util import clean_env, load_records, monitor_cmd, python

# stdout and stderr written alternately, unbuffered, by bash and by Python
ALTERNATING = r"""
for i in $(seq 1 150); do echo "out $i"; echo "err $i" >&2; done
printf 'no newline on stdout'; printf ' then stderr\n' >&2
"$PY" -u -c '
import sys
for i in range(150):
    print("py out", i); print("py err", i, file=sys.stderr)
'
"""


def _run(prefix: list[str], cwd, stdout, stderr, env=None) -> int:
    cwd.mkdir()
    proc = subprocess.run(prefix + ["bash", "-c", ALTERNATING], cwd=cwd, stdout=stdout, stderr=stderr,
                          stdin=subprocess.DEVNULL, env=env or clean_env(PY=python("3.11")), timeout=120)
    return proc.returncode


@pytest.mark.parametrize("verbosity", ["0", "1", "4"])
def test_stdout_and_stderr_into_one_file_keep_their_order(tmp_path, verbosity):
    """`> job.log 2>&1`: the log holds the bytes in the order the job wrote them, as plain."""
    logs = {}
    for name, prefix in (("plain", []), ("monitored", monitor_cmd(tmp_path / "a", "--verbosity", verbosity))):
        log = tmp_path / f"{name}.log"
        with open(log, "wb") as f:
            assert _run(prefix, tmp_path / name, f, subprocess.STDOUT) == 0
        logs[name] = log.read_bytes()
    assert logs["monitored"] == logs["plain"]
    records = load_records(tmp_path / "a")
    text = "".join(r["text"] for r in records if r["kind"] == "log")
    assert text == ("" if verbosity == "0" else logs["plain"].decode())


def test_stdout_and_stderr_into_one_pipe_keep_their_order(tmp_path):
    """`job 2>&1 | tee`: the reader of the pipe gets the job's bytes in the job's order."""
    outs = {}
    for name, prefix in (("plain", []), ("monitored", monitor_cmd(tmp_path / "a"))):
        cwd = tmp_path / name
        cwd.mkdir()
        proc = subprocess.run(prefix + ["bash", "-c", ALTERNATING], cwd=cwd, capture_output=False,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120,
                              env=clean_env(PY=python("3.11")))
        assert proc.returncode == 0
        outs[name] = proc.stdout
    assert outs["monitored"] == outs["plain"]
    text = "".join(r["text"] for r in load_records(tmp_path / "a") if r["kind"] == "log")
    assert text == outs["plain"].decode()


def test_stdout_and_stderr_into_two_files_are_recorded_by_stream(tmp_path):
    """`> out 2> err`: each file as plain, and the log records tell stdout from stderr."""
    files = {}
    for name, prefix in (("plain", []), ("monitored", monitor_cmd(tmp_path / "a"))):
        with open(tmp_path / f"{name}.out", "wb") as out, open(tmp_path / f"{name}.err", "wb") as err:
            assert _run(prefix, tmp_path / name, out, err) == 0
        files[name] = ((tmp_path / f"{name}.out").read_bytes(), (tmp_path / f"{name}.err").read_bytes())
    assert files["monitored"] == files["plain"]
    records = [r for r in load_records(tmp_path / "a") if r["kind"] == "log"]
    for stream, data in zip(("stdout", "stderr"), files["plain"], strict=True):
        assert "".join(r["text"] for r in records if r["stream"] == stream) == data.decode()


PROBE = r"""
import os, sys
with open(sys.argv[1], "w") as f:
    f.write(repr([os.isatty(fd) for fd in (0, 1, 2)]))
    f.write(repr(os.ttyname(1) == os.ttyname(0) if os.isatty(1) else None))
    f.write(repr(os.tcgetpgrp(0) == os.getpgrp() if os.isatty(0) else None))
print("hello terminal")
"""


def test_a_job_started_from_a_terminal_keeps_it(tmp_path):
    """Under a pseudo-terminal the job's stdin, stdout and stderr are that terminal, as plain."""
    seen = {}
    for name, prefix in (("plain", []), ("monitored", monitor_cmd(tmp_path / "a"))):
        master, slave = os.openpty()
        probe = tmp_path / f"{name}.txt"
        proc = subprocess.Popen(prefix + [python("3.11"), "-c", PROBE, str(probe)], stdin=slave, stdout=slave,
                                stderr=slave, env=clean_env(), start_new_session=True,
                                preexec_fn=lambda fd=slave: _take_terminal(fd))
        os.close(slave)
        shown = _read_until_exit(master, proc)
        os.close(master)
        assert proc.returncode == 0, shown
        assert b"hello terminal" in shown
        seen[name] = probe.read_text()
    assert seen["monitored"] == seen["plain"] == "[True, True, True]TrueTrue"
    markers = [r["text"] for r in load_records(tmp_path / "a") if r["kind"] == "marker"]
    assert any("terminal" in text for text in markers), markers


def _take_terminal(fd: int) -> None:
    import fcntl
    import termios

    fcntl.ioctl(fd, termios.TIOCSCTTY, 0)


def _read_until_exit(master: int, proc: subprocess.Popen) -> bytes:
    import select

    data = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                chunk = b""
            data += chunk
            if not chunk and proc.poll() is not None:
                break
        elif proc.poll() is not None:
            break
    proc.wait(10)
    return data


def test_a_job_killed_by_sigkill_ends_the_monitor_by_sigkill(tmp_path):
    """`bash -c 'kill -9 $$'`: the caller sees the job's end (137 in a shell), no traceback."""
    results = []
    for prefix in ([], monitor_cmd(tmp_path / "a")):
        results.append(subprocess.run(prefix + ["bash", "-c", "kill -9 $$"], capture_output=True, text=True,
                                      env=clean_env(), timeout=60))
    plain, monitored = results
    assert plain.returncode == -signal.SIGKILL
    assert monitored.returncode == plain.returncode, monitored.stderr
    assert "Traceback" not in monitored.stderr
    shell = subprocess.run(["bash", "-c", " ".join(monitor_cmd(tmp_path / "b")) + " bash -c 'kill -9 $$'; echo $?"],
                           capture_output=True, text=True, env=clean_env(), timeout=60)
    assert shell.stdout.strip().splitlines()[-1] == "137"
