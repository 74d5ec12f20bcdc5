"""One live job being watched by the inspector: its records, its capture, its index, its commands.

`LiveSession` puts together what the window needs of a running job, without
Qt: the `Follower` (subscription, `LiveStore`, `history` requests until no
stream has a hole), a capture folder that is a normal archive (so the job can
be reopened later, like `jemgui follow` writes it), one index that grows as
the records arrive, and signed commands whose replies are matched by
correlation id.

The index (`LiveIndex`) is a `GrowingIndex`: records are placed in the
order they arrive, each stream in its own order, so a quiet stream (a shell
waiting for its Python child) holds nothing back, and each record costs the
same however long the job has run. A background thread tracks and commits
them; the window refreshes its reader when `committed` grew. Once the job
has ended and every record is in, the archive's index (the merged timeline)
is built once from the capture folder, in the background and cancellable.
The GUI thread's own work per drained record is parsing it and handing it
on: at 10 k records/s about 5 % of a core.
"""

from __future__ import annotations

import itertools
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from jemgui.live.command_client import CommandClient
from jemgui.live.command_server import read_range
from jemgui.live.connection import Connection
from jemgui.live.follower import ArchiveWriter, Follower
from jemgui.live.joblist import JobList  # noqa: F401 - the window's; it checks signatures now
from jemgui.live.jobsig import Rejected
from jemgui.models import manifest as manifests

#: what each refusal code of spec section 6 means to the person who sent the command
REFUSALS = {
    "malformed": "the job could not read the command",
    "bad-alg": "the job does not accept this signature algorithm",
    "untrusted": "the job does not trust your certificate (an unknown CA, or a certificate "
                 "that is expired or not valid yet)",
    "bad-signature": "the signature does not match your certificate",
    "wrong-job": "the command was meant for another job",
    "expired": "the command arrived too late or too early (is your clock right?)",
    "replay": "the job had already seen this command",
    "forbidden": "you are not allowed to do this",
    "bad-args": "the job rejected the arguments",
    "failed": "the job could not carry it out",
}


def explain(reply: dict) -> str:
    """A refusal in plain words, with the job's own sentence when it gave one."""
    code = str(reply.get("error") or "failed")
    words = REFUSALS.get(code, f"refused ({code})")
    detail = str(reply.get("detail") or "").strip()
    return f"Refused: {words}" + (f": {detail}" if detail else "") + f" [{code}]"


def summarize(cmd: str, result: dict) -> str:
    """One line for a command that was taken."""
    if not isinstance(result, dict):
        return "done"
    if cmd == "set_verbosity":
        cap = result.get("cap")
        return f"verbosity is now {result.get('verbosity')}" + (f" (cap {cap})" if cap is not None
                                                                 else "")
    if cmd == "ping":
        streams = result.get("last_seq") or {}
        return f"alive, verbosity {result.get('verbosity')}, {len(streams)} " \
               f"stream{'s' if len(streams) != 1 else ''}"
    if cmd == "get_file":
        text = result.get("text") or ""
        return f"{result.get('path')}: last {len(text.encode()):,} of {result.get('size', 0):,} bytes"
    if cmd == "snapshot":
        threads = result.get("threads") or []
        missing = result.get("missing") or []
        return f"{len(threads)} thread{'s' if len(threads) != 1 else ''}" + (
            f" ({len(missing)} process{'es' if len(missing) != 1 else ''} did not answer)"
            if missing else "")
    if cmd == "history":
        return f"{result.get('sent', 0)} records sent"
    return "done"


