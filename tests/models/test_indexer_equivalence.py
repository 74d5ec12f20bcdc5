"""The index answers what a plain replay from the start answers (spec section 2, "the state at a record").

`Reference` reads the stream files itself, merges them by (ts, pid, seq) and
walks every record keeping each thread's stack of frame activations and each
frame's locals: no SQL, no segments table, no seeks. Its answers (stacks,
lines, locals, names just changed, values just returned, metrics, job state,
steps, last change of a variable, line hits, uncaught exceptions) are compared
with the index's at many positions of a synthetic job (threads, generators
resumed across threads, exceptions unwinding, verbosity lowered and raised
mid-run, a late join, several processes) and of hypothesis-made sequences,
damaged lines included. Any optimisation of the indexer or the replay that
changes an answer fails here.
"""

from __future__ import annotations

import bisect
import heapq
import random
import sqlite3
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.synth import write_archive as write_synthetic
from jemgui.models import indexer
from jemgui.models.index import Index
from jemgui.models.inputs import open_input
from jemgui.models.records import as_int, as_str, as_vars

FRAME_KINDS = ("call", "line", "return", "exception")
STEPS = [(a, b) for a in ("into", "over", "out") for b in (False, True)]


# --- the reference -------------------------------------------------------------------------------


@dataclass(eq=False)
class RFrame:
    """One activation of a Python frame (a generator's resumptions share it), or a shell function."""

    func: str
    file: str
    locals: dict = field(default_factory=dict)
    changes: dict = field(default_factory=dict)  # name -> positions where it was set or deleted


@dataclass(eq=False)
class RAct:
    """A stretch of a frame on its thread's stack (call or resume up to return or yield)."""

    frame: RFrame
    fid: object
    depth: int
    func: str  # as the record that pushed it said (shell frames are matched by it)
    start: int
    line: int | None = None
    end: int | None = None
    positions: list = field(default_factory=list)


@dataclass(eq=False)
class RThread:
    key: tuple
    first: int
    stack: list = field(default_factory=list)
    positions: list = field(default_factory=list)
    last: tuple | None = None  # (pos, kind, record)
    prev: tuple | None = None
    just_returned: RAct | None = None


def read_streams(root: Path) -> list[dict]:
    """Every usable record of the archive's streams, in timeline order."""
    streams = []
    for f in sorted((root / "events").glob("*.jsonl")):
        last, holes, out = -1, [], []
        for line in f.read_bytes().split(b"\n"):
            try:
                rec = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if not isinstance(rec, dict):
                continue
            seq, ts, pid, kind = rec.get("seq"), rec.get("ts"), rec.get("pid"), rec.get("kind")
            if not (type(seq) is int and seq >= 0 and type(ts) in (int, float) and type(pid) is int
                    and type(kind) is str):
                continue
            if seq <= last:  # a repeat, unless it fills a hole
                hole = next((h for h in holes if h[0] <= seq <= h[1]), None)
                if hole is None:
                    continue
                holes.remove(hole)
                holes += [h for h in ([hole[0], seq - 1], [seq + 1, hole[1]]) if h[0] <= h[1]]
            else:
                if seq > last + 1:
                    holes.append([last + 1, seq - 1])
                last = seq
            out.append(rec)
        streams.append(out)
    # each stream keeps its order; heads compare by (ts, pid, seq)
    return list(heapq.merge(*streams, key=lambda r: (float(r["ts"]), r["pid"], r["seq"])))


