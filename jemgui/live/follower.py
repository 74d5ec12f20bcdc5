"""Follow a live job: keep its records per stream, find the holes, fill them with `history`.

`LiveStore` is the one store live records go into, for the inspector window
and for `jemgui follow` alike: it is fed the messages a `Connection` put in
its inbox (on whatever thread drains it), keeps each stream's records in
`seq` order, and knows which ranges are missing. `Backfill` asks the job
for those ranges with signed `history` commands. `Follower` puts both
together with an `ArchiveWriter` and runs until the job ended and every
stream is whole.

Every announcement, batch and reply first goes through a `JobVerifier`
(spec section 6a): what does not verify is dropped and counted, and a job
whose messages verified takes no unsigned ones. What is left is bounded:
at most `MAX_STREAMS` streams, seqs below 2^53, history requests at most
`Backfill.rate` a second, and the capture keeps at most `MAX_OPEN_FILES`
stream files open.
"""

from __future__ import annotations

import bisect
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from jemgui.live.command_client import CommandClient
from jemgui.live.connection import Connection, Message
from jemgui.live.jobsig import UNVERIFIED, JobVerifier, OtherJob, Rejected, Seal, default_trust
from jemgui.live.protocol import JOBS_TOPIC, events_topic
from jemgui.models import manifest as manifests
from jemgui.models.records import check

Sink = Callable[[int, list[dict]], None]
#: most streams (pids) one job may have in a reader
MAX_STREAMS = 4096
#: highest seq a reader takes (past it a number is no longer exact in JSON readers)
MAX_SEQ = 2**53
#: stream files a capture keeps open at once
MAX_OPEN_FILES = 64


# -- one stream -----------------------------------------------------------------


class StreamStore:
    """One stream's records: the whole prefix `0..next_seq-1`, and what arrived beyond a hole.

    With a `sink`, the whole prefix is handed on in order and not kept (the
    follower writes it to disk); without one it is kept in `records`. What
    came beyond a hole is kept in `ahead`, with its seqs as sorted runs, so
    finding the holes costs the number of runs, not of records (a late
    joiner holds the whole live part there while history fills the start).
    """

    def __init__(self, pid: int, sink: Sink | None = None):
        self.pid = pid
        self.sink = sink
        self.records: list[dict] = []
        self.next_seq = 0
        self.ahead: dict[int, dict] = {}
        self.known_last = -1  #: highest seq known to exist: seen, or announced by the job
        self.seen_last = -1  #: highest seq received
        self.vouched_last = -1  #: highest seq a verified message claimed
        self.lost: list[tuple[int, int]] = []  #: ranges the job no longer has
        self.taken = 0
        self.duplicates = 0
        self._runs: list[list[int]] = []  # [first, last] of the seqs in `ahead`, sorted

    def add(self, records: Iterable[dict]) -> int:
        """Take records of this stream (any order, duplicates allowed); returns how many were new."""
        out, ahead, new = [], self.ahead, 0
        for rec in records:
            seq = rec["seq"]
            if seq == self.next_seq and not ahead:  # the common case: in order, no hole
                out.append(rec)
                self.next_seq += 1
            elif seq < self.next_seq or seq in ahead:
                self.duplicates += 1
                continue
            else:
                ahead[seq] = rec
                self._note(seq)
            new += 1
            if seq > self.known_last:
                self.known_last = seq
            if seq > self.seen_last:
                self.seen_last = seq
        self.taken += new
        self._emit(out)
        if ahead:
            self._advance()
        return new

    def expect(self, last_seq: int, verified: bool = True) -> None:
        """The job says this stream holds records up to `last_seq` (in a verified message, or
        an unsigned one of a job without a credential)."""
        self.known_last = max(self.known_last, last_seq)
        if verified:
            self.vouched_last = max(self.vouched_last, last_seq)

    def give_up(self, first: int, last: int) -> None:
        """The job no longer has `first..last`: stop waiting for what of it is still missing."""
        missing = [(max(a, first), min(b, last)) for a, b in self.holes()
                   if a <= last and b >= first]
        if missing:
            self.lost = sorted(self.lost + missing)
            self._advance()

    def holes(self) -> list[tuple[int, int]]:
        """Missing ranges (inclusive) up to `known_last`, lost ones left out."""
        out, expected = [], self.next_seq
        for first, last in (*self._runs, (self.known_last + 1, self.known_last + 1)):
            if first > expected:
                out.extend(self._minus_lost(expected, first - 1))
            expected = max(expected, last + 1)
        return out

    @property
    def complete(self) -> bool:
        return not self.holes()

    def flush_ahead(self) -> None:
        """Stop waiting: hand on what arrived beyond the holes, in order (the end of a capture)."""
        if self.ahead:
            recs = [self.ahead[s] for first, last in self._runs for s in range(first, last + 1)]
            self.ahead.clear()
            self._runs.clear()
            self.next_seq = recs[-1]["seq"] + 1
            self._emit(recs)

    def _note(self, seq: int) -> None:
        """Put a seq that went into `ahead` into its run."""
        runs = self._runs
        if runs and runs[-1][1] == seq - 1:  # records mostly come in order
            runs[-1][1] = seq
            return
        i = bisect.bisect_right(runs, [seq, math.inf])  # the first run that starts after seq
        before = runs[i - 1] if i else None
        after = runs[i] if i < len(runs) else None
        if before is not None and before[1] == seq - 1:
            before[1] = seq
            if after is not None and after[0] == seq + 1:
                before[1] = after[1]
                del runs[i]
        elif after is not None and after[0] == seq + 1:
            after[0] = seq
        else:
            runs.insert(i, [seq, seq])

    def _minus_lost(self, a: int, b: int):
        for la, lb in self.lost:
            if lb < a or la > b:
                continue
            if la > a:
                yield (a, la - 1)
            a = lb + 1
        if a <= b:
            yield (a, b)

    def _advance(self) -> None:
        """Move records that became whole out of `ahead`, stepping over lost ranges."""
        out, ahead, runs = [], self.ahead, self._runs
        while True:
            if runs and runs[0][0] == self.next_seq:
                first, last = runs.pop(0)
                out.extend(ahead.pop(s) for s in range(first, last + 1))
                self.next_seq = last + 1
                continue
            ends = [lb for la, lb in self.lost if la <= self.next_seq <= lb]
            if not ends:
                break
            self.next_seq = max(ends) + 1
        self._emit(out)

    def _emit(self, recs: list[dict]) -> None:
        if not recs:
            return
        if self.sink is not None:
            self.sink(self.pid, recs)
        else:
            self.records.extend(recs)


