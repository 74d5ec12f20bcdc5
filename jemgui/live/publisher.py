"""Publish a job's streams to the broker by reading its archive behind the writers.

The archive on disk is the truth: every process of the job writes its own
`events/<pid>.jsonl`, and this service tails those files in its own thread,
so publishing can never block or slow the job. While the broker is away the
files are simply not read; on reconnect publishing resumes where it stopped
(or, after a long outage, near the live end: subscribers fill the gap with
the `history` command).

Wire format (spec section 5): one stream's records in `seq` order per
message, sent when 1000 records wait or 100 ms after the first of them (by
that record's own time);
announcements on `/topic/jem.jobs` at start, every 10 s, at the end, and
when the job's lifecycle state changes (an extra `state` field). With the
job's credential, announcements are signed JWS objects and each batch carries
its `jem-sig` header (spec section 6a, `jemgui.live.jobsig`).
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from jemgui.live.connection import Connection
from jemgui.live.jobsig import JobSigner
from jemgui.live.protocol import JOBS_TOPIC, control_queue, events_topic  # noqa: F401 - also named here
from jemgui.models.records import FINAL_STATES, MAX_LINE_BYTES, check

BATCH_RECORDS = 1000
BATCH_DELAY = 0.1
#: a batch is cut at about this many bytes, so it stays far below the broker's frame limit
BATCH_BYTES = 1 << 20
#: a record longer than this is not published (the broker refuses frames over 8 MiB); it stays
#: in the archive, and followers see it as lost
MAX_PUBLISHED_RECORD = 6 << 20
ANNOUNCE_EVERY = 10.0


def stream_pid(path: Path) -> int | None:
    """The pid a stream file is named for (`events/<pid>.jsonl`), or None."""
    stem = path.name.removesuffix(".jsonl")
    return int(stem) if stem.isdigit() else None


def batch_message(pid: int, lines: list[bytes], first: int, last: int,
                  signer: JobSigner | None = None) -> tuple[bytes, dict]:
    """Body and headers of one batch: raw record lines joined into a JSON array, signed by
    `signer` when given."""
    headers = {"content-type": "application/json", "jem-pid": str(pid),
               "jem-first-seq": str(first), "jem-last-seq": str(last)}
    body = b"[" + b",".join(lines) + b"]"
    if signer is not None:
        headers["jem-sig"] = signer.batch(pid, first, last, body)
    return body, headers


@dataclass
class StreamTail:
    """The unread rest of one stream file: whole lines only, in order."""

    path: Path
    pid: int
    offset: int = 0
    partial: bytes = b""
    last_seq: int = -1  #: last seq read
    sent_seq: int = -1  #: last seq published
    skipped: int = 0  #: lines that were not records
    state: str | None = None  #: the last lifecycle state this stream recorded
    pending: list[tuple[int, bytes]] = field(default_factory=list)
    pending_since: float = 0.0

    def read(self, chunk: int = 4 << 20) -> int:
        """Move complete new lines into `pending`; returns how many bytes were read."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read(chunk)
        except OSError:
            return 0
        if not data:
            return 0
        self.offset += len(data)
        size = len(data)
        data = self.partial + data
        cut = data.rfind(b"\n")
        if cut < 0:
            self.partial = data
            if len(data) > MAX_LINE_BYTES:
                self.partial, self.skipped = b"", self.skipped + 1
            return size
        self.partial = data[cut + 1:]
        lines = [line for line in data[:cut].split(b"\n") if line.strip()]
        for line, rec in zip(lines, _records(lines), strict=True):
            if rec is None:
                self.skipped += 1
                continue
            if not self.pending:
                self.pending_since = _batch_start(rec["ts"])
            self.pending.append((rec["seq"], line.strip()))
            self.last_seq = rec["seq"]
            if rec["kind"] == "state" and isinstance(rec.get("state"), str):
                self.state = rec["state"]
        return size

    def skip_to_end(self) -> None:
        """Jump to the first whole line of the file's last part (after a long outage)."""
        try:
            size = self.path.stat().st_size
            with open(self.path, "rb") as f:
                f.seek(max(size - 65536, self.offset))
                data = f.read()
        except OSError:
            return
        start = size - len(data)
        nl = data.find(b"\n")
        if nl >= 0:
            self.offset, self.partial = start + nl + 1, b""

    def backlog(self) -> int:
        try:
            return self.path.stat().st_size - self.offset
        except OSError:
            return 0


