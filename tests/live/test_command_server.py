"""The job's command queue through ActiveMQ: replies, history from the archive, the audit trail."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from jemgui.live.command_client import CommandClient
from jemgui.live.command_server import read_range
from jemgui.live.connection import Connection
from jemgui.live.envelope import sign
from jemgui.live.jobsig import JobVerifier
from jemgui.live.options import add_broker_arguments, services_from_args
from jemgui.live.trust import TrustStore
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


def serve(monitor, broker, pki, *extra: str):
    """Start the live link `jemgui run` would add to a prepared Monitor (owner: pki.owner), which
    signs with the owner's credential."""
    parser = argparse.ArgumentParser()
    add_broker_arguments(parser)
    cert, key = pki.owner.write_pem(Path(monitor.archive_dir).parent / "job-credential")
    if "--policy" in extra:
        extra = (*extra, "--site-account", getpass.getuser())
    args = parser.parse_args(["--broker", broker.url, "--owner", pki.owner.dn,
                              "--ca-dir", str(pki.ca_dir), "--job-cert", str(cert),
                              "--job-key", str(key), *extra])
    [link] = services_from_args(args, monitor, warn=lambda text: None)
    link.quiet = 0.1
    link.start(monitor)
    assert link.connection.wait_connected(10)
    return link


@pytest.fixture
def served_job(broker, pki, tmp_path):
    """A prepared (real) Monitor whose live link serves commands, and a stream of 2500 records."""
    monitor = Monitor(["true"], out=tmp_path / "archive", job_id="served-1", verbosity=3)
    monitor.prepare()
    (monitor.events_dir / f"{STREAM_PID}.jsonl").write_bytes(
        b"".join(orjson.dumps(rec(s)) + b"\n" for s in range(2500)))
    link = serve(monitor, broker, pki)
    yield monitor
    link.stop()


def controls(monitor, at_least: int = 0) -> list[dict]:
    """The job's control records on disk, waiting up to 5 s for `at_least` of them (an audit
    record may reach the disk just after its reply)."""
    path = monitor.events_dir / f"{monitor.pid}.jsonl"
    deadline = time.monotonic() + 5
    while True:
        out = [r for r in map(json.loads, path.read_text().splitlines()) if r["kind"] == "control"]
        if len(out) >= at_least or time.monotonic() > deadline:
            return out
        time.sleep(0.05)


@pytest.fixture
def client(broker, served_job):
    conn = Connection(broker.url, name="inspector").start()
    yield conn
    conn.close()


def verifying(pki, job: str = "served-1") -> JobVerifier:
    return JobVerifier(job, TrustStore.from_dir(pki.ca_dir), pki.owner.dn, require_signed=True)


def test_owner_pings_and_the_command_is_audited(served_job, client, pki):
    owner = CommandClient(client, "served-1", lambda c: sign(c, pki.owner), verifier=verifying(pki))
    first, second = owner.call("ping"), owner.call("ping")
    assert first["ok"] and first["cmd"] == "ping" and first["result"]["verbosity"] == 3
    assert first.seal.verified and first.seal.signer == \
        f"{pki.owner.dn} (CA /DC=org/DC=example/CN=Example Grid CA)"
    # the first ping's audit record is on disk before the second ping is answered
    assert second["result"]["last_seq"] == {str(served_job.pid): 0}
    assert first["result"]["time"] <= second["result"]["time"]
    audits = controls(served_job, 2)
    assert [(a["cmd"], a["accepted"], a["sender"], a["ca"]) for a in audits] == \
        [("ping", True, pki.owner.dn, "/DC=org/DC=example/CN=Example Grid CA")] * 2


def test_history_comes_as_signed_batches_then_the_count(served_job, client, pki):
    batches = []
    verifier = verifying(pki)
    reply = CommandClient(client, "served-1", lambda c: sign(c, pki.owner), verifier=verifier).call(
        "history", {"pid": STREAM_PID, "from_seq": 100, "to_seq": 2199}, on_batch=batches.append)
    assert reply == {"ok": True, "cmd": "history", "result": {"sent": 2100}}
    assert reply.seal.verified and not verifier.dropped
    assert [len(b) for b in batches] == [1000, 1000, 100]  # each verified against its jem-sig
    assert [r for b in batches for r in b] == [rec(s) for s in range(100, 2200)]


