"""A tarball holding several JEM jobs, recorded by `jemgui run` from real interpreters at two sites:
triage reads each job inside it, groups their failures and opens each at its own failure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

PYENV = Path.home() / ".pyenv" / "versions"
JEMGUI = [sys.executable, "-m", "jemgui"]
CUTS = '''import sys


def apply_cuts(event):
    return event["pt"] > 20


def main():
    events = [{"pt": 25}, {"eta": 1.2}] if sys.argv[1] == "bad" else [{"pt": 25}]
    print(sum(apply_cuts(e) for e in events))


main()
'''
KILLED = "import os\nprint('working', flush=True)\nos.kill(os.getpid(), 9)\n"
#: (folder in the pack, job id, site, interpreter, script, argument)
JOBS = [("sandbox/jobA", "101", "SITE_A", "3.12.1", "cuts.py", "bad"),
        ("sandbox/jobB", "102", "SITE_B", "3.11.7", "cuts.py", "bad"),
        ("sandbox/jobC", "103", "SITE_A", "3.12.1", "cuts.py", "good"),
        ("sandbox/jobD", "104", "SITE_B", "3.13.0", "killed.py", "")]


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    root = tmp_path_factory.mktemp("pack")
    (root / "cuts.py").write_text(CUTS)
    (root / "killed.py").write_text(KILLED)
    for folder, job_id, site, version, script, arg in JOBS:
        python = PYENV / version / "bin" / "python"
        if not python.exists():
            pytest.skip(f"no {python}")
        subprocess.run([*JEMGUI, "run", "--job-id", job_id, "--out", str(root / folder), "--verbosity", "2",
                        "--", str(python), script, *([arg] if arg else [])],
                       cwd=root, env={**os.environ, "JEM_SITE": site}, capture_output=True, timeout=120)
        assert (root / folder / "manifest.json").exists()
    tgz = root / "packs" / "jobs.tgz"
    tgz.parent.mkdir()
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(root / "sandbox", arcname="sandbox")
    return tgz


def triage(*args, cache: Path) -> dict:
    done = subprocess.run([*JEMGUI, "triage", *args, "--json", "--workers", "1"], capture_output=True, text=True,
                          env={**os.environ, "JEMGUI_CACHE_DIR": str(cache)}, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_each_job_of_the_pack_is_a_row_grouped_by_its_failure(pack, tmp_path, monkeypatch):
    r = triage(str(pack), cache=tmp_path / "cache")
    jobs = {j["id"]: j for j in r["jobs"]}
    assert sorted(jobs) == ["101", "102", "103", "104"]
    for folder, job_id, site, *_ in JOBS:
        assert jobs[job_id]["path"] == str(pack) and jobs[job_id]["job"] == folder
        assert jobs[job_id]["site"] == site
    assert [jobs[i]["class"] for i in ("101", "102", "103", "104")] == ["task", "task", None, "site"]
    assert jobs["103"]["outcome"] == "ok"
    bug, killed = r["groups"]
    assert bug["signature"] == "KeyError at cuts.py in apply_cuts" and bug["class"] == "task"
    assert bug["count"] == 2 and sorted(bug["jobs"]) == ["101", "102"]
    assert bug["sites"] == {"SITE_A": 1, "SITE_B": 1}
    assert killed["class"] == "site" and killed["jobs"] == ["104"]
    # not a bare exit code: what the verdict rests on ('state KILLED, SIGKILL from outside the job', or
    # 'SIGKILL with memory exhausted' when the machine's memory was low as it died)
    assert killed["signature"].startswith("exit 137: ") and "SIGKILL" in killed["signature"]
    assert {s["site"]: (s["jobs"], s["failed"], s["site_problems"], s["task_problems"]) for s in r["sites"]} == {
        "SITE_A": (2, 1, 0, 1), "SITE_B": (2, 2, 1, 1)}
    # each failed job opens at its own exception, in its own job of the pack
    from jemgui.models.index import open_index

    monkeypatch.setenv("JEMGUI_CACHE_DIR", str(tmp_path / "cache"))
    for job_id in ("101", "102"):
        ix = open_index(pack, job=jobs[job_id]["job"])
        try:
            pid, seq = map(int, jobs[job_id]["at"].split(":"))
            rec = ix.record(ix.failure_pos())
            assert (rec["pid"], rec["seq"]) == (pid, seq) and rec["type"] == "KeyError"
            assert ix.job["id"] == job_id
        finally:
            ix.close()


def test_a_second_triage_of_the_pack_reads_it_from_the_facts_cache(pack, tmp_path):
    cache = tmp_path / "cache"
    first = triage(str(pack), cache=cache)
    for index in (cache / "index").glob("*.sqlite"):
        index.unlink()
    assert triage(str(pack.parent), cache=cache)["jobs"] == first["jobs"]  # the folder holding the pack
    assert not list((cache / "index").glob("*.sqlite"))