class Reference:
    """Replays every record from the start, the slow and obvious way."""

    def __init__(self, records: list[dict], want: set[int]):
        self.records = records
        self.threads: dict[tuple, RThread] = {}
        self.known: dict[tuple, RFrame] = {}  # (pid, fid) -> frame, until it returns for good
        self.record_act: dict[int, tuple[RThread, RAct]] = {}
        self.line_hits: Counter = Counter()
        self.kinds: Counter = Counter()
        self.chains: dict[tuple, int] = {}
        self.uncaught: list[int] = []
        self.tracebacks = 0
        self.last_traceback = None
        self.metrics: dict[str, tuple] = {}
        self.job_state = None
        self.exits: dict[int, int] = {}  # pid -> pos of its process's exit record
        self.snapshots = {}
        for pos, rec in enumerate(records):
            self.kinds[rec["kind"]] += 1
            self._record(pos, rec)
            if pos in want:
                self.snapshots[pos] = self._snapshot(pos)
        for t in self.threads.values():
            while t.stack:
                self._end(t, t.stack.pop(), None)
        self.uncaught.extend(self.chains.values())

    # the rules of spec section 2, record by record

    def _record(self, pos: int, rec: dict) -> None:
        kind, pid = rec["kind"], rec["pid"]
        if kind == "metric" and isinstance(rec.get("values"), dict):
            for name, v in rec["values"].items():
                if type(v) in (int, float):
                    self.metrics[name] = (float(rec["ts"]), v)
        elif kind == "state":
            self.job_state = as_str(rec.get("state"))
        elif kind == "process" and rec.get("phase") == "exit":
            self.exits[pid] = pos
        if kind not in FRAME_KINDS and kind != "command":
            return
        key = (pid, as_int(rec.get("tid")))
        t = self.threads.get(key)
        if t is None:
            t = self.threads[key] = RThread(key, pos)
        prev_pos = t.last[0] if t.last else pos
        t.prev, t.last, t.just_returned = t.last, (pos, kind, rec), None
        t.positions.append(pos)
        depth = as_int(rec.get("depth"))
        line = rec.get("line") if type(rec.get("line")) is int else None
        file = as_str(rec.get("file"))
        if kind == "command":
            func = as_str(rec.get("func"), "main")
            while t.stack and not (t.stack[-1].depth < depth
                                   or (t.stack[-1].depth == depth and t.stack[-1].func == func)):
                self._end(t, t.stack.pop(), prev_pos)
            act = t.stack[-1] if t.stack and t.stack[-1].depth == depth else None
            if act is None:
                act = self._push(t, pid, None, depth, pos, func, file, False)
            act.line = line
            self.line_hits[(file, line)] += 1
            act.positions.append(pos)
            self.record_act[pos] = (t, act)
            return
        func, fid = as_str(rec.get("func")), rec.get("fid")
        if kind == "call":
            while t.stack and not t.stack[-1].depth < depth:
                self._end(t, t.stack.pop(), prev_pos)
            act = self._push(t, pid, fid, depth, pos, func, file, bool(rec.get("resume")))
            if rec.get("args"):
                self._vars(act.frame, pos, rec["args"], None)
        else:
            top = t.stack[-1] if t.stack else None
            if top is None or top.fid != fid or (fid is None and top.depth != depth):
                if fid is not None and any(a.fid == fid for a in t.stack):
                    while t.stack[-1].fid != fid:
                        self._end(t, t.stack.pop(), prev_pos)
                else:
                    while t.stack and not t.stack[-1].depth < depth:
                        self._end(t, t.stack.pop(), prev_pos)
                    self._push(t, pid, fid, depth, pos, func, file, fid is not None)
            act = t.stack[-1]
            if rec.get("changed") or rec.get("deleted"):
                self._vars(act.frame, pos, rec.get("changed"), rec.get("deleted"))
            if kind == "line":
                self.line_hits[(file, line)] += 1
                self.chains.pop(key, None)
            elif kind == "exception" and rec.get("traceback") is not None:
                self.chains[key] = pos
                self.tracebacks += 1
                self.last_traceback = pos
        if line is not None:
            act.line = line
        act.positions.append(pos)
        self.record_act[pos] = (t, act)
        if kind == "return":
            t.stack.pop()
            self._end(t, act, pos)
            t.just_returned = act
            if not rec.get("yield") and fid is not None:
                self.known.pop((pid, fid), None)

    def _push(self, t: RThread, pid: int, fid, depth: int, pos: int, func: str, file: str,
              resume: bool) -> RAct:
        frame = self.known.get((pid, fid)) if resume and fid is not None else None
        if frame is None:
            frame = RFrame(func, file)
            if fid is not None:
                self.known[(pid, fid)] = frame
        act = RAct(frame, fid, depth, func, pos)
        t.stack.append(act)
        return act

    def _end(self, t: RThread, act: RAct, end: int | None) -> None:
        act.end = end
        if act.depth == 0 and t.key in self.chains:
            self.uncaught.append(self.chains.pop(t.key))

    @staticmethod
    def _vars(frame: RFrame, pos: int, changed, deleted) -> None:
        for name, pair in as_vars(changed).items():
            frame.locals[name] = pair
            frame.changes.setdefault(name, []).append(pos)
        if isinstance(deleted, list):
            for name in deleted:
                if isinstance(name, str):
                    frame.locals.pop(name, None)
                    frame.changes.setdefault(name, []).append(pos)

    # what a debugger shows at one position

    def _snapshot(self, pos: int) -> dict:
        threads = {}
        for key, t in self.threads.items():
            if t.last[0] < self.exits.get(key[0], -1):  # its process exited after its last record
                continue
            # a returning frame stays on top at its return record only
            returning = t.just_returned is not None and t.last[0] == pos
            stack = list(t.stack) + ([t.just_returned] if returning else [])
            frames = [(a, a.line, a.depth, dict(sorted(a.frame.locals.items()))) for a in stack]
            lines = [a.line for a in stack]
            changed = set()
            lpos, lkind, lrec = t.last
            if lpos == pos and stack:
                names = lrec.get("args") if lkind == "call" else lrec.get("changed")
                changed = set(as_vars(names))
                changed &= set(stack[-1].frame.locals)
            returned = None
            source = lrec if lkind == "return" else (t.prev[2] if lpos == pos and t.prev and t.prev[1] == "return"
                                                      else None)
            if source is not None:
                value = source.get("value")
                if isinstance(value, list) and len(value) == 2:
                    returned = (source.get("func", ""), value)
            threads[key] = {"frames": frames, "lines": lines, "changed": changed, "returned": returned}
        current = self.record_act.get(pos)
        return {"threads": threads, "metrics": dict(self.metrics), "job_state": self.job_state,
                "current": current[0].key if current else None}

    # navigation, by looking at the whole walk

    def step(self, pos: int, action: str, backward: bool) -> int | None:
        t, act = self.record_act[pos]
        recs = t.positions

        def after(p):
            i = bisect.bisect_right(recs, p)
            return recs[i] if i < len(recs) else None

        def before(p):
            i = bisect.bisect_left(recs, p)
            return recs[i - 1] if i > 0 else None

        if action == "into":
            return before(pos) if backward else after(pos)
        if action == "over":
            i = act.positions.index(pos)
            if backward:
                return act.positions[i - 1] if i > 0 else before(act.start)
            if i + 1 < len(act.positions):
                return act.positions[i + 1]
        if backward:
            return before(act.start)
        return None if act.end is None else after(act.end)


