"""The monitor's command handler: every command, every refusal, and that refusals change nothing."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from jemgui.live.commands import MAX_TAIL, CommandHandler, read_tail
from jemgui.live.envelope import ERRORS, CommandRefused, ReplayCache, new_command, sign
from jemgui.live.policy import Policy
from jemgui.live.trust import TrustStore, grid_dn

JOB = "4711"


class JobBackend:
    """A small real backend over a real working directory; it records what it was asked."""

    def __init__(self, workdir: Path, verbosity: int = 1, cap: int = 4):
        self.workdir, self.verbosity, self.cap = workdir, verbosity, cap
        self.calls: list[tuple] = []

    def ping(self):
        self.calls.append(("ping",))
        return {"verbosity": self.verbosity, "last_seq": {"101": 7}, "time": time.time()}

    def set_verbosity(self, level):
        self.calls.append(("set_verbosity", level))
        self.verbosity = level

    def get_file(self, path, tail):
        result = read_tail(path, tail)
        self.calls.append(("get_file", path, tail))
        return result

    def snapshot(self):
        self.calls.append(("snapshot",))
        if self.verbosity == 0:
            raise RuntimeError("no traced process")
        return {"threads": [{"tid": 1, "stack": []}]}

    def history(self, pid, from_seq, to_seq):
        self.calls.append(("history", pid, from_seq, to_seq))
        return {"sent": to_seq - from_seq + 1}


@pytest.fixture(scope="module")
def trust(pki):
    return TrustStore.from_dir(pki.ca_dir)


@pytest.fixture
def job(tmp_path, pki, trust):
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    (work / "log.txt").write_text("line 1\nline 2\nthe end\n")
    (work / "sub" / "data.txt").write_bytes(b"x" * 3000)
    (tmp_path / "secret.txt").write_text("TOP SECRET\n")
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(json.dumps({
        "cap": 2, "shifters": ["/DC=org/DC=example/OU=Shifters/*"],
        "admins": ["/DC=org/DC=example/OU=Site Admins/*"]}))
    backend = JobBackend(work)
    backend.cap = 2
    handler = CommandHandler(JOB, trust, Policy.load(policy_file, pki.owner.dn, os.getuid()),
                             ReplayCache(), backend)
    return handler, backend


def send(handler, who, cmd, args=None, **fields):
    command = new_command(JOB, cmd, args)
    command.update(fields)
    return handler.handle(sign(command, who))


def ok(handler, who, cmd, args=None):
    reply, control = send(handler, who, cmd, args)
    assert reply["ok"] is True and reply["cmd"] == cmd, reply
    assert control == {"cmd": cmd, "sender": who.dn, "ca": grid_dn(who.cert.issuer),
                       "accepted": True}
    return reply["result"]


def refused(handler, who, cmd, args=None, code=None, **fields):
    backend = handler.backend
    state = (backend.verbosity, backend.cap, list(backend.calls))
    reply, control = send(handler, who, cmd, args, **fields)
    assert reply["ok"] is False and reply["error"] == code, reply
    assert isinstance(reply["detail"], str) and reply["detail"]
    assert control["accepted"] is False and control["error"] == code
    assert (backend.verbosity, backend.cap, backend.calls) == state, "a refusal changed something"
    return reply, control


def test_owner_runs_every_command(job, pki):
    handler, backend = job
    assert ok(handler, pki.owner, "ping")["last_seq"] == {"101": 7}
    assert ok(handler, pki.owner, "set_verbosity", {"level": 2}) == {"verbosity": 2, "cap": 2}
    assert backend.verbosity == 2
    assert ok(handler, pki.owner, "get_file", {"path": "log.txt"}) == {
        "path": "log.txt", "size": 22, "text": "line 1\nline 2\nthe end\n"}
    assert ok(handler, pki.owner, "snapshot") == {"threads": [{"tid": 1, "stack": []}]}
    assert ok(handler, pki.owner, "history", {"pid": 101, "from_seq": 3, "to_seq": 7}) == {"sent": 5}
    assert backend.calls[-1] == ("history", 101, 3, 7)


def test_owner_through_a_proxy(job, pki):
    handler, _ = job
    reply, control = send(handler, pki.owner_proxy, "ping")
    assert reply["ok"] and control["sender"] == pki.owner_proxy.dn != pki.owner.dn


def test_get_file_tail(job, pki):
    handler, backend = job
    assert ok(handler, pki.owner, "get_file", {"path": "log.txt", "tail": 8})["text"] == "the end\n"
    result = ok(handler, pki.shifter, "get_file", {"path": "sub/./data.txt", "tail": 100})
    assert result == {"path": "sub/./data.txt", "size": 3000, "text": "x" * 100}
    assert ok(handler, pki.owner, "get_file", {"path": "log.txt", "tail": 0})["text"] == ""
    assert backend.calls[-1][2] == 0
    big = backend.workdir / "big.log"
    big.write_bytes(b"a" * (MAX_TAIL + 10) + "é".encode())
    result = ok(handler, pki.owner, "get_file", {"path": "big.log", "tail": MAX_TAIL})
    assert len(result["text"]) == MAX_TAIL - 1 and result["text"].endswith("é")
    assert result["size"] == MAX_TAIL + 12
    # default tail: 64 KiB
    assert len(ok(handler, pki.owner, "get_file", {"path": "big.log"})["text"]) == 65536 - 1


def test_get_file_links_inside_the_folder_are_fine(job, pki):
    handler, backend = job
    (backend.workdir / "current.log").symlink_to("log.txt")
    assert ok(handler, pki.owner, "get_file", {"path": "current.log"})["size"] == 22


@pytest.mark.parametrize("path", [
    "../secret.txt", "sub/../../secret.txt", "sub/../log.txt", "/etc/passwd", "escape",
    "escape_dir/secret.txt",
])
def test_get_file_path_escapes_are_forbidden(job, pki, path):
    handler, backend = job
    (backend.workdir / "escape").symlink_to(backend.workdir.parent / "secret.txt")
    (backend.workdir / "escape_dir").symlink_to(backend.workdir.parent)
    reply, control = refused(handler, pki.owner, "get_file", {"path": path}, code="forbidden")
    assert "TOP SECRET" not in json.dumps(reply)  # the file's text never leaks
    assert control["sender"] == pki.owner.dn and control["cmd"] == "get_file"


@pytest.mark.parametrize("args,why", [
    ({"path": "missing.txt"}, "no such file"),
    ({"path": "sub"}, "not a regular file"),
    ({"path": "fifo"}, "not a regular file"),
    ({"path": "log.txt", "tail": MAX_TAIL + 1}, "tail must be"),
    ({"path": "log.txt", "tail": -1}, "tail must be"),
    ({"path": "log.txt", "tail": "100"}, "tail must be"),
    ({"path": ""}, "non-empty"),
    ({"path": 5}, "non-empty"),
    ({}, "non-empty"),
    ({"path": "log.txt", "lines": 5}, "unknown argument"),
])
def test_get_file_bad_args(job, pki, args, why):
    handler, backend = job
    os.mkfifo(backend.workdir / "fifo")
    reply, _ = refused(handler, pki.owner, "get_file", args, code="bad-args")
    assert why in reply["detail"]


def test_verbosity_cap_for_owner_and_shifter(job, pki):
    handler, backend = job
    for who in (pki.owner, pki.shifter):
        reply, _ = refused(handler, who, "set_verbosity", {"level": 3}, code="forbidden")
        assert "cap of 2" in reply["detail"]
        refused(handler, who, "set_verbosity", {"cap": 4}, code="forbidden")
        assert ok(handler, who, "set_verbosity", {"level": 0})["verbosity"] == 0


def test_admin_changes_the_cap(job, pki):
    handler, backend = job
    ok(handler, pki.owner, "set_verbosity", {"level": 2})
    assert ok(handler, pki.admin, "set_verbosity", {"level": 4}) == {"verbosity": 4, "cap": 2}
    # lowering the cap pulls the verbosity down with it
    assert ok(handler, pki.admin, "set_verbosity", {"cap": 1}) == {"verbosity": 1, "cap": 1}
    refused(handler, pki.owner, "set_verbosity", {"level": 2}, code="forbidden")
    assert ok(handler, pki.admin, "set_verbosity", {"cap": 3}) == {"verbosity": 1, "cap": 3}
    assert ok(handler, pki.owner, "set_verbosity", {"level": 3})["verbosity"] == 3
    assert ok(handler, pki.admin, "set_verbosity", {"level": 0, "cap": 0}) == {"verbosity": 0,
                                                                               "cap": 0}
    refused(handler, pki.admin, "get_file", {"path": "log.txt"}, code="forbidden")
    refused(handler, pki.admin, "snapshot", code="forbidden")


@pytest.mark.parametrize("cmd,args", [
    ("set_verbosity", {"level": 5}), ("set_verbosity", {"level": -1}),
    ("set_verbosity", {"level": True}), ("set_verbosity", {"level": 2.0}),
    ("set_verbosity", {}), ("set_verbosity", {"level": 1, "cap": 9}),
    ("set_verbosity", {"level": 1, "extra": 1}), ("ping", {"x": 1}), ("snapshot", {"all": True}),
    ("history", {"pid": 1, "from_seq": 5, "to_seq": 4}), ("history", {"pid": 1, "from_seq": 0}),
    ("history", {"pid": "1", "from_seq": 0, "to_seq": 1}),
])
def test_bad_args_change_nothing(job, pki, cmd, args):
    handler, backend = job
    refused(handler, pki.admin if "cap" in args or cmd == "set_verbosity" else pki.owner,
            cmd, args, code="bad-args")


def test_strangers_and_unknown_commands(job, pki):
    handler, _ = job
    reply, control = refused(handler, pki.user("x", "Xavier Nobody"), "ping", code="forbidden")
    assert control["sender"] == "/DC=org/DC=example/CN=Xavier Nobody"
    refused(handler, pki.owner, "shutdown", code="forbidden")
    refused(handler, pki.stranger, "ping", code="untrusted")


def test_every_refusal_code_reaches_the_reply_and_the_audit(job, pki):
    handler, backend = job
    good = sign(new_command(JOB, "ping"), pki.owner)
    outer = json.loads(good)
    now = time.time()
    bodies = {
        "malformed": b"{",
        # {"alg":"none","typ":"jem-command","x5c":["AAAA"]}
        "bad-alg": json.dumps({**outer, "protected": "eyJhbGciOiJub25lIiwidHlwIjoiamVtLWNv"
                                                    "bW1hbmQiLCJ4NWMiOlsiQUFBQSJdfQ"}).encode(),
        "untrusted": sign(new_command(JOB, "ping"), pki.expired),
        "bad-signature": json.dumps({**outer, "signature": json.loads(
            sign(new_command(JOB, "ping"), pki.owner))["signature"]}).encode(),
        "wrong-job": sign(new_command("9999", "ping"), pki.owner),
        "expired": sign({**new_command(JOB, "ping"), "iat": now - 99, "exp": now - 9}, pki.owner),
        "replay": good,
        "forbidden": sign(new_command(JOB, "snapshot"), pki.admin),
        "bad-args": sign(new_command(JOB, "ping", {"now": 1}), pki.owner),
    }
    handler.handle(good)  # so the same body is a replay below
    calls = list(backend.calls)
    for code in ERRORS:
        reply, control = handler.handle(bodies[code])
        assert reply["ok"] is False and reply["error"] == code, (code, reply)
        assert control["accepted"] is False and control["error"] == code
        verified = code not in ("malformed", "bad-alg", "untrusted", "bad-signature")
        assert (control["sender"] is not None) == verified, code
        assert (control["cmd"] is not None) == verified, code
    assert backend.calls == calls


def test_oversized_message(job, pki):
    handler, _ = job
    reply, control = handler.handle(b" " * (64 * 1024 + 1))
    assert reply["error"] == "malformed" and control == {
        "cmd": None, "sender": None, "accepted": False, "error": "malformed"}


def test_a_failing_backend_is_reported_and_the_handler_goes_on(job, pki):
    handler, backend = job
    ok(handler, pki.owner, "set_verbosity", {"level": 0})
    reply, control = send(handler, pki.owner, "snapshot")
    assert reply["ok"] is False and reply["error"] == "failed" and "no traced process" in reply["detail"]
    assert control == {"cmd": "snapshot", "sender": pki.owner.dn, "ca": grid_dn(pki.ca.cert.subject),
                       "accepted": False,
                       "error": "failed"}
    assert ok(handler, pki.owner, "ping")["verbosity"] == 0


def test_backend_may_refuse_with_bad_args(job, pki):
    handler, backend = job

    def history(pid, first, last):
        raise CommandRefused("bad-args", f"no process {pid} in this job")

    backend.history = history
    reply, control = send(handler, pki.owner, "history", {"pid": 5, "from_seq": 0, "to_seq": 1})
    assert reply == {"ok": False, "error": "bad-args", "detail": "no process 5 in this job"}
    assert control["sender"] == pki.owner.dn
