"""`jemgui run` end to end: the job runs as it would alone, and the archive holds what it did."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.monitor.tracing import PYTHONS, ROOT, read_streams
from tests.waiting import wait_for

JOBS = Path(__file__).resolve().parent / "jobs"
DEMO = ROOT / "resources" / "demo"


def monitor_cmd(out: Path, *options: str) -> list[str]:
    """`python -m jemgui.monitor`; -E keeps the job's PYTHONPATH from reaching the monitor."""
    return [sys.executable, "-E", "-m", "jemgui.monitor", "--out", str(out), *options, "--"]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JEM_")}
    env.pop("PYTHONPATH", None)
    env.pop("BASH_ENV", None)
    env.update(extra)
    return env


def run_both(command: list[str], tmp: Path, env: dict | None = None, stdin: bytes = b"",
             options: tuple = ()) -> tuple[subprocess.CompletedProcess, subprocess.CompletedProcess]:
    """The same command alone and under the monitor (each in a fresh folder)."""
    results = []
    for name, prefix in (("plain", []), ("monitored", monitor_cmd(tmp / "archive", *options))):
        cwd = tmp / name
        cwd.mkdir()
        run_env = dict(env or clean_env(), OUT_FILE=str(cwd / "out.bin"))
        results.append(subprocess.run(prefix + command, cwd=cwd, env=run_env, input=stdin,
                                      capture_output=True, timeout=120))
    return results[0], results[1]


def load(archive: Path) -> tuple[dict, list[dict]]:
    manifest = json.loads((archive / "manifest.json").read_text())
    return manifest, read_streams(archive / "events")


def kinds(records: list[dict]) -> set[str]:
    return {r["kind"] for r in records}


# -- safety: the job runs as it would alone ----------------------------------------------


@pytest.mark.parametrize("exit_code", ["0", "3"])
def test_bash_wrapper_exit_output_and_files_unchanged(tmp_path, exit_code):
    env = clean_env(PY=sys.executable, EXIT_CODE=exit_code)
    plain, monitored = run_both(["bash", str(JOBS / "wrapper.sh")], tmp_path, env)
    assert plain.returncode == int(exit_code)
    assert monitored.returncode == plain.returncode
    assert monitored.stdout == plain.stdout
    assert monitored.stderr == plain.stderr
    assert (tmp_path / "monitored/out.bin").read_bytes() == (tmp_path / "plain/out.bin").read_bytes()
    manifest, records = load(tmp_path / "archive")
    assert manifest["job"]["exit_code"] == int(exit_code)
    commands = [r["text"] for r in records if r["kind"] == "command"]
    assert "count=6" in commands and "set -eu" in commands


@pytest.mark.parametrize("version", [v for v in PYTHONS if v != "3.11"] + ["3.11"])
def test_forking_python_unchanged(tmp_path, version):
    """fork(), a fork Pool and a subprocess: same output (no fork warning on 3.12+), all recorded."""
    plain, monitored = run_both([PYTHONS[version], str(JOBS / "forks.py")], tmp_path)
    assert plain.returncode == 5
    assert (monitored.returncode, monitored.stdout, monitored.stderr) == (
        plain.returncode, plain.stdout, plain.stderr)
    _, records = load(tmp_path / "archive")
    starts = [r for r in records if r["kind"] == "process" and r["phase"] == "start"
              and r.get("lang") == "python"]
    assert len(starts) >= 4  # the job, its fork, the pool workers, the grandchild
    fork_exit = [r for r in records if r["kind"] == "process" and r.get("exit_code") == 4]
    assert len(fork_exit) == 1
    top = [r for r in records if r["kind"] == "process" and r.get("exit_code") == 5]
    assert len(top) == 1