def _batch_start(ts: float) -> float:
    """When a batch's 100 ms start, on the monotonic clock: at its first record's `ts`.

    A record has usually waited in the job's buffers before it is read; counting
    from its own time keeps it from waiting a second time here. A `ts` from a
    clock ahead of ours counts from now.
    """
    now_mono, now = time.monotonic(), time.time()
    return now_mono - min(max(now - ts, 0.0), BATCH_DELAY)


def _records(lines: list[bytes]) -> list[dict | None]:
    """Each line's record, or None where a line is not one.

    All lines are parsed in one call (a third cheaper than line by line); only
    when that fails, because a line is damaged, are they parsed one by one.
    """
    try:
        recs = orjson.loads(b"[" + b",".join(lines) + b"]")
    except orjson.JSONDecodeError:
        recs = [_parse(line) for line in lines]
    if len(recs) != len(lines):  # a line held more than one value: take them one by one
        recs = [_parse(line) for line in lines]
    return [rec if rec is not None and check(rec) is None else None for rec in recs]


def _parse(line: bytes):
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return None


class Publisher:
    """A Monitor service that publishes the archive's streams and announces the job.

    `max_backlog` (bytes per stream) bounds what is sent late after an
    outage; anything older is left to `history`.
    """

    def __init__(self, connection: Connection, *, poll: float = 0.01,
                 announce_every: float = ANNOUNCE_EVERY, max_backlog: int = 32 << 20,
                 final_timeout: float = 1.0, credential=None):
        self.connection = connection
        self.credential = credential  #: the job's, to sign with; None: unsigned messages
        self.signer: JobSigner | None = None
        self.poll = poll
        self.announce_every = announce_every
        self.max_backlog = max_backlog
        self.final_timeout = final_timeout
        self.streams: dict[int, StreamTail] = {}
        self.sent_records = 0
        self.sent_batches = 0
        self.too_large = 0  #: records not published for their size
        self._monitor = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._was_connected = False
        self._next_announce = 0.0
        self._announced_state: str | None = None

    # -- Monitor service -------------------------------------------------------

    def start(self, monitor) -> None:
        self._monitor = monitor
        self.events_dir = Path(monitor.archive_dir) / "events"
        self.job_id = str(monitor.job["id"])
        self.topic = events_topic(self.job_id)
        if self.credential is not None:
            self.signer = JobSigner(self.credential, self.job_id)
        self._thread = threading.Thread(target=self._run, name="jemgui-publisher", daemon=True)
        self._thread.start()

    def announce_now(self, wait: float = 1.0) -> None:
        """Publish what the archive holds and announce it (the job ended; followers check holes)."""
        self._next_announce = 0.0
        deadline = time.monotonic() + wait
        while self._next_announce == 0.0 and self._thread and time.monotonic() < deadline:
            time.sleep(self.poll / 2)

    def stop(self) -> None:
        """Publish everything the archive holds, announce the end, stop.

        With the broker away this waits `final_timeout` s at most for it.
        """
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        deadline = time.monotonic() + self.final_timeout
        while not self._publish(flush=True, to_end=True) and time.monotonic() < deadline:
            self.connection.wait_connected(0.2)
        if self.connection.connected:
            self._announce("ended")

    # -- state -----------------------------------------------------------------

    def last_seq(self) -> dict[int, int]:
        """Last seq published of each stream: what an announcement tells followers to expect."""
        return {pid: t.sent_seq for pid, t in sorted(self.streams.items()) if t.sent_seq >= 0}

    def job_state(self) -> str | None:
        """The job's latest lifecycle state seen in any stream."""
        states = [t.state for t in self.streams.values() if t.state]
        final = [s for s in states if s in FINAL_STATES]
        return (final or states or [None])[-1]

    # -- the thread ------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.job_state() != self._announced_state:  # the job's state changed: say so now
                self._next_announce = 0.0
            due = self.connection.connected and time.monotonic() >= self._next_announce
            # before an announcement everything read is sent, so it promises nothing in flight
            if self._publish(flush=due) and due:
                self._announce("running")
            self._stop.wait(self.poll)

    def _publish(self, flush: bool = False, to_end: bool = False) -> bool:
        """One pass over the streams; True when all that should go out went out.

        Full batches and batches older than 100 ms go out; with `flush` every
        waiting record does; with `to_end` the files are read to their end.
        """
        if not self.connection.connected:
            self._was_connected = False
            return False
        if not self._was_connected:  # (re)connected: announce at once, skip a huge backlog
            self._was_connected = True
            self._next_announce = 0.0
            for tail in self.streams.values():
                if tail.backlog() > self.max_backlog:
                    tail.skip_to_end()
        self._scan()
        now = time.monotonic()
        for tail in self.streams.values():
            while True:
                progress = tail.read()
                while tail.pending and (flush or len(tail.pending) >= BATCH_RECORDS
                                        or now - tail.pending_since >= BATCH_DELAY):
                    if not self._flush(tail, BATCH_RECORDS):
                        return False
                if not (to_end and progress):
                    break
        return True

    def _scan(self) -> None:
        try:
            entries = list(os.scandir(self.events_dir))
        except OSError:
            return
        for entry in entries:
            if entry.name.endswith(".jsonl"):
                pid = stream_pid(Path(entry.name))
                if pid is not None and pid not in self.streams:
                    self.streams[pid] = StreamTail(Path(entry.path), pid)

    def _flush(self, tail: StreamTail, limit: int) -> bool:
        if len(tail.pending[0][1]) > MAX_PUBLISHED_RECORD:  # too big for the broker: not sent
            tail.sent_seq = tail.pending.pop(0)[0]
            self.too_large += 1
            return True
        size, n = 0, 0
        for _, line in tail.pending[:limit]:
            size += len(line) + 1
            if n and (size > BATCH_BYTES or len(line) > MAX_PUBLISHED_RECORD):
                break
            n += 1
        limit = n
        batch = tail.pending[:limit]
        body, headers = batch_message(tail.pid, [line for _, line in batch], batch[0][0],
                                      batch[-1][0], self.signer)
        if not self.connection.send(self.topic, body, headers):
            return False
        del tail.pending[:limit]
        tail.sent_seq = batch[-1][0]
        tail.pending_since = time.monotonic()
        self.sent_records += len(batch)
        self.sent_batches += 1
        return True

    def _announce(self, status: str) -> None:
        self._next_announce = time.monotonic() + self.announce_every
        body = {"job": self._job(), "status": status,
                "last_seq": {str(pid): seq for pid, seq in self.last_seq().items()}}
        state = self._announced_state = self.job_state()
        if state:
            body["state"] = state
        headers = {"content-type": "application/json", "jem-job": self.job_id, "jem-status": status}
        data = self.signer.announcement(body) if self.signer is not None else orjson.dumps(body)
        self.connection.send(JOBS_TOPIC, data, headers)

    def _job(self) -> dict:
        """The job object: the manifest on disk when readable (it holds the end), else the monitor's."""
        try:
            manifest = json.loads((self.events_dir.parent / "manifest.json").read_text())
            job = manifest.get("job")
            if isinstance(job, dict) and str(job.get("id")) == self.job_id:
                return job
        except (OSError, ValueError):
            pass
        return dict(self._monitor.job)
