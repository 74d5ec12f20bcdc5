"""The faults a live link meets, against the real ActiveMQ: in each, `jemgui follow` ends
with the monitor's own archive, record for record.
"""

from __future__ import annotations

import time

import pytest
from conftest import (
    LiveJob,
    TcpProxy,
    assert_same_archive,
    finish_follow,
    follow_listening,
    start_broker,
    start_follow,
)

from tests.waiting import wait_for

#: about 7 records a turn; with a pause of `PAUSE` s every 250 turns the job runs a few seconds
TURNS, PAUSE = 8000, 0.06


def follow_job(url: str, tmp_path, credential, job_id: str):
    proc = start_follow(url, job_id, tmp_path / "capture", credential, "--idle-timeout", "30")
    follow_listening(proc, tmp_path / "capture")  # subscribed before the job starts
    return proc


def check_capture(proc, job, tmp_path) -> dict:
    assert job.wait() == 0
    code, out, err = finish_follow(proc)
    assert code == 0, f"follow failed: {err}"
    return assert_same_archive(tmp_path / "capture", job.archive)


@pytest.mark.slow
def test_broker_crash_and_restart_while_the_job_publishes(pki, tmp_path, credential):
    broker = start_broker()
    try:
        follow = follow_job(broker.url, tmp_path, credential, "fault-restart")
        # the job goes on until its live link is back (else it could end while the broker is
        # down, and nobody would be left to answer for the batches lost in the crash)
        release = tmp_path / "release"
        job = LiveJob(tmp_path, broker.url, pki, "fault-restart", 6000, 0.3, hold=release).start()
        job.wait_records(5_000)
        t0 = time.monotonic()
        broker.restart(crash=True)  # in-flight batches are lost with it
        down = time.monotonic() - t0
        links = [s.connection for s in job.services if hasattr(s, "connection")]
        wait_for(lambda: links and all(c.connected and c.generation > 1 for c in links), 60,
                 "the job's live link to reconnect")
        release.touch()
        capture = check_capture(follow, job, tmp_path)
    finally:
        broker.close()
    assert capture["complete"] and down > 0.5
    assert job.thread.is_alive() is False


@pytest.mark.slow
def test_follower_connection_cut_twice(broker, pki, tmp_path, credential):
    proxy = TcpProxy(broker.port)
    try:
        follow = follow_job(proxy.url, tmp_path, credential, "fault-cut")
        job = LiveJob(tmp_path, broker.url, pki, "fault-cut", TURNS, PAUSE).start()
        for records in (8_000, 25_000):
            job.wait_records(records)
            proxy.cut()
        capture = check_capture(follow, job, tmp_path)
        assert proxy.cuts == 2 and capture["complete"]
    finally:
        proxy.close()


@pytest.mark.slow
def test_follow_joins_halfway_through_the_job(broker, pki, tmp_path, credential):
    job = LiveJob(tmp_path, broker.url, pki, "fault-late", TURNS, PAUSE).start()
    job.wait_records(25_000)
    follow = start_follow(broker.url, "fault-late", tmp_path / "capture", credential,
                          "--idle-timeout", "30")
    capture = check_capture(follow, job, tmp_path)
    assert capture["recovered"] >= 25_000, "the first half came through history"


@pytest.mark.slow
def test_subscriber_too_slow_for_the_topic(broker, pki, tmp_path, credential):
    """The follower's link carries far less than the job writes: the broker drops batches
    for it (its pending-message limit), and the follower fills the holes from history."""
    proxy = TcpProxy(broker.port)
    try:
        proxy.throttle(100_000)  # bytes/s: a few hundred records a second
        follow = follow_job(proxy.url, tmp_path, credential, "fault-slow")
        job = LiveJob(tmp_path, broker.url, pki, "fault-slow", TURNS, PAUSE).start()
        job.wait_records(45_000)  # the broker holds 20 + 5 batches for it: most of the rest drop
        proxy.throttle(None)
        capture = check_capture(follow, job, tmp_path)
    finally:
        proxy.close()
    assert capture["recovered"] > 0, "the broker dropped batches and history brought them back"
