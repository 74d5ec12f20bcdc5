"""The inspector's live session against ActiveMQ and a real monitored job: capture, index, commands."""

from __future__ import annotations

import time

import orjson
import pytest
from conftest import LiveJob, assert_same_archive, events

from jemgui.live.connection import Connection
from jemgui.live.credentials import load_pem
from jemgui.live.session import (
    REFUSALS,
    CaptureWriter,
    JobList,
    LiveIndex,
    LiveSession,
    SnapshotIndex,
    explain,
)
from jemgui.models.index import Index
from tests.waiting import wait_for

pytestmark = pytest.mark.broker


def credential_of(identity, folder):
    return load_pem(*identity.write_pem(folder))


def policy_file(folder, pki, cap: int = 3):
    path = folder / "policy.toml"
    path.write_text(f'cap = {cap}\nshifters = ["{pki.shifter.dn}"]\nadmins = ["{pki.admin.dn}"]\n')
    path.chmod(0o644)
    return path


def poll_until(session, condition, timeout: float = 30.0, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    finished = []
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        finished += session.poll().finished
        time.sleep(0.02)
    return finished


def call(session, cmd, args=None, timeout: float = 15.0):
    req = session.send(cmd, args)
    poll_until(session, lambda: req.state != "waiting", timeout, f"the reply to {cmd}")
    return req


@pytest.fixture
def connection(broker):
    c = Connection(broker.url, name="test-session").start()
    assert c.wait_connected(15), c.status
    yield c
    c.close()


def kinds_in(index: Index) -> set[str]:
    return {r["kind"] for r in index.iter_records()}


# -- no broker -------------------------------------------------------------------------------


def test_every_refusal_code_has_plain_words():
    for code in REFUSALS:
        text = explain({"ok": False, "error": code, "detail": "why."})
        assert text.startswith("Refused: ") and f"[{code}]" in text and "why." in text
    assert "forbidden" not in REFUSALS["forbidden"]
    assert explain({"ok": False}) .endswith("[failed]")


def test_index_generations_are_built_in_the_background_and_only_the_newest_is_handed_out(tmp_path):
    writer = CaptureWriter(tmp_path / "cap", "j1")
    live = LiveIndex(writer, tmp_path / "ix", min_interval=0.0)
    assert not live.step() and live.take() is None  # no record yet: nothing to index
    writer(7, [{"seq": s, "ts": 1000.0 + s, "pid": 7, "kind": "marker", "text": str(s)}
               for s in range(5)])
    assert live.step() and live.building
    writer(7, [{"seq": 5, "ts": 1005.0, "pid": 7, "kind": "marker", "text": "held"}])
    assert writer.holding == 1  # a build is reading: new records wait in memory
    live.wait()
    assert not live.step()  # the first build is finished and the held record written, but the
    assert writer.holding == 0 and writer.written == 6
    assert live.step(force=True)  # next build waits as long as the last one took, unless forced
    live.wait()
    live.step()
    newest = live.take()  # the first build was never taken: the second replaces it, and its file goes
    assert newest.generation == 2 and newest.records == 6 and Index(newest.db_path).count == 6
    assert not (live.folder / "index-1.sqlite").exists()
    assert live.take() is None and not live.step(force=True)  # nothing new since
    live.close()
    assert not live.folder.exists()


def test_a_failed_build_changes_nothing(tmp_path):
    writer = CaptureWriter(tmp_path / "cap", "j1")
    live = LiveIndex(writer, tmp_path / "ix", min_interval=0.0)
    (writer.out / "events" / "9.jsonl").write_bytes(b"\x00garbage\n")
    writer(7, [{"seq": 0, "ts": 1.0, "pid": 7, "kind": "marker", "text": "x"}])
    live.step()
    live.wait()
    live.step()
    build = live.take()
    assert build is not None and live.errors == 0  # a damaged stream is reported, not fatal
    assert Index(build.db_path).report.total >= 1


def test_a_snapshot_becomes_a_state_with_stacks_and_locals():
    result = {"threads": [
        {"tid": 11, "pid": 5, "name": "MainThread", "stack": [
            {"file": "job.py", "line": 9, "func": "<module>", "locals": {}},
            {"file": "job.py", "line": 4, "func": "step", "locals": {"i": ["int", "3"], "bad": "x"}}]},
        {"tid": 12, "pid": 5, "stack": []}, "not a thread"], "missing": [6]}
    ix = SnapshotIndex(result, 1234.5)
    state = ix.state_at(0)
    assert ix.count == 1 and ix.missing == [6]
    main = state.threads[0]
    assert [f.func for f in main.stack] == ["<module>", "step"]
    assert main.stack[-1].locals == {"i": ["int", "3"]} and main.stack[-1].line == 4
    assert state.current_thread == main.key and len(state.threads) == 2


# -- with the broker and a job ------------------------------------------------------------------

#: a job that works until a file named `stop` appears beside it, logging each step to job.log
STEERABLE = """\
import os, time
here = os.path.dirname(os.path.abspath(__file__))
def work(i):
    x = i * 2
    return x % 1000 + 1
n = 0
while not os.path.exists(os.path.join(here, "stop")):
    n = work(n)
    with open(os.path.join(here, "job.log"), "a") as log:
        log.write(f"step {n}\\n")
    time.sleep(0.004)
"""


class SteerableJob(LiveJob):
    """The conftest's monitored job, running STEERABLE in its folder (also its working directory)."""

    def __init__(self, folder, broker_url, pki, job_id, verbosity=2, extra=()):
        folder.mkdir(parents=True, exist_ok=True)
        super().__init__(folder, broker_url, pki, job_id, turns=0, verbosity=verbosity, extra=extra)
        (folder / "job.py").write_text(STEERABLE)
        self.folder = folder
        self.monitor.job["cwd"] = str(folder)

    def stop(self, wait: bool = True) -> None:
        """End the job (while a follower keeps polling, not waiting lets it answer history)."""
        (self.folder / "stop").touch()
        if wait:
            self.wait()


@pytest.fixture
def steerable(broker, pki, tmp_path):
    jobs = []

    def start(job_id, **kw):
        jobs.append(SteerableJob(tmp_path / job_id, broker.url, pki, job_id, **kw).start())
        return jobs[-1]

    yield start
    for job in jobs:
        if job.thread.is_alive():
            job.stop()


def test_session_captures_a_running_job_and_indexes_it_while_it_runs(connection, pki, tmp_path,
                                                                      steerable):
    job = steerable("sess-capture")
    session = LiveSession(connection, "sess-capture", credential_of(pki.owner, tmp_path / "me"),
                          folder=tmp_path / "capture")
    builds = []

    def take():
        b = session.index.take()
        if b is not None:
            builds.append(b)
        return builds

    poll_until(session, lambda: len(take()) >= 2, what="two index generations while the job runs")
    assert job.thread.is_alive()
    assert builds[0].generation < builds[1].generation
    assert 0 < Index(builds[0].db_path).count <= Index(builds[1].db_path).count
    job.stop(wait=False)
    poll_until(session, lambda: session.complete, what="the whole job")
    job.wait()
    poll_until(session, lambda: not session.index.building and session.index.step() is False
               and not session.index.building, what="the last build")
    last = take()[-1]
    assert Index(last.db_path).count == sum(len(r) for r in events(job.archive).values())
    assert session.close() == tmp_path / "capture"
    assert_same_archive(tmp_path / "capture", job.archive)
    assert not session.index.folder.exists()


def test_late_join_is_backfilled_until_every_stream_is_whole(connection, pki, tmp_path, steerable):
    job = steerable("sess-late")
    job.wait_records(800)
    session = LiveSession(connection, "sess-late", credential_of(pki.owner, tmp_path / "me"),
                          folder=tmp_path / "capture")
    poll_until(session, lambda: session.store.received > 800, what="the backfill")
    job.stop(wait=False)
    poll_until(session, lambda: session.complete, what="the backfilled job")
    job.wait()
    assert session.follower.recovered > 0  # what was published before it joined came by history
    session.close()
    assert_same_archive(tmp_path / "capture", job.archive)


def test_commands_and_their_replies_owner_shifter_stranger(connection, pki, tmp_path, steerable):
    job = steerable("sess-cmd", extra=("--policy", str(policy_file(tmp_path, pki, cap=3))))
    owner = LiveSession(connection, "sess-cmd", credential_of(pki.owner, tmp_path / "owner"),
                        folder=tmp_path / "capture")
    assert owner.sender.startswith(pki.owner.dn + " (valid until")

    ping = call(owner, "ping")
    assert ping.state == "ok" and ping.result["verbosity"] == 2 and 0 < ping.round_trip < 5
    assert ping.words.startswith("alive, verbosity 2")

    raised = call(owner, "set_verbosity", {"level": 3})
    assert raised.state == "ok" and raised.words == "verbosity is now 3 (cap 3)"
    above = call(owner, "set_verbosity", {"level": 4})
    assert above.words == ("Refused: you are not allowed to do this: verbosity 4 is above this "
                           "site's cap of 3 [forbidden]")

    def has_lines():
        b = owner.index.take()
        return b is not None and "line" in kinds_in(Index(b.db_path))

    poll_until(owner, has_lines, what="line records after raising the verbosity")

    tail = call(owner, "get_file", {"path": "job.log", "tail": 64})
    assert tail.state == "ok" and tail.result["text"].rstrip().split("\n")[-1].startswith("step ")
    assert len(tail.result["text"].encode()) <= 64 and tail.result["size"] > 64
    escape = call(owner, "get_file", {"path": "../../etc/passwd", "tail": 64})
    assert escape.reply["error"] == "forbidden"

    snap = call(owner, "snapshot")
    assert snap.state == "ok", snap.words
    state = SnapshotIndex(snap.result, snap.answered).state_at(0)
    assert "<module>" in [f.func for t in state.threads for f in t.stack]

    shifter = LiveSession(connection, "sess-cmd", credential_of(pki.shifter, tmp_path / "sh"),
                          folder=tmp_path / "capture-shifter")
    capped = call(shifter, "set_verbosity", {"level": 4})
    assert capped.reply["error"] == "forbidden" and "cap of 3" in capped.words
    assert call(shifter, "ping").state == "ok"
    shifter.close()

    stranger = LiveSession(connection, "sess-cmd", credential_of(pki.stranger, tmp_path / "st"),
                           folder=tmp_path / "capture-stranger")
    refused = call(stranger, "ping")
    assert refused.reply["error"] == "untrusted" and "does not trust your certificate" in refused.words
    stranger.close()

    job.stop(wait=False)
    poll_until(owner, lambda: owner.complete, what="the end of the job")
    job.wait()
    owner.close()
    audit = [r for rs in events(tmp_path / "capture").values() for r in rs if r["kind"] == "control"]
    seen = [(r["cmd"], r["sender"], r["accepted"], r.get("error")) for r in audit]
    assert ("set_verbosity", pki.owner.dn, True, None) in seen
    assert ("set_verbosity", pki.owner.dn, False, "forbidden") in seen
    assert ("set_verbosity", pki.shifter.dn, False, "forbidden") in seen
    assert ("get_file", pki.owner.dn, False, "forbidden") in seen
    assert any(e == "untrusted" for *_, e in seen)


def test_a_command_nobody_answers_times_out_and_one_that_cannot_go_is_unsent(broker, pki, tmp_path):
    c = Connection(broker.url, name="test-timeout").start()
    assert c.wait_connected(15)
    session = LiveSession(c, "nobody-runs-this", credential_of(pki.owner, tmp_path / "me"),
                          folder=tmp_path / "capture", command_timeout=0.5)
    req = call(session, "ping", timeout=5)
    assert req.state == "timeout" and "No reply" in req.words
    c.close()
    assert session.send("ping").state == "unsent"
    assert "Not sent" in session.requests[-1].words


def test_job_list_hears_announcements(broker, connection, pki, tmp_path):
    jobs = JobList(connection)
    connection.send("/topic/jem.jobs", orjson.dumps({"job": {"id": "ann-1", "user": "/CN=u"},
                                                     "status": "running", "last_seq": {}}))
    connection.send("/topic/jem.jobs", b"not json")
    def heard() -> bool:
        jobs.poll()
        return "ann-1" in jobs.jobs

    wait_for(heard, 10, "the announcement of ann-1")
    assert jobs.jobs["ann-1"]["status"] == "running" and "heard" in jobs.jobs["ann-1"]
    jobs.close()
