"""Exports of real indexed jobs: JSONL records, the event table as CSV, Chrome traces for Perfetto."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from jemgui.cli import main as cli
from jemgui.models.chrome_trace import convert_chrome
from jemgui.models.export import export_chrome, export_csv, export_jsonl
from jemgui.models.index import open_index
from jemgui.models.records import check, describe
from jemgui.models.report import ImportReport
from jemgui.resources import resource_path
from tests.models import jobs

DATA = Path(__file__).parent / "data"
LEGACY = DATA / "legacy" / "JEM_MON.jmd"
VIZTRACER = DATA / "chrome" / "viztracer.json"
DEMO = resource_path("demo", "archive")
GEN = "/job/gen.py"


def killed_threads(pid: int = 300) -> jobs.Stream:
    """A Python process with a generator and two threads, killed with frames open in both."""
    s = jobs.Stream(pid, jobs.T0 + 0.0007)
    s.add("process", phase="start", argv=["/usr/bin/python3", "gen.py", "--fast"], ppid=100, cwd="/job",
          lang="python", python="3.11.7")
    s.frame("call", 1, 1, "<module>", 0, file=GEN)
    s.frame("call", 2, 10, "main", 1, file=GEN)
    for i, resume in enumerate((False, True, True)):
        s.frame("call", 3, 4, "numbers", 2, file=GEN, **({"resume": True} if resume else {}))
        s.frame("line", 3, 5, "numbers", 2, file=GEN)
        s.frame("return", 3, 5, "numbers", 2, file=GEN, value=["int", str(i)], **{"yield": True})
    s.frame("call", 4, 20, "worker", 0, tid=2, file=GEN)
    s.frame("call", 5, 30, "wait_for", 1, tid=2, file=GEN, args={"timeout": ["int", "60"]})
    # `a` and `b` end unseen: the call of `c` at their depth shows they are gone
    s.frame("call", 6, 40, "a", 2, file=GEN)
    s.frame("call", 7, 41, "b", 3, file=GEN)
    s.frame("call", 8, 42, "c", 2, file=GEN)
    s.frame("return", 8, 43, "c", 2, file=GEN)
    s.frame("line", 5, 31, "wait_for", 1, tid=2, file=GEN, changed={"left": ["int", "59"]})
    s.frame("call", 9, 50, "slow", 2, file=GEN)
    s.frame("line", 9, 51, "slow", 2, file=GEN)
    s.add("metric", values={"cpu": 99.5, "rss": 123456789})
    s.add("marker", text="heartbeat")
    return s


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("export") / "job"
    return jobs.write_archive(root, [jobs.monitor(), jobs.shell(), jobs.failing_python(), killed_threads()])


@pytest.fixture
def index(archive):
    ix = open_index(archive)
    yield ix
    ix.close()


def legacy_count() -> int:
    ix = open_index(LEGACY)
    ix.close()
    assert ix.count > 400
    return ix.count


def exported(index, exporter) -> bytes:
    out = io.BytesIO()
    exporter(index, out)
    return out.getvalue()


def call_funcs(records) -> Counter:
    return Counter(r["func"] for r in records if r["kind"] == "call")


def assert_valid_chrome_trace(data: bytes) -> dict:
    """The structure Perfetto needs: valid JSON, known phases, int ids and times, slices that nest."""
    doc = json.loads(data)
    assert doc["displayTimeUnit"] == "ms" and isinstance(doc["traceEvents"], list)
    slices: dict[tuple[int, int], list[tuple[int, int, str]]] = {}
    for e in doc["traceEvents"]:
        assert e["ph"] in ("X", "i", "C", "M"), e
        assert type(e["pid"]) is int and isinstance(e["name"], str), e
        if e["ph"] != "C":
            assert type(e["tid"]) is int, e
        if e["ph"] != "M":
            assert type(e["ts"]) is int and e["ts"] >= 0, e
        if e["ph"] == "X":
            assert type(e["dur"]) is int and e["dur"] >= 0, e
            slices.setdefault((e["pid"], e["tid"]), []).append((e["ts"], e["ts"] + e["dur"], e["name"]))
        if e["ph"] == "i":
            assert e["s"] in ("g", "p", "t"), e
    for thread in slices.values():
        stack: list[tuple[int, int, str]] = []
        for start, end, name in sorted(thread, key=lambda s: (s[0], -s[1])):
            while stack and start >= stack[-1][1]:
                stack.pop()
            if stack:
                assert end <= stack[-1][1], f"{name} [{start}, {end}] overlaps {stack[-1]}"
            stack.append((start, end, name))
    return doc


def round_trip(data: bytes):
    report = ImportReport()
    conv = convert_chrome(io.BytesIO(data), "export.json", report)
    return conv, report


def test_jsonl_is_the_timeline_record_by_record(index):
    lines = exported(index, export_jsonl).splitlines()
    records = list(index.iter_records())
    assert [json.loads(line) for line in lines] == records and len(records) == index.count == 60
    assert all(check(r) is None for r in records)
    assert [(r["ts"], r["pid"], r["seq"]) for r in records] == sorted((r["ts"], r["pid"], r["seq"]) for r in records)


def test_jsonl_of_a_one_process_job_opens_again(tmp_path):
    ix = open_index(VIZTRACER)
    out = tmp_path / "again.jsonl"
    out.write_bytes(exported(ix, export_jsonl))
    again = open_index(out)
    assert list(again.iter_records()) == list(ix.iter_records())
    ix.close()
    again.close()


def test_csv_is_the_event_table(index):
    rows = list(csv.reader(io.StringIO(exported(index, export_csv).decode("utf-8"))))
    assert rows[0] == ["record", "position", "time", "pid", "tid", "kind", "file", "line", "func", "detail"]
    records = list(index.iter_records())
    assert len(rows) == len(records) + 1
    for pos, (named, rec) in enumerate(zip(rows[1:], records, strict=True)):
        assert named[0] == f"{rec['pid']}:{rec['seq']}"  # PID:SEQ, as `inspect --record` takes it
        row = named[1:]
        assert row[0] == str(pos)
        when = datetime.fromisoformat(row[1])
        assert row[1].endswith("Z") and abs(when.timestamp() - rec["ts"]) < 1e-6
        assert row[2:5] == [str(rec["pid"]), str(rec.get("tid", "")), rec["kind"]]
        assert row[5:8] == [rec.get("file", ""), str(rec.get("line", "")), rec.get("func", "")]
        assert row[8] == describe(rec)
    g = next(r[1:] for r in rows if r[5] == "exception" and r[8] == "g")
    assert g[5:] == ["/job/transform.py", "5", "g", "KeyError: 42"]


def test_chrome_trace_of_a_killed_job_with_threads_and_a_generator(index):
    data = exported(index, export_chrome)
    doc = assert_valid_chrome_trace(data)
    events = doc["traceEvents"]
    assert doc["otherData"]["job"]["id"] == "4711"
    records = list(index.iter_records())
    xs = [e for e in events if e["ph"] == "X"]
    assert Counter(e["name"].split(" (")[0] for e in xs) == call_funcs(records)
    numbers = [e for e in xs if e["name"].startswith("numbers ")]
    assert len(numbers) == 3 and [e["args"].get("resume", False) for e in numbers] == [False, True, True]
    # frames never closed end at the last record of their thread
    last = {tid: max(r["ts"] for r in records if r["pid"] == 300 and r.get("tid") == tid) for tid in (1, 2)}
    ends = {e["name"].split(" (")[0]: (e["tid"], e["ts"] + e["dur"]) for e in xs if e["pid"] == 300}
    for func, tid in (("<module>", 1), ("main", 1), ("slow", 1), ("worker", 2), ("wait_for", 2)):
        assert ends[func] == (tid, round(last[tid] * 1e6)), func
    # `a` and `b` end where the call of `c` shows they are gone
    c_start = next(e["ts"] for e in xs if e["name"].startswith("c "))
    assert ends["a"][1] == ends["b"][1] == c_start
    names = {(e["pid"], e["name"]): e["args"]["name"] for e in events if e["ph"] == "M"}
    assert names[(300, "process_name")] == "python3 gen.py --fast"
    assert names[(200, "process_name")] == "python3 transform.py"
    counters = Counter(e["name"] for e in events if e["ph"] == "C")
    assert counters == {"load1": 5, "rss": 6, "mem_avail": 5, "cpu": 1}
    instants = Counter(e["cat"] for e in events if e["ph"] == "i")
    assert instants == {"exception": 4, "state": 3, "process": 5, "command": 3, "log": 1, "marker": 1}

    conv, report = round_trip(data)
    assert report.total == 0
    assert call_funcs(r for recs in conv.streams.values() for r in recs) == call_funcs(records)
    assert sorted(conv.streams) == [100, 150, 200, 300]
    assert conv.streams[300][0]["name"] == "python3 gen.py --fast"


@pytest.mark.parametrize("source", [LEGACY, VIZTRACER, DEMO], ids=["legacy-jmd", "viztracer", "demo"])
def test_chrome_trace_round_trip_of_real_inputs(source):
    if source == DEMO and not (DEMO / "manifest.json").exists():
        pytest.skip("the recorded demo archive is not in this checkout")
    ix = open_index(source)
    records = list(ix.iter_records())
    data = exported(ix, export_chrome)
    ix.close()
    doc = assert_valid_chrome_trace(data)
    conv, _ = round_trip(data)
    assert call_funcs(r for recs in conv.streams.values() for r in recs) == call_funcs(records)
    if source == VIZTRACER:
        threads = {e["args"]["name"] for e in doc["traceEvents"] if e["ph"] == "M" and e["name"] == "thread_name"}
        assert threads == {"MainThread", "worker"}


def test_cli_exports_by_format_or_file_ending(archive, tmp_path, capsys):
    assert cli(["export", str(archive), "-o", str(tmp_path / "job.json")]) == 0
    assert_valid_chrome_trace((tmp_path / "job.json").read_bytes())
    assert "trace events of 60 records" in capsys.readouterr().out
    assert cli(["export", str(archive), "--format", "csv", "-o", str(tmp_path / "table.txt")]) == 0
    assert (tmp_path / "table.txt").read_text().startswith("record,position,time,")
    assert "wrote 60 rows" in capsys.readouterr().out
    assert cli(["export", str(LEGACY), "--format", "jsonl", "-o", "-"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == legacy_count() and json.loads(out[0])["kind"] == "state"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job.json", "table.txt"]  # no leftovers


def test_cli_errors_are_one_line_with_the_right_exit_code(archive, tmp_path, capsys):
    cases = [
        (["export", str(tmp_path / "missing"), "-o", str(tmp_path / "x.json")], 3),
        (["export", str(archive), "-o", str(tmp_path / "x.dat")], 2),
        (["export", str(archive), "-o", str(tmp_path / "no" / "x.json")], 2),
    ]
    for argv, code in cases:
        assert cli(argv) == code, argv
        err = capsys.readouterr().err
        assert err.startswith("jemgui export: ") and err.count("\n") == 1, err
    assert not (tmp_path / "x.json").exists()


def test_cli_entry_point_end_to_end(tmp_path):
    out = tmp_path / "legacy.csv"
    done = subprocess.run([sys.executable, "-m", "jemgui", "export", str(LEGACY), "-o", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert len(out.read_text().splitlines()) == legacy_count() + 1
