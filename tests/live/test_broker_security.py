"""The documented broker configuration (resources/activemq): accounts, per-destination
authorization and size limits, on a real ActiveMQ of its own."""

from __future__ import annotations

import time

import pytest
from conftest import (
    LiveJob,
    assert_same_archive,
    finish_follow,
    follow_listening,
    start_broker,
    start_follow,
)

from jemgui.live.connection import Connection
from jemgui.live.local_broker import BrokerAccounts
from jemgui.live.protocol import JOBS_TOPIC, control_queue, events_topic
from tests.waiting import wait_for


@pytest.fixture(scope="module")
def secured():
    accounts = BrokerAccounts.generate()
    broker = start_broker(accounts=accounts, max_frame=256 * 1024)
    yield broker, accounts
    broker.close()


def login(broker, account, name="client") -> Connection:
    user, password = account if account else (None, None)
    return Connection(broker.url, user=user, password=password, name=name).start()


def refused(conn: Connection, action, timeout: float = 5.0) -> str:
    """Do `action`; the broker's error (one line) once it comes."""
    conn.last_error = None
    action()
    wait_for(lambda: conn.last_error, timeout, "the broker to refuse")
    return conn.last_error


def test_anonymous_and_wrong_logins_are_refused(secured):
    broker, accounts = secured
    for account in (None, (accounts.inspector[0], "wrong")):
        conn = login(broker, account)
        try:
            assert not conn.wait_connected(3)
            assert "broker error" in (conn.last_error or "") or not conn.connected
        finally:
            conn.close()


def test_each_group_may_do_only_its_part(secured):
    broker, accounts = secured
    inspector = login(broker, accounts.inspector, "inspector")
    monitor = login(broker, accounts.monitor, "monitor")
    try:
        assert inspector.wait_connected(10) and monitor.wait_connected(10)
        # inspectors may not take a job's commands, nor speak for a job
        assert "not authorized" in refused(
            inspector, lambda: inspector.subscribe(control_queue("sec-1"))).lower()
        assert inspector.wait_connected(10)
        assert "not authorized" in refused(
            inspector, lambda: inspector.send(events_topic("sec-1"), b"[]")).lower()
        assert inspector.wait_connected(10)
        assert "not authorized" in refused(
            inspector, lambda: inspector.send(JOBS_TOPIC, b"{}")).lower()
        assert inspector.wait_connected(10)
        # monitors may not read other jobs' events
        assert "not authorized" in refused(
            monitor, lambda: monitor.subscribe(events_topic("sec-1"))).lower()
    finally:
        inspector.close()
        monitor.close()


def test_a_frame_over_the_limit_is_refused_and_others_carry_on(secured):
    broker, accounts = secured
    inspector = login(broker, accounts.inspector, "big")
    other = login(broker, accounts.inspector, "other")
    monitor = login(broker, accounts.monitor, "monitor")
    try:
        assert inspector.wait_connected(10) and other.wait_connected(10)
        assert monitor.wait_connected(10)
        sub = monitor.subscribe(control_queue("sec-2"))
        time.sleep(0.5)
        inspector.send(control_queue("sec-2"), b"x" * (300 * 1024))
        other.send(control_queue("sec-2"), b"small")
        wait_for(lambda: any(m.body == b"small" for m in monitor.inbox.drain()), 10,
                 "the small message to arrive")
        monitor.unsubscribe(sub)
    finally:
        for c in (inspector, other, monitor):
            c.close()


def test_a_job_and_its_follower_work_through_the_secured_broker(secured, pki, tmp_path, credential):
    broker, accounts = secured
    out = tmp_path / "capture"
    follow = start_follow(broker.url, "sec-run", out, credential, "--idle-timeout", "30",
                          "--broker-user", accounts.inspector[0],
                          "--broker-password", accounts.inspector[1])
    follow_listening(follow, out)
    job = LiveJob(tmp_path, broker.url, pki, "sec-run", turns=3000,
                  extra=("--broker-user", accounts.monitor[0],
                         "--broker-password", accounts.monitor[1])).start()
    assert job.wait() == 0
    code, stdout, err = finish_follow(follow)
    assert code == 0, err
    assert "complete, verified" in stdout
    assert_same_archive(out, job.archive)
