"""Signed commands to one job, and their replies: the command client of spec section 6.

`CommandClient` signs each command with its own reply queue and correlation
id inside the signature, sends it to the job's control queue, and takes
only replies that verify as the job's (`JobVerifier`). The window's steering
panel (through `LiveSession`), `jemgui send` and the follower's `history`
requests all use it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import orjson

from jemgui.live.connection import Connection, Inbox, Message
from jemgui.live.jobsig import UNVERIFIED, JobVerifier, Rejected, Seal, default_trust
from jemgui.live.protocol import control_queue


class Reply(dict):
    """A reply object, and `seal`: whether the job's signature on it verified, and by whom."""

    seal: Seal = UNVERIFIED


class CommandClient:
    """Send signed commands to one job and collect the replies, over a `Connection`.

    Replies (and `history` batches) come to this client's own queue
    `/queue/jem.reply.<144 random bits>` (signed into each command, spec
    section 6), into `inbox`; `handles(msg)` tells them apart from others.
    `sign(command_dict) -> bytes` is the credential's signature (see
    `jemgui.live.envelope.sign`); `verifier` checks the job's signature on
    replies and history batches (without one they are taken unverified).
    """

    def __init__(self, connection: Connection, job_id: str, sign: Callable[[dict], bytes],
                 inbox: Inbox | None = None, lifetime: float = 60.0,
                 verifier: JobVerifier | None = None):
        from jemgui.live.envelope import new_command, new_reply_queue

        self._new_command = new_command
        self.connection = connection
        self.job_id = job_id
        self.sign = sign
        self.lifetime = lifetime
        self.verifier = verifier if verifier is not None else JobVerifier(job_id, default_trust())
        self.inbox = inbox if inbox is not None else Inbox()
        self.reply_to = new_reply_queue()
        self.sub_id = connection.subscribe(self.reply_to, inbox=self.inbox)

    def handles(self, msg: Message) -> bool:
        return msg.headers.get("subscription") == self.sub_id

    def send(self, cmd: str, args: dict | None = None) -> str | None:
        """Sign and send a command; its correlation id, or None when the link is down."""
        corr = uuid.uuid4().hex
        command = self._new_command(self.job_id, cmd, args or {}, lifetime=self.lifetime,
                                    reply_to=self.reply_to, cid=corr)
        headers = {"reply-to": self.reply_to, "correlation-id": corr,
                   "content-type": "application/jose+json", "persistent": "false",
                   }
        body = self.sign(command)
        return corr if self.connection.send(control_queue(self.job_id), body, headers) else None

    def open_reply(self, msg: Message, corr: str) -> Reply:
        """The verified reply of `msg` to command `corr`; `Rejected` when it does not verify."""
        reply, seal = self.verifier.reply(msg.body, corr)
        out = Reply(reply)
        out.seal = seal
        return out

    def call(self, cmd: str, args: dict | None = None, timeout: float = 10.0,
             on_batch: Callable[[list], None] | None = None, grace: float = 1.0) -> Reply:
        """Send a command and wait for its final reply; `history` records go to `on_batch`.

        Replies and batches that do not verify are dropped (counted in
        `verifier.dropped`) and the wait goes on: a forged reply cannot
        answer for the job. An unsigned reply (from a job without a
        credential) is returned only after `grace` seconds in which no
        verified one came, so an unsigned forgery that arrives first does not
        win over the job's signed reply.
        """
        deadline = time.monotonic() + timeout
        if not self.connection.wait_connected(timeout):
            raise TimeoutError(f"cannot reach the broker: {self.connection.status}")
        corr = self.send(cmd, args)
        if corr is None:
            raise TimeoutError(f"the command could not be sent: {self.connection.status}")
        held: Reply | None = None
        held_until = deadline
        while (left := min(deadline, held_until) - time.monotonic()) > 0:
            self.inbox.wait(left)
            for msg in self.inbox.drain():
                if msg.headers.get("correlation-id") != corr:
                    continue
                try:
                    if "jem-pid" not in msg.headers:
                        reply = self.open_reply(msg, corr)
                        if reply.seal.verified:
                            return reply
                        if self.verifier.trust is None:  # nothing could verify: no wait
                            return reply
                        if held is None:
                            held, held_until = reply, time.monotonic() + grace
                        continue
                    _, records, _ = self.verifier.batch(msg.headers, msg.body)
                except Rejected as exc:
                    self.verifier.drop(str(exc))
                    continue
                if on_batch is not None:
                    on_batch(records)
        if held is not None:
            return held
        raise TimeoutError(f"no reply from job {self.job_id} within {timeout:g} s")


def parse_reply(body: bytes) -> dict:
    """A reply object, NOT verified (`CommandClient.open_reply` verifies); a body that is not
    one becomes a `malformed` refusal."""
    try:
        reply = orjson.loads(body)
        if isinstance(reply, dict) and "protected" in reply:  # signed: the payload is the reply
            from jemgui.live.envelope import CommandRefused, parse_jws

            try:
                reply = parse_jws(body, "jem-reply", "reply")[5]
            except CommandRefused:
                reply = None
    except orjson.JSONDecodeError:
        reply = None
    if not isinstance(reply, dict) or not isinstance(reply.get("ok"), bool):
        return {"ok": False, "error": "malformed", "detail": "the reply is not a JEM reply object"}
    return {k: v for k, v in reply.items() if k not in ("job", "cid", "iat")}
