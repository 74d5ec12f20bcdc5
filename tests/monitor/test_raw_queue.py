"""The tracer's flat queue (issue 13): a frame entry is 8 items in a row, any other entry one
tuple; what threads add while another flushes is never lost, and the monitor reads back the
same entries, in order, as records."""

from __future__ import annotations

import json
import sys
import threading

from jemgui.monitor.inject import _jem_raw
from jemgui.monitor.streams import Streams


def _read(path) -> list[tuple]:
    batches, used, damage = _jem_raw.read_batches(path.read_bytes())
    assert damage is None and used == path.stat().st_size
    return [entry for batch in batches for entry in batch]


def test_frame_entries_and_other_entries_come_back_as_the_tuples_queued(tmp_path):
    writer = _jem_raw.RawWriter(str(tmp_path / "1.bin"))
    code = (_jem_raw.CODE, 7, "/job/work.py", "work", 10, None)
    call = (7, _jem_raw.CALL, 1700000000.25, 11, 1, None, 0, None)
    resumed = (7, _jem_raw.CALL, 1700000000.5, 11, 2, -3, 1, {"resume": True})
    record = (_jem_raw.RECORD, "marker", 1700000001.0, {"text": "verbosity 2", "verbosity": 2})
    writer.put(code)
    writer.frame(call)
    writer.put(record)
    writer.frame(resumed)
    writer.flush()
    writer.frame(call)  # a batch of frame entries only
    writer.put((_jem_raw.END,))
    writer.close()
    assert _read(tmp_path / "1.bin") == [code, call, record, resumed, call, (_jem_raw.END,)]


def test_what_threads_queue_while_another_flushes_is_all_written_once_in_order(tmp_path):
    """The flush takes the queue with a slice and a del while the hooks of other threads go on
    adding at its end: every entry of every thread is written exactly once, each thread's in
    its own order."""
    writer = _jem_raw.RawWriter(str(tmp_path / "2.bin"))
    per_thread, threads = 20000, 4
    started = threading.Barrier(threads + 1)
    flushed = threading.Event()  # the threads' second halves wait for a flush (a loaded machine
    # could otherwise run every thread to its end before the flusher gets a turn)

    def hooks(tid: int) -> None:
        started.wait()
        for fid in range(per_thread):
            if fid == per_thread // 2:
                flushed.wait(30)
            writer.frame((7, fid % 2, 1.5, tid, fid, None, fid % 5, None))
            if fid % 997 == 0:
                writer.put((_jem_raw.RECORD, "marker", 2.5, {"tid": tid, "fid": fid}))

    workers = [threading.Thread(target=hooks, args=(t,)) for t in range(threads)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # threads switch between nearly any two instructions
    try:
        for w in workers:
            w.start()
        started.wait()
        flushes = 0
        while any(w.is_alive() for w in workers):
            if writer.flush() > 0:
                flushes += 1
                flushed.set()
        for w in workers:
            w.join()
        flushes += writer.flush() > 0
    finally:
        sys.setswitchinterval(interval)
    writer.close()
    assert flushes > 1
    entries = _read(tmp_path / "2.bin")
    for tid in range(threads):
        frames = [e for e in entries if e[0] == 7 and e[3] == tid]
        assert frames == [(7, fid % 2, 1.5, tid, fid, None, fid % 5, None) for fid in range(per_thread)]
        markers = [e[3]["fid"] for e in entries if e[0] == _jem_raw.RECORD and e[3]["tid"] == tid]
        assert markers == list(range(0, per_thread, 997))
    assert len(entries) == threads * (per_thread + len(range(0, per_thread, 997)))


def test_the_monitor_turns_a_flat_feed_into_the_same_records(tmp_path):
    events, raw = tmp_path / "events", tmp_path / "raw"
    events.mkdir()
    raw.mkdir()
    writer = _jem_raw.RawWriter(str(raw / "5.bin"))
    writer.put((_jem_raw.CODE, 7, "/job/work.py", "work", 10, ((0, 4, 10), (4, 20, 12))))
    writer.frame((7, _jem_raw.CALL, 1700000000.0, 11, 1, None, 0, None))
    writer.frame((7, _jem_raw.RETURN, 1700000000.5, 11, 1, -5, 0, {"value": ["int", "3"]}))
    writer.put((_jem_raw.END,))
    writer.close()
    streams = Streams(events, raw)
    streams.poll_raw(final=True)
    streams.flush()
    recs = [json.loads(line) for line in (events / "5.jsonl").read_bytes().splitlines()]
    frames = [r for r in recs if r["kind"] in ("call", "return")]
    assert [(r["kind"], r["fid"], r["line"], r["depth"], r["func"]) for r in frames] == [
        ("call", 1, 10, 0, "work"), ("return", 1, 12, 0, "work")]
    assert frames[1]["value"] == ["int", "3"]


def test_a_frame_entry_cut_short_is_damage_not_a_record(tmp_path):
    """A batch whose last frame entry lacks items (never written by the tracer) is reported."""
    events, raw = tmp_path / "events", tmp_path / "raw"
    events.mkdir()
    raw.mkdir()
    writer = _jem_raw.RawWriter(str(raw / "6.bin"))
    writer.put((_jem_raw.CODE, 7, "/job/work.py", "work", 10, None))
    writer.frame((7, _jem_raw.CALL, 1700000000.0, 11, 1, None, 0, None))
    writer.queue.extend((7, _jem_raw.RETURN, 1700000000.5))
    writer.close()
    streams = Streams(events, raw)
    streams.poll_raw(final=True)
    streams.flush()
    recs = [json.loads(line) for line in (events / "6.jsonl").read_bytes().splitlines()]
    assert [r["kind"] for r in recs] == ["call", "marker"]
    assert "damaged" in recs[-1]["text"]
