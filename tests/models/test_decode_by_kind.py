"""The archive reader's first decoding picks a struct by `kind` (`streams._decode_by_kind`, fewer
fields for the frame kinds): every line it accepts must give the record `_Known` gives, field for
field, and every line it refuses must be one `_Known` or the lenient path reads instead. The index
built from such lines is then the one built before (`test_indexer_equivalence` checks the answers).
"""

from __future__ import annotations

import json

import msgspec
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from jemgui.models import records, streams

FIELDS = [f.encode_name for f in msgspec.structs.fields(streams.Rec) if f.name != "kind"]
VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**64), 2**64), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5), st.lists(st.text(max_size=3), max_size=3),
    st.tuples(st.text(max_size=3), st.text(max_size=3)).map(list),
    st.dictionaries(st.text(max_size=3), st.tuples(st.text(max_size=3), st.text(max_size=3)).map(list), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(-5, 5), max_size=2),
    st.lists(st.tuples(st.text(max_size=3), st.one_of(st.none(), st.integers(0, 9)), st.text(max_size=3)).map(list),
             max_size=2),
)
KINDS = st.one_of(st.sampled_from(records.KINDS), st.text(max_size=6))


def _fields(rec) -> dict:
    return {f: getattr(rec, f) for f in rec.__struct_fields__} | {"kind": rec.kind}


def _same(line: bytes) -> None:
    try:
        by_kind = streams._decode_by_kind(line)
    except streams._DECODE_ERRORS:
        return  # read by `_Known` or the lenient path, as before
    known = streams._decode_known(line)
    got, want = _fields(by_kind), _fields(known)
    assert got == {k: want[k] for k in got}, line
    assert all(want[f.name] == f.default for f in msgspec.structs.fields(streams.Rec) if f.name not in got), line


@settings(max_examples=400, deadline=None)
@given(kind=KINDS, seq=st.integers(-1, 2**63), ts=st.floats(-1, 2e11), extra=st.dictionaries(
    st.one_of(st.sampled_from(FIELDS), st.text(max_size=4)), VALUES, max_size=6))
def test_a_line_decoded_by_kind_is_the_record_known_decodes(kind, seq, ts, extra):
    rec = {"seq": seq, "ts": ts, "pid": 7, "kind": kind, **extra}
    _same(json.dumps(rec).encode())  # json: orjson refuses integers past 64 bits


def test_frame_records_take_the_small_structs_and_the_others_all_fields():
    line = {"seq": 0, "ts": 1.5, "pid": 7, "tid": 1, "fid": 3, "file": "a.py", "line": 2, "func": "f", "depth": 0}
    for kind in ("call", "line", "return", "exception"):
        rec = streams._decode_by_kind(orjson.dumps({**line, "kind": kind, "changed": {"x": ["int", "1"]}}))
        assert rec.kind == kind and len(rec.__struct_fields__) < len(streams.Rec.__struct_fields__)
        assert rec.changed == {"x": ("int", "1")}
    metric = streams._decode_by_kind(b'{"seq":0,"ts":1.0,"pid":7,"kind":"metric","values":{"rss":5}}')
    assert metric.kind == "metric" and metric.values == {"rss": 5}


def test_lines_the_structs_by_kind_refuse_fall_back():
    """An unknown kind, a field the frame kinds do not have, a repeated kind: `_Known` reads them."""
    for line in (b'{"seq":0,"ts":1.0,"pid":7,"kind":"novel"}',
                 b'{"seq":0,"ts":1.0,"pid":7,"kind":"line","values":{"rss":5}}',
                 b'{"seq":0,"ts":1.0,"pid":7,"kind":"line","kind":"call"}'):
        try:
            streams._decode_by_kind(line)
            raise AssertionError(f"accepted {line!r}")
        except streams._DECODE_ERRORS:
            pass
        rec = streams._decode_known(line)
        chunk = streams._fast([line], streams._Pids(streams.StreamStats(name="s"), 10, None))
        assert chunk is not None and _fields(chunk[0][0]) == _fields(rec)


EDGES = [None, True, 0, -1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 1.5, 1e300, "s", [], ["a"], [1], ["a", "b"],
         {}, {"a": ["b", "c"]}, {"a": ["b"]}, {"a": 1}, {"a": 1.5}, {"a": 2**63}, [["f", 1, "g"]], [["f", None, "g"]],
         [["f", -1, "g"]], [["f", "1", "g"]]]


def test_every_field_of_every_kind_with_edge_values():
    """Each field the spec names, alone, with values at and past its type's bounds, on every kind."""
    for kind in (*records.KINDS, "novel"):
        for name in FIELDS:
            for value in EDGES:
                _same(json.dumps({"seq": 0, "ts": 1.0, "pid": 7, "kind": kind, name: value}).encode())
