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


def test_the_live_index_grows_in_the_background_and_a_quiet_stream_holds_nothing_back(tmp_path):
    live = LiveIndex(tmp_path / "ix", "j1")
    reader = None
    # a shell that logs once, then waits (quiet) while its child writes on
    live.add(1, [{"seq": 0, "ts": 1000.0, "pid": 1, "kind": "marker", "text": "shell"}])
    for i in range(5):
        live.add(2, [{"seq": s, "ts": 1001.0 + s, "pid": 2, "kind": "marker", "text": str(s)}
                     for s in range(i * 10, i * 10 + 10)])
        wait_for(lambda n=11 + i * 10: live.committed == n, what=f"{11 + i * 10} records committed")
        reader = reader or Index(live.db_path)
        reader.refresh()
        assert reader.count == live.committed  # every record shown at once
    assert reader.record(reader.count - 1)["seq"] == 49
    live.set_job({"id": "j1", "name": "reco"})
    wait_for(lambda: (reader.refresh() or True) and reader.job.get("name") == "reco", what="the job's name")
    assert live.take_final() is None
    live.close()
    wait_for(lambda: not live.folder.exists(), what="the folder removed")
    reader.close()


@pytest.mark.parametrize("max_held", [0, 25])
def test_a_live_index_that_falls_behind_reads_records_back_from_the_capture(tmp_path, monkeypatch, max_held):
    """Memory stays bounded when indexing lags a fast job: past MAX_HELD waiting records only their
    seq range is queued and read back from the capture; the index is the one memory would give."""
    from jemgui.live import session
    from tests.models.jobs import failing_python, shell

    monkeypatch.setattr(session, "MAX_HELD", max_held)
    writer = CaptureWriter(tmp_path / "cap", "j1")
    spilled = LiveIndex(tmp_path / "ix1", "j1", capture=writer.out, flush_capture=writer.flush)
    kept = LiveIndex(tmp_path / "ix2", "j1")
    most = 0
    streams = [failing_python(), shell()]
    for start in range(0, max(len(st.records) for st in streams), 10):
        for st in streams:
            batch = st.records[start:start + 10]
            if batch:
                writer(st.pid, batch)
                spilled.add(st.pid, batch)
                kept.add(st.pid, batch)
                most = max(most, spilled.held)
    total = sum(len(st.records) for st in streams)
    for live in (spilled, kept):
        wait_for(lambda live=live: live.committed == total, what=f"{total} records committed")
    assert most <= max_held and kept.read_back == 0
    if max_held == 0:  # nothing is held: every record came back from the capture
        assert spilled.read_back == total
    a, b = Index(spilled.db_path), Index(kept.db_path)
    assert [a.record(i) for i in range(total)] == [b.record(i) for i in range(total)]
    assert [a.state_at(i).to_json() for i in range(total)] == [b.state_at(i).to_json() for i in range(total)]
    for ix, live in ((a, spilled), (b, kept)):
        ix.close()
        live.close()


def test_the_final_index_is_built_once_from_the_capture_and_close_never_waits(tmp_path):
    writer = CaptureWriter(tmp_path / "cap", "j1")
    live = LiveIndex(tmp_path / "ix", "j1")
    recs = [{"seq": s, "ts": 1000.0 + s, "pid": 7, "kind": "marker", "text": str(s)} for s in range(6)]
    writer(7, recs)
    live.add(7, recs)
    writer.flush()
    live.finish(writer.out)
    live.finish(writer.out)  # once only
    final = wait_for(live.take_final, what="the final index")
    assert final.error is None and final.records == 6 and Index(final.db_path).count == 6
    assert Index(final.db_path).complete and live.take_final() is None
    t0 = time.monotonic()
    live.close()
    assert time.monotonic() - t0 < 0.05
    wait_for(lambda: not live.folder.exists(), what="the folder removed")


def test_a_damaged_capture_stream_is_reported_not_fatal(tmp_path):
    writer = CaptureWriter(tmp_path / "cap", "j1")
    live = LiveIndex(tmp_path / "ix", "j1")
    (writer.out / "events" / "9.jsonl").write_bytes(b"\x00garbage\n")
    writer(7, [{"seq": 0, "ts": 1.0, "pid": 7, "kind": "marker", "text": "x"}])
    writer.flush()
    live.finish(writer.out)
    build = wait_for(live.take_final, what="the final index")
    assert build.error is None and Index(build.db_path).report.total >= 1
    live.close()


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
    poll_until(session, lambda: session.index.committed > 0, what="the first records indexed")
    reader = Index(session.index.db_path)
    first = reader.count
    poll_until(session, lambda: reader.refresh() and reader.count > first, what="the index growing")
    assert job.thread.is_alive() and session.index.take_final() is None
    job.stop(wait=False)
    poll_until(session, lambda: session.complete, what="the whole job")
    job.wait()
    builds = []
    poll_until(session, lambda: builds.append(session.index.take_final()) or builds[-1] is not None,
               what="the final index")
    total = sum(len(r) for r in events(job.archive).values())
    assert Index(builds[-1].db_path).count == total
    reader.refresh()
    assert reader.count == total  # the growing index holds every record too, in arrival order
    assert session.close() == tmp_path / "capture"
    assert_same_archive(tmp_path / "capture", job.archive)
    wait_for(lambda: not session.index.folder.exists(), what="the index folder removed")


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
        return owner.index.committed and "line" in kinds_in(Index(owner.index.db_path))

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
