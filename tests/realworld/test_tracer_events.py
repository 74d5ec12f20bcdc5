"""The tracer's line and call records against the standard library's own tools (issue 12, items 7, 8).

Real programs run under the tracer exactly as the monitor injects it, on every CPython
3.9-3.13 (settrace below 3.12, sys.monitoring from 3.12); the oracles are independent:
the `trace` module's count of each line (a line that runs again with no other line in
between is a new line event, as settrace has it), the locals and return lines a plain
settrace function sees, cProfile's call counts, and the project's own index, in which
no generator frame may stay suspended once the program has ended it (closed, collected,
thrown into, exhausted, left by a break).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from jemgui.models.index import open_index
from tests.monitor.tracing import PYTHONS, Traced, run_helper, run_traced

PROGRAMS = Path(__file__).resolve().parent / "programs"
SAME_LINE = PROGRAMS / "same_line.py"
GENERATORS = PROGRAMS / "generators_ended.py"
DROPPED = PROGRAMS / "generator_dropped.py"
UNWOUND = PROGRAMS / "returns_unwound.py"

TRACE_COUNTS = """
import json, sys, trace
prog, out = sys.argv[1], sys.argv[2]
code = compile(open(prog).read(), prog, "exec")
tracer = trace.Trace(count=1, trace=0)
namespace = {"__name__": "__main__", "__file__": prog}
tracer.runctx(code, namespace, namespace)
with open(out, "w") as f:
    json.dump([[line, n] for (f, line), n in tracer.results().counts.items() if f == prog], f)
"""


def settrace_oracle(args: str, condition: str, entry: str) -> str:
    """A script that runs a program under a plain settrace function and writes, as JSON, the
    `entry` of every event where `condition` holds: Python's own view, to compare with ours."""
    return f"""
import json, sys
{args} = sys.argv[1:]
code = compile(open(prog).read(), prog, "exec")
seen = []
def trace(frame, event, arg):
    if frame.f_code.co_filename == prog and {condition}:
        seen.append({entry})
    return trace
sys.settrace(trace)
exec(code, {{"__name__": "__main__", "__file__": prog}})
sys.settrace(None)
with open(out, "w") as f:
    json.dump(seen, f)
"""


SETTRACE_LOCALS = settrace_oracle(
    "prog, out, funcs", 'frame.f_code.co_name in funcs.split(",") and event == "line"',
    "[frame.f_code.co_name, frame.f_lineno, {k: repr(v) for k, v in frame.f_locals.items()}]")
SETTRACE_RETURNS = settrace_oracle("prog, out", 'event == "return"', "[frame.f_code.co_name, frame.f_lineno]")

CPROFILE_CALLS = """
import cProfile, json, pstats, sys
prog, out = sys.argv[1], sys.argv[2]
code = compile(open(prog).read(), prog, "exec")
profile = cProfile.Profile()
profile.runctx(code, {"__name__": "__main__", "__file__": prog}, None)
with open(out, "w") as f:
    json.dump([[k[2], v[1]] for k, v in pstats.Stats(profile).stats.items() if k[0] == prog], f)
"""


@pytest.fixture(params=list(PYTHONS))
def version(request) -> str:
    return request.param


@pytest.fixture
def python(version) -> str:
    return PYTHONS[version]


def _cprofile_calls(python: str, program: Path, tmp_path: Path) -> Counter:
    expected = Counter()
    for func, calls in _oracle(python, CPROFILE_CALLS, program, tmp_path):
        expected[func] += calls
    return expected


def _traced_calls(traced: Traced, program: Path) -> Counter:
    return Counter(r["func"].rsplit(".", 1)[-1] for r in traced.of("call") if r["file"] == str(program))


def _oracle(python: str, script: str, program: Path, tmp_path: Path) -> list:
    out = tmp_path / "oracle.json"
    run_helper(python, script, str(program), str(out))
    return json.loads(out.read_text())


def _index(traced: Traced, tmp_path: Path):
    """The project's index of what the traced run recorded (its events folder as an archive)."""
    (tmp_path / "manifest.json").write_text(json.dumps(
        {"format": "jem-archive", "version": 1, "job": {"id": tmp_path.name, "verbosity": 3},
         "monitor": {"name": "jemgui", "version": "test"}}))
    return open_index(tmp_path)


def _suspended_at_end(ix) -> list[tuple[str, int]]:
    """(func, fid) of every frame whose last record is a `yield`: suspended when its stream ends."""
    last = ix.db.execute("SELECT f.fid, max(r.pos) FROM frames f JOIN segs s ON s.frame = f.frame "
                         "JOIN records r ON r.seg = s.seg GROUP BY f.frame").fetchall()
    out = []
    for fid, pos in last:
        rec = ix.record(pos)
        if rec["kind"] == "return" and rec.get("yield"):
            out.append((rec["func"], fid))
    return out


