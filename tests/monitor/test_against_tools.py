"""The tracer against tools nobody here wrote, on every CPython 3.9+ the machine has.

Per-function call counts equal cProfile's; the set of lines equals what the
standard library's `trace` module saw; the stack at an uncaught exception equals
the traceback Python printed.
"""

from __future__ import annotations

import json
import sys
from collections import Counter

import pytest

from tests.monitor.tracing import (
    PROGRAMS,
    PYTHONS,
    printed_traceback,
    run_helper,
    run_traced,
    stacks_at,
)

DETERMINISTIC = ["stdlib_heavy", "recursion", "generators", "exceptions", "threads"]

CPROFILE = """
import cProfile, json, pstats, sys
prog, out = sys.argv[1], sys.argv[2]
code = compile(open(prog).read(), prog, "exec")
profile = cProfile.Profile()
try:
    profile.runctx(code, {"__name__": "__main__", "__file__": prog}, None)
except SystemExit:
    pass
stats = pstats.Stats(profile).stats
with open(out, "w") as f:
    json.dump([[k[0], k[2], v[1]] for k, v in stats.items() if k[0] == prog], f)
"""

TRACE = """
import json, sys, trace
prog, out = sys.argv[1], sys.argv[2]
code = compile(open(prog).read(), prog, "exec")
tracer = trace.Trace(count=1, trace=0)
namespace = {"__name__": "__main__", "__file__": prog}
try:
    tracer.runctx(code, namespace, namespace)
except SystemExit:
    pass
with open(out, "w") as f:
    json.dump(sorted(line for (f, line) in tracer.results().counts if f == prog), f)
"""


def _main_thread_only(python: str) -> bool:
    """cProfile follows only the thread that started it before 3.12 (setprofile is per thread)."""
    out = run_helper(python, "import sys; print(hasattr(sys, 'monitoring'))")
    return out.strip() == "False"


@pytest.fixture(params=list(PYTHONS))
def python(request) -> str:
    return PYTHONS[request.param]


def test_pythons_found():
    """The default Python is always there; the others are whatever pyenv has."""
    assert "{}.{}".format(*sys.version_info[:2]) in PYTHONS


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_call_counts_equal_cprofile(python, name, tmp_path):
    program = PROGRAMS / f"{name}.py"
    traced = run_traced(python, program, tmp_path, verbosity=2)
    assert traced.returncode == 0, traced.stderr
    out = tmp_path / "cprofile.json"
    run_helper(python, CPROFILE, str(program), str(out))
    expected = Counter()
    for _, func, ncalls in json.loads(out.read_text()):
        expected[func] += ncalls
    main_only = _main_thread_only(python)
    main_tid = traced.of("process")[0]["pid"]
    got = Counter(
        r["func"].rsplit(".", 1)[-1] for r in traced.of("call")
        if r["file"] == str(program) and not (main_only and r["tid"] != main_tid)
    )
    assert got == expected


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_line_set_equals_trace_module(python, name, tmp_path):
    program = PROGRAMS / f"{name}.py"
    traced = run_traced(python, program, tmp_path, verbosity=3)
    assert traced.returncode == 0, traced.stderr
    out = tmp_path / "trace.json"
    run_helper(python, TRACE, str(program), str(out))
    expected = set(json.loads(out.read_text()))
    got = {r["line"] for r in traced.of("line") if r["file"] == str(program)}
    assert got == expected


@pytest.mark.parametrize("verbosity", [2, 3])
def test_stack_at_uncaught_exception_equals_traceback(python, verbosity, tmp_path):
    program = PROGRAMS / "uncaught.py"
    traced = run_traced(python, program, tmp_path, verbosity=verbosity)
    assert traced.returncode == 1
    printed = printed_traceback(traced.stderr)
    firsts = [r for r in traced.of("exception") if "traceback" in r]
    last = firsts[-1]
    assert last["type"] == "ValueError" and last["message"] == "negative item -3"
    # The traceback field is the whole stack, as Python printed it.
    assert last["traceback"] == printed
    # The stack rebuilt from call/return records holds the user frames of that traceback.
    stack = stacks_at(traced.records, last)
    assert stack[-1]["fid"] == last["fid"]
    stack[-1]["line"] = last["line"]
    user = [entry for entry in printed if entry[0] == str(program)]
    rebuilt = [[r["file"], r["line"], r["func"].rsplit(".", 1)[-1]] for r in stack]
    if verbosity == 2:  # without line records only the innermost line is known
        user = [[f, None, n] for f, _, n in user]
        rebuilt = [[f, None, n] for f, _, n in rebuilt]
    assert rebuilt == user
    # Each traced frame the exception left has one exception record, innermost first,
    # then its return record without a value.
    chain = [r for r in traced.records if r["kind"] in ("exception", "return")
             and r["seq"] >= last["seq"] and r.get("message") in (None, last["message"])]
    kinds = [r["kind"] for r in chain[: 2 * len(stack)]]
    assert kinds == ["exception", "return"] * len(stack)
    assert [r["fid"] for r in chain[: 2 * len(stack)]][::2] == [r["fid"] for r in reversed(stack)]
    assert all("value" not in r for r in chain[1: 2 * len(stack): 2])
    assert all("traceback" not in r for r in chain[2: 2 * len(stack): 2])