def test_refusals_are_replied_to_the_signed_queue_and_audited(served_job, client, pki):
    stranger = CommandClient(client, "served-1", lambda c: sign(c, pki.stranger))
    reply = stranger.call("ping")
    assert reply["ok"] is False and reply["error"] == "untrusted"
    garbage = CommandClient(client, "served-1", lambda c: b"{not a jws")
    with pytest.raises(TimeoutError):  # no signed reply_to to answer to: nothing is sent
        garbage.call("ping", timeout=1.5)
    audits = controls(served_job, 2)
    assert [(a["accepted"], a["error"], a["sender"]) for a in audits] == \
        [(False, "untrusted", None), (False, "malformed", None)]


def test_jemgui_send_prints_the_reply_and_exits_by_it(served_job, broker, pki, tmp_path):
    cert, key = pki.owner.write_pem(tmp_path / "owner")
    s_cert, s_key = pki.stranger.write_pem(tmp_path / "stranger")
    base = [sys.executable, "-m", "jemgui", "send", "--broker", broker.url, "--job", "served-1"]

    def send(cert, key, *argv):
        return subprocess.run([*base, "--cert", str(cert), "--key", str(key), "--timeout", "10",
                               *argv], capture_output=True, text=True, timeout=60)

    ok = send(cert, key, "--ca-dir", str(pki.ca_dir), "set_verbosity", "level=2")
    assert ok.returncode == 0, ok.stderr
    assert ok.stderr.strip() == (f"jemgui send: reply verified: {pki.owner.dn} "
                                 "(CA /DC=org/DC=example/CN=Example Grid CA)")
    assert json.loads(ok.stdout) == {"ok": True, "cmd": "set_verbosity",
                                     "result": {"verbosity": 2, "cap": 4}}
    assert served_job.verbosity == 2
    # a sender is taken for the job's owner unless it names the owner
    refused = send(s_cert, s_key, "--ca-dir", str(pki.ca_dir), "ping")
    assert refused.returncode == 1 and "not the job's owner" in refused.stderr
    refused = send(s_cert, s_key, "--ca-dir", str(pki.ca_dir), "--job-owner", pki.owner.dn, "ping")
    assert refused.returncode == 1 and json.loads(refused.stdout)["error"] == "untrusted"
    out = tmp_path / "history.jsonl"
    hist = send(cert, key, "--ca-dir", str(pki.ca_dir), "--out", str(out), "history",
                f"pid={STREAM_PID}", "from_seq=5", "to_seq=9")
    assert hist.returncode == 0 and json.loads(hist.stdout)["result"] == {"sent": 5}
    assert [json.loads(line) for line in out.read_text().splitlines()] == [rec(s) for s in range(5, 10)]


