"""`jemgui summary` and `jemgui inspect` as scripts use them: JSON, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.models.jobs import write_archive


def jemgui(*args, check_rc=None):
    out = subprocess.run([sys.executable, "-m", "jemgui", *map(str, args)], capture_output=True, text=True,
                         timeout=120)
    if check_rc is not None:
        assert out.returncode == check_rc, out.stderr
    return out


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    return write_archive(tmp_path_factory.mktemp("cli") / "job")


def test_summary_json_gives_the_failing_line_stack_and_locals(archive):
    s = json.loads(jemgui("summary", archive, "--json", check_rc=0).stdout)
    f = s["failure"]
    assert (f["file"], f["line"], f["func"], f["type"]) == ("/job/transform.py", 5, "g", "KeyError")
    assert [fr["func"] for fr in f["stack"]] == ["<module>", "main", "f", "g"]
    assert f["stack"][-1]["locals"] == {"d": ["dict", "{}"], "n": ["int", "42"]}
    assert s["job"]["site"] == "WUPPERTAL" and s["exit_code"] == 1


def test_summary_text(archive):
    out = jemgui("summary", archive, check_rc=0).stdout
    assert "KeyError: 42" in out and "transform.py:5 in g" in out and "WUPPERTAL" in out


def test_inspect_failure_json_shape(archive):
    st = json.loads(jemgui("inspect", archive, "--failure", "--json", check_rc=0).stdout)
    assert set(st) >= {"position", "record", "threads"}
    py = next(t for t in st["threads"] if t["pid"] == 200)
    assert [fr["func"] for fr in py["stack"]] == ["<module>", "main", "f", "g"]
    assert py["stack"][-1] == {"file": "/job/transform.py", "line": 5, "func": "g",
                               "locals": {"d": ["dict", "{}"], "n": ["int", "42"]}}
    assert st["record"]["kind"] == "exception"


def test_inspect_positions_agree(archive):
    by_record = json.loads(jemgui("inspect", archive, "--record", "200:9", "--json", check_rc=0).stdout)
    by_at = json.loads(jemgui("inspect", archive, "--at", by_record["position"], "--json", check_rc=0).stdout)
    by_time = json.loads(jemgui("inspect", archive, "--time", by_record["record"]["ts"], "--json", check_rc=0).stdout)
    assert by_record == by_at == by_time
    assert "f at /job/transform.py:9" in jemgui("inspect", archive, "--record", "200:9", check_rc=0).stdout


def test_exit_codes_and_one_line_errors(archive, tmp_path):
    usage = jemgui("inspect", archive, "--record", "nope")
    assert usage.returncode == 2 and usage.stderr.count("\n") == 1
    assert jemgui("inspect", archive, "--at", "999999").returncode == 2
    assert jemgui("inspect", archive).returncode == 2  # no position given
    missing = jemgui("summary", tmp_path / "nothing")
    assert missing.returncode == 3 and missing.stderr.strip().startswith("jemgui summary:")
    junk = tmp_path / "junk.tgz"
    junk.write_bytes(b"\x1f\x8b garbage that is not a tarball")
    bad = jemgui("summary", junk)
    assert bad.returncode == 3 and bad.stderr.count("\n") == 1