# --- comparing ---------------------------------------------------------------------------------


def build_index(root: Path, db: Path) -> Index:
    inp = open_input(root)
    try:
        indexer.remove(db)
        indexer.build(inp, db)
    finally:
        inp.close()
    return Index(db)


def compare(ix: Index, ref: Reference, positions, steps: bool = True) -> None:
    """Every answer of the index at `positions` equals the reference's."""
    assert ix.count == len(ref.records)
    frame_ids: dict[int, RFrame] = {}
    ref_ids: dict[int, int] = {}
    keys = {t.key: (t.pid, t.tid) for t in ix.threads()}
    for pos in positions:
        want = ref.snapshots[pos]
        state = ix.state_at(pos)
        where = f"at {pos} ({ref.records[pos]['pid']}:{ref.records[pos]['seq']} {ref.records[pos]['kind']})"
        assert state.record == ref.records[pos], where
        assert {(t.pid, t.tid) for t in state.threads} == set(want["threads"]), where
        assert (keys.get(state.current_thread) if state.current_thread is not None else None) == want["current"]
        assert {k: v for k, v in state.metrics.items()} == want["metrics"], where
        assert state.job_state == want["job_state"], where
        for t in state.threads:
            w = want["threads"][(t.pid, t.tid)]
            got = [(f.func, f.file, f.line, f.depth) for f in t.stack]
            exp = [(a.frame.func, a.frame.file, line, depth) for (a, line, depth, _) in w["frames"]]
            assert got == exp, f"{where} thread {t.pid}/{t.tid}"
            for f, (act, _, _, local) in zip(t.stack, w["frames"], strict=True):
                assert f.locals == local, f"{where} thread {t.pid}/{t.tid} {f.func}"
                assert (f.start_pos, f.end_pos) == (act.start, act.end), f"{where} segment of {f.func}"
                # one frame id per activation, kept across a generator's resumptions
                assert frame_ids.setdefault(f.frame_id, act.frame) is act.frame, where
                assert ref_ids.setdefault(id(act.frame), f.frame_id) == f.frame_id, where
            assert (t.stack[-1].changed if t.stack else set()) == w["changed"], where
            assert all(not f.changed for f in t.stack[:-1]), where
            assert t.returned == w["returned"], where
        if not steps or pos not in ref.record_act:
            continue
        for action, backward in STEPS:
            assert ix.step(pos, action, backward) == ref.step(pos, action, backward), (where, action, backward)
        top = ref.record_act[pos][1].frame
        fid = next(i for i, fr in frame_ids.items() if fr is top) if top in frame_ids.values() else None
        for name, hits in top.changes.items():
            if fid is None:
                break
            i = bisect.bisect_right(hits, pos)
            assert ix.var_change(fid, name, pos) == (hits[i - 1] if i else None), (where, name)
            assert ix.var_change(fid, name, pos, backward=False) == (hits[i] if i < len(hits) else None), (where, name)