@dataclass
class CommandRequest:
    """One command sent from the inspector, and what became of it."""

    number: int
    cmd: str
    args: dict
    sender: str
    sent: float  #: wall clock
    corr: str | None = None
    state: str = "waiting"  #: waiting, ok, refused, timeout, unsent
    reply: dict | None = None
    answered: float | None = None  #: wall clock
    _sent_mono: float = field(default_factory=time.monotonic, repr=False)
    _answered_mono: float | None = field(default=None, repr=False)

    @property
    def round_trip(self) -> float | None:
        """Seconds from sending to the reply."""
        return None if self._answered_mono is None else self._answered_mono - self._sent_mono

    @property
    def result(self) -> dict:
        return (self.reply or {}).get("result") or {}

    @property
    def words(self) -> str:
        """What happened, in plain words."""
        if self.state == "waiting":
            return "Waiting for the job's reply…"
        if self.state == "unsent":
            return "Not sent: the broker cannot be reached"
        if self.state == "timeout":
            return "No reply from the job (is it still running?)"
        if self.state == "refused":
            return explain(self.reply or {})
        return summarize(self.cmd, self.result)


# -- the capture folder ----------------------------------------------------------------------


class CaptureWriter(ArchiveWriter):
    """The capture archive: records in seq order per stream, a manifest from the first moment."""

    def __init__(self, out: str | Path, job_id: str):
        super().__init__(out)
        self.job: dict = {"id": job_id}
        self.written = 0
        self.write_manifest()

    def __call__(self, pid: int, records: list[dict]) -> None:
        super().__call__(pid, records)
        self.written += len(records)

    def write_manifest(self, job: dict | None = None, capture: dict | None = None) -> None:
        """(Re)write manifest.json atomically: the job as announced, and how it was captured."""
        if job:
            self.job = dict(job)
        manifests.write(self.out, self.job, capture=capture or {"live": True})


# -- the index -------------------------------------------------------------------------------------

#: seconds between two commits of the growing index while records keep coming
COMMIT_EVERY = 0.05
#: records the index may hold in memory while it catches up; beyond, they are read back from the capture
MAX_HELD = 100_000
_STOP = object()


@dataclass
class IndexBuild:
    """The archive's index of the finished capture (the merged timeline)."""

    db_path: Path
    records: int  #: records the capture held
    seconds: float
    error: str | None = None