# -- the whole job ----------------------------------------------------------------


class LiveStore:
    """Every stream of one live job, its announcement, and figures for a status bar."""

    def __init__(self, job_id: str, sink: Sink | None = None):
        self.job_id = job_id
        self.sink = sink
        self.streams: dict[int, StreamStore] = {}
        self.job: dict | None = None  #: the manifest job object, from the announcements
        self.status = "unknown"  #: "running" or "ended" once announced
        self.state: str | None = None  #: the job's lifecycle state, when announced
        self.received = 0  #: records taken (new ones)
        self.rejected = 0  #: records or messages that were not usable
        self.seal: Seal = UNVERIFIED  #: the newest announcement's: verified, and by whom
        self.last_heard = 0.0  #: monotonic time of the last message from the job
        self.newest_ts = 0.0  #: `ts` of the newest record taken
        self._rate: deque[tuple[float, int]] = deque()

    def stream(self, pid: int) -> StreamStore | None:
        """The stream of `pid`; None (counted as rejected) past MAX_STREAMS streams."""
        store = self.streams.get(pid)
        if store is None:
            if len(self.streams) >= MAX_STREAMS:
                return None
            store = self.streams[pid] = StreamStore(pid, self.sink)
        return store

    # -- input ------------------------------------------------------------------

    def add_batch(self, body: bytes | list, pid: int | None = None) -> int:
        """Take one batch (a JSON array of one stream's records); returns the new records."""
        self.last_heard = time.monotonic()
        try:
            records = orjson.loads(body) if isinstance(body, bytes | str) else body
        except orjson.JSONDecodeError:
            self.rejected += 1
            return 0
        if not isinstance(records, list):
            self.rejected += 1
            return 0
        good = [r for r in records if check(r) is None and (pid is None or r["pid"] == pid)
                and 0 <= r["seq"] < MAX_SEQ]
        self.rejected += len(records) - len(good)
        by_pid: dict[int, list[dict]] = {}
        for rec in good:
            by_pid.setdefault(rec["pid"], []).append(rec)
        new = 0
        for p, recs in by_pid.items():
            stream = self.stream(p)
            if stream is None:
                self.rejected += len(recs)
                continue
            new += stream.add(recs)
        if good:
            self.newest_ts = max(self.newest_ts, max(r["ts"] for r in good))
        self.received += new
        self._rate.append((time.monotonic(), new))
        return new

    def announce(self, body: bytes | dict, seal: Seal = UNVERIFIED) -> bool:
        """Take an announcement of this job (checked by a JobVerifier); False when it is not one."""
        try:
            ann = orjson.loads(body) if isinstance(body, bytes | str) else body
        except orjson.JSONDecodeError:
            self.rejected += 1
            return False
        if not isinstance(ann, dict) or not isinstance(ann.get("job"), dict) \
                or str(ann["job"].get("id")) != self.job_id:
            return False
        self.last_heard = time.monotonic()
        self.job = ann["job"]
        self.seal = seal
        if ann.get("status") in ("running", "ended"):
            if self.status != "ended":
                self.status = ann["status"]
        if isinstance(ann.get("state"), str):
            self.state = ann["state"]
        self.expect(ann.get("last_seq"), seal.verified)
        return True

    def expect(self, last_seq, verified: bool = True) -> None:
        """Take a `{pid: seq}` map of what the job holds (announcement or ping)."""
        if isinstance(last_seq, dict):
            for pid, seq in last_seq.items():
                if isinstance(pid, str) and pid.isascii() and pid.isdigit() and len(pid) < 19 \
                        and type(seq) is int and 0 <= seq < MAX_SEQ:
                    stream = self.stream(int(pid))
                    if stream is not None:
                        stream.expect(seq, verified)

    # -- state --------------------------------------------------------------------

    def holes(self) -> dict[int, list[tuple[int, int]]]:
        return {pid: h for pid, s in sorted(self.streams.items()) if (h := s.holes())}

    @property
    def complete(self) -> bool:
        """The job ended and every stream is whole up to what it announced last."""
        return self.status == "ended" and not self.holes()

    def records_per_second(self, window: float = 2.0) -> float:
        now = time.monotonic()
        while self._rate and self._rate[0][0] < now - window:
            self._rate.popleft()
        return sum(n for _, n in self._rate) / window

    def lag(self) -> float:
        """Seconds between the newest record's time and now (0 before the first record)."""
        return max(0.0, time.time() - self.newest_ts) if self.newest_ts else 0.0


