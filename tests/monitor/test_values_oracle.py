"""Verbosity 4's values against an independent reference (issue 13, correctness).

The reference, written here, is a plain settrace function that copies the repr of every local
at every line event. The program runs under it and under JEM's tracer (as the monitor injects
it) on each CPython 3.9-3.13; the project's index replays the locals at every `line` record.
They must be equal wherever no local was changed through another name; in the `alias_*`
functions, which do that, a difference must be gone within the tracer's bound (_jem_changes).
With `--values=exact` they must be equal everywhere.
"""

from __future__ import annotations

import json
import re

import pytest

from jemgui.models.index import open_index
from jemgui.monitor.inject import _jem_changes
from tests.monitor.tracing import PROGRAMS, PYTHONS, run_helper, run_traced

PROGRAM = PROGRAMS / "values_oracle.py"
ADDRESS = re.compile(r" at 0x[0-9a-f]+")  # two processes: the same object has other addresses


def _same_run(values: dict) -> dict:
    return {name: [kind, ADDRESS.sub(" at 0x?", text)] for name, (kind, text) in values.items()}

REFERENCE = r"""
import json, sys
prog, out = sys.argv[1:]
LIMIT = 200
HIDDEN = (type, type(sys), type(lambda: 0), type(len))

def type_name(value):
    kind = type(value)
    module = getattr(kind, "__module__", None)
    qual = getattr(kind, "__qualname__", kind.__name__)
    return qual if module in (None, "builtins") else module + "." + qual

def text(value):
    try:
        shown = repr(value)
    except Exception as exc:
        return "<repr failed: %s>" % type_name(exc)
    return shown if len(shown) <= LIMIT else shown[:LIMIT] + "\u2026"

seen = []
def trace(frame, event, arg):
    code = frame.f_code
    if code.co_filename != prog:
        return None
    if event == "line":
        module = not (code.co_flags & 2)
        values = {}
        for name, value in frame.f_locals.items():
            if module and ((name.startswith("__") and name.endswith("__")) or isinstance(value, HIDDEN)):
                continue
            values[name] = [type_name(value), text(value)]
        seen.append([code.co_name, frame.f_lineno, values])
    return trace

code = compile(open(prog).read(), prog, "exec")
sys.settrace(trace)
exec(code, {"__name__": "__main__", "__file__": prog})
sys.settrace(None)
with open(out, "w") as f:
    json.dump(seen, f)
"""


@pytest.fixture(params=list(PYTHONS))
def python(request) -> str:
    return PYTHONS[request.param]


def _reference(python, tmp_path) -> list:
    out = tmp_path / "reference.json"
    run_helper(python, REFERENCE, str(PROGRAM), str(out), timeout=300)
    return json.loads(out.read_text())


def _replayed(python, tmp_path, **config) -> list:
    """[func, line, fid, locals] at every line record of the program, from the project's index."""
    traced = run_traced(python, PROGRAM, tmp_path, verbosity=4, timeout=300, **config)
    assert traced.returncode == 0, traced.stderr
    (tmp_path / "manifest.json").write_text(json.dumps(
        {"format": "jem-archive", "version": 1, "job": {"id": "oracle", "verbosity": 4},
         "monitor": {"name": "jemgui", "version": "test"}}))
    ix = open_index(tmp_path)
    out = []
    for rec in traced.of("line"):
        if rec["file"] != str(PROGRAM):
            continue
        state = ix.state_at(ix.pos_of(rec["pid"], rec["seq"]))
        top = next(t for t in state.threads if t.tid == rec["tid"]).stack[-1]
        out.append([rec["func"].rsplit(".", 1)[-1], rec["line"], rec["fid"], top.locals])
    return out


def _differences(python, tmp_path, **config) -> list[tuple[str, int, int, list[str]]]:
    """(func, fid, index of the line record in its frame, names that differ), in order."""
    expected = _reference(python, tmp_path)
    got = _replayed(python, tmp_path / "traced", **config)
    assert [e[:2] for e in expected] == [g[:2] for g in got], "line events differ from settrace's"
    assert len(expected) > 1000
    nth: dict[int, int] = {}
    out = []
    for (func, _, want), (_, _, fid, have) in zip(expected, got, strict=True):
        want, have = _same_run(want), _same_run(have)
        nth[fid] = nth.get(fid, -1) + 1
        names = sorted(n for n in set(want) | set(have) if want.get(n) != have.get(n))
        if names:
            out.append((func, fid, nth[fid], names))
    return out


def test_values_equal_settrace_except_through_an_alias_and_then_within_the_bound(python, tmp_path):
    diffs = _differences(python, tmp_path)
    outside = [d for d in diffs if not d[0].startswith("alias_")]
    assert not outside, outside[:5]
    late = {(func, name) for func, _, _, names in diffs for name in names}
    # the locals changed only through their alias are the ones recorded late, and they are
    assert late == {("alias_mutation", "data"), ("alias_mutation", "table"), ("alias_in_callee", "inner")}
    runs: dict[tuple[int, str], list[int]] = {}  # (fid, name) -> line indexes where it differed
    for _, fid, index, names in diffs:
        for name in names:
            runs.setdefault((fid, name), []).append(index)
    for key, indexes in runs.items():
        longest = run = 1
        for a, b in zip(indexes, indexes[1:], strict=False):
            run = run + 1 if b == a + 1 else 1
            longest = max(longest, run)
        assert longest <= _jem_changes.BOUND_LINES, (key, longest)


def test_exact_values_equal_settrace_everywhere(python, tmp_path):
    assert _differences(python, tmp_path, values="exact") == []


@pytest.mark.parametrize("values", ["changed", "exact"])
def test_manifest_states_the_bound(tmp_path, values):
    """The manifest says how late an aliased change may show (spec section 2: `values_bound`)."""
    import subprocess
    import sys

    out = tmp_path / "job"
    done = subprocess.run([sys.executable, "-m", "jemgui", "run", "--out", str(out), "--values", values, "--",
                           sys.executable, "-c", "x = 1"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    bound = json.loads((out / "manifest.json").read_text())["job"]["values_bound"]
    if values == "exact":
        assert bound == {"lines": 1}
    else:
        assert bound == {"lines": _jem_changes.BOUND_LINES, "seconds": _jem_changes.BOUND_SECONDS}
        assert 1 < bound["lines"] <= 1000 and 0 < bound["seconds"] <= 5
