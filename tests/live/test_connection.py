"""Broker URLs, and the self-reconnecting STOMP connection against the real ActiveMQ."""

from __future__ import annotations

import threading
import time

import pytest
from conftest import subscribed
from cryptography.hazmat.primitives.serialization import Encoding

from jemgui.live.connection import Connection, Inbox, TLSFiles
from jemgui.live.local_broker import free_port
from jemgui.live.url import BrokerURLError, parse_broker_url
from tests.waiting import wait_for


def receive(conn: Connection, n: int, timeout: float = 10.0) -> list:
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        conn.inbox.wait(0.1)
        got += [m for m in conn.inbox.drain() if "jem-probe" not in m.headers]
    return got


# -- URLs ------------------------------------------------------------------------


@pytest.mark.parametrize("text, hosts, tls, user", [
    ("stomp://broker.example.org:61613", (("broker.example.org", 61613),), False, None),
    ("stomp+ssl://mq:61612", (("mq", 61612),), True, None),
    ("stomp://mq", (("mq", 61613),), False, None),
    ("stomp+ssl://mq", (("mq", 61612),), True, None),
    ("STOMP://a:1,b:2/", (("a", 1), ("b", 2)), False, None),
    ("stomp://[::1]:61613", (("::1", 61613),), False, None),
    ("stomp://jane:s%40cret@mq:7", (("mq", 7),), False, "jane"),
])
def test_broker_urls_parse(text, hosts, tls, user):
    url = parse_broker_url(text)
    assert (url.hosts, url.tls, url.user) == (hosts, tls, user)
    assert parse_broker_url(str(url)).hosts == hosts


def test_login_in_url_is_decoded():
    assert parse_broker_url("stomp://jane:s%40cret@mq:7").password == "s@cret"


@pytest.mark.parametrize("text, why", [
    ("http://mq:61613", "must start with stomp://"),
    ("mq:61613", "must start with stomp://"),
    ("stomp://", "no host"),
    ("stomp://:61613", "no host"),
    ("stomp://mq:0", "bad port"),
    ("stomp://mq:99999", "bad port"),
    ("stomp://mq:abc", "bad port"),
])
def test_bad_broker_urls_say_why(text, why):
    with pytest.raises(BrokerURLError, match=why) as err:
        parse_broker_url(text)
    assert "\n" not in str(err.value)


# -- the inbox ---------------------------------------------------------------------


def test_inbox_hands_over_between_threads_in_order_without_loss():
    inbox, n = Inbox(), 50_000
    writers = [threading.Thread(target=lambda k=k: [inbox.put((k, i)) for i in range(n)])
               for k in range(2)]
    for w in writers:
        w.start()
    got = []
    while len(got) < 2 * n:
        inbox.wait(1.0)
        got += inbox.drain(limit=1000)
    for w in writers:
        w.join()
    for k in range(2):
        assert [i for kk, i in got if kk == k] == list(range(n))
    assert inbox.drain() == [] and not inbox.wait(0.01)


# -- the connection ----------------------------------------------------------------


def test_messages_go_round_trip_with_headers(broker):
    with Connection(broker.url) as conn:
        assert conn.wait_connected(10), conn.status
        conn.subscribe("/topic/jem.test.roundtrip")
        subscribed(conn, conn, "/topic/jem.test.roundtrip")
        assert conn.send("/topic/jem.test.roundtrip", b'[{"a":1}]', {"jem-pid": "7"})
        [msg] = receive(conn, 1)
    assert msg.body == b'[{"a":1}]' and msg.headers["jem-pid"] == "7"
    assert msg.destination == "/topic/jem.test.roundtrip"


def test_a_message_over_the_size_limit_is_dropped_on_arrival_and_counted(broker):
    with Connection(broker.url, max_body=1000) as conn:
        assert conn.wait_connected(10), conn.status
        conn.subscribe("/topic/jem.test.big")
        subscribed(conn, conn, "/topic/jem.test.big")
        conn.send("/topic/jem.test.big", b"x" * 1001)
        conn.send("/topic/jem.test.big", b"x" * 1000)
        [msg] = receive(conn, 1)
        assert len(msg.body) == 1000 and conn.oversized == 1


