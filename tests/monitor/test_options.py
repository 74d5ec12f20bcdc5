"""What the tracer records follows the job's options: include/exclude, repr limit, redaction."""

from __future__ import annotations

import sys

from tests.monitor.tracing import PROGRAMS, run_traced


def files_called(traced) -> set[str]:
    return {r["file"] for r in traced.of("call")}


def test_default_traces_user_code_only(tmp_path):
    traced = run_traced(sys.executable, PROGRAMS / "stdlib_heavy.py", tmp_path, verbosity=2)
    assert files_called(traced) == {str(PROGRAMS / "stdlib_heavy.py")}
    assert [r["path"] for r in traced.of("source")] == [str(PROGRAMS / "stdlib_heavy.py")]


def test_include_adds_library_files(tmp_path):
    traced = run_traced(sys.executable, PROGRAMS / "stdlib_heavy.py", tmp_path, verbosity=2,
                        include=["*/textwrap.py"])
    called = files_called(traced)
    assert str(PROGRAMS / "stdlib_heavy.py") in called
    assert [f for f in called if f.endswith("/textwrap.py")]
    assert any(r["path"].endswith("/textwrap.py") for r in traced.of("source"))
    # the source of a file comes before the first record pointing into it
    first_source = next(r["seq"] for r in traced.of("source") if r["path"].endswith("textwrap.py"))
    first_call = next(r["seq"] for r in traced.of("call") if r["file"].endswith("textwrap.py"))
    assert first_source < first_call


def test_exclude_removes_user_files_and_include_wins(tmp_path):
    traced = run_traced(sys.executable, PROGRAMS / "stdlib_heavy.py", tmp_path / "a", verbosity=2,
                        exclude=["*/programs/*"])
    assert traced.returncode == 0 and traced.of("call") == []
    traced = run_traced(sys.executable, PROGRAMS / "stdlib_heavy.py", tmp_path / "b", verbosity=2,
                        exclude=["*"], include=["*/stdlib_heavy.py"])
    assert files_called(traced) == {str(PROGRAMS / "stdlib_heavy.py")}


def test_repr_limit_cuts_values(tmp_path):
    traced = run_traced(sys.executable, PROGRAMS / "stdlib_heavy.py", tmp_path, verbosity=4,
                        repr_limit=12)
    reprs = [pair[1] for r in traced.records for key in ("args", "changed")
             for pair in r.get(key, {}).values()]
    reprs += [r["value"][1] for r in traced.of("return") if "value" in r]
    assert reprs and all(len(text) <= 13 for text in reprs)
    assert any(text.endswith("\u2026") for text in reprs)


def test_values_at_verbosity_four_follow_the_locals(tmp_path):
    """A frame's locals are its args plus every changed/deleted of its records (spec 2)."""
    program = tmp_path / "prog.py"
    program.write_text(
        "def f(a):\n"
        "    b = [a]\n"
        "    b.append(2)\n"
        "    del a\n"
        "    return b\n"
        "f(1)\n"
    )
    traced = run_traced(sys.executable, program, tmp_path, verbosity=4)
    frame = [r for r in traced.records if r.get("func") == "f"]
    assert frame[0]["args"] == {"a": ["int", "1"]}
    lines = [(r["line"], r.get("changed"), r.get("deleted")) for r in frame if r["kind"] == "line"]
    assert lines == [
        (2, None, None),
        (3, {"b": ["list", "[1]"]}, None),
        (4, {"b": ["list", "[1, 2]"]}, None),
        (5, None, ["a"]),
    ]
    assert frame[-1]["kind"] == "return" and frame[-1]["value"] == ["list", "[1, 2]"]
