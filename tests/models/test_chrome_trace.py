"""Chrome trace-event files (VizTracer's and others') become a job of nested calls."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jemgui.models.chrome_trace import convert_chrome, split_name
from jemgui.models.report import ImportReport
from tests.models.test_legacy_jmd import assert_well_formed

DATA = Path(__file__).parent / "data" / "chrome"
TRACE = (DATA / "viztracer.json").read_bytes()
PROG = DATA / "traced_prog.py"


def convert(data: bytes):
    report = ImportReport()
    return convert_chrome(io.BytesIO(data), "trace.json", report), report


def slice_names(events) -> Counter:
    return Counter(e["name"] for e in events if isinstance(e, dict) and e.get("ph") == "X")


def call_names(conv) -> Counter:
    """Calls per slice name, the name rebuilt as the tracer wrote it."""
    out = Counter()
    for recs in conv.streams.values():
        for r in recs:
            if r["kind"] == "call":
                out[f"{r['func']} ({r['file']}:{r['line']})" if r["file"] else r["func"]] += 1
    return out


def threads(conv, pid: int) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {}
    for r in conv.streams[pid]:
        if r["kind"] in ("call", "return"):
            out.setdefault(r["tid"], []).append(r)
    return out


def check_viztracer_job(conv, events: list[dict], prog: str) -> None:
    """What a converted VizTracer trace of traced_prog.py holds."""
    assert_well_formed(conv.streams)
    assert call_names(conv) == slice_names(events)
    (pid,) = conv.streams
    head = conv.streams[pid][0]
    assert head["kind"] == "process" and head["lang"] == "python" and head["name"] == "MainProcess"
    names = {name: int(tid) for tid, name in head["threads"].items()}
    assert set(names) == {"MainThread", "worker"}
    per_thread = threads(conv, pid)
    worker, main = per_thread[names["worker"]], per_thread[names["MainThread"]]
    fibs = [r for r in worker if r["kind"] == "call" and r["func"] == "fib"]
    assert len(fibs) == 15 and fibs[0]["args"] == {"n": ["", "5"]} and fibs[0]["file"] == prog
    assert next(r for r in worker if r["kind"] == "return" and r["fid"] == fibs[0]["fid"])["value"] == ["", "5"]
    assert sum(r["kind"] == "call" and r["func"] == "fib" for r in main) == 9
    # each resumption of the generator is a slice of its own
    assert sum(r["kind"] == "call" and r["func"] == "squares" for r in worker) == 5
    outer = next(r for r in main if r["kind"] == "call" and r["func"] == "<module>")
    work = next(r for r in worker if r["kind"] == "call" and r["func"] == "work")
    assert work["depth"] > 0 and outer["depth"] > 0  # under Thread.run / builtins.exec
    sources = {r["path"]: r for r in conv.streams[pid] if r["kind"] == "source"}
    assert sources[prog]["text"] == PROG.read_text()
    assert sources[prog]["sha256"] == hashlib.sha256(PROG.read_bytes()).hexdigest()
    assert [r["values"] for r in conv.streams[pid] if r["kind"] == "metric"] == [
        {"Variable Assign - total": 14}] * 2
    (marker,) = [r for r in conv.streams[pid] if r["kind"] == "marker"]
    assert marker["text"] == "Exception - ValueError() = ValueError('x must not be 0')"


def test_viztracer_fixture():
    conv, report = convert(TRACE)
    assert report.total == 0
    doc = orjson.loads(TRACE)
    prog = next(p for p in doc["file_info"]["files"] if p.endswith("traced_prog.py"))
    check_viztracer_job(conv, doc["traceEvents"], prog)
    first = min(e["ts"] for e in doc["traceEvents"] if "ts" in e)
    assert conv.job["started"] == round(first / 1e6, 9)  # no time base given: tracer seconds


def test_a_fresh_viztracer_trace(tmp_path):
    pytest.importorskip("viztracer")
    prog = tmp_path / PROG.name
    prog.write_bytes(PROG.read_bytes())
    out = tmp_path / "trace.json"
    subprocess.run([sys.executable, "-m", "viztracer", "--quiet", "--log_func_args", "--log_func_retval",
                    "--log_exception", "--log_number", "total", "-o", str(out), "--", str(prog)],
                   check=True, cwd=tmp_path, timeout=60)
    conv, report = convert(out.read_bytes())
    assert report.total == 0
    check_viztracer_job(conv, orjson.loads(out.read_bytes())["traceEvents"], str(prog))


def test_names_split_into_function_file_and_line():
    assert split_name("Thread.run (/usr/lib/python3.11/threading.py:971)") == {
        "file": "/usr/lib/python3.11/threading.py", "line": 971, "func": "Thread.run"}
    assert split_name("builtins.sum") == {"file": "", "func": "builtins.sum"}
    assert split_name("f (C:\\job\\a.py:3)")["file"] == "C:\\job\\a.py"


def test_begin_end_counters_instants_and_damage():
    events = [
        {"ph": "M", "pid": 7, "tid": 1, "name": "process_name", "args": {"name": "reco"}},
        {"ph": "B", "pid": 7, "tid": 1, "ts": 100, "name": "outer"},
        {"ph": "B", "pid": 7, "tid": 1, "ts": 110, "name": "inner", "args": {"event": 3}},
        {"ph": "E", "pid": 7, "tid": 1, "ts": 120, "args": {"return_value": "ok"}},
        {"ph": "X", "pid": 7, "tid": 1, "ts": 130, "dur": 100, "name": "overlap"},   # runs past outer's end
        {"ph": "E", "pid": 7, "tid": 1, "ts": 150, "name": "outer"},
        {"ph": "E", "pid": 7, "tid": 1, "ts": 160},                                  # stray
        {"ph": "B", "pid": 7, "tid": 2, "ts": 105, "name": "never ends"},
        {"ph": "X", "pid": 7, "tid": 2, "ts": 106, "dur": -4, "name": "negative"},
        {"ph": "C", "pid": 7, "ts": 140, "name": "mem", "args": {"rss": 1000, "vms": 3000, "label": "x"}},
        {"ph": "C", "pid": 7, "ts": 141, "name": "cpu", "args": {"value": 55.5}},
        {"ph": "I", "pid": 7, "tid": 1, "ts": 125, "name": "checkpoint", "args": {"n": 2}},
        {"ph": "s", "pid": 7, "tid": 1, "ts": 126, "name": "flow", "id": 1},          # unknown: counted
        {"ph": "X", "pid": "12", "tid": "12", "ts": 90, "dur": 1, "name": "string ids"},
        {"ph": "X", "pid": 7, "tid": 1, "name": "no time"},
        "not an event",
    ]
    doc = {"traceEvents": events, "baseTimeNanoseconds": 1_700_000_000_000_000_000}
    conv, report = convert(orjson.dumps(doc))
    assert_well_formed(conv.streams)
    assert sorted(conv.streams) == [7, 12]
    base = 1_700_000_000.0
    main = [(r["kind"], r.get("func"), r.get("depth"), round(r["ts"] - base, 6))
            for r in conv.streams[7] if r.get("tid") == 1 and r["kind"] in ("call", "return")]
    assert main == [
        ("call", "outer", 0, 0.0001), ("call", "inner", 1, 0.00011), ("return", "inner", 1, 0.00012),
        ("call", "overlap", 1, 0.00013), ("return", "overlap", 1, 0.00015), ("return", "outer", 0, 0.00015)]
    recs = conv.streams[7]
    inner_call = next(r for r in recs if r["kind"] == "call" and r["func"] == "inner")
    assert inner_call["args"] == {"event": ["int", "3"]}
    assert next(r for r in recs if r["kind"] == "return" and r["func"] == "inner")["value"] == ["", "ok"]
    second = [(r["kind"], r["func"]) for r in recs if r.get("tid") == 2 and r["kind"] in ("call", "return")]
    assert second == [("call", "never ends"), ("call", "negative"), ("return", "negative")]
    assert [r["values"] for r in recs if r["kind"] == "metric"] == [
        {"mem.rss": 1000, "mem.vms": 3000}, {"cpu": 55.5}]
    assert [(r["text"], r["args"]) for r in recs if r["kind"] == "marker"] == [("checkpoint", {"n": ["int", "2"]})]
    assert recs[0]["name"] == "reco"
    assert conv.streams[12][1]["func"] == "string ids"
    messages = [p.message for p in report.problems]
    assert any("'negative' has no valid duration" in m for m in messages)
    assert any("1 end event(s) without a begin" in m for m in messages)
    assert any("1 begin event(s) never ended" in m for m in messages)
    assert any("1 slice(s) overlapped their parent" in m for m in messages)
    assert any("2 event(s) without a usable" in m for m in messages)
    assert report.counts["unknown-kind"] == 1


def test_bare_array_and_inputs_that_are_no_trace():
    conv, report = convert(b'[{"ph": "X", "pid": 1, "tid": 1, "ts": 5, "dur": 2, "name": "f"}]')
    assert [r["kind"] for r in conv.streams[1]] == ["process", "call", "return"] and report.total == 0
    for data in (b"", b"{}", b"null", b"[1, 2]", b'{"traceEvents": 3}', b"\xff\xfe\x00garbage"):
        conv, report = convert(data)
        assert conv.streams == {} and report.total >= 1, data


def event_spans(data: bytes) -> list[tuple[int, int, dict]]:
    """(start, end, event) of each trace event in the original file, by byte offset."""
    text = data.decode("latin-1")
    pos = text.index("[", text.index('"traceEvents"')) + 1
    decoder, out = json.JSONDecoder(), []
    while text[pos] != "]":
        if text[pos] in ", \n":
            pos += 1
            continue
        event, end = decoder.raw_decode(text, pos)
        out.append((pos, end, event))
        pos = end
    return out


SPANS = event_spans(TRACE)


def test_cut_file_keeps_every_whole_event():
    cut = SPANS[len(SPANS) * 2 // 3][0] + 7
    conv, report = convert(TRACE[:cut])
    assert [p.message.split(" (")[0] for p in report.problems] == [
        "not valid JSON", "1 damaged event(s) skipped"]
    assert_well_formed(conv.streams)
    assert call_names(conv) == slice_names(e for s, end, e in SPANS if end <= cut)


@st.composite
def corrupted(draw):
    """A damaged copy of the trace and the offset of its first damaged byte."""
    data = TRACE
    how = draw(st.sampled_from(["truncate", "flip", "insert"]))
    if how == "truncate":
        at = draw(st.integers(0, len(data)))
        return data[:at], at
    if how == "flip":
        out = bytearray(data)
        spots = draw(st.lists(st.integers(0, len(out) - 1), min_size=1, max_size=6))
        for at in spots:
            out[at] ^= draw(st.integers(1, 255))
        return bytes(out), min(spots)
    at = draw(st.integers(0, len(data)))
    return data[:at] + draw(st.binary(min_size=1, max_size=64)) + data[at:], at


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corrupted())
def test_fuzz_damaged_traces_never_fail_and_keep_whole_events(case):
    data, first_damage = case
    conv, _ = convert(data)
    assert_well_formed(conv.streams)
    whole = slice_names(e for s, end, e in SPANS if end <= first_damage)
    assert not whole - call_names(conv)
