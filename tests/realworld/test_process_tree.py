"""The job's process tree as the archive tells it, against what bash and the kernel report.

Each job is a bash script of the usual batch shape; it writes what bash itself saw
(`$?`, `$!`, times taken just before a command starts) to a file, and the archive's
process list (`jemgui summary --json`, what a shifter reads) must agree with it.
"""

from __future__ import annotations

import subprocess

from tests.realworld.io_util import clean_env, load_records, monitor_cmd, python, summary

TICK = 0.011  # the kernel counts a process's start in 10 ms ticks


def run_job(tmp_path, script: str, *options: str, **env: str) -> tuple[dict, dict, list[dict]]:
    """(what the job wrote down, the summary, every record) of the script under the monitor."""
    (tmp_path / "job.sh").write_text(script)
    facts = tmp_path / "facts.txt"
    proc = subprocess.run(monitor_cmd(tmp_path / "a", *options) + ["bash", "job.sh"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120,
                          env=clean_env(FACTS=str(facts), PY=python("3.11"), **env))
    assert proc.returncode == 0, proc.stderr
    lines = facts.read_text().splitlines() if facts.exists() else []
    told = dict(line.split("=", 1) for line in lines)
    return told, summary(tmp_path / "a"), load_records(tmp_path / "a")


def by_argv(processes: list[dict], argv: list[str]) -> list[dict]:
    return [p for p in processes if p["argv"] == argv]


def test_pipeline_members_are_processes_of_the_job_started_when_they_started(tmp_path):
    """`sleep 0.3 | cat`: both are in the process list, children of the script, started on time."""
    told, s, records = run_job(tmp_path, r"""
echo "before=$EPOCHREALTIME" >> "$FACTS"
sleep 0.4 | cat
echo "after=$EPOCHREALTIME" >> "$FACTS"
echo "shell=$$" >> "$FACTS"
""")
    shell = int(told["shell"])
    for argv in (["sleep", "0.4"], ["cat"]):
        found = by_argv(s["processes"], argv)
        assert len(found) == 1, (argv, s["processes"])
        assert found[0]["ppid"] == shell and found[0]["exit_code"] == 0
        start = [r for r in records if r["pid"] == found[0]["pid"] and r["kind"] == "process"][0]
        assert float(told["before"]) - TICK <= start["ts"] <= float(told["after"]), (start, told)


def test_the_monitor_is_not_a_process_of_the_job(tmp_path):
    """The list holds the job's processes only: none is its own parent, the job's bash is
    the monitor's child, and every one that ended has an exit."""
    told, s, _ = run_job(tmp_path, r"""
echo "shell=$$" >> "$FACTS"
bash -c 'sleep 0.3; true'
""")
    monitor = s["job"].get("monitor_pid") or int(s["job"]["id"].rsplit("-", 1)[-1])
    pids = {p["pid"] for p in s["processes"]}
    assert monitor not in pids, s["processes"]
    assert all(p["ppid"] != p["pid"] for p in s["processes"])
    job_bash = [p for p in s["processes"] if p["pid"] == int(told["shell"])][0]
    assert job_bash["argv"] == ["bash", "job.sh"] and job_bash["exit_code"] == 0
    assert all(p["exit_code"] is not None or p["signal"] is not None for p in s["processes"]), s["processes"]


def test_bash_c_keeps_its_whole_command_line(tmp_path):
    """`bash -c 'echo hi' name arg`: the argv the kernel shows, not ["bash"]."""
    _, s, _ = run_job(tmp_path, r"""
bash -c 'echo hi'
bash -c 'echo "$0 $1"' name arg
""")
    assert by_argv(s["processes"], ["bash", "-c", "echo hi"]), s["processes"]
    assert by_argv(s["processes"], ["bash", "-c", 'echo "$0 $1"', "name", "arg"]), s["processes"]


def test_grandchild_exit_codes_and_signals_are_what_bash_saw(tmp_path):
    """Exit codes and deaths by signal of the script's children, as `$?` reported them."""
    told, s, _ = run_job(tmp_path, r"""
"$PY" -c 'import sys; sys.exit(4)'
echo "exit4=$?" >> "$FACTS"
bash -c 'kill -9 $$'
echo "kill9=$?" >> "$FACTS"
"$PY" -c 'import os, signal, time; time.sleep(0.3); os.kill(os.getpid(), signal.SIGTERM)'
echo "term=$?" >> "$FACTS"
bash -c 'sleep 0.3; exit 7'
echo "exit7=$?" >> "$FACTS"
true
""")
    assert told == {"exit4": "4", "kill9": "137", "term": "143", "exit7": "7"}
    expected = {
        ("-c", "import sys; sys.exit(4)"): (4, None),
        ("-c", "kill -9 $$"): (None, 9),
        ("-c", "import os, signal, time; time.sleep(0.3); os.kill(os.getpid(), signal.SIGTERM)"): (None, 15),
        ("-c", "sleep 0.3; exit 7"): (7, None),
    }
    seen = {tuple(p["argv"][1:3]): (p["exit_code"], p["signal"]) for p in s["processes"]}
    for key, status in expected.items():
        assert seen.get(key) == status, (key, s["processes"])


def test_an_untraceable_python_gets_a_marker_naming_it(tmp_path):
    """`python -I`, `-E`, `-S` keep the tracer out: the archive says so, naming the process
    (or, for one that ended before the monitor saw it, the command and its line)."""
    _, s, records = run_job(tmp_path, r"""
"$PY" -I -c 'import time; time.sleep(0.4)'
"$PY" -E -c 'import time; time.sleep(0.4)'
"$PY" -S -c 'import time; time.sleep(0.4)'
"$PY" -IS -c pass
"$PY" -c 'print(4)'
""")
    markers = [r for r in records if r["kind"] == "marker" and "not traced" in r.get("text", "")]
    texts = " | ".join(r["text"] for r in markers)
    assert len(markers) == 4, texts
    for flag, line in (("-I", 2), ("-E", 3), ("-S", 4)):
        named = [r for r in markers if f" {flag} -c import time" in r["text"]]
        assert len(named) == 1 and f"job.sh:{line}" in named[0]["text"], texts
        assert named[0]["proc"] in {p["pid"] for p in s["processes"] if p["lang"] == "other"}, named
    assert any(" -IS -c pass) at job.sh:5 " in r["text"] for r in markers), texts
    traced = [p for p in s["processes"] if p["lang"] == "python"]
    assert [p["argv"][1:] for p in traced] == [["-c", "print(4)"]]


def test_statuses_in_a_script_of_many_shapes_are_right_or_unknown_never_wrong(tmp_path):
    """Functions, `||`, a background job and `wait`, a subshell, a command substitution, a
    pipeline, a loop, `set -e`: each child writes its pid and the status it will end with;
    every status the archive gives is that one, and the plain foreground ones are given."""
    _, s, _ = run_job(tmp_path, r"""
c() { sh -c 'echo "$$=$1" >> "$FACTS"; sleep 0.3; exit $1' c "$1"; }
c 3 || true
sh -c 'echo "$$=5" >> "$FACTS"; sleep 0.4; exit 5' &
c 0
wait $!
( c 6 ) || true
x=$(c 7) || true
c 2 | c 0 | c 9 || true
for i in 1 2; do c 1$i || true; done
c 4 && true || true
c 8 || true
""")
    truth = dict(line.split("=") for line in (tmp_path / "facts.txt").read_text().split())
    children = {str(p["pid"]): p for p in s["processes"] if p["argv"][:2] == ["sh", "-c"]}
    assert children.keys() <= truth.keys(), (children, truth)  # a scan may miss one, never invent one
    wrong = {pid: (p["exit_code"], p["signal"]) for pid, p in children.items()
             if (p["exit_code"], p["signal"]) not in ((int(truth[pid]), None), (None, None))}
    assert not wrong, (wrong, truth)
    foreground = {truth_pid for truth_pid, code in truth.items() if code in ("3", "11", "12", "4", "8")}
    assert all(pid in children and children[pid]["exit_code"] == int(truth[pid]) for pid in foreground), (
        children, truth)


def test_children_of_a_python_that_reaps_them_late_end_as_the_kernel_holds_it(tmp_path):
    """A Python parent (no bash to ask) that waits late: the status its wait() returns, also
    for a child that ended before the monitor ever saw it run."""
    told, s, _ = run_job(tmp_path, r"""
"$PY" -c '
import os, subprocess, sys, time
kids = [subprocess.Popen(["sh", "-c", "sleep 0.5; exit 6"]),
        subprocess.Popen(["sh", "-c", "sleep 0.5; kill -9 $$"]),
        subprocess.Popen(["sh", "-c", "exit 3"])]
time.sleep(1.5)
with open(os.environ["FACTS"], "a") as f:
    for kid in kids:
        f.write(f"{kid.pid}={kid.wait()}\n")
    for code in (5, -9, 7):  # reaped at once: the monitor may lose the race, never misstate
        kid = subprocess.Popen(["sh", "-c", f"sleep 0.4; exit {code}" if code > 0 else "sleep 0.4; kill -9 $$"])
        f.write(f"at_once_{kid.pid}={kid.wait()}\n")
'
""")
    at_once = {pid.removeprefix("at_once_"): told.pop(pid) for pid in list(told) if pid.startswith("at_once_")}
    assert sorted(told.values()) == ["-9", "3", "6"] and sorted(at_once.values()) == ["-9", "5", "7"]
    for pid, code in at_once.items():
        found = [(p["exit_code"], p["signal"]) for p in s["processes"] if p["pid"] == int(pid)]
        assert found in ([], [(None, None)], [(None, 9) if code == "-9" else (int(code), None)]), (pid, code, found)
    for pid, code in told.items():
        found = [p for p in s["processes"] if p["pid"] == int(pid)]
        assert found, (pid, s["processes"])
        expected = (None, 9) if code == "-9" else (int(code), None)
        assert (found[0]["exit_code"], found[0]["signal"]) == expected, found


def test_a_python_that_wrote_no_records_gets_a_marker_naming_it(tmp_path):
    """Pythons older than 3.9, and one started without the job's environment, are not
    traced: each is listed, and a marker names it (never a silent gap)."""
    old = {v: python(v) for v in ("2.7", "3.8")}
    _, s, records = run_job(tmp_path, f"""
{old["2.7"]} -c 'import time; time.sleep(0.5)'
{old["3.8"]} -c 'import time; time.sleep(0.5)'
env -u PYTHONPATH "$PY" -c 'import time; time.sleep(0.5)'
"$PY" -c 'import time; time.sleep(0.5)'
""")
    assert "2.7" in old["2.7"] and "3.8" in old["3.8"], old
    markers = [r for r in records if r["kind"] == "marker" and r.get("untraced")]
    named = {r["proc"]: r["text"] for r in markers}
    listed = {p["pid"]: p for p in s["processes"]}
    assert len(named) == 3 and all(pid in listed for pid in named), (named, s["processes"])
    assert sorted(listed[pid]["argv"][0] for pid in named) == sorted([old["2.7"], old["3.8"], python("3.11")])
    assert all("wrote no records" in text for text in named.values()), named
    traced = [p for p in s["processes"] if p["lang"] == "python"]
    assert len(traced) == 1 and traced[0]["pid"] not in named