def compare_job_facts(ix: Index, ref: Reference) -> None:
    """Facts of the whole job that the indexer gathers while it passes."""
    kinds = {k: n for k, n in ref.kinds.items()}
    assert {k: n for k, n in ix.meta["kinds"].items() if k != "other"} == {
        k: n for k, n in kinds.items() if k in ix.meta["kinds"]}
    hits = {}
    for (file, line), n in ref.line_hits.items():
        if line is not None:
            hits.setdefault(file, {})[line] = n
    for file, lines in hits.items():
        assert ix.line_hits(file) == lines, file
    assert ix.meta["uncaught"] == ref.uncaught[-100:]
    assert ix.meta["tracebacks"] == ref.tracebacks
    assert ix.meta["last_traceback"] == ref.last_traceback


# --- a realistic job ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = write_synthetic(tmp_path_factory.mktemp("synth") / "job", 40_000, seed=7)
    records = read_streams(root)
    rng = random.Random(3)
    positions = set(rng.sample(range(len(records)), 120))
    # where the rules are tested hardest: returns, yields, resumes, raises, the record after each
    special = [p for p, r in enumerate(records)
               if r.get("resume") or r.get("yield") or r["kind"] in ("exception", "command", "metric", "state", "process")]
    for p in rng.sample(special, min(150, len(special))):
        positions |= {p, min(p + 1, len(records) - 1)}
    positions |= {0, len(records) - 1}
    ref = Reference(records, positions)
    ix = build_index(root, tmp_path_factory.mktemp("ix") / "index.sqlite")
    return ix, ref, sorted(positions), root


def test_synthetic_job_exercises_every_rule(synthetic):
    ref = synthetic[1]
    recs = ref.records
    assert sum(1 for r in recs if r.get("resume")) > 50
    assert sum(1 for r in recs if r.get("yield")) > 50
    assert sum(1 for r in recs if r.get("traceback")) > 20
    assert len({r["pid"] for r in recs}) == 5
    # a generator resumed on the other thread than the one it yielded on
    yielded = {}
    moved = 0
    for r in recs:
        if r.get("yield"):
            yielded[(r["pid"], r["fid"])] = r["tid"]
        elif r.get("resume") and yielded.get((r["pid"], r["fid"]), r["tid"]) != r["tid"]:
            moved += 1
    assert moved > 0
    # verbosity raised mid-run: records of frames whose call was never seen
    called, orphans = set(), 0
    for r in recs:
        if r["kind"] == "call":
            called.add((r["pid"], r["fid"]))
        elif r["kind"] in ("line", "return") and (r["pid"], r["fid"]) not in called:
            orphans += 1
            called.add((r["pid"], r["fid"]))
    assert orphans > 10


def test_state_steps_and_variables_match_a_full_replay(synthetic):
    ix, ref, positions, _ = synthetic
    compare(ix, ref, positions)


def test_job_facts_match_a_full_replay(synthetic):
    ix, ref, _, _ = synthetic
    compare_job_facts(ix, ref)


def dump(db: Path) -> dict:
    """Every row of every table of an index, in a fixed order."""
    conn = sqlite3.connect(db)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        out = {}
        for t in tables:
            n = len(conn.execute(f"PRAGMA table_info({t})").fetchall())
            out[t] = conn.execute(f"SELECT * FROM {t} ORDER BY {', '.join(map(str, range(1, n + 1)))}").fetchall()
        return out
    finally:
        conn.close()


def test_the_worker_process_builds_the_same_index(synthetic, tmp_path, monkeypatch):
    ix, _, _, root = synthetic
    monkeypatch.setenv("JEMGUI_INDEX_WORKER", "1")
    monkeypatch.setattr(indexer, "BATCH", 3000)  # many batches: blocks and open frames cross them
    worker = dump(build_index(root, tmp_path / "worker.sqlite").db_path)
    monkeypatch.setenv("JEMGUI_INDEX_WORKER", "0")
    alone = dump(build_index(root, tmp_path / "alone.sqlite").db_path)
    assert worker == alone
    assert worker == dump(ix.db_path)  # and the batch size changes nothing