# -- asking for history --------------------------------------------------------------


@dataclass
class _Request:
    pid: int
    first: int
    last: int
    sent: float


class Backfill:
    """Keep `history` requests going for every hole of a LiveStore until none is left.

    Ranges are asked for in chunks, a few at a time; a request whose final
    reply never comes is asked again after `timeout`. When the reply to a
    request has come and records of its range are still missing, the job no
    longer has them: they are given up as lost. At most `rate` requests go
    out a second, whatever the holes.
    """

    def __init__(self, client: CommandClient, store: LiveStore, chunk: int = 20_000,
                 outstanding: int = 4, timeout: float = 15.0, rate: float = 20.0):
        self.client = client
        self.store = store
        self.chunk = chunk
        self.max_outstanding = outstanding
        self.timeout = timeout
        self.rate = rate
        self.requests: dict[str, _Request] = {}
        self.sent = 0
        self.refused: str | None = None  #: why the job refuses history, once it does
        self._tokens, self._filled = rate, time.monotonic()

    def step(self) -> None:
        """Expire late requests and ask for holes nobody is asking for yet."""
        if self.refused:
            return
        now = time.monotonic()
        self._tokens = min(self.rate, self._tokens + (now - self._filled) * self.rate)
        self._filled = now
        for corr, req in list(self.requests.items()):
            if now - req.sent > self.timeout:
                del self.requests[corr]
        if len(self.requests) >= self.max_outstanding:
            return
        for pid, holes in self.store.holes().items():
            for first, last in holes:
                for a in range(first, last + 1, self.chunk):
                    b = min(last, a + self.chunk - 1)
                    if any(r.pid == pid and r.first <= b and r.last >= a
                           for r in self.requests.values()):
                        continue
                    if self._tokens < 1:
                        return
                    corr = self.client.send("history", {"pid": pid, "from_seq": a, "to_seq": b})
                    if corr is None:
                        return
                    self._tokens -= 1
                    self.requests[corr] = _Request(pid, a, b, now)
                    self.sent += 1
                    if len(self.requests) >= self.max_outstanding:
                        return

    def reply(self, msg: Message) -> None:
        """Take a final reply (history batches go to the store like live ones); one that does
        not verify is dropped, and its request stays open."""
        corr = msg.headers.get("correlation-id", "")
        if corr not in self.requests:
            return
        try:
            reply = self.client.open_reply(msg, corr)
        except Rejected as exc:
            self.client.verifier.drop(str(exc))
            return
        req = self.requests.pop(corr)
        if not reply["ok"]:
            code = reply.get("error")
            if code in ("forbidden", "untrusted", "bad-signature", "bad-alg", "wrong-job"):
                self.refused = f"{code}: {reply.get('detail', '')}".strip()
            return
        stream = self.store.streams.get(req.pid)
        if stream is None:
            return
        # The batches came before this reply: what the job has of the range is here now, and
        # its stream file has no holes, so it has nothing past the highest seq received. What
        # is missing below that is lost; a range above it was claimed wrongly (an unsigned
        # job's forged announcement) or not yet written, and giving it up would refuse the
        # records when they come: the claim is withdrawn instead, down to what verified
        # messages vouched for.
        top = stream.seen_last
        if req.first <= top:
            stream.give_up(req.first, min(req.last, top))
        if req.last > top:
            stream.known_last = min(stream.known_last,
                                    max(top, req.first - 1, stream.vouched_last))

    def reset(self) -> None:
        """Forget requests in flight (after a reconnect their replies are gone)."""
        self.requests.clear()