def test_jobs_own_sitecustomize_and_path_unchanged(tmp_path):
    env = clean_env(PYTHONPATH=str(JOBS))
    plain, monitored = run_both([sys.executable, str(JOBS / "uses_site.py")], tmp_path, env)
    assert b"the job's own sitecustomize ran" in plain.stderr
    assert b"JOB_SITE_RAN yes True" in plain.stdout
    assert (monitored.returncode, monitored.stdout, monitored.stderr) == (
        plain.returncode, plain.stdout, plain.stderr)


def test_stdin_reaches_the_job(tmp_path):
    plain, monitored = run_both([sys.executable, "-c", "print(input()[::-1])"], tmp_path,
                                stdin=b"hello\n")
    assert plain.stdout == monitored.stdout == b"olleh\n"


def test_sigterm_reaches_the_job(tmp_path):
    archive = tmp_path / "archive"
    proc = subprocess.Popen(monitor_cmd(archive) + [sys.executable, str(JOBS / "on_term.py"),
                            "handle"], stdout=subprocess.PIPE, env=clean_env())
    assert proc.stdout.readline() == b"ready\n"
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 7 and out == b"got TERM\n"
    manifest, records = load(archive)
    assert manifest["job"]["exit_code"] == 7
    assert any(r["kind"] == "marker" and "SIGTERM forwarded" in r["text"] for r in records)


def test_job_killed_by_a_signal_ends_the_monitor_by_it(tmp_path):
    archive = tmp_path / "archive"
    proc = subprocess.Popen(monitor_cmd(archive) + [sys.executable, str(JOBS / "on_term.py")],
                            stdout=subprocess.PIPE, env=clean_env())
    assert proc.stdout.readline() == b"ready\n"
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGTERM
    manifest, records = load(archive)
    assert manifest["job"]["signal"] == signal.SIGTERM and manifest["job"]["exit_code"] == 143
    assert [r["state"] for r in records if r["kind"] == "state"][-1] == "KILLED"
    exits = [r for r in records if r["kind"] == "process" and r["phase"] == "exit"]
    assert exits[-1]["signal"] == signal.SIGTERM


def test_sigkill_leaves_a_readable_archive(tmp_path):
    """Monitor and job killed together: manifest without an end, every stream readable."""
    archive = tmp_path / "archive"
    proc = subprocess.Popen(monitor_cmd(archive) + [sys.executable, str(JOBS / "busy.py")],
                            stdout=subprocess.PIPE, env=clean_env(), start_new_session=True)
    assert proc.stdout.readline() == b"ready\n"
    wait_for(lambda: any(b'"kind":"call"' in p.read_bytes() for p in (archive / "events").glob("*.jsonl")),
             30, "the job's calls in the archive")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    manifest = json.loads((archive / "manifest.json").read_text())
    assert manifest["job"]["ended"] is None and manifest["job"]["exit_code"] is None
    calls = 0
    for path in (archive / "events").glob("*.jsonl"):
        lines = path.read_bytes().split(b"\n")
        tail = lines.pop()  # empty, or the cut last line
        records = [json.loads(line) for line in lines]
        assert [r["seq"] for r in records] == list(range(len(records)))
        if tail:
            with pytest.raises(ValueError):
                json.loads(tail)
        calls += sum(r["kind"] == "call" for r in records)
    assert calls > 0


def test_tracer_fault_becomes_a_marker_and_the_job_runs_on(tmp_path):
    plain, monitored = run_both([sys.executable, str(JOBS / "sabotage.py")], tmp_path)
    assert monitored.stdout == plain.stdout == b"total 100\n"
    assert monitored.returncode == 0 and monitored.stderr == plain.stderr
    _, records = load(tmp_path / "archive")
    faults = [r for r in records if r["kind"] == "marker" and r.get("fault")]
    assert len(faults) == 1 and "tracing stopped" in faults[0]["text"]
    stream = [r for r in records if r["pid"] == faults[0]["pid"]]
    after = stream[stream.index(faults[0]) + 1:]
    assert not kinds(after) & {"call", "line", "return", "exception"}
    assert [r["phase"] for r in after if r["kind"] == "process"] == ["exit"]


