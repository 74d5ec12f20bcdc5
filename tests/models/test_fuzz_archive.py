"""Fuzz: corrupted copies of a real archive never crash the engine nor lose the good records around the damage."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jemgui.models.index import open_index
from jemgui.models.inputs import UnreadableInput
from jemgui.resources import resource_path
from tests.models.jobs import write_archive


def source_archive() -> Path:
    """The monitor's recorded demo archive when the checkout has it, else a hand-written job."""
    demo = resource_path("demo", "archive")
    if (demo / "manifest.json").exists():
        return demo
    return write_archive(Path(tempfile.mkdtemp(prefix="jemgui-fuzz-")) / "job")


SOURCE = source_archive()
STREAMS = sorted((SOURCE / "events").glob("*.jsonl"))
BASELINE = open_index(SOURCE).report


@st.composite
def damage(draw):
    stream = draw(st.sampled_from(STREAMS))
    data = stream.read_bytes()
    start = draw(st.integers(0, max(0, len(data) - 1)))
    length = draw(st.integers(0, 400))
    how = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "zero"]))
    noise = draw(st.binary(min_size=1, max_size=64))
    return stream, start, length, how, noise


def apply(data: bytes, start: int, length: int, how: str, noise: bytes) -> tuple[bytes, int, int]:
    """The damaged bytes and the damaged span in the ORIGINAL bytes."""
    end = min(len(data), start + length)
    if how == "truncate":
        return data[:start], start, len(data)
    if how == "flip":
        mid = bytes(b ^ 0x5A for b in data[start:end])
        return data[:start] + mid + data[end:], start, end
    if how == "insert":
        return data[:start] + noise + data[start:], start, start
    if how == "delete":
        return data[:start] + data[end:], start, end
    return data[:start] + b"\0" * (end - start) + data[end:], start, end


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(damage())
def test_damage_costs_only_the_damaged_lines(case):
    stream, start, length, how, noise = case
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "job"
        shutil.copytree(SOURCE, copy)
        original = stream.read_bytes()
        damaged, lo, hi = apply(original, start, length, how, noise)
        (copy / "events" / stream.name).write_bytes(damaged)
        try:
            ix = open_index(copy)
        except UnreadableInput:
            raise AssertionError("a damaged stream must not make the archive unreadable") from None
        kept = {(r["pid"], r["seq"]) for r in ix.iter_records()}
        # every line wholly before or wholly after the damage is intact and must be there
        # (a line just after it is not: the damage took the newline that ended the line before)
        offset = 0
        for line in original.splitlines(keepends=True):
            before = offset + len(line) <= lo
            after = offset > hi
            if (before or after) and line.endswith(b"\n"):
                rec = json.loads(line)
                assert (rec["pid"], rec["seq"]) in kept, f"lost intact record {rec['pid']}:{rec['seq']}"
            offset += len(line)
        # and so must every record of the streams that were not touched
        untouched = 0
        for other in STREAMS:
            if other != stream:
                for line in other.read_bytes().splitlines():
                    rec = json.loads(line)
                    assert (rec["pid"], rec["seq"]) in kept
                    untouched += 1
        # every non-blank line of the damaged stream became a record or is reported by its number
        lines = [line for line in damaged.split(b"\n") if line.strip()]
        from_damaged = ix.count - untouched
        reported = {p.line for p in ix.report.problems if p.file == f"events/{stream.name}" and p.line}
        assert from_damaged <= len(lines)
        assert from_damaged + len(reported) >= len(lines), "a damaged line was dropped without a report"
        # and records missing between kept ones are reported as a hole
        pid = json.loads(original.split(b"\n", 1)[0])["pid"]
        seqs = sorted(seq for p, seq in kept if p == pid)
        if seqs and seqs != list(range(seqs[-1] + 1)):
            assert ix.report.counts["seq-hole"] > BASELINE.counts["seq-hole"], "a hole is not reported"
        ix.summary()
        if ix.count:
            ix.state_at(ix.count - 1)


def test_a_damaged_newline_costs_the_two_lines_it_joined(tmp_path):
    """The case hypothesis found: flipping a whole first line with its newline joins it to the next."""
    copy = tmp_path / "job"
    write_archive(copy)
    stream = copy / "events" / "150.jsonl"
    data = stream.read_bytes()
    first = data.index(b"\n") + 1
    stream.write_bytes(bytes(b ^ 0x5A for b in data[:first]) + data[first:])
    ix = open_index(copy)
    seqs = sorted(r["seq"] for r in ix.iter_records() if r["pid"] == 150)
    assert seqs == list(range(2, data.count(b"\n")))  # lines 0 and 1 are one bad line now
    assert any(p.code == "bad-json" and p.line == 1 for p in ix.report.problems)