class LiveIndex:
    """A live job's index, grown in a background thread, and its archive index built once at the end.

    `add()` and `set_job()` only queue (the polling thread calls them); the
    feeding thread tracks what came and commits every `COMMIT_EVERY` s, and
    `committed` says how many records readers of `db_path` can see.
    `finish(folder)` builds the archive's index of the capture folder once;
    `take_final()` hands it out once. `close()` never waits: the threads stop
    at their next step and remove their files.

    With a `capture` folder (the archive the same records are written to first), memory stays
    bounded when indexing falls behind a fast job: past MAX_HELD waiting records, only the seq
    range of the next ones is queued, and the feeding thread reads them back from the capture.
    """

    def __init__(self, folder: Path, job_id: str, capture: Path | None = None,
                 flush_capture: Callable[[], None] | None = None):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.db_path = self.folder / "live.sqlite"
        self.job_id = job_id
        self.received = 0  #: records handed to add()
        self.committed = 0  #: records readers can see
        self.capture = Path(capture) if capture is not None else None
        self._flush_capture = flush_capture  #: puts what the capture's writer holds into its files
        self.held = 0  #: records waiting in memory for the feeding thread
        self.read_back = 0  #: records the feeding thread read from the capture instead
        self.error: str | None = None
        self.finishing = False
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._cancel = threading.Event()
        self._final: IndexBuild | None = None
        self._final_thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._feed, name="jemgui-live-index", daemon=True)
        self._thread.start()

    def add(self, pid: int, records: list[dict]) -> None:
        """Queue the next records of stream `pid` (in seq order, consecutive), which the capture
        has already been handed."""
        self.received += len(records)
        if self.capture is not None and self.held + len(records) > MAX_HELD:
            if self._flush_capture is not None:
                self._flush_capture()
            self._queue.put((pid, (records[0]["seq"], records[-1]["seq"])))
            return
        with self._lock:
            self.held += len(records)
        self._queue.put((pid, records))

    def set_job(self, job: dict) -> None:
        self._queue.put(("job", job))

    def _feed(self) -> None:
        from jemgui.models.growing import GrowingIndex

        grown = None
        try:
            grown = GrowingIndex(self.db_path, {"id": self.job_id})
            last = time.monotonic()
            while True:
                try:
                    item = self._queue.get(timeout=COMMIT_EVERY)
                except queue.Empty:
                    item = None
                if item is _STOP:
                    break
                if item is not None:
                    pid, data = item
                    if pid == "job":
                        grown.set_job(data)
                    else:
                        grown.add(pid, self._records(pid, data))
                now = time.monotonic()
                if now - last >= COMMIT_EVERY or self._queue.empty():
                    self.committed = grown.commit()
                    last = now
        except Exception as exc:  # noqa: BLE001 - said in the window; the capture goes on
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            if grown is not None:
                grown.close()
            self._cleanup()

    def _records(self, pid: int, data: list[dict] | tuple[int, int]) -> list[dict]:
        """The queued records, or those of a queued seq range read back from the capture."""
        if isinstance(data, list):
            with self._lock:
                self.held -= len(data)
            return data
        first, last = data
        records = [orjson.loads(line) for _, line in read_range(self.capture / "events" / f"{pid}.jsonl", first, last)]
        self.read_back += len(records)
        return records

    def finish(self, capture: Path) -> None:
        """Build the archive's index of the (complete) capture folder, once, in the background."""
        if self.finishing or self._closed:
            return
        self.finishing = True
        self._final_thread = threading.Thread(target=self._build_final, args=(Path(capture),),
                                              name="jemgui-live-final", daemon=True)
        self._final_thread.start()

    def _build_final(self, capture: Path) -> None:
        from jemgui.models import indexer
        from jemgui.models.inputs import open_input

        t0 = time.monotonic()
        path = self.folder / "final.sqlite"
        error, records = None, self.received
        try:
            inp = open_input(capture)
            try:
                indexer.build(inp, path, cancel=self._cancel)
            finally:
                inp.close()
        except Exception as exc:  # a failed build leaves the growing index on screen
            error = f"{type(exc).__name__}: {exc}"
            remove_index(path)
        with self._lock:
            if not self._closed:
                self._final = IndexBuild(path, records, time.monotonic() - t0, error)
        self._cleanup()

    def take_final(self) -> IndexBuild | None:
        """The archive's index once it is built (handed out once)."""
        with self._lock:
            final, self._final = self._final, None
        return final

    def wait(self, timeout: float = 30.0) -> None:
        """Block until the threads ended (tests only: the window never waits)."""
        for t in (self._thread, self._final_thread):
            if t is not None:
                t.join(timeout)

    def close(self) -> None:
        """Stop at once: the threads end at their next step and delete the folder."""
        with self._lock:
            self._closed = True
            self._final = None
        self._cancel.set()
        self._queue.put(_STOP)
        self._cleanup()

    def _cleanup(self) -> None:
        with self._lock:
            others = [t for t in (self._thread, self._final_thread)
                      if t is not None and t is not threading.current_thread() and t.is_alive()]
            if self._closed and not others:
                shutil.rmtree(self.folder, ignore_errors=True)


