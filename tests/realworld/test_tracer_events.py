"""The tracer's line and call records against the standard library's own tools (issue 12, items 7, 8).

Real programs run under the tracer exactly as the monitor injects it, on every CPython
3.9-3.13 (settrace below 3.12, sys.monitoring from 3.12); the oracles are independent:
the `trace` module's count of each line (a line that runs again with no other line in
between is a new line event, as settrace has it), cProfile's call counts, and the
project's own index, in which no generator frame may stay suspended once the program
has ended it (closed, collected, thrown into, exhausted, left by a break).
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

SETTRACE_RETURNS = """
import json, sys
prog, out = sys.argv[1], sys.argv[2]
code = compile(open(prog).read(), prog, "exec")
seen = []
def trace(frame, event, arg):
    if frame.f_code.co_filename == prog and event == "return":
        seen.append([frame.f_code.co_name, frame.f_lineno])
    return trace
sys.settrace(trace)
exec(code, {"__name__": "__main__", "__file__": prog})
sys.settrace(None)
with open(out, "w") as f:
    json.dump(seen, f)
"""

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


def test_return_lines_equal_settrace(python, tmp_path):
    """A frame left by an exception returns at the line settrace gives (the line it was last
    on), also where the exception leaves through code the compiler added, which has no line
    of its own (sys.monitoring reports an offset there)."""
    traced = run_traced(python, UNWOUND, tmp_path, verbosity=3)
    assert traced.returncode == 0, traced.stderr
    expected = _oracle(python, SETTRACE_RETURNS, UNWOUND, tmp_path)
    got = [[r["func"], r["line"]] for r in traced.of("return") if r["file"] == str(UNWOUND)]
    assert got == expected
