"""Serve a job's command queue: verify, run, reply, and audit every command.

A Monitor service. Commands arrive on `/queue/jem.job.<job>.control`; each
body goes to the crypto side's `CommandHandler`, the reply goes to the
command's SIGNED `reply_to` with its signed `cid` (after checking that the
message's headers name the same), signed by the job when it has a credential,
and a `control` record goes into the monitor's own stream. `history` answers
from the archive files (the truth on disk): the records as batches to
`reply_to`, with the live batches' headers and signature, then the final
reply `{"sent": n}`.

What anyone on the broker can make it spend is bounded: at most `PREFETCH`
messages are held (the rest wait in the broker), bodies over the envelope's
64 KiB are dropped unread, refusals before the signature verified reach the
audit at most `AUDIT_UNAUTHENTICATED` times a minute (the rest are counted
in the next such record), and only authenticated commands keep the link
lingering after the job.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson

from jemgui.live.commands import CommandHandler, read_tail
from jemgui.live.connection import Connection, Inbox, Message
from jemgui.live.envelope import MAX_MESSAGE_BYTES, CommandRefused, ReplayCache, parse_command
from jemgui.live.jobsig import JobSigner
from jemgui.live.policy import Policy
from jemgui.live.publisher import (
    BATCH_BYTES,
    BATCH_RECORDS,
    MAX_PUBLISHED_RECORD,
    batch_message,
    control_queue,
)
from jemgui.live.trust import TrustStore

#: below this many bytes of file the history search reads on instead of bisecting
_SCAN_BYTES = 64 * 1024
#: commands the broker hands the monitor before it acknowledged the earlier ones
PREFETCH = 20
#: audit records per minute for messages refused before their signature verified
AUDIT_UNAUTHENTICATED = 10
#: the replay cache's file in the job's archive folder
NONCE_FILE = ".jem-nonces"


def _seq(line: bytes) -> int | None:
    try:
        rec = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    seq = rec.get("seq") if isinstance(rec, dict) else None
    return seq if type(seq) is int else None


def _start_of(f, first: int, size: int) -> int:
    """A line start at or before the first line with `seq >= first`, found by bisection.

    Seq grows within a file, so every line before a line with a smaller seq
    has a smaller seq too; lines that do not parse are stepped over.
    """
    lo, hi = 0, size
    while hi - lo > _SCAN_BYTES:
        mid = (lo + hi) // 2
        f.seek(mid)
        f.readline()  # to the next line start
        seq = None
        while seq is None and f.tell() < hi:
            line_start = f.tell()
            line = f.readline()
            if not line.endswith(b"\n"):
                break
            seq = _seq(line)
        if seq is not None and seq < first:
            lo = line_start
        else:
            hi = mid
    return lo


def read_range(path: Path, first: int, last: int) -> Iterator[tuple[int, bytes]]:
    """(seq, line) of the records `first..last` of one stream file, in order; whole lines only."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError:
        return
    with f:
        size = os.fstat(f.fileno()).st_size
        f.seek(_start_of(f, first, size))
        for line in f:
            if not line.endswith(b"\n"):
                break  # being written, or cut: not part of the archive yet
            seq = _seq(line)
            if seq is None or seq < first:
                continue
            if seq > last:
                break
            yield seq, line.strip()


def signed_reply_to(body: bytes, headers: dict) -> tuple[str, str] | None:
    """The command's signed (reply_to, cid) when its headers name the same, else None."""
    try:
        command = parse_command(body, headers)[5]
    except CommandRefused:
        return None
    return command["reply_to"], command["cid"]


class MonitorBackend:
    """What the command handler may do to the job: the Monitor, plus the archive for history."""

    def __init__(self, monitor, server: CommandServer, cap: int):
        self.monitor = monitor
        self.server = server
        self.cap = cap
        self.workdir = Path(monitor.job.get("cwd") or os.getcwd())

    @property
    def verbosity(self) -> int:
        level = getattr(self.monitor, "verbosity", None)
        return level if type(level) is int else int(self.monitor.job.get("verbosity") or 0)

    def ping(self) -> dict:
        last = self.monitor.last_seq()
        return {"verbosity": self.verbosity, "last_seq": {str(p): s for p, s in last.items()},
                "time": time.time()}

    def set_verbosity(self, level: int) -> None:
        self.monitor.set_verbosity(level)

    def get_file(self, path: Path, tail: int) -> dict:
        return read_tail(path, tail)

    def snapshot(self) -> dict:
        return self.monitor.snapshot()

    def history(self, pid: int, from_seq: int, to_seq: int) -> dict:
        return {"sent": self.server.send_history(pid, from_seq, to_seq)}


