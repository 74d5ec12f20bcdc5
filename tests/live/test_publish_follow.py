"""Publishing a job's archive to ActiveMQ, and following it into a store and an archive."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from types import SimpleNamespace

import orjson
import pytest
from conftest import (
    LiveJob,
    assert_same_archive,
    events,
    finish_follow,
    follow_listening,
    start_follow,
    subscribed,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from jemgui.live.connection import Connection
from jemgui.live.follower import LiveStore, StreamStore
from jemgui.live.publisher import JOBS_TOPIC, Publisher, events_topic
from tests.waiting import wait_for


def rec(seq: int, pid: int = 7, kind: str = "marker", **fields) -> dict:
    return {"seq": seq, "ts": 1000.0 + seq / 1000, "pid": pid, "kind": kind, **fields}


# -- the store (no broker) -----------------------------------------------------------------


def test_store_keeps_order_and_reports_holes_until_filled():
    s = StreamStore(7)
    assert s.add([rec(0), rec(1), rec(5), rec(6)]) == 4
    assert [r["seq"] for r in s.records] == [0, 1]
    assert s.holes() == [(2, 4)] and not s.complete
    s.expect(9)
    assert s.holes() == [(2, 4), (7, 9)]
    assert s.add([rec(3), rec(2), rec(4), rec(3)]) == 3 and s.duplicates == 1
    assert [r["seq"] for r in s.records] == list(range(7))
    assert s.holes() == [(7, 9)]
    s.add([rec(9), rec(8), rec(7)])
    assert s.complete and [r["seq"] for r in s.records] == list(range(10))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 60), max_size=120), st.integers(-1, 70),
       st.lists(st.tuples(st.integers(0, 70), st.integers(0, 10)), max_size=3))
def test_store_holes_and_order_match_a_plain_set(arrivals, announced, give_ups):
    """Whatever order records come in, with repeats: the prefix is emitted in order, and the
    holes are exactly the missing seqs up to what is known, minus what was given up."""
    emitted = []
    s = StreamStore(1, sink=lambda pid, recs: emitted.extend(r["seq"] for r in recs))
    s.add([rec(q, pid=1) for q in arrivals])
    s.expect(announced)
    given_up = set()
    for first, length in give_ups:
        before = {q for a, b in s.holes() for q in range(a, b + 1)}
        s.give_up(first, first + length)
        given_up |= {q for q in before if first <= q <= first + length}
    have = set(arrivals)
    known = max([announced, *arrivals], default=-1)
    missing = {q for q in range(known + 1) if q not in have} - given_up
    assert {q for a, b in s.holes() for q in range(a, b + 1)} == missing
    assert emitted == sorted(emitted) and len(set(emitted)) == len(emitted)
    whole = next((q for q in range(known + 2) if q not in have and q not in given_up), known + 1)
    assert set(range(whole)) & have <= set(emitted) and s.next_seq >= whole
    s.flush_ahead()
    assert sorted(emitted) == emitted and set(emitted) == have


def test_store_gives_up_on_what_the_job_no_longer_has():
    s = StreamStore(7)
    s.add([rec(0), rec(4), rec(9)])
    s.give_up(1, 2)  # the job sent what it had of 1..2: nothing
    assert s.holes() == [(3, 3), (5, 8)]
    assert [r["seq"] for r in s.records] == [0]
    s.give_up(3, 8)
    assert s.complete and [r["seq"] for r in s.records] == [0, 4, 9]
    assert s.lost == [(1, 2), (3, 3), (5, 8)]


def test_store_hands_whole_prefix_to_a_sink_in_order():
    written = []
    s = StreamStore(7, sink=lambda pid, recs: written.extend(r["seq"] for r in recs))
    s.add([rec(2), rec(1)])
    assert written == []
    s.add([rec(0)])
    assert written == [0, 1, 2] and s.records == []
    s.add([rec(5)])
    s.flush_ahead()  # the end of a capture: what came beyond the hole is kept too
    assert written == [0, 1, 2, 5]


def test_live_store_takes_batches_and_announcements():
    store = LiveStore("j1")
    body = orjson.dumps([rec(0, pid=3), rec(1, pid=3), {"seq": "x"}, rec(2, pid=4)])
    assert store.add_batch(body, pid=3) == 2
    assert store.rejected == 2  # the bad record, and the one of another stream
    assert store.add_batch(b"not json") == 0 and store.rejected == 3
    assert not store.announce({"job": {"id": "other"}, "status": "ended", "last_seq": {}})
    assert store.announce(orjson.dumps(
        {"job": {"id": "j1", "user": "/CN=x"}, "status": "running", "last_seq": {"3": 4, "9": 0}}))
    assert store.holes() == {3: [(2, 4)], 9: [(0, 0)]}
    assert store.status == "running" and not store.complete
    store.add_batch(orjson.dumps([rec(s, pid=3) for s in (2, 3, 4)]))
    store.add_batch(orjson.dumps([rec(0, pid=9)]))
    store.announce({"job": {"id": "j1"}, "status": "ended", "last_seq": {"3": 4, "9": 0}})
    assert store.complete and store.received == 6
    assert store.lag() > 0 and store.records_per_second() > 0


# -- publishing ------------------------------------------------------------------------------


def collect(conn: Connection, until, timeout: float = 10.0) -> list:
    got = []
    deadline = time.monotonic() + timeout
    while not until(got) and time.monotonic() < deadline:
        conn.inbox.wait(0.05)
        got += [m for m in conn.inbox.drain() if "jem-probe" not in m.headers]
    return got


def test_publisher_sends_batches_of_at_most_1000_in_seq_order_and_announces(broker, tmp_path):
    events_dir = tmp_path / "events"
    events_dir.mkdir()
    job = {"id": "pub1", "user": "/CN=t", "started": time.time()}
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "jem-archive", "job": job}))
    lines = [orjson.dumps(rec(s, pid=41, kind="state", state="RUNNING") if s == 0 else rec(s, pid=41))
             for s in range(2500)]
    # a partial last line is not published until it is whole; a bad line is stepped over
    (events_dir / "41.jsonl").write_bytes(b"\n".join(lines[:2000]) + b"\nnot json\n"
                                          + b"\n".join(lines[2000:]) + b"\n" + lines[0][:10])
    sub = Connection(broker.url, name="sub").start()
    pub = Connection(broker.url, name="pub").start()
    try:
        assert sub.wait_connected(10) and pub.wait_connected(10)
        sub.subscribe(events_topic("pub1"))
        sub.subscribe(JOBS_TOPIC)
        subscribed(sub, pub, events_topic("pub1"), JOBS_TOPIC)
        publisher = Publisher(pub)
        publisher.start(SimpleNamespace(archive_dir=tmp_path, job=job))
        got = collect(sub, lambda g: sum(len(orjson.loads(m.body)) for m in g
                                         if "jem-pid" in m.headers) >= 2500)
        publisher.stop()
        got += collect(sub, lambda g: any(b'"ended"' in m.body for m in g), 5)
    finally:
        sub.close()
        pub.close()
    batches = [m for m in got if "jem-pid" in m.headers]
    seqs = []
    for m in batches:
        records = orjson.loads(m.body)
        assert 1 <= len(records) <= 1000
        assert m.headers["content-type"] == "application/json" and m.headers["jem-pid"] == "41"
        assert int(m.headers["jem-first-seq"]) == records[0]["seq"]
        assert int(m.headers["jem-last-seq"]) == records[-1]["seq"]
        seqs += [r["seq"] for r in records]
    assert seqs == list(range(2500))
    announcements = [orjson.loads(m.body) for m in got if m.destination == JOBS_TOPIC]
    assert announcements[0]["status"] == "running" and announcements[-1]["status"] == "ended"
    assert announcements[-1] == {"job": job, "status": "ended", "last_seq": {"41": 2499},
                                 "state": "RUNNING"}


def test_a_lone_record_waits_for_company_only_when_fresh(broker, tmp_path):
    """A fresh record waits ~100 ms for company; one that already waited in the job goes at once.

    Only the wait is checked here (a loaded machine can only make it longer); how long each
    takes is measured by `python -m benchmarks.responsiveness` [fresh 100 ms, aged < 80 ms]."""
    (tmp_path / "events").mkdir()
    job = {"id": "pub2"}
    sub = Connection(broker.url, name="sub").start()
    pub = Connection(broker.url, name="pub").start()
    publisher = Publisher(pub)
    delays = []
    try:
        assert sub.wait_connected(10) and pub.wait_connected(10)
        sub.subscribe(events_topic("pub2"))
        jobs = sub.subscribe(JOBS_TOPIC)
        subscribed(sub, pub, events_topic("pub2"), JOBS_TOPIC)
        publisher.start(SimpleNamespace(archive_dir=tmp_path, job=job))
        # its first announcement: the publisher's thread runs (the next is 10 s away)
        collect(sub, lambda g: any(b'"pub2"' in m.body for m in g if m.destination == JOBS_TOPIC))
        sub.unsubscribe(jobs)
        for seq, age in ((0, 0.0), (1, 0.5)):
            fresh = dict(rec(seq, pid=5), ts=time.time() - age)
            with open(tmp_path / "events" / "5.jsonl", "ab") as f:
                f.write(orjson.dumps(fresh) + b"\n")
            written = time.monotonic()
            [msg] = collect(sub, lambda g: g)
            delays.append(time.monotonic() - written)
            assert orjson.loads(msg.body) == [fresh]
    finally:
        publisher.stop()
        sub.close()
        pub.close()
    assert delays[0] > 0.08, delays


def test_after_a_long_outage_publishing_resumes_near_the_live_end(broker, proxy, tmp_path):
    """What piled up while the broker was away is not all sent late: only the last part of a
    big backlog goes, and subscribers see the jump (and ask history for the rest)."""
    (tmp_path / "events").mkdir()
    stream = tmp_path / "events" / "8.jsonl"
    stream.write_bytes(b"".join(orjson.dumps(rec(s, pid=8)) + b"\n" for s in range(10)))
    sub = Connection(broker.url, name="sub").start()
    pub = Connection(proxy.url, name="pub", backoff=(0.05, 0.2)).start()
    publisher = Publisher(pub, max_backlog=100_000)
    try:
        assert sub.wait_connected(10) and pub.wait_connected(10)
        sub.subscribe(events_topic("pub3"))
        subscribed(sub, pub, events_topic("pub3"))
        publisher.start(SimpleNamespace(archive_dir=tmp_path, job={"id": "pub3"}))
        assert collect(sub, lambda g: g)[0].headers["jem-last-seq"] == "9"
        proxy.refusing = True
        proxy.cut()
        wait_for(lambda: not pub.connected, what="the publisher to see the broker gone")
        with open(stream, "ab") as f:  # about 1.5 MB while the broker is away
            f.write(b"".join(orjson.dumps(rec(s, pid=8)) + b"\n" for s in range(10, 20_010)))
        proxy.refusing = False
        got = collect(sub, lambda g: g and g[-1].headers["jem-last-seq"] == "20009")
    finally:
        publisher.stop()
        sub.close()
        pub.close()
    first = int(got[0].headers["jem-first-seq"])
    assert 10 < first < 20_009, "the backlog's start was skipped, its end was sent"
    seqs = [r["seq"] for m in got for r in orjson.loads(m.body)]
    assert seqs == list(range(first, 20_010))


def test_a_dead_broker_costs_the_job_nothing(tmp_path, pki):
    """No broker at all: the job runs, its archive is whole, and it ends promptly."""
    from jemgui.live.local_broker import free_port

    job = LiveJob(tmp_path, f"stomp://127.0.0.1:{free_port()}", pki, "nobroker", turns=2000)
    assert job.start().wait() == 0  # how long it took, beside a run without the live link:
    # `python -m benchmarks.responsiveness`
    assert sum(len(v) for v in events(job.archive).values()) > 10_000


# -- following ---------------------------------------------------------------------------------


def test_follow_captures_the_job_record_for_record(broker, pki, tmp_path, credential):
    job_id = "follow-1"
    follow = start_follow(broker.url, job_id, tmp_path / "capture", credential, "--idle-timeout", "30")
    follow_listening(follow, tmp_path / "capture")  # subscribed before the job starts
    job = LiveJob(tmp_path, broker.url, pki, job_id, turns=3000, pause=0.01).start()
    assert job.wait() == 0
    code, out, err = finish_follow(follow)
    assert code == 0, err
    assert f"job {job_id}: " in out and "complete" in out
    capture = assert_same_archive(tmp_path / "capture", job.archive)
    assert capture["complete"] and capture["lost"] == {}


def test_jobs_lists_a_running_job(broker, pki, tmp_path):
    release = tmp_path / "release"
    job = LiveJob(tmp_path, broker.url, pki, "listed-1", turns=2000, hold=release).start()
    job.wait_records(100)
    cmd = [sys.executable, "-m", "jemgui", "jobs", "--broker", broker.url, "--wait", "1.5",
           "--ca-dir", str(pki.ca_dir)]
    runs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for argv in (cmd, [*cmd, "--json"])]
    listing, as_json = (SimpleNamespace(returncode=p.wait(60), stdout=p.stdout.read(),
                                        stderr=p.stderr.read()) for p in runs)
    release.touch()
    assert job.wait() == 0
    assert listing.returncode == 0, listing.stderr
    header, *rows = listing.stdout.splitlines()
    assert header.split() == ["JOB", "USER", "SITE", "HOST", "STATE", "AGE", "SIGNED", "BY"]
    [row] = [r for r in rows if r.startswith("listed-1 ")]
    assert "RUNNING" in row
    assert row.endswith(f"{pki.owner.dn} (CA /DC=org/DC=example/CN=Example Grid CA)")
    anns = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert any(a["job"]["id"] == "listed-1" and a["status"] == "running" and a["verified"]
               and a["signer"].startswith(pki.owner.dn) for a in anns)


@pytest.mark.parametrize("argv, message", [
    (["follow", "--broker", "http://x", "--job", "j", "--out", "o"], "must start with stomp://"),
    (["follow", "--broker", "stomp://x:1", "--job", "bad id!", "--out", "o"], "is not a job id"),
    (["jobs", "--broker", "stomp://x:1", "--tls-ca", "ca.pem"], "need a stomp+ssl://"),
    (["send", "--broker", "stomp://x:1", "--job", "j", "--cert", "/nonexistent.pem", "ping"],
     "nonexistent"),
])
def test_bad_usage_is_one_line_and_exit_2(argv, message, tmp_path):
    done = subprocess.run([sys.executable, "-m", "jemgui", *argv], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert done.stderr.startswith(f"jemgui {argv[0]}: ")


def test_follow_refuses_to_write_into_an_archive(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "manifest.json").write_text("{}")
    done = subprocess.run([sys.executable, "-m", "jemgui", "follow", "--broker", "stomp://x:1",
                           "--job", "j", "--out", str(tmp_path / "taken")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "not an empty folder" in done.stderr
    assert (tmp_path / "taken" / "manifest.json").read_text() == "{}"


def test_follow_with_an_untrusted_certificate_says_so_and_keeps_what_it_got(broker, pki, tmp_path):
    job = LiveJob(tmp_path, broker.url, pki, "late-stranger", turns=6000, pause=0.05).start()
    job.wait_records(5_000)
    stranger = pki.stranger.write_pem(tmp_path / "stranger")
    follow = start_follow(broker.url, "late-stranger", tmp_path / "capture", stranger,
                          "--idle-timeout", "20")
    assert job.wait() == 0
    code, out, err = finish_follow(follow)
    assert code == 1
    # the session's broker may still hold other tests' forged announcements, dropped and counted
    lines = err.strip().splitlines()
    assert sum(line.startswith("jemgui follow: history refused (untrusted: ") for line in lines) == 1, err
    assert all(line.startswith("jemgui follow: ") for line in lines), err
    manifest = json.loads((tmp_path / "capture" / "manifest.json").read_text())
    assert manifest["capture"]["complete"] is False
    lost = manifest["capture"]["lost"]
    assert any(gaps[0][0] == 0 for gaps in lost.values()), "the start it never got is listed"
    captured = events(tmp_path / "capture")
    original = events(job.archive)
    for name, records in captured.items():  # what it has is the job's, in order
        by_seq = {r["seq"]: r for r in original[name]}
        assert all(by_seq[r["seq"]] == r for r in records)