# -- what the archive holds --------------------------------------------------------------


SECRETS = [f"SECRET-{i}" for i in range(7)]


@pytest.mark.parametrize("redact", [True, False])
def test_redaction(tmp_path, redact):
    """Values of secret-looking names are hidden: locals, arguments, dict keys, argv, shell
    assignments, log lines (the values are made at run time, so no source text holds them)."""
    command = ["bash", "-c", f'export DB_PASSWORD=sh-$WORD-6; {sys.executable} '
               f'{JOBS / "secretive.py"} --password arg-$WORD-0']
    options = ("--verbosity", "4") + (() if redact else ("--no-redact",))  # every value recorded
    _, monitored = run_both(command, tmp_path, clean_env(WORD="SECRET"), options=options)
    assert b"log-SECRET-4" in monitored.stdout  # the job's own output is never touched
    raw = b"".join(p.read_bytes() for p in (tmp_path / "archive").rglob("*") if p.is_file())
    found = [s for s in SECRETS if s.encode() in raw]
    if redact:
        assert found == [] and b"<redacted>" in raw
    else:
        assert found == SECRETS


VERBOSITY_KINDS = {
    0: {"process", "state"},
    1: {"process", "state", "command", "metric", "log", "marker"},
    2: {"process", "state", "command", "metric", "log", "marker", "call", "return",
        "exception", "source"},
    3: {"process", "state", "command", "metric", "log", "marker", "call", "return",
        "exception", "source", "line"},
}
VERBOSITY_KINDS[4] = VERBOSITY_KINDS[3]


@pytest.mark.parametrize("level", [0, 1, 2, 3, 4])
def test_verbosity_levels(tmp_path, level):
    command = ["bash", "-c", f"echo start; {sys.executable} {JOBS / 'secretive.py'}"]
    _, monitored = run_both(command, tmp_path, clean_env(LINGER="1.2"),
                            options=("--verbosity", str(level)))
    assert monitored.returncode == 0
    manifest, records = load(tmp_path / "archive")
    assert manifest["job"]["verbosity"] == level
    assert kinds(records) == VERBOSITY_KINDS[level]
    values = {k for r in records for k in ("args", "changed", "value") if k in r}
    assert values == ({"args", "changed", "value"} if level == 4 else set())


def test_pack(tmp_path):
    archive = tmp_path / "archive"
    done = subprocess.run(monitor_cmd(archive, "--pack") + ["true"], env=clean_env(), timeout=60)
    assert done.returncode == 0
    with tarfile.open(tmp_path / "archive.tgz") as tar:
        names = tar.getnames()
    assert "archive/manifest.json" in names and any(n.startswith("archive/events/") for n in names)
    assert not any(".run" in n for n in names) and not (archive / ".run").exists()


