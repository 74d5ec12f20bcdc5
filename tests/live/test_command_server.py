"""The job's command queue through ActiveMQ: replies, history from the archive, the audit trail."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import orjson
import pytest

from jemgui.live.command_server import read_range
from jemgui.live.connection import Connection
from jemgui.live.envelope import sign
from jemgui.live.follower import CommandClient
from jemgui.live.options import add_broker_arguments, services_from_args
from jemgui.monitor.runner import Monitor

STREAM_PID = 4242


def rec(seq: int, pid: int = STREAM_PID) -> dict:
    return {"seq": seq, "ts": 1.5 + seq, "pid": pid, "kind": "marker", "text": f"r{seq}"}


# -- reading ranges from a stream file (no broker) ---------------------------------------------


@pytest.fixture
def stream_file(tmp_path):
    """50 000 records with bad lines among them, a seq jump at 30 000, and a cut last line."""
    lines = []
    for seq in [*range(0, 30_000), *range(30_100, 50_100)]:
        lines.append(orjson.dumps(rec(seq)))
        if seq % 7_777 == 0:
            lines.append(b'{"seq": "garbage"')
    path = tmp_path / f"{STREAM_PID}.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n" + orjson.dumps(rec(50_100))[:20])
    return path


@pytest.mark.parametrize("first, last, want", [
    (0, 0, [0]),
    (7_776, 7_780, list(range(7_776, 7_781))),
    (29_998, 30_101, [29_998, 29_999, 30_100, 30_101]),
    (30_010, 30_050, []),
    (50_090, 60_000, list(range(50_090, 50_100))),  # the cut line is not part of the archive
    (70_000, 80_000, []),
])
def test_read_range_finds_records_by_bisection(stream_file, first, last, want):
    got = list(read_range(stream_file, first, last))
    assert [s for s, _ in got] == want
    assert all(orjson.loads(line) == rec(s) for s, line in got)


def test_read_range_of_a_missing_stream_is_empty(tmp_path):
    assert list(read_range(tmp_path / "9.jsonl", 0, 10)) == []


# -- serving commands through the broker ---------------------------------------------------------


@pytest.fixture
def served_job(broker, pki, tmp_path):
    """A prepared (real) Monitor whose live link serves commands, and a stream of 2500 records."""
    monitor = Monitor(["true"], out=tmp_path / "archive", job_id="served-1", verbosity=3)
    monitor.prepare()
    (monitor.events_dir / f"{STREAM_PID}.jsonl").write_bytes(
        b"".join(orjson.dumps(rec(s)) + b"\n" for s in range(2500)))
    parser = argparse.ArgumentParser()
    add_broker_arguments(parser)
    args = parser.parse_args(["--broker", broker.url, "--owner", pki.owner.dn,
                              "--ca-dir", str(pki.ca_dir)])
    [link] = services_from_args(args, monitor, warn=lambda text: None)
    link.quiet = 0.1
    link.start(monitor)
    assert link.connection.wait_connected(10)
    yield monitor
    link.stop()


def controls(monitor) -> list[dict]:
    path = monitor.events_dir / f"{monitor.pid}.jsonl"
    return [r for r in map(json.loads, path.read_text().splitlines()) if r["kind"] == "control"]


@pytest.fixture
def client(broker, served_job):
    conn = Connection(broker.url, name="inspector").start()
    yield conn
    conn.close()


def test_owner_pings_and_the_command_is_audited(served_job, client, pki):
    owner = CommandClient(client, "served-1", lambda c: sign(c, pki.owner))
    first, second = owner.call("ping"), owner.call("ping")
    assert first["ok"] and first["cmd"] == "ping" and first["result"]["verbosity"] == 3
    # the first ping's audit record is on disk before the second ping is answered
    assert second["result"]["last_seq"] == {str(served_job.pid): 0}
    assert first["result"]["time"] <= second["result"]["time"]
    deadline = time.monotonic() + 5  # the second audit may reach the disk just after its reply
    while len(audits := controls(served_job)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [(a["cmd"], a["accepted"], a["sender"]) for a in audits] == [("ping", True, pki.owner.dn)] * 2


def test_history_comes_as_batches_then_the_count(served_job, client, pki):
    batches = []
    reply = CommandClient(client, "served-1", lambda c: sign(c, pki.owner)).call(
        "history", {"pid": STREAM_PID, "from_seq": 100, "to_seq": 2199}, on_batch=batches.append)
    assert reply == {"ok": True, "cmd": "history", "result": {"sent": 2100}}
    records = []
    for m in batches:
        body = orjson.loads(m.body)
        assert len(body) <= 1000 and m.headers["content-type"] == "application/json"
        assert m.headers["jem-pid"] == str(STREAM_PID)
        assert (int(m.headers["jem-first-seq"]), int(m.headers["jem-last-seq"])) == \
            (body[0]["seq"], body[-1]["seq"])
        records += body
    assert records == [rec(s) for s in range(100, 2200)]


def test_refusals_are_replied_and_audited(served_job, client, pki):
    stranger = CommandClient(client, "served-1", lambda c: sign(c, pki.stranger))
    reply = stranger.call("ping")
    assert reply["ok"] is False and reply["error"] == "untrusted"
    garbage = CommandClient(client, "served-1", lambda c: b"{not a jws")
    assert garbage.call("ping")["error"] == "malformed"
    audits = controls(served_job)
    assert [(a["accepted"], a["error"]) for a in audits] == [(False, "untrusted"), (False, "malformed")]


def test_jemgui_send_prints_the_reply_and_exits_by_it(served_job, broker, pki, tmp_path):
    cert, key = pki.owner.write_pem(tmp_path / "owner")
    s_cert, s_key = pki.stranger.write_pem(tmp_path / "stranger")
    base = [sys.executable, "-m", "jemgui", "send", "--broker", broker.url, "--job", "served-1"]

    def send(cert, key, *argv):
        return subprocess.run([*base, "--cert", str(cert), "--key", str(key), "--timeout", "10",
                               *argv], capture_output=True, text=True, timeout=60)

    ok = send(cert, key, "set_verbosity", "level=2")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout) == {"ok": True, "cmd": "set_verbosity",
                                     "result": {"verbosity": 2, "cap": 4}}
    assert served_job.verbosity == 2
    refused = send(s_cert, s_key, "ping")
    assert refused.returncode == 1 and json.loads(refused.stdout)["error"] == "untrusted"
    out = tmp_path / "history.jsonl"
    hist = send(cert, key, "--out", str(out), "history", f"pid={STREAM_PID}", "from_seq=5",
                "to_seq=9")
    assert hist.returncode == 0 and json.loads(hist.stdout)["result"] == {"sent": 5}
    assert [json.loads(line) for line in out.read_text().splitlines()] == [rec(s) for s in range(5, 10)]


def test_send_to_a_job_nobody_serves_times_out(broker, pki, tmp_path):
    cert, key = pki.owner.write_pem(tmp_path)
    done = subprocess.run([sys.executable, "-m", "jemgui", "send", "--broker", broker.url,
                           "--job", "nobody-home", "--cert", str(cert), "--key", str(key),
                           "--timeout", "1", "ping"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip() == "jemgui send: no reply from job nobody-home within 1 s"
