"""`jemgui connect --ca-dir/--job-owner/--require-signed` reach the window, and `jemgui demo --live`
runs the broker as the README tells sites to: both against the real ActiveMQ and real jobs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from jemgui.cli import main as jemgui_main
from jemgui.live.credentials import load_pem
from jemgui.live.options import Checks
from jemgui.live.trust import TrustStore
from jemgui.views.live_controller import start
from jemgui.views.live_dialogs import ConnectSettings
from tests.waiting import wait_for

pytestmark = pytest.mark.broker


def test_the_window_checks_the_job_as_its_options_say(qtbot, live, broker, pki, jobs, tmp_path):
    jobs("chk-signed")
    jobs("chk-unsigned", signed=False)
    trust = TrustStore.from_dir(pki.ca_dir)

    me = load_pem(*pki.owner.write_pem(tmp_path / "me"))
    # signed by its owner, but not by the --job-owner named: every message is dropped,
    # the replies to the steering panel's commands too
    link = start(live, ConnectSettings(broker=broker.url, job="chk-signed"), me,
                 checks=Checks(trust, pki.shifter.dn))
    session = link.controller.session
    verifier = session.follower.verifier
    qtbot.waitUntil(lambda: sum(verifier.dropped.values()) >= 5, timeout=20_000)
    dropped = sum(verifier.dropped.values())
    ping = session.send("ping")
    qtbot.wait(4000)  # the job answers a ping within a second
    assert ping.state == "waiting" and session.store.received == 0
    assert verifier.owner == pki.shifter.dn and sum(verifier.dropped.values()) > dropped

    link = start(live, ConnectSettings(broker=broker.url, job="chk-signed"), me,
                 checks=Checks(trust, pki.owner.dn, require_signed=True))
    session = link.controller.session
    qtbot.waitUntil(lambda: session.store.received > 0 and session.store.seal.verified,
                    timeout=20_000)
    assert pki.owner.dn in session.store.seal.signer
    ping = session.send("ping")
    qtbot.waitUntil(lambda: ping.state != "waiting", timeout=10_000)
    assert ping.state == "ok" and ping.reply.seal.verified

    # the job list under --require-signed: the unsigned job is dropped, the signed one listed
    link.choose_job()
    qtbot.waitUntil(lambda: (link.jobs.poll() or True) and "chk-signed" in link.jobs.jobs
                    and sum(link.jobs.dropped.values()) > 0, timeout=20_000)
    assert "chk-unsigned" not in link.jobs.jobs


def jemgui(*args, timeout: float = 120):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    return subprocess.run([sys.executable, "-m", "jemgui", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=timeout)


def ours(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "propagateSizeHints" not in line]  # Qt's noise


@pytest.mark.slow
def test_jemgui_connect_takes_the_checks_of_follow(broker, pki, jobs, tmp_path):
    jobs("chk-cli-signed")
    jobs("chk-cli-unsigned", signed=False)
    out = tmp_path / "live.png"
    checks = ("--ca-dir", pki.ca_dir, "--require-signed")
    r = jemgui("connect", "--broker", broker.url, "--job", "chk-cli-unsigned", *checks,
               "--screenshot", out, "--wait", "4")
    err = ours(r.stderr)
    assert r.returncode == 1 and len(err) == 1 and not out.exists(), r.stderr
    assert err[0].startswith("jemgui connect: job chk-cli-unsigned: 0 records within 4 s")
    assert "messages dropped that did not verify" in err[0]

    r = jemgui("connect", "--broker", broker.url, "--job", "chk-cli-signed", *checks,
               "--job-owner", pki.owner.dn, "--screenshot", out)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(out) and out.stat().st_size > 10_000


def test_connect_check_options_that_cannot_be_used_are_one_line(capsys, tmp_path):
    assert jemgui_main(["connect", "--broker", "stomp://127.0.0.1:1", "--job", "j",
                        "--require-signed", "--ca-dir", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("jemgui connect: --ca-dir: ")
    # an owner typed in another DN form would match no signer: said, not every message dropped
    assert jemgui_main(["connect", "--broker", "stomp://127.0.0.1:1", "--job", "j",
                        "--job-owner", "CN=Owner,O=Example"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("jemgui connect: --job-owner: CN=Owner,O=Example is not a DN")


@pytest.mark.slow
def test_the_live_demo_runs_the_secured_broker(tmp_path, monkeypatch):
    from jemgui.commands.demo import LIVE_JOB_ID, LiveDemo
    from jemgui.live.connection import Connection
    from jemgui.live.local_broker import stomp_ready
    from jemgui.live.protocol import control_queue
    from jemgui.live.session import LiveSession

    monkeypatch.setenv("JEMGUI_CACHE_DIR", str(tmp_path / "cache"))
    demo = LiveDemo(tmp_path / "live", passes=3).start()
    session = None
    try:
        broker, accounts = demo.broker, demo.accounts
        assert not stomp_ready("127.0.0.1", broker.port, 2.0)  # no anonymous access
        assert stomp_ready("127.0.0.1", broker.port, 15.0, accounts.inspector)  # slow under load
        # the monitor logs in with its own account, its password not on its command line
        cmdline = Path(f"/proc/{demo.job.pid}/cmdline").read_bytes().split(b"\0")
        assert accounts.monitor[0].encode() in cmdline
        assert not any(accounts.monitor[1].encode() in part for part in cmdline)

        # the window: its own account, and only signed messages of the demo user are taken
        settings = demo.settings()
        assert (settings.user, settings.password) == accounts.inspector
        session = LiveSession(settings.connection(), LIVE_JOB_ID, demo.credential(),
                              folder=tmp_path / "capture",
                              verifier=demo.checks().verifier(LIVE_JOB_ID))
        session.connection.start()
        wait_for(lambda: session.poll() and session.store.received >= 20, 60,
                 "records of the demo job")
        assert session.store.seal.verified and demo.pki.dn in session.store.seal.signer
        assert not session.follower.verifier.dropped

        # the window's account may not take the job's commands off its queue
        thief = Connection(broker.url, user=accounts.inspector[0],
                           password=accounts.inspector[1], name="thief").start()
        try:
            assert thief.wait_connected(10)
            thief.last_error = None
            thief.subscribe(control_queue(LIVE_JOB_ID))
            wait_for(lambda: thief.last_error, 10, "the broker to refuse")
            assert "not authorized" in thief.last_error.lower()
        finally:
            thief.close()
    finally:
        if session is not None:
            session.close()
        demo.close()