def test_nobody_listening_means_not_connected_and_send_fails():
    """(How fast the send fails is measured by benchmarks.responsiveness [< 50 ms].)"""
    conn = Connection(f"stomp://127.0.0.1:{free_port()}", backoff=(0.05, 0.2)).start()
    try:
        assert not conn.wait_connected(0.5)
        assert conn.send("/topic/x", b"lost") is False
        assert conn.status.startswith("not connected to stomp://127.0.0.1:")
        wait_for(lambda: conn.last_error, what="the reason, kept for the status bar")
    finally:
        conn.close()


def test_reconnects_and_resubscribes_after_the_link_is_cut(proxy):
    with Connection(proxy.url, backoff=(0.05, 0.5)) as conn:
        assert conn.wait_connected(10), conn.status
        conn.subscribe("/topic/jem.test.cut")
        subscribed(conn, conn, "/topic/jem.test.cut")
        assert conn.send("/topic/jem.test.cut", b"before")
        assert [m.body for m in receive(conn, 1)] == [b"before"]
        proxy.cut()
        wait_for(lambda: conn.connected and conn.generation == 2, 10, "the reconnect")
        subscribed(conn, conn, "/topic/jem.test.cut")  # subscribed again, by the connection itself
        assert conn.send("/topic/jem.test.cut", b"after")
        assert [m.body for m in receive(conn, 1)] == [b"after"]


def test_a_stalled_link_is_dropped_by_heart_beats(proxy):
    """Nothing arrives, not even heart-beats: the connection gives up on it and reconnects."""
    with Connection(proxy.url, heartbeats=(500, 500), backoff=(0.05, 0.5)) as conn:
        assert conn.wait_connected(10), conn.status
        proxy.throttle(0.01)  # a byte per 100 s: the broker's heart-beats stop arriving
        wait_for(lambda: not conn.connected, 10, "the stalled link to be noticed")
        # stomp.py may report the disconnect a moment before the missed heart-beat
        wait_for(lambda: "heart-beat" in conn.last_error or conn.generation > 1, 10,
                 "the heart-beat named as the reason")
        proxy.throttle(None)
        proxy.cut()  # the stalled reconnect attempt goes too
        wait_for(lambda: conn.connected, 15, "the reconnect")
        assert conn.generation >= 2


def test_on_connect_runs_after_each_connect_from_the_supervisor(proxy):
    seen = []
    with Connection(proxy.url, backoff=(0.05, 0.5)) as conn:
        conn.on_connect(lambda c: seen.append((c.generation, threading.current_thread().name)))
        wait_for(lambda: len(seen) == 1, what="the first on_connect")
        proxy.cut()
        wait_for(lambda: len(seen) == 2, what="on_connect after the reconnect")
    assert [g for g, _ in seen] == [1, 2]
    assert all(name.endswith("-broker") for _, name in seen)


def test_tls_with_client_certificate(broker, pki, tmp_path):
    cert, key = pki.owner.write_pem(tmp_path)
    ca = tmp_path / "ca.pem"
    ca.write_bytes(pki.ca.cert.public_bytes(Encoding.PEM))
    tls = TLSFiles(ca=str(ca), cert=str(cert), key=str(key))
    with Connection(broker.ssl_url, tls=tls) as conn:
        assert conn.wait_connected(15), conn.status
        conn.subscribe("/topic/jem.test.tls")
        subscribed(conn, conn, "/topic/jem.test.tls")
        assert conn.send("/topic/jem.test.tls", b"secret")
        assert [m.body for m in receive(conn, 1)] == [b"secret"]


def test_tls_refuses_a_broker_the_ca_did_not_sign(broker, pki, tmp_path):
    other = tmp_path / "other-ca.pem"
    other.write_bytes(pki.other_ca.cert.public_bytes(Encoding.PEM))
    conn = Connection(broker.ssl_url, tls=TLSFiles(ca=str(other)), backoff=(0.1, 0.5)).start()
    try:
        assert not conn.wait_connected(2)
        assert "CERTIFICATE_VERIFY_FAILED" in conn.last_error or "certificate" in conn.last_error
    finally:
        conn.close()