# -- writing a capture ---------------------------------------------------------------


class ArchiveWriter:
    """A normal archive folder: `events/<pid>.jsonl` written in seq order, then `manifest.json`.

    At most MAX_OPEN_FILES stream files are open; the least recently written
    one is closed to open another.
    """

    def __init__(self, out: str | Path):
        self.out = Path(out)
        (self.out / "events").mkdir(parents=True, exist_ok=True)
        self._files: OrderedDict[int, object] = OrderedDict()

    def __call__(self, pid: int, records: list[dict]) -> None:
        f = self._files.get(pid)
        if f is None:
            while len(self._files) >= MAX_OPEN_FILES:
                self._files.popitem(last=False)[1].close()
            f = self._files[pid] = open(self.out / "events" / f"{pid}.jsonl", "ab")  # noqa: SIM115
        else:
            self._files.move_to_end(pid)
        f.write(b"".join(orjson.dumps(r) + b"\n" for r in records))

    def flush(self) -> None:
        for f in self._files.values():
            f.flush()

    def close(self, job: dict | None, capture: dict) -> None:
        for f in self._files.values():
            f.close()
        self._files.clear()
        manifests.write(self.out, job or {}, capture=capture)


# -- following ---------------------------------------------------------------------------


@dataclass
class FollowResult:
    complete: bool
    status: str
    records: int
    lost: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    reason: str = ""
    seal: Seal = UNVERIFIED  #: the job's last announcement: verified, and by whom
    dropped: dict[str, int] = field(default_factory=dict)  #: messages dropped, by reason