class CommandServer:
    """A Monitor service answering `/queue/jem.job.<job>.control` in its own thread."""

    def __init__(self, connection: Connection, trust: TrustStore, policy: Policy,
                 credential=None):
        self.connection = connection
        self.trust = trust
        self.policy = policy
        self.credential = credential  #: the job's, to sign replies with; None: unsigned replies
        self.signer: JobSigner | None = None
        self.inbox = Inbox()
        self.handled = 0
        self.dropped = 0  #: messages too large to look at
        self.unaudited = 0  #: unauthenticated refusals not written to the audit
        self._audit_window = (0.0, 0)  # (minute start, records written in it)
        self.last_command = 0.0  #: monotonic time the last authenticated command was handled
        self._reply: tuple[str, str] | None = None  # reply-to and correlation-id of the command
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sub: str | None = None

    def start(self, monitor) -> None:
        self.monitor = monitor
        self.job_id = str(monitor.job["id"])
        self.events_dir = Path(monitor.archive_dir) / "events"
        backend = MonitorBackend(monitor, self, self.policy.cap)
        if self.credential is not None:
            self.signer = JobSigner(self.credential, self.job_id)
        self.replay = ReplayCache(path=Path(monitor.archive_dir) / NONCE_FILE)
        self.handler = CommandHandler(self.job_id, self.trust, self.policy, self.replay, backend)
        self._sub = self.connection.subscribe(
            control_queue(self.job_id), {"activemq.prefetchSize": str(PREFETCH)},
            inbox=self.inbox, ack="client")
        self._thread = threading.Thread(target=self._run, name="jemgui-commands", daemon=True)
        self._thread.start()

    def linger(self, quiet: float = 2.0, longest: float = 30.0, drain: float = 2.0) -> None:
        """Keep serving until no authenticated command came for `quiet` s (followers may still
        backfill). Messages still waiting are served first, for `drain` s more at most, so a
        flood of junk on the queue delays the end by no more than that."""
        deadline = time.monotonic() + longest
        while time.monotonic() < deadline:
            idle = time.monotonic() - max(self.last_command, deadline - longest)
            if idle >= quiet and (not len(self.inbox) or idle >= quiet + drain):
                return
            time.sleep(min(0.05, quiet))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._sub:
            self.connection.unsubscribe(self._sub)
        replay = getattr(self, "replay", None)
        if replay is not None:
            replay.close()

    # -- the thread ------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self.inbox.wait(0.2):
                continue
            for msg in self.inbox.drain():
                self.serve(msg)
                self.connection.ack([msg])

    def serve(self, msg: Message) -> dict | None:
        """Handle one command message: reply, audit; returns the reply (None: dropped unread)."""
        if len(msg.body) > MAX_MESSAGE_BYTES:
            self.dropped += 1
            return None
        # history sends its batches while it runs: to the signed reply_to, once headers match it
        self._reply = signed_reply_to(msg.body, msg.headers)
        try:
            out = self.handler.serve(msg.body, msg.headers)
        finally:
            self._reply = None
        if out.reply_to and out.cid:
            body = (self.signer.reply(out.reply, out.cid) if self.signer is not None
                    else orjson.dumps(out.reply))
            headers = {"content-type": "application/json", "correlation-id": out.cid}
            self.connection.send(out.reply_to, body, headers)
        if out.authenticated:
            self.monitor.record("control", **out.control)
            self._flush_record()
            self.last_command = time.monotonic()
        else:
            self._audit_unauthenticated(out.control)
        self.handled += 1
        return out.reply

    def _audit_unauthenticated(self, control: dict) -> None:
        """Write at most AUDIT_UNAUTHENTICATED such records a minute; count the rest."""
        start, written = self._audit_window
        now = time.monotonic()
        if now - start >= 60.0:
            start, written = now, 0
        if written >= AUDIT_UNAUTHENTICATED:
            self.unaudited += 1
            self._audit_window = (start, written)
            return
        if self.unaudited:
            control = {**control, "suppressed": self.unaudited}
            self.unaudited = 0
        self._audit_window = (start, written + 1)
        self.monitor.record("control", **control)
        self._flush_record()

    def _flush_record(self) -> None:
        """Get the control record onto disk now, so it is published (and history has it).

        Monitor.record only queues; the monitor writes its queue on every tick,
        and the ticks have stopped while the live link lingers after the job.
        """
        flush = getattr(self.monitor, "flush", None)
        if flush is None:
            flush = getattr(getattr(self.monitor, "_stream", None), "flush", None)
        if flush is not None:
            flush()

    def send_history(self, pid: int, first: int, last: int) -> int:
        """Send records `first..last` of stream `pid` as batches to the command's reply-to."""
        reply_to, corr = self._reply or ("", "")
        if not reply_to:
            return 0
        sent, batch = 0, []
        path = self.events_dir / f"{pid}.jsonl"

        def flush() -> bool:
            body, headers = batch_message(pid, [b for _, b in batch], batch[0][0], batch[-1][0],
                                          self.signer)
            headers["correlation-id"] = corr
            return self.connection.send(reply_to, body, headers)

        size = 0
        for seq, line in read_range(path, first, last):
            if len(line) > MAX_PUBLISHED_RECORD:
                continue  # too big for the broker
            if batch and size + len(line) > BATCH_BYTES:
                if not flush():
                    return sent
                sent += len(batch)
                batch, size = [], 0
            batch.append((seq, line))
            size += len(line) + 1
            if len(batch) == BATCH_RECORDS:
                if not flush():
                    return sent
                sent += len(batch)
                batch, size = [], 0
        if batch and flush():
            sent += len(batch)
        return sent
