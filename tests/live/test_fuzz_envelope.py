"""Fuzz: the signed-command parser meets noise, damaged commands and any arguments.

Whatever arrives on a job's command queue, `verify` answers with a documented
refusal (`CommandRefused`, one of `ERRORS`, one line) or the command it was
signed with, never another exception and never a changed command; the handler
answers every message with a reply and keeps serving.
"""

from __future__ import annotations

import base64
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_commands import JobBackend

from jemgui.live.commands import CommandHandler
from jemgui.live.envelope import ERRORS, CommandRefused, ReplayCache, new_command, sign, verify
from jemgui.live.policy import Policy
from jemgui.live.trust import TrustStore

JOB = "4711"
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def trust(pki):
    return TrustStore.from_dir(pki.ca_dir)


@pytest.fixture(scope="module")
def good(pki) -> tuple[bytes, dict]:
    """A command the owner signed, and the command itself."""
    command = new_command(JOB, "history", {"pid": 101, "from_seq": 0, "to_seq": 9}, lifetime=300)
    return sign(command, pki.owner), command


def outcome(body: bytes, trust) -> dict | CommandRefused:
    """The verified command, or the refusal; any other exception fails the test."""
    try:
        return verify(body, JOB, trust, ReplayCache()).command
    except CommandRefused as exc:
        assert exc.code in ERRORS, exc.code
        assert exc.detail and "\n" not in exc.detail, repr(exc.detail)
        return exc


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@FUZZ
@given(st.binary(max_size=2000))
def test_noise_is_malformed(trust, body):
    result = outcome(body, trust)
    assert isinstance(result, CommandRefused) and result.code == "malformed"


@FUZZ
@given(st.data())
def test_damaged_bytes_are_refused_or_change_nothing(trust, good, data):
    body, command = good
    start = data.draw(st.integers(0, len(body) - 1))
    how = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
    if how == "flip":
        damaged = body[:start] + bytes([body[start] ^ data.draw(st.integers(1, 255))]) + body[start + 1:]
    elif how == "insert":
        damaged = body[:start] + data.draw(st.binary(min_size=1, max_size=16)) + body[start:]
    elif how == "delete":
        damaged = body[:start] + body[start + data.draw(st.integers(1, 64)):]
    else:
        damaged = body[:start]
    result = outcome(damaged, trust)
    if not isinstance(result, CommandRefused):  # only damage outside the signed parts passes
        assert result == command
        outer, original = json.loads(damaged), json.loads(body)
        assert outer == original


@FUZZ
@given(part=st.sampled_from(["protected", "payload"]), path=st.lists(st.text(max_size=6), min_size=1,
                                                                      max_size=2),
       value=json_values)
def test_a_changed_header_or_command_is_refused(trust, good, part, path, value):
    """Any member of the header or command set to any JSON value (the signature kept)."""
    body, _ = good
    outer = json.loads(body)
    inner = json.loads(base64.urlsafe_b64decode(outer[part] + "=" * (-len(outer[part]) % 4)))
    target = inner
    for key in path[:-1]:
        if not isinstance(target.get(key), dict):
            target[key] = {}
        target = target[key]
    before = json.dumps(inner, sort_keys=True)
    target[path[-1]] = value
    if json.dumps(inner, sort_keys=True) == before:
        return  # nothing changed
    outer[part] = b64u(json.dumps(inner).encode())
    result = outcome(json.dumps(outer).encode(), trust)
    assert isinstance(result, CommandRefused)


@FUZZ
@given(outer=st.dictionaries(st.sampled_from(["protected", "payload", "signature", "other"]),
                             json_values | st.text(alphabet="ABCabc012-_=", max_size=40), max_size=4))
def test_any_outer_object_is_refused(trust, outer):
    assert isinstance(outcome(json.dumps(outer).encode(), trust), CommandRefused)


@pytest.fixture(scope="module")
def handler(pki, trust):
    work = Path(tempfile.mkdtemp(prefix="jemgui-fuzz-work-"))
    (work / "log.txt").write_text("line 1\nline 2\n")
    backend = JobBackend(work)
    return CommandHandler(JOB, trust, Policy.load(None, pki.owner.dn), ReplayCache(), backend), backend


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cmd=st.sampled_from(["ping", "snapshot", "history", "get_file", "set_verbosity", "shutdown", ""]),
       args=st.dictionaries(st.sampled_from(["pid", "from_seq", "to_seq", "path", "tail", "level",
                                             "cap", "extra"]), json_values, max_size=3))
def test_the_handler_answers_any_signed_arguments(pki, handler, cmd, args):
    """The owner's own signature on any arguments: a reply, ok or a documented refusal, never a raise."""
    handler, backend = handler
    reply, control = handler.handle(sign(new_command(JOB, cmd, args), pki.owner))
    if reply["ok"]:
        assert reply["cmd"] == cmd and control["accepted"] is True
    else:
        assert reply["error"] in (*ERRORS, "failed") and "\n" not in reply["detail"]
        assert control["accepted"] is False and control["error"] == reply["error"]
        if reply["error"] == "failed":  # only the backend failing, never the parser
            assert cmd == "snapshot" and backend.verbosity == 0
    assert 0 <= backend.verbosity <= 4


@FUZZ
@given(reply_to=st.one_of(st.none(), st.text(max_size=40),
                          st.just("/queue/jem.reply.AAAAAAAAAAAAAAAAAAAAAAAA")),
       cid=st.one_of(st.none(), st.text(max_size=10), st.integers()),
       headers=st.one_of(st.none(), st.dictionaries(
           st.sampled_from(["reply-to", "correlation-id", "x"]), st.text(max_size=40), max_size=3)))
def test_signed_reply_to_and_cid_must_match_the_headers(pki, trust, reply_to, cid, headers):
    command = {**new_command(JOB, "ping"), "reply_to": reply_to, "cid": cid}
    try:
        verify(sign(command, pki.owner), JOB, trust, ReplayCache(), headers=headers)
    except CommandRefused as exc:
        assert exc.code == "malformed" and "\n" not in exc.detail
        return
    # taken only with a reply queue of 128+ random bits and a cid the headers repeat exactly
    assert reply_to == "/queue/jem.reply.AAAAAAAAAAAAAAAAAAAAAAAA" and isinstance(cid, str)
    assert headers is None or (headers.get("reply-to"), headers.get("correlation-id")) == \
        (reply_to, cid)