def remove_index(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


# -- a snapshot as a state the cursor can show ---------------------------------------------------------


class SnapshotIndex:
    """A one-position "index" holding a snapshot's state, for a `Cursor` (and the stack and locals views).

    The state is synthetic: it is what the job's threads were doing when the
    snapshot was taken, not a recorded position of the timeline.
    """

    def __init__(self, result: dict, taken: float):
        from jemgui.models.replay import Frame, State, ThreadState

        self.taken = taken
        self.missing = list(result.get("missing") or [])
        threads, frame_ids = [], itertools.count(1)
        for key, t in enumerate(result.get("threads") or [], 1):
            if not isinstance(t, dict):
                continue
            stack = []
            for depth, f in enumerate(x for x in t.get("stack") or [] if isinstance(x, dict)):
                locals_ = {str(k): list(v) for k, v in (f.get("locals") or {}).items()
                           if isinstance(v, list | tuple) and len(v) == 2}
                fid = next(frame_ids)
                stack.append(Frame(fid, fid, str(f.get("file") or "?"), f.get("line"),
                                   str(f.get("func") or "?"), depth, _locals=locals_, _changed=set()))
            pid = t.get("pid") if type(t.get("pid")) is int else 0
            tid = t.get("tid") if type(t.get("tid")) is int else key
            threads.append(ThreadState(key, pid, tid, stack))
        busiest = max(threads, key=lambda t: (sum(1 for f in t.stack), -t.key), default=None)
        record = {"seq": 0, "ts": taken, "pid": 0, "kind": "marker", "text": "snapshot (now)"}
        self.state = State(0, record, threads, {}, None, busiest.key if busiest else None)
        self.count = 1

    def state_at(self, pos: int):
        return self.state


# -- the session ------------------------------------------------------------------------------------


@dataclass
class Polled:
    """What one `LiveSession.poll()` brought."""

    records: int = 0
    finished: list[CommandRequest] = field(default_factory=list)


class LiveSession:
    """One live job: follow it into a capture folder, index it for the window, send it commands.

    Everything but the index builds runs on the thread that calls `poll()`
    (the GUI thread, on a timer); the broker's thread only fills inboxes.
    `credential` (see `jemgui.live.credentials`) signs `history` requests and
    the user's commands; without one the session only listens. `verifier` (a JobVerifier)
    checks the job's signatures; by default against the grid's default CA folder.
    """

    def __init__(self, connection: Connection, job_id: str, credential=None,
                 folder: str | Path | None = None, command_timeout: float = 15.0, verifier=None):
        from jemgui.live.envelope import sign
        from jemgui.models.cache import cache_dir

        self.connection = connection
        self.job_id = job_id
        self.credential = credential
        self.command_timeout = command_timeout
        if folder is None:
            live = cache_dir() / "live"
            live.mkdir(exist_ok=True)
            folder = Path(tempfile.mkdtemp(prefix=f"{job_id}-{time.strftime('%Y%m%d-%H%M%S')}-",
                                           dir=live))
        self.folder = Path(folder)
        self.writer = CaptureWriter(self.folder, job_id)
        self.index = LiveIndex(Path(f"{self.folder}.index"), job_id, capture=self.writer.out,
                               flush_capture=self.writer.flush)
        signer: Callable[[dict], bytes] | None = None
        if credential is not None:
            signer = lambda cmd: sign(cmd, credential)  # noqa: E731
        self.follower = Follower(connection, job_id, signer, sink=self._take, verifier=verifier)
        self.store = self.follower.store
        # the user's commands get their own reply queue, apart from the follower's history replies
        self.client = CommandClient(connection, job_id, signer,
                                    verifier=self.follower.verifier) if signer else None
        self.requests: list[CommandRequest] = []
        self._pending: dict[str, CommandRequest] = {}
        self._numbers = itertools.count(1)
        self._announced: dict | None = None
        self.closed = False

    def _take(self, pid: int, records: list[dict]) -> None:
        """The follower's records, in seq order per stream: into the capture and the index."""
        self.writer(pid, records)
        self.index.add(pid, records)

    # -- reading -----------------------------------------------------------------------------

    @property
    def sender(self) -> str | None:
        """The DN commands are signed as (shown before sending), or None."""
        return self.credential.describe() if self.credential is not None else None

    @property
    def ended(self) -> bool:
        return self.store.status == "ended"

    @property
    def complete(self) -> bool:
        """The job ended and every record it announced is in the capture."""
        return self.store.complete

    def holes(self) -> dict[int, list[tuple[int, int]]]:
        """Ranges still missing, per stream (asked for with `history` while that is possible)."""
        return self.store.holes()

    def lost(self) -> dict[int, list[tuple[int, int]]]:
        """Ranges given up: the job no longer has them, or they cannot be asked for."""
        return {pid: list(s.lost) for pid, s in sorted(self.store.streams.items()) if s.lost}

    @property
    def backfill_problem(self) -> str | None:
        """Why missed records cannot be asked for (no credential, or the job refuses), or None."""
        backfill = self.follower.backfill
        if backfill is None:
            return "no credential to ask the job for missed records"
        if backfill.refused:
            return f"the job refuses to send missed records ({backfill.refused})"
        return None

    def _pass_unfillable_holes(self) -> None:
        """Give up holes that later records already passed, when history cannot fill them.

        Records beyond a hole wait for it to close; without history it never
        does, and the window would show nothing of a job joined late. Holes
        at the live end stay open: their records may still come.
        """
        for stream in self.store.streams.values():
            if stream.ahead:
                for first, last in stream.holes():
                    if last + 1 in stream.ahead:
                        stream.give_up(first, last)

    # -- the timer's work ----------------------------------------------------------------------

    def poll(self) -> Polled:
        """Take what arrived, keep backfilling, match replies, start or finish an index build."""
        out = Polled(records=self.follower.poll())
        if self.backfill_problem:
            self._pass_unfillable_holes()
        if self.store.job is not None and self.store.job != self._announced:
            self._announced = self.store.job
            self.writer.write_manifest(self.store.job)
            self.index.set_job(self.store.job)
        if self.client is not None:
            for msg in self.client.inbox.drain():
                corr = msg.headers.get("correlation-id", "")
                req = self._pending.get(corr)
                if req is None or "jem-pid" in msg.headers:
                    continue
                try:  # a reply that does not verify is dropped and counted: the wait goes on
                    reply = self.client.open_reply(msg, corr)
                except Rejected as exc:
                    self.client.verifier.drop(str(exc))
                    continue
                del self._pending[corr]
                self._answer(req, reply)
                out.finished.append(req)
        now = time.monotonic()
        for corr, req in list(self._pending.items()):
            if now - req._sent_mono > self.command_timeout:
                del self._pending[corr]
                req.state, req._answered_mono = "timeout", now
                out.finished.append(req)
        if self.store.complete and not self.index.finishing:
            self.writer.flush()
            self.index.finish(self.folder)
        return out

    def _answer(self, req: CommandRequest, reply: dict) -> None:
        req.reply = reply
        req.state = "ok" if reply.get("ok") else "refused"
        req.answered, req._answered_mono = time.time(), time.monotonic()
        if req.state == "ok" and req.cmd == "ping":
            self.store.expect(req.result.get("last_seq"))

    # -- commands --------------------------------------------------------------------------------

    def send(self, cmd: str, args: dict | None = None) -> CommandRequest:
        """Sign and send a command now; its reply comes through `poll()`."""
        if self.client is None:
            raise RuntimeError("no credential to sign commands with")
        req = CommandRequest(next(self._numbers), cmd, dict(args or {}),
                             self.credential.identity_dn, time.time())
        self.requests.append(req)
        req.corr = self.client.send(cmd, req.args)
        if req.corr is None:
            req.state = "unsent"
        else:
            self._pending[req.corr] = req
        return req

    # -- ending --------------------------------------------------------------------------------

    def close(self) -> Path:
        """Stop following; the capture folder stays as a normal archive. Returns it."""
        if self.closed:
            return self.folder
        self.closed = True
        self.index.close()
        self.follower.finish()
        result = self.follower.summary(self.store.complete, "")
        capture = {"broker": str(self.connection.url), "complete": result.complete,
                   "captured": time.time(), "records": result.records,
                   "recovered": self.follower.recovered,
                   "lost": {str(pid): [list(r) for r in gaps] for pid, gaps in result.lost.items()}}
        self.writer.close(self.store.job, capture)
        for sub in (self.follower.events_sub, self.follower.jobs_sub):
            self.connection.unsubscribe(sub)
        for client in (self.follower.client, self.client):
            if client is not None:
                self.connection.unsubscribe(client.sub_id)
        return self.folder