def test_send_to_a_job_nobody_serves_times_out(broker, pki, tmp_path):
    cert, key = pki.owner.write_pem(tmp_path)
    done = subprocess.run([sys.executable, "-m", "jemgui", "send", "--broker", broker.url,
                           "--job", "nobody-home", "--cert", str(cert), "--key", str(key),
                           "--ca-dir", str(pki.ca_dir), "--timeout", "1", "ping"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip() == "jemgui send: no reply from job nobody-home within 1 s"


# -- every refusal of the spec, through the broker ----------------------------------------------


def b64url(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
def policed_job(broker, pki, tmp_path):
    """A served job with a site policy (cap 2, a shifter) and a working directory with a log."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "job.log").write_text("line 1\nline 2\n")
    (tmp_path / "secret.txt").write_text("TOP SECRET\n")
    policy = tmp_path / "policy.toml"
    policy.write_text(f'cap = 2\nshifters = ["{pki.shifter.dn}"]\n')
    policy.chmod(0o644)
    monitor = Monitor(["true"], out=tmp_path / "policed", job_id="policed-1", verbosity=1)
    monitor.job["cwd"] = str(work)
    monitor.prepare()
    link = serve(monitor, broker, pki, "--policy", str(policy))
    yield monitor
    link.stop()


def test_every_refusal_through_activemq_changes_nothing(policed_job, broker, pki):
    """Each refusal of the spec's table, sent as a user would send it through the broker: the
    reply names the spec's error, the audit records it, and the job's verbosity is as it was."""
    from types import SimpleNamespace


    def signed(cmd="ping", args=None, who=pki.owner, job="policed-1", **fields):
        """A signer for the client: the command as the client made it (its reply_to and
        cid), changed as the case says."""
        return lambda c: sign({**c, "job": job, "cmd": cmd, "args": args or {}, **fields}, who)

    def tampered(change):
        def make(c):
            good = json.loads(sign(c, pki.owner))
            other = json.loads(sign({**c, "cmd": "snapshot"}, pki.owner))
            header = json.loads(__import__("base64").urlsafe_b64decode(good["protected"] + "=="))
            return json.dumps(change(good, other, header)).encode()
        return make

    now = time.time()
    wrong_key = SimpleNamespace(key=pki.shifter.key, chain=pki.owner.chain)  # owner's cert, not its key
    kept = {}

    def replayed(c):
        kept.setdefault("body", sign(c, pki.owner))
        kept.setdefault("command", c)
        return kept["body"]

    cases = [
        ("tampered payload", tampered(lambda g, o, h: {**g, "payload": o["payload"]}),
         "bad-signature"),
        ("tampered header", tampered(lambda g, o, h: {**g, "protected": b64url(json.dumps(
            {**h, "kid": "x"}).encode())}), "bad-signature"),
        ("alg none", tampered(lambda g, o, h: {**g, "protected": b64url(json.dumps(
            {**h, "alg": "none"}).encode())}), "bad-alg"),
        ("wrong key for the certificate", signed(who=wrong_key), "bad-signature"),
        ("unknown CA", signed(who=pki.stranger), "untrusted"),
        ("expired certificate", signed(who=pki.expired), "untrusted"),
        ("other job", signed(job="someone-else"), "wrong-job"),
        ("expired command", signed(iat=now - 99, exp=now - 9), "expired"),
        ("future-dated command", signed(iat=now + 600, exp=now + 700), "expired"),
        ("replayed nonce (first use)", replayed, None),
        ("shifter above the cap", signed("set_verbosity", {"level": 3}, who=pki.shifter), "forbidden"),
        ("shifter lowers the verbosity", signed("set_verbosity", {"level": 0}, who=pki.shifter),
         "forbidden"),
        ("owner above the cap", signed("set_verbosity", {"level": 4}), "forbidden"),
        ("owner changes the cap", signed("set_verbosity", {"cap": 4}), "forbidden"),
        ("stranger of a trusted CA", signed(who=pki.user("x", "Xavier Nobody")), "forbidden"),
        ("path escape", signed("get_file", {"path": "../secret.txt"}), "forbidden"),
        ("absolute path", signed("get_file", {"path": "/etc/passwd"}), "forbidden"),
        ("hard link to a file outside", signed("get_file", {"path": "linked.txt"}), "forbidden"),
        ("a private key", signed("get_file", {"path": "key.pem"}), "forbidden"),
        ("the job's proxy", signed("get_file", {"path": "x509up_u1000"}), "forbidden"),
        ("unknown argument", signed("ping", {"now": 1}), "bad-args"),
    ]
    work = Path(policed_job.job["cwd"])
    os.link(work.parent / "secret.txt", work / "linked.txt")
    (work / "key.pem").write_bytes(b"data\n" * 5000 + b"-----BEGIN EC PRIVATE KEY-----\nMHc=\n"
                                   b"-----END EC PRIVATE KEY-----\n" + b"log\n" * 100)
    (work / "x509up_u1000").write_text("not read\n")
    client = Connection(broker.url, name="inspector").start()
    before = policed_job.verbosity
    for name, make, code in cases:
        reply = CommandClient(client, "policed-1", make).call("ping")
        if code is None:
            assert reply["ok"] is True, (name, reply)
            continue
        assert reply["ok"] is False and reply["error"] == code, (name, reply)
        assert isinstance(reply.get("detail"), str) and reply["detail"], name
    # the same body again through another client, which names itself in the headers: malformed
    again = CommandClient(client, "policed-1", replayed)
    with pytest.raises(TimeoutError):  # and no reply to the header it did not check
        again.call("ping", timeout=1.5)
    # the captured message sent again as it was, headers and all: a replay, refused to the
    # queue it names (the owner's), so the one who replays it learns nothing
    client.send("/queue/jem.job.policed-1.control", kept["body"],
                {"reply-to": kept["command"]["reply_to"], "correlation-id": kept["command"]["cid"]})
    for _name, body in (("oversized", b" " * (64 * 1024 + 1)), ("malformed", b'{"payload": 1')):
        with pytest.raises(TimeoutError):  # nothing checked to reply to
            CommandClient(client, "policed-1", lambda c, b=body: b).call("ping", timeout=1)
    cases += [("other headers", None, "malformed"), ("replayed", None, "replay"),
              ("malformed", None, "malformed")]
    assert policed_job.verbosity == before, "a refused command changed the verbosity"
    shifter = CommandClient(client, "policed-1", lambda c: sign(c, pki.shifter))
    assert shifter.call("set_verbosity", {"level": 2})["ok"] is True  # within the cap: taken
    assert shifter.call("get_file", {"path": "job.log", "tail": 100})["ok"] is True
    audits = controls(policed_job, len(cases) + 2)
    want = [code for _, _, code in cases if code]
    got = [a.get("error") for a in audits if not a["accepted"]]
    assert got == want