# --- made-up sequences ------------------------------------------------------------------------------

NAMES = ("a", "b", "c")


@st.composite
def frame_record(draw, tid):
    kind = draw(st.sampled_from(("call", "line", "line", "line", "return", "exception")))
    rec = {"kind": kind, "tid": tid, "fid": draw(st.integers(1, 6)), "file": draw(st.sampled_from(("/a.py", "/b.py"))),
           "line": draw(st.integers(1, 9)), "func": draw(st.sampled_from(("f", "g", "h"))),
           "depth": draw(st.integers(0, 4))}
    values = st.dictionaries(st.sampled_from(NAMES), st.tuples(st.just("int"), st.sampled_from(("1", "2", "3"))),
                             max_size=2).map(lambda d: {k: list(v) for k, v in d.items()})
    if kind == "call":
        rec["resume"] = draw(st.booleans())
        if draw(st.booleans()):
            rec["args"] = draw(values)
    elif kind == "return":
        if draw(st.booleans()):
            rec["yield"] = True
        if draw(st.booleans()):
            rec["value"] = ["int", draw(st.sampled_from(("0", "1")))]
    elif kind == "exception":
        rec.update(type="KeyError", message="k")
        if draw(st.booleans()):
            rec["traceback"] = [["/a.py", 1, "f"]]
    else:
        changed = draw(values)
        if changed:
            rec["changed"] = changed
        gone = [n for n in draw(st.lists(st.sampled_from(NAMES), max_size=1)) if n not in changed]
        if gone:
            rec["deleted"] = gone
        if draw(st.integers(0, 9)) == 0:  # a malformed entry is dropped, the rest kept
            rec.setdefault("changed", {})["bad"] = ["int"]
    return rec


@st.composite
def job(draw):
    """A few streams of frame records (some damaged), metrics and states, with ties in time."""
    streams = {}
    for pid in draw(st.lists(st.sampled_from((10, 20, 30)), min_size=1, max_size=3, unique=True)):
        tids = draw(st.lists(st.sampled_from((1, 2)), min_size=1, max_size=2, unique=True))
        recs = draw(st.lists(st.one_of(*[frame_record(t) for t in tids]), min_size=1, max_size=25))
        if draw(st.booleans()):  # the process exits, its threads' last records before or after it
            recs.insert(draw(st.integers(0, len(recs))), {"kind": "process", "phase": "exit", "exit_code": 0})
        if pid == 30:  # the monitor's and a shell's kinds on this one
            recs += [{"kind": "metric", "values": {"rss": draw(st.integers(0, 9))}},
                     {"kind": "state", "state": draw(st.sampled_from(("RUNNING", "FAILED")))},
                     {"kind": "command", "file": "/r.sh", "line": draw(st.integers(1, 5)),
                      "func": draw(st.sampled_from(("main", "setup"))), "depth": draw(st.integers(0, 2)),
                      "tid": 5, "text": "x"}]
            recs = draw(st.permutations(recs))
        lines, ts = [], 100.0
        for seq, r in enumerate(recs):
            ts += draw(st.sampled_from((0.0, 0.001, 0.002)))
            lines.append(orjson.dumps({"seq": seq, "ts": round(ts, 6), "pid": pid, **r}))
        damage = draw(st.sampled_from(("none", "bad-json", "repeat", "cut", "late")))
        if damage == "bad-json" and lines:
            lines.insert(draw(st.integers(0, len(lines))), b'{"seq": 3, "ts": oops')
        elif damage == "repeat" and len(lines) > 1:
            lines.insert(draw(st.integers(1, len(lines))), lines[0])
        elif damage == "late" and len(lines) > 2:  # a record arrives after the next: a hole, then filled
            lines[0], lines[1] = lines[1], lines[0]
        elif damage == "cut":
            lines.append(lines[-1][: len(lines[-1]) // 2])
        streams[pid] = b"\n".join(lines) + (b"" if damage == "cut" else b"\n")
    return streams


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(job())
def test_made_up_sequences_match_a_full_replay(streams):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "job"
        (root / "events").mkdir(parents=True)
        for pid, data in streams.items():
            (root / "events" / f"{pid}.jsonl").write_bytes(data)
        records = read_streams(root)
        if not records:
            return
        ref = Reference(records, set(range(len(records))))
        ix = build_index(root, Path(tmp) / "index.sqlite")
        try:
            compare(ix, ref, range(len(records)))
            compare_job_facts(ix, ref)
        finally:
            ix.close()
