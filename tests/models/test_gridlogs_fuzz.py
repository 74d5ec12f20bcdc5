"""Damaged copies of pilot log tarballs: any corruption gives well-formed records and one-line problems, never a crash."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jemgui.models.gridlogs.job import convert_folder
from jemgui.models.inputs import UnreadableInput, open_input
from jemgui.models.report import ImportReport
from tests.models import gridlogs_fixtures as fx
from tests.models.test_legacy_jmd import assert_well_formed

FIXTURES = [fx.user_job_python_exception(), fx.killed_by_batch(), fx.validation_failure(),
            fx.success_with_logged_traceback()]
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def damage(data: bytes, edits: list[tuple[float, bytes]], cut: float | None) -> bytes:
    """Overwrite bytes at the given relative places, then maybe cut the end off."""
    buf = bytearray(data)
    for where, junk in edits:
        if buf:
            at = int(where * (len(buf) - 1))
            buf[at:at + len(junk)] = junk
    if cut is not None:
        buf = buf[: int(cut * len(buf))]
    return bytes(buf)


EDITS = st.lists(st.tuples(st.floats(0, 1), st.binary(min_size=1, max_size=40)), max_size=6)


@SETTINGS
@given(which=st.integers(0, len(FIXTURES) - 1), member=st.integers(0, 10), edits=EDITS,
       cut=st.none() | st.floats(0, 1))
def test_damaged_logs_give_well_formed_records(tmp_path_factory, which, member, edits, cut):
    files = dict(FIXTURES[which])
    name = sorted(files)[member % len(files)]
    files[name] = damage(files[name], edits, cut)
    report = ImportReport()
    conv = convert_folder(fx.unpack(tmp_path_factory.mktemp("d"), files), report)
    assert_well_formed(conv.streams)
    for p in report.problems:
        assert "\n" not in str(p)


@SETTINGS
@given(which=st.integers(0, len(FIXTURES) - 1), edits=EDITS, cut=st.none() | st.floats(0.05, 1))
def test_damaged_tarballs_open_or_fail_with_one_line(tmp_path_factory, which, edits, cut):
    path = fx.pack(tmp_path_factory.mktemp("t"), FIXTURES[which])
    path.write_bytes(damage(path.read_bytes(), edits, cut))
    try:
        inp = open_input(path)
    except UnreadableInput as exc:
        assert "\n" not in str(exc) and str(exc)
        return
    try:
        assert_well_formed({s.pid: [json.loads(x) for x in s.path.read_bytes().splitlines()] for s in inp.streams})
        for p in inp.report.problems:
            assert "\n" not in str(p)
    finally:
        inp.close()


FRAGMENTS = [
    "Traceback (most recent call last):", '  File "/srv/a.py", line 3, in f', '  File "/srv/b.py", line 9',
    "    x = g()", "    ~~~^^", "ValueError: bad", "KeyError", "",
    "The above exception was the direct cause of the following exception:",
    "During handling of the above exception, another exception occurred:",
    "23:59:59 AthenaEventLoopMgr   INFO   ===>>>  start processing event #1", "00:00:01 G4   ERROR  lost",
    "PyJobTransforms.transform.execute 2026-08-17 23:59:58,100 WARNING x", "2026-08-18 00:00:00,000 | INFO | y",
    "  [Previous line repeated 996 more times]", "Shortened traceback (most recent user call last):", "\x00\udcff",
]


@SETTINGS
@given(picks=st.lists(st.integers(0, len(FRAGMENTS) - 1), max_size=60), target=st.sampled_from(
    ["payload.stdout", "payload.stderr", "log.EVNTtoHITS", "pilotlog.txt"]))
def test_any_mix_of_traceback_and_log_fragments_converts_cleanly(tmp_path_factory, picks, target):
    files = dict(FIXTURES[2])
    text = "\n".join(FRAGMENTS[i] for i in picks) + "\n"
    files[target] = files.get(target, b"") + text.encode("utf-8", "surrogateescape")
    report = ImportReport()
    conv = convert_folder(fx.unpack(tmp_path_factory.mktemp("m"), files), report)
    assert_well_formed(conv.streams)
    for recs in conv.streams.values():
        for r in recs:
            if r["kind"] == "exception" and "traceback" in r:
                assert isinstance(r["type"], str) and r["type"]
                assert all(isinstance(f[1], int) for f in r["traceback"])


@SETTINGS
@given(which=st.integers(0, len(FIXTURES) - 1), member=st.integers(0, 10), edits=EDITS,
       cut=st.none() | st.floats(0, 1), sparse=st.sampled_from([1, 2, 16]), chunk=st.sampled_from([64, 4 << 20]))
def test_the_line_index_of_a_damaged_log_has_every_line_and_times_that_never_go_back(
        tmp_path_factory, monkeypatch, which, member, edits, cut, sparse, chunk):
    from jemgui.models.gridlogs import lineindex

    monkeypatch.setattr(lineindex, "SPARSE", sparse)
    monkeypatch.setattr(lineindex, "CHUNK", chunk)
    files = FIXTURES[which]
    name = sorted(files)[member % len(files)]
    data = damage(files[name], edits, cut)
    path = tmp_path_factory.mktemp("li") / "log.damaged"
    path.write_bytes(data)
    ix = lineindex.build(path, fx.T0)
    raw = data.split(b"\n")
    if raw and raw[-1] == b"":
        raw.pop()
    assert ix.count == len(raw) and ix.size == len(data)
    assert ix.lines(0, ix.count) == [r.rstrip(b"\r").decode("utf-8", "replace") for r in raw]
    times = [ix.time(n) for n in range(ix.count)]
    assert all(a <= b for a, b in zip(times, times[1:], strict=False)) and (not times or times[0] >= fx.T0)
    assert all(0 <= e < ix.count for e in ix.errors.tolist())
    for n in range(0, ix.count, 5):
        assert ix.time(ix.line_at(times[n])) == times[n] and ix.line_at(times[n]) >= n
