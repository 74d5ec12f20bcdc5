"""`exception` records carry the frame's locals at verbosity 2 and up (spec section 2, issue 13).

Run on every CPython 3.9-3.13 as the monitor injects the tracer: each frame the exception
passes has its locals at that moment, the same at every verbosity, secrets redacted.
"""

from __future__ import annotations

import pytest

from tests.monitor.tracing import PROGRAMS, PYTHONS, run_traced

FAILING = PROGRAMS / "failing_locals.py"
EXPECTED = {
    "ratio": {"items": ["list", "[0, 1, 2, 3]"], "k": ["int", "0"], "total": ["int", "6"],
              "label": ["str", "'total of 4'"]},
    "scaled": {"n": ["int", "4"], "data": ["list", "[0, 1, 2, 3]"], "box": ["__main__.Box", "Box(4)"],
               "api_token": ["str", "<redacted>"], "scale": ["int", "0"]},
    "main": {"results": ["dict", "{3: 3}"], "n": ["int", "4"]},
}


@pytest.fixture(params=list(PYTHONS))
def python(request) -> str:
    return PYTHONS[request.param]


def _exception_locals(python, tmp_path, verbosity) -> dict:
    traced = run_traced(python, FAILING, tmp_path / f"v{verbosity}", verbosity=verbosity)
    assert traced.returncode == 1, traced.stderr
    assert "ZeroDivisionError" in traced.stderr
    records = traced.of("exception")
    assert [r["func"] for r in records] == ["ratio", "scaled", "main", "<module>"]
    return {r["func"]: r["locals"] for r in records}


def test_each_frame_the_exception_passes_has_its_locals_at_every_level(python, tmp_path):
    by_level = {v: _exception_locals(python, tmp_path, v) for v in (2, 3, 4)}
    for level, got in by_level.items():
        for func, want in EXPECTED.items():
            assert got[func] == want, (level, func)
        assert set(got["<module>"]) == set(), level  # the module holds only its definitions
    assert by_level[2] == by_level[3] == by_level[4]