def test_line_counts_equal_trace_module(python, tmp_path):
    """Each line is recorded as often as `trace` counts it, in the records and in the index's
    gutter counts: one-line loops, comprehensions, generator expressions, a coroutine and an
    async generator resuming on their line."""
    traced = run_traced(python, SAME_LINE, tmp_path, verbosity=3)
    assert traced.returncode == 0, traced.stderr
    expected = dict(map(tuple, _oracle(python, TRACE_COUNTS, SAME_LINE, tmp_path)))
    got = Counter(r["line"] for r in traced.of("line") if r["file"] == str(SAME_LINE))
    assert dict(got) == expected
    assert _index(traced, tmp_path).line_hits(str(SAME_LINE)) == expected


def test_locals_at_each_pass_of_a_one_line_loop_equal_settrace(python, tmp_path):
    """At verbosity 4 each pass of a one-line loop is a line record with the locals of that
    pass: the index's locals at each line record equal what settrace shows at each line event."""
    funcs = ("one_line_loop", "while_one_line")
    traced = run_traced(python, SAME_LINE, tmp_path, verbosity=4)
    assert traced.returncode == 0, traced.stderr
    out = tmp_path / "oracle.json"
    run_helper(python, SETTRACE_LOCALS, str(SAME_LINE), str(out), ",".join(funcs))
    expected = json.loads(out.read_text())
    assert len(expected) > 10
    ix = _index(traced, tmp_path)
    got = []
    for rec in traced.of("line"):
        if rec["file"] == str(SAME_LINE) and rec["func"] in funcs:
            pos = ix.pos_of(rec["pid"], rec["seq"])
            thread = next(t for t in ix.state_at(pos).threads if t.tid == rec["tid"])
            got.append([rec["func"], rec["line"], {k: v[1] for k, v in thread.stack[-1].locals.items()}])
    assert got == expected


def test_return_lines_equal_settrace(python, tmp_path):
    """A frame left by an exception returns at the line settrace gives (the line it was last
    on), also where the exception leaves through code the compiler added, which has no line
    of its own (sys.monitoring reports an offset there)."""
    traced = run_traced(python, UNWOUND, tmp_path, verbosity=3)
    assert traced.returncode == 0, traced.stderr
    expected = _oracle(python, SETTRACE_RETURNS, UNWOUND, tmp_path)
    got = [[r["func"], r["line"]] for r in traced.of("return") if r["file"] == str(UNWOUND)]
    assert got == expected


@pytest.mark.parametrize("verbosity", [2, 3])
def test_ended_generators_match_cprofile_and_end_in_the_index(python, verbosity, tmp_path):
    """Generators the program closed, let go, threw into or ran out: calls (resumptions
    included) per function equal cProfile's, fib loses no call, and each generator ends with
    a plain return (never one marked `yield`), so the index holds no suspended frame once
    the program is done."""
    traced = run_traced(python, GENERATORS, tmp_path, verbosity=verbosity)
    assert traced.returncode == 0, traced.stderr
    expected = _cprofile_calls(python, GENERATORS, tmp_path)
    assert expected["fib"] > 100
    assert {"counter", "guarded", "delegating", "catcher", "failing", "task"} <= set(expected)
    assert _traced_calls(traced, GENERATORS) == expected
    assert _suspended_at_end(_index(traced, tmp_path)) == []
    # every generator frame that saw its GeneratorExit returns plainly afterwards
    for rec in traced.of("exception"):
        if rec["type"] == "GeneratorExit":
            after = [r for r in traced.records if r["pid"] == rec["pid"] and r["seq"] > rec["seq"]
                     and r.get("fid") == rec["fid"] and r["kind"] == "return"]
            assert after and not after[0].get("yield"), after[:1]


@pytest.mark.parametrize("verbosity", [2, 3])
def test_generator_dropped_between_lines(version, python, verbosity, tmp_path):
    """`del` of a suspended generator: it ends in the index on every CPython. On 3.9/3.10
    with line events, CPython's settrace keeps a copy of the frame's locals until the
    frame's next event, so the generator closes inside the tracer's own call, where no
    event is reported: its end is still recorded, the call its finally block made is not,
    and a marker says so. Everywhere else the calls equal cProfile's."""
    traced = run_traced(python, DROPPED, tmp_path, verbosity=verbosity)
    assert traced.returncode == 0, traced.stderr
    assert traced.stdout == "5\n"
    assert _suspended_at_end(_index(traced, tmp_path)) == []
    expected = _cprofile_calls(python, DROPPED, tmp_path)
    assert expected["cleanup"] == 1 and expected["guarded"] == 2
    said = [m for m in traced.of("marker") if "ended inside the tracer's own call" in m["text"]]
    if int(version.split(".")[1]) <= 10 and verbosity >= 3:
        assert _traced_calls(traced, DROPPED) == expected - Counter(cleanup=1)
        assert len(said) == 1 and said[0]["gap"] and "guarded" in said[0]["text"]
    else:
        assert _traced_calls(traced, DROPPED) == expected
        assert said == []
