"""The monitor's stream writer: raw feeds turned into numbered lines, in bounded steps."""

from __future__ import annotations

import json
import marshal

import pytest

from jemgui.monitor import streams as streams_mod
from jemgui.monitor.inject import _jem_raw
from jemgui.monitor.streams import JsonlStream, Streams, line_of


def _feed(raw_dir, pid: int, batches: list[list[tuple]]) -> None:
    writer = _jem_raw.RawWriter(str(raw_dir / f"{pid}.bin"))
    for batch in batches:
        writer.queue.extend(batch)
        writer.flush()
    writer.close()


def _frames(n: int, start: int = 0, extra=None) -> list[tuple]:
    return [(7, _jem_raw.CALL if i % 2 == 0 else _jem_raw.RETURN, 1700000000.0 + i * 1e-6, 11, i,
             None if i % 2 == 0 else -1, 3, extra) for i in range(start, start + n)]


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


@pytest.fixture
def folders(tmp_path):
    events, raw = tmp_path / "events", tmp_path / "raw"
    events.mkdir()
    raw.mkdir()
    return events, raw


def test_a_backlog_is_converted_a_bounded_step_per_poll_and_wholly_at_the_end(folders, monkeypatch):
    """A job that writes faster than the monitor converts leaves its backlog on disk: a tick
    reads at most READ_LIMIT; the final drain takes everything, seq by seq, in feed order."""
    monkeypatch.setattr(streams_mod, "READ_LIMIT", 8192)
    events, raw = folders
    code = (_jem_raw.CODE, 7, "/job/work.py", "work", 10, ((0, 4, 10), (4, 20, 12)))
    big = _frames(400, 600, extra={"args": {"x": ["str", "'" + "y" * 300 + "'"]}})  # one batch > READ_LIMIT
    _feed(raw, 42, [[code] + _frames(100), _frames(200, 100), _frames(300, 300), big,
                    [(_jem_raw.RECORD, "log", 1700000001.0, {"stream": "stdout", "text": "done"}),
                     (_jem_raw.END,)]])
    s = Streams(events, raw)
    first = s.poll_raw()
    assert 0 < first < 1001
    s.flush()
    assert len(_lines(events / "42.jsonl")) == first
    s.poll_raw(final=True)
    s.flush()
    recs = _lines(events / "42.jsonl")
    assert [r["seq"] for r in recs] == list(range(1001))
    assert [r["fid"] for r in recs[:-1]] == list(range(1000))
    assert recs[1]["kind"] == "return" and recs[1]["line"] == 10 and recs[0]["file"] == "/job/work.py"
    assert recs[700]["args"]["x"][1].startswith("'yyy")
    assert recs[-1]["kind"] == "log" and recs[-1]["text"] == "done"
    assert s.last_seq() == {42: 1000}


def test_last_seq_is_what_was_written_not_what_is_queued(tmp_path):
    stream = JsonlStream(tmp_path / "1.jsonl", 1)
    stream.record("marker", {"text": "a"})
    assert stream.last_seq == -1
    stream.flush()
    stream.record("marker", {"text": "b"})
    assert stream.last_seq == 0
    stream.close()
    assert stream.last_seq == 1
    assert [r["text"] for r in _lines(tmp_path / "1.jsonl")] == ["a", "b"]


def test_a_stream_reopened_after_a_cut_line_goes_on_numbering(tmp_path):
    path = tmp_path / "1.jsonl"
    path.write_bytes(b'{"seq":0,"pid":1,"ts":1.0,"kind":"marker"}\n{"seq":1,"pid":1,"ts":1.0,"ki')
    stream = JsonlStream(path, 1)
    stream.record("marker", {"text": "after"}, ts=2.0)
    stream.close()
    lines = path.read_bytes().splitlines()
    assert json.loads(lines[-1]) == {"seq": 1, "pid": 1, "ts": 2.0, "kind": "marker", "text": "after"}


@pytest.mark.parametrize("value, expected", [
    ("\ud800", "\ud800"),          # a lone surrogate: no UTF-8 for it, so it is escaped
    (2 ** 70, 2 ** 70),            # beyond 64 bits
    (object, repr(object)),        # not JSON at all
    ("é\u2028\n", "é\u2028\n"),
])
def test_every_value_makes_a_valid_line(value, expected):
    line = line_of({"seq": 0, "value": value})
    assert b"\n" not in line
    assert json.loads(line)["value"] == expected


def test_time_is_kept_to_the_microsecond():
    from jemgui.monitor.streams import _micro

    for ts in (1700000000.1234567, 1795442907.8795084, 0.0000005, 12.5):
        assert _micro(ts) == round(ts, 6) or abs(_micro(ts) - round(ts, 6)) <= 1e-6
        assert len(repr(_micro(ts)).split(".")[-1]) <= 6 or "e" in repr(_micro(ts))


@pytest.mark.parametrize("damage", [
    _jem_raw.HEADER.pack(1 << 31) + b"x" * 64,                 # a length no batch has
    _jem_raw.HEADER.pack(5) + b"\xff\xfe\x00\x01\x02",         # a batch marshal cannot read
    _jem_raw.HEADER.pack(2) + b"N.",                           # a batch that is not a list (None)
    _jem_raw.HEADER.pack(len(marshal.dumps([(7, 9, 1.0)]))) + marshal.dumps([(7, 9, 1.0)]),  # a bad entry
])
def test_a_damaged_feed_keeps_what_came_before_and_says_where_once(folders, damage):
    """A cut write (a full disk, say) must not lose the good records before it, nor flood the
    stream with a complaint every tick."""
    events, raw = folders
    code = (_jem_raw.CODE, 7, "/job/work.py", "work", 10, None)
    _feed(raw, 42, [[code] + _frames(10)])
    with open(raw / "42.bin", "ab") as f:
        f.write(damage)
    _feed(raw, 42, [_frames(10, 10)])   # written after the damage: cannot be framed any more
    s = Streams(events, raw)
    for _ in range(5):
        s.poll_raw()
    s.poll_raw(final=True)
    s.flush()
    recs = _lines(events / "42.jsonl")
    assert [r["fid"] for r in recs[:10]] == list(range(10))
    markers = [r for r in recs if r["kind"] == "marker"]
    assert len(markers) == 1 and "damaged after byte" in markers[0]["text"]
    assert [r["seq"] for r in recs] == list(range(len(recs)))
