"""`jemgui triage` on a corpus of pilot log tarballs with known failures planted across sites."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from jemgui.models.triage import report
from jemgui.models.triage.signature import normalize, own_frame
from tests.triage.corpus import CLUSTER_HOURS, CLUSTER_SITE, KINDS, T_START, make_corpus

JEMGUI = [sys.executable, "-m", "jemgui"]


def triage(*args: str, cache: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if cache is not None:
        env["JEMGUI_CACHE_DIR"] = str(cache)
    done = subprocess.run([*JEMGUI, "triage", *args], capture_output=True, text=True, env=env, timeout=600)
    if check:
        assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    planted = make_corpus(root, n=120)
    return root, {p.panda_id: p for p in planted}


@pytest.fixture(scope="module")
def result(corpus, tmp_path_factory):
    root, _ = corpus
    cache = tmp_path_factory.mktemp("triage-cache")
    return json.loads(triage(str(root), "--json", "--workers", "2", cache=cache).stdout), cache


def test_every_job_lands_in_its_group_with_its_class(corpus, result):
    _, planted = corpus
    r, _ = result
    assert len(r["jobs"]) == len(planted)
    by_id = {j["id"]: j for j in r["jobs"]}
    assert set(by_id) == set(planted)
    for pid, p in planted.items():
        j = by_id[pid]
        expected = KINDS.get(p.kind)
        assert j["class"] == expected, (p.kind, j)
        assert (j["outcome"] == "ok") == (expected is None), (p.kind, j)
        assert j["site"] == p.site and j["task"] == p.task
    # the groups are the planted kinds: one group per kind, no group mixing two
    kinds_of_group = {g["signature"]: {planted[i].kind for i in g["jobs"]} for g in r["groups"]}
    assert all(len(k) == 1 for k in kinds_of_group.values()), kinds_of_group
    failed_kinds = {p.kind for p in planted.values() if KINDS.get(p.kind)}
    assert sorted(k for ks in kinds_of_group.values() for k in ks) == sorted(failed_kinds)
    for g in r["groups"]:
        kind = next(iter(kinds_of_group[g["signature"]]))
        assert g["class"] == KINDS[kind]
        assert g["count"] == sum(1 for p in planted.values() if p.kind == kind) == len(g["jobs"])
        assert g["sites"] == dict(Counter(planted[i].site for i in g["jobs"]))
        assert g["first"] <= g["last"]
    counts = [g["count"] for g in r["groups"]]
    assert counts == sorted(counts, reverse=True)


def test_signatures_say_what_failed_with_the_differences_normalised_away(result):
    r, _ = result
    sigs = [g["signature"] for g in r["groups"]]
    assert "KeyError at selection.py in apply_cuts" in sigs  # the job's own frame, not awkward's below it
    assert any(s.startswith("pilot 1201 SIGTERM: caught signal: SIGTERM") for s in sigs)
    assert any(s.startswith("TRF_EXEC_LOGERROR: G4Navigator FATAL Stuck track in volume EMEC_<hex> at event N")
               for s in sigs)
    assert any(s.startswith("pilot 1098 NOLOCALSPACE") and "<path>" in s for s in sigs)


def test_each_failed_job_says_where_to_open_it(corpus, result):
    """At its exception when it has one, else at the log line that shows the failure."""
    _, planted = corpus
    r, _ = result
    for j in r["jobs"]:
        kind = planted[j["id"]].kind
        if KINDS.get(kind) is None:
            continue
        assert j["at"], j
        if kind == "task_bug":
            assert j["at"] == j["failure"]["record"]
        if kind == "sigterm":  # the pilot's own line (pid 1): `caught signal: SIGTERM`
            assert j["failure"] is None and j["at"].startswith("1:")


def test_site_table_counts_each_sites_jobs_by_class(corpus, result):
    _, planted = corpus
    r, _ = result
    for row in r["sites"]:
        mine = [p for p in planted.values() if p.site == row["site"]]
        assert row["jobs"] == len(mine)
        assert row["failed"] == sum(1 for p in mine if KINDS.get(p.kind))
        assert row["site_problems"] == sum(1 for p in mine if KINDS.get(p.kind) == "site")
        assert row["task_problems"] == sum(1 for p in mine if KINDS.get(p.kind) == "task")
    assert r["sites"][0]["site"] == CLUSTER_SITE  # the most failures


def test_timeline_shows_the_site_side_cluster_where_it_was_put(corpus, result):
    _, planted = corpus
    r, _ = result
    lo, hi = T_START + CLUSTER_HOURS[0] * 3600, T_START + CLUSTER_HOURS[1] * 3600
    rows = r["timeline"][CLUSTER_SITE]
    inside = sum(row["site"] for row in rows if lo <= row["start"] < hi)
    killed = [p for p in planted.values() if p.kind == "sigterm"]
    assert inside == len(killed) > 0
    assert all(row["site"] == 0 for row in rows if not lo <= row["start"] < hi)
    assert len(r["clusters"]) == 1, r["clusters"]
    c = r["clusters"][0]
    assert c["site"] == CLUSTER_SITE and c["site_problems"] == len(killed)
    assert c["from"] == report.hour_of(lo) and c["to"] == report.hour_of(hi)
    # every site's rows cover the same hours, so the sites line up in a plot
    assert len({tuple(row["start"] for row in rows) for rows in r["timeline"].values()}) == 1


def test_outlier_in_memory_against_its_task(corpus, result):
    _, planted = corpus
    r, _ = result
    mem = [o for o in r["outliers"] if o["metric"] == "peak_memory"]
    assert [o["job"] for o in mem] == [p.panda_id for p in planted.values() if p.kind == "outlier"]
    assert mem[0]["side"] == "high" and mem[0]["factor"] > 2


def test_second_run_reads_no_log(corpus, result):
    """The facts come from their cache: with the index cache emptied, no index is built again."""
    root, _ = corpus
    r, cache = result
    shutil.rmtree(cache / "index")
    again = json.loads(triage(str(root), "--json", "--workers", "1", cache=cache).stdout)
    assert again == r
    assert not list((cache / "index").glob("*.sqlite"))


def test_text_csv_and_globs(corpus, result):
    root, planted = corpus
    r, cache = result
    text = triage(str(root), cache=cache).stdout.splitlines()
    biggest = r["groups"][0]
    assert text[2] == "Failure groups, biggest first"
    assert text[3].split(None, 2) == [str(biggest["count"]), biggest["class"], biggest["signature"]]
    assert f"{CLUSTER_SITE}: " in "\n".join(text)
    rows = list(csv.DictReader(io.StringIO(triage(f"{root}/{CLUSTER_SITE}/*.tgz.1", "--csv", cache=cache).stdout)))
    mine = {p.panda_id: p for p in planted.values() if p.site == CLUSTER_SITE}
    assert {row["id"] for row in rows} == set(mine)
    assert all(row["class"] == (KINDS.get(mine[row["id"]].kind) or "") for row in rows)


def test_unreadable_inputs_are_rows_and_exit_3(corpus, tmp_path):
    root, _ = corpus
    bad = tmp_path / "log.1._000001.job.log.tgz.1"
    bad.write_bytes(b"\x1f\x8b not really gzip")
    some = sorted((root / CLUSTER_SITE).iterdir())[:3]
    done = triage(*map(str, some), str(bad), str(tmp_path / "missing.tgz"), "--json", check=False)
    assert done.returncode == 3, done.stderr
    r = json.loads(done.stdout)
    assert r["totals"]["jobs"] == 3 and r["totals"]["unreadable"] == 2
    assert {u["path"] for u in r["unreadable"]} == {str(bad), str(tmp_path / "missing.tgz")}
    assert "missing.tgz: no such file or folder" in done.stderr


def test_usage_and_nothing_found(tmp_path):
    done = triage(str(tmp_path), "--workers", "0", check=False)
    assert done.returncode == 2 and "--workers" in done.stderr
    done = triage(str(tmp_path), check=False)
    assert done.returncode == 3 and "no job archive or log tarball found" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_normalize_keeps_the_message_and_drops_what_differs_per_job():
    a = normalize("2026-08-17 10:01:02,331 write to /scratch/dir_8812/out.root failed on wn0421.desy.de "
                  "after 3 tries, id 0x7f3a2c10, guid 1b4e28ba-2fa1-11d2-883f-0016d3cca427, at 10:01:02")
    b = normalize("2027-01-02 23:59:59,000 write to /data/x/y.root failed on acas0031.usatlas.bnl.gov "
                  "after 12 tries, id 0xdeadbeef, guid 00000000-2fa1-11d2-883f-0016d3cca427, at 00:00:01")
    assert a == b == ("<time> write to <path> failed on <host> after N tries, id <hex>, guid <hex>, at <time>")
    assert normalize("G4Navigator stuck in EMEC_0x1f") == "G4Navigator stuck in EMEC_<hex>"
    assert normalize("read failed") != normalize("write failed")


def test_own_frame_skips_library_frames():
    tb = [["/srv/x/run.py", 3, "main"], ["/srv/x/cuts.py", 9, "apply"],
          ["/usr/lib/python3.11/json/decoder.py", 337, "decode"]]
    assert own_frame({"traceback": tb}) == ("cuts.py", "apply")
    assert own_frame({"traceback": tb[2:]}) == ("decoder.py", "decode")


def test_progress_on_a_terminal_only(corpus, tmp_path):
    """A progress bar goes to stderr when it is a terminal; a pipe gets only the result."""
    import pty

    root, _ = corpus
    some = [str(p) for p in sorted((root / CLUSTER_SITE).iterdir())[:6]]
    leader, follower = pty.openpty()
    env = {**os.environ, "JEMGUI_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run([*JEMGUI, "triage", *some, "--workers", "1"], stdout=subprocess.PIPE, stderr=follower,
                          env=env, timeout=300)
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    assert done.returncode == 0
    assert b"triage [" in seen and b"6/6 inputs" in seen
    assert done.stdout.decode().startswith("6 jobs: ")
    piped = triage(*some, "--workers", "1", cache=tmp_path / "cache")
    assert piped.stderr == "" and piped.stdout == done.stdout.decode()