@pytest.mark.parametrize("options, message", [
    (["--job-id", "bad id!"], "job id"),
    (["--verbosity", "7"], "verbosity must be 0 to 4"),
    (["--repr-limit", "3"], "repr limit"),
    (["--sample-interval", "0"], "sample interval"),
])
def test_bad_options_are_one_line_usage_errors(tmp_path, options, message):
    done = subprocess.run(monitor_cmd(tmp_path / "a", *options) + ["true"], env=clean_env(),
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.startswith("jemgui run: ") and message in done.stderr
    assert done.stderr.count("\n") == 1 and not (tmp_path / "a").exists()


def test_existing_archive_is_left_alone(tmp_path):
    archive = tmp_path / "a"
    archive.mkdir()
    (archive / "keep.txt").write_text("mine")
    done = subprocess.run(monitor_cmd(archive) + ["true"], env=clean_env(), capture_output=True,
                          text=True)
    assert done.returncode == 2 and "already exists" in done.stderr
    assert [p.name for p in archive.iterdir()] == ["keep.txt"]


def test_missing_command(tmp_path):
    done = subprocess.run(monitor_cmd(tmp_path / "a") + ["no-such-program-jem"], env=clean_env(),
                          capture_output=True, text=True)
    assert done.returncode == 127
    assert done.stderr.startswith("jemgui run: cannot run no-such-program-jem")
    manifest, records = load(tmp_path / "a")
    assert manifest["job"]["exit_code"] == 127
    assert [r["state"] for r in records if r["kind"] == "state"] == ["STARTED", "FAILED"]


def test_no_command_is_a_usage_error(tmp_path):
    done = subprocess.run(monitor_cmd(tmp_path / "a"), env=clean_env(), capture_output=True,
                          text=True)
    assert done.returncode == 2 and "no command" in done.stderr


def test_bash_exec_into_python_keeps_one_stream(tmp_path):
    script = f"set -e; echo shell; exec {sys.executable} -c 'print(sum(range(4)))'"
    _, monitored = run_both(["bash", "-c", script], tmp_path)
    assert monitored.stdout == b"shell\n6\n"
    _, records = load(tmp_path / "archive")
    child = [r for r in records if r["kind"] == "command"][0]["pid"]
    stream = [r for r in records if r["pid"] == child]
    langs = [r["lang"] for r in stream if r["kind"] == "process" and r["phase"] == "start"]
    assert langs == ["shell", "python"]
    assert stream[-1]["kind"] == "process" and stream[-1]["exit_code"] == 0


# -- the demo job: what the done-criterion asks for --------------------------------


def test_failing_demo_job_is_recorded(tmp_path):
    env = clean_env(PYTHON=sys.executable)
    done = subprocess.run(monitor_cmd(tmp_path / "a") + ["bash", str(DEMO / "reco_job.sh")],
                          env=env, capture_output=True, timeout=120)
    assert done.returncode == 1
    manifest, records = load(tmp_path / "a")
    assert manifest["job"]["exit_code"] == 1
    assert any(r["kind"] == "command" and "check_env.py" in r["text"] for r in records)
    pythons = {r["pid"] for r in records if r["kind"] == "process" and r.get("lang") == "python"}
    assert len(pythons) >= 2
    failure = [r for r in records if r["kind"] == "exception" and "traceback" in r
               and r["type"].endswith("CalibrationError")]
    assert len(failure) == 1 and len(failure[0]["traceback"]) >= 6
    local_vars = {}
    for r in records:
        if r.get("fid") == failure[0]["fid"] and r["pid"] == failure[0]["pid"]:
            local_vars.update(r.get("args", {}), **r.get("changed", {}), **r.get("locals", {}))
    assert local_vars["channel"] == ["int", "117"]  # at the default verbosity: the exception's locals
    rss = [r["values"]["rss"] for r in records if r["kind"] == "metric"]
    assert len(rss) >= 2 and max(rss) > rss[0] + 20 * 2**20


def test_shell_scripts_follow_include_and_exclude(tmp_path):
    (tmp_path / "helper.sh").write_text("echo helping\nfalse || true\n")
    (tmp_path / "main.sh").write_text(f"echo main\nbash {tmp_path / 'helper.sh'}\necho done\n")
    archive = tmp_path / "archive"
    done = subprocess.run(monitor_cmd(archive, "--exclude", "*/helper.sh") +
                          ["bash", str(tmp_path / "main.sh")], env=clean_env(), capture_output=True)
    assert done.stdout == b"main\nhelping\ndone\n"
    _, records = load(archive)
    files = {r["file"] for r in records if r["kind"] == "command"}
    assert files == {str(tmp_path / "main.sh")}
    shells = [r for r in records if r["kind"] == "process" and r.get("lang") == "shell"
              and r["phase"] == "start"]
    assert len(shells) == 2  # the excluded script's process is still recorded