class Follower:
    """Subscribe to one job, keep its records in a LiveStore, backfill holes until it is whole.

    Call `poll()` from one thread (a GUI timer, or `run()`); the broker
    thread only fills the inbox.
    """

    def __init__(self, connection: Connection, job_id: str, sign: Callable[[dict], bytes] | None,
                 sink: Sink | None = None, prefetch: int = 20,
                 verifier: JobVerifier | None = None):
        self.connection = connection
        self.job_id = job_id
        self.verifier = verifier if verifier is not None else JobVerifier(job_id, default_trust())
        self.store = LiveStore(job_id, sink)
        self.inbox = connection.inbox
        # Batches are acknowledged once taken, and at most `prefetch` wait unacknowledged:
        # a follower that cannot keep up is a slow consumer to the broker, which drops
        # batches for it (history fills them in) instead of holding the job's data here.
        self.events_sub = connection.subscribe(
            events_topic(job_id), {"activemq.prefetchSize": str(prefetch)}, ack="client")
        # every job's announcements come; LiveStore.announce keeps this job's
        self.jobs_sub = connection.subscribe(JOBS_TOPIC, {"activemq.retroactive": "true"})
        self.client = CommandClient(connection, job_id, sign, inbox=self.inbox,
                                    verifier=self.verifier) if sign else None
        self.backfill = Backfill(self.client, self.store) if self.client else None
        self.recovered = 0  #: records that came through `history`
        self._generation = 0
        self._pings: set[str] = set()
        self._ping_due = True

    def poll(self) -> int:
        """Take what arrived, ask for what is missing; returns the records taken.

        The job is pinged once at the start and after each reconnect, so a
        late or returning follower learns every stream's last seq at once.
        """
        new = 0
        messages = self.inbox.drain()
        for msg in messages:
            new += self.handle(msg)
        self.connection.ack(messages)
        if self.connection.generation != self._generation and self.connection.connected:
            # (re)connected: replies in flight are lost; ask where the job stands
            self._generation = self.connection.generation
            if self.backfill:
                self.backfill.reset()
            self._ping_due = True
        if self._ping_due and self.client and self.connection.connected \
                and self.store.status != "ended":
            corr = self.client.send("ping")
            if corr:
                self._pings.add(corr)
                self._ping_due = False
        if self.backfill and self.connection.connected:
            self.backfill.step()
        return new

    def handle(self, msg: Message) -> int:
        """Take one message once it verified (else drop and count it); the new records."""
        try:
            return self._handle(msg)
        except OtherJob:
            return 0
        except Rejected as exc:
            self.verifier.drop(str(exc))
            return 0

    def _handle(self, msg: Message) -> int:
        sub = msg.headers.get("subscription")
        if sub == self.jobs_sub:
            ann, seal = self.verifier.announcement(msg.body)
            self.store.announce(ann, seal)
            return 0
        if "jem-pid" in msg.headers:  # a live batch, or a history batch on the reply queue
            if sub != self.events_sub and not (self.client and self.client.handles(msg)):
                return 0
            pid, records, _seal = self.verifier.batch(msg.headers, msg.body)
            new = self.store.add_batch(records, pid)
            if sub != self.events_sub:
                self.recovered += new
            return new
        if self.client and self.client.handles(msg):
            corr = msg.headers.get("correlation-id", "")
            if corr in self._pings:
                reply = self.client.open_reply(msg, corr)
                self._pings.discard(corr)
                if reply["ok"] and isinstance(reply.get("result"), dict):
                    self.store.last_heard = time.monotonic()
                    self.store.expect(reply["result"].get("last_seq"), reply.seal.verified)
            elif self.backfill:
                self.backfill.reply(msg)
        return 0

    def run(self, idle_timeout: float = 60.0, until: float | None = None,
            tick: float = 0.05) -> FollowResult:
        """Poll until the job ended and is whole, or nothing was heard of it for `idle_timeout` s."""
        self.store.last_heard = time.monotonic()
        while True:
            self.poll()
            if self.store.complete:
                return self.summary(True, "")
            now = time.monotonic()
            if self.backfill and self.backfill.refused and self.store.status == "ended":
                return self.summary(False, f"history refused ({self.backfill.refused})")
            if self.connection.connected and now - self.store.last_heard > idle_timeout:
                return self.summary(False, f"nothing heard from job {self.job_id} for "
                                           f"{idle_timeout:g} s")
            if until is not None and now > until:
                return self.summary(False, "stopped before the job ended")
            self.inbox.wait(tick)

    def summary(self, complete: bool, reason: str) -> FollowResult:
        lost = {}
        for pid, s in sorted(self.store.streams.items()):
            gaps = s.lost + s.holes()
            if gaps:
                lost[pid] = sorted(gaps)
        return FollowResult(complete, self.store.status, self.store.received, lost, reason,
                            self.store.seal, dict(self.verifier.dropped))

    def finish(self) -> None:
        """Hand on what arrived beyond holes that stay open (the end of a capture)."""
        for s in self.store.streams.values():
            s.flush_ahead()
