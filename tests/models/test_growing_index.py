"""The index grown record by record from a live feed gives every thread the same state as the archive's.

The live feed hands each stream's records in its own order, interleaved with
the other streams in arrival order (here: random runs, committed at random
points, the way broker batches and timer ticks cut them). At every record
of every thread, that thread's stack (frames, lines, locals, names just
changed, the value just returned) must be what the index built from the
finished archive shows at the same record.
"""

from __future__ import annotations

import random

import orjson
import pytest

from benchmarks.synth import write_archive
from jemgui.models import indexer
from jemgui.models.growing import GrowingIndex
from jemgui.models.index import Index
from jemgui.models.inputs import open_input


def _streams(folder) -> dict[int, list[dict]]:
    out = {}
    for f in sorted((folder / "events").glob("*.jsonl")):
        recs = [orjson.loads(line) for line in f.read_bytes().splitlines() if line]
        out[recs[0]["pid"]] = recs
    return out


def _grow(streams: dict[int, list[dict]], db_path, seed: int) -> GrowingIndex:
    rnd = random.Random(seed)
    left = {pid: list(recs) for pid, recs in streams.items()}
    grown = GrowingIndex(db_path, {"id": "live-test"})
    while left:
        pid = rnd.choice(sorted(left))
        n = rnd.choice((1, 3, 17, 200, 1000))
        part, left[pid] = left[pid][:n], left[pid][n:]
        if not left[pid]:
            del left[pid]
        grown.add(pid, part)
        if rnd.random() < 0.3:
            grown.commit()
    grown.commit()
    return grown


def _thread_view(state, pid: int, tid: int):
    t = next((t for t in state.threads if (t.pid, t.tid) == (pid, tid)), None)
    if t is None:
        return None
    return ([(f.file, f.line, f.func, f.depth, f.locals, sorted(f.changed)) for f in t.stack], t.returned)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("growing")
    folder = write_archive(tmp / "job", 6000, seed=7, processes=2)
    inp = open_input(folder)
    indexer.build(inp, tmp / "archive.sqlite")
    inp.close()
    streams = _streams(folder)
    grown = _grow(streams, tmp / "live.sqlite", seed=3)
    return Index(tmp / "archive.sqlite"), Index(tmp / "live.sqlite"), streams, grown


def test_every_thread_has_the_same_state_at_every_record(built):
    archive, live, streams, _ = built
    assert live.count == archive.count > 5000
    compared = 0
    for pid, recs in streams.items():
        for rec in recs:
            if "tid" not in rec and rec["kind"] != "command":
                continue
            a, b = archive.pos_of(pid, rec["seq"]), live.pos_of(pid, rec["seq"])
            assert archive.record(a) == live.record(b) == rec
            tid = rec.get("tid", 0)
            assert _thread_view(live.state_at(b), pid, tid) == _thread_view(archive.state_at(a), pid, tid), \
                f"record {pid}:{rec['seq']}"
            compared += 1
    assert compared > 4000


def test_the_order_differs_but_counts_and_hits_agree(built):
    archive, live, _, _ = built
    order_a = [(r["pid"], r["seq"]) for r in archive.iter_records()]
    order_b = [(r["pid"], r["seq"]) for r in live.iter_records()]
    assert order_a != order_b and sorted(order_a) == sorted(order_b)
    assert live.meta["kinds"] == archive.meta["kinds"]
    for path in archive.source_paths():
        assert live.line_hits(path) == archive.line_hits(path) != {}
    assert {(t.pid, t.tid) for t in live.threads()} == {(t.pid, t.tid) for t in archive.threads()}


def test_readers_see_each_commit(tmp_path):
    streams = _streams(write_archive(tmp_path / "job", 800, seed=2, processes=1))
    grown = GrowingIndex(tmp_path / "live.sqlite")
    reader = Index(tmp_path / "live.sqlite")
    assert reader.count == 0
    seen = []
    for pid, recs in streams.items():
        for i in range(0, len(recs), 100):
            grown.add(pid, recs[i:i + 100])
            grown.commit()
            reader.refresh()
            seen.append(reader.count)
            assert reader.state_at(reader.count - 1).pos == reader.count - 1
    assert seen == sorted(seen) and seen[-1] == grown.count and len(set(seen)) == len(seen)


def test_a_record_committed_after_the_last_refresh_can_be_read(tmp_path):
    """Each statement reads the newest commit: a position a query names is readable before refresh()."""
    streams = _streams(write_archive(tmp_path / "job", 300, seed=4, processes=1))
    pid, recs = max(streams.items(), key=lambda kv: len(kv[1]))
    grown = GrowingIndex(tmp_path / "live.sqlite")
    grown.add(pid, recs[:10])
    grown.commit()
    reader = Index(tmp_path / "live.sqlite")
    assert reader.count == 10 and reader.record(9) == recs[9]
    grown.add(pid, recs[10:100])
    grown.commit()
    assert reader.count == 10 and reader.record(50) == recs[50]  # not refreshed yet, still readable
    with pytest.raises(IndexError):
        reader.record(100)


def test_records_the_strict_decoding_refuses_are_read_leniently_as_the_archive_reads_them(tmp_path):
    """A field the spec does not name, a repeated seq: the same records kept as the archive's reader keeps."""
    recs = [{"seq": 0, "ts": 1.0, "pid": 9, "kind": "marker", "text": "a"},
            {"seq": 1, "ts": 2.0, "pid": 9, "kind": "marker", "text": "b", "extra": {"deep": [1, 2]}},
            {"seq": 1, "ts": 2.5, "pid": 9, "kind": "marker", "text": "repeat"},
            {"seq": 2, "ts": 3.0, "pid": 9, "kind": "line", "tid": 1, "fid": 1, "file": "/a.py", "line": 1,
             "func": "f", "depth": 0}]
    folder = tmp_path / "job"
    (folder / "events").mkdir(parents=True)
    (folder / "events" / "9.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in recs))
    inp = open_input(folder)
    indexer.build(inp, tmp_path / "archive.sqlite")
    inp.close()
    grown = GrowingIndex(tmp_path / "live.sqlite")
    grown.add(9, recs[:2])
    grown.add(9, recs[2:])
    grown.commit()
    archive, live = Index(tmp_path / "archive.sqlite"), Index(tmp_path / "live.sqlite")
    assert [live.record(p) for p in range(live.count)] == [archive.record(p) for p in range(archive.count)]
    assert live.count == 3 and live.report.counts.get("seq-repeat") == 1
