"""The failure finder reads what a frame did after a raise; records written as the monitor writes them.

Each stream below is the shape the tracer records for a small program (named in
the test), at the verbosity the test names; the real programs run under the real
monitor in tests/realworld/test_failures.py.
"""

from __future__ import annotations

import pytest

from jemgui.models.index import open_index
from tests.models.jobs import MANIFEST_JOB, Stream, monitor, write_archive

TB = [["/job/t.py", 9, "<module>"], ["/job/t.py", 5, "check"], ["/job/t.py", 2, "parse"]]


def python(pid: int = 300, t0: float | None = None, ppid: int = 100) -> Stream:
    s = Stream(pid) if t0 is None else Stream(pid, t0)
    s.add("process", phase="start", argv=["python3", "t.py"], ppid=ppid, cwd="/job", lang="python")
    return s


def end(s: Stream, exit_code: int | None = 1, signal: int | None = None) -> Stream:
    s.add("process", phase="exit", **({"signal": signal} if signal else {"exit_code": exit_code}))
    return s


def job(tmp_path, *streams: Stream, verbosity: int = 2, exit_code: int = 1):
    return open_index(write_archive(tmp_path / "job", [monitor(), *streams],
                                   job={**MANIFEST_JOB, "verbosity": verbosity, "exit_code": exit_code}))


def raise_in_parse(s: Stream) -> None:
    """`<module>` calls check(), check calls parse(), parse raises ValueError and check gets it."""
    s.frame("call", 1, 1, "<module>", 0)
    s.frame("call", 2, 4, "check", 1)
    s.frame("call", 3, 1, "parse", 2)
    s.frame("exception", 3, 2, "parse", 2, type="ValueError", message="bad", traceback=TB)
    s.frame("return", 3, 2, "parse", 2)
    s.frame("exception", 2, 5, "check", 1, type="ValueError", message="bad")


def test_v2_a_frame_that_leaves_from_another_line_handled_it(tmp_path):
    """try: parse() / except ValueError: pass / return 0 -- then os._exit(3)."""
    s = python()
    raise_in_parse(s)
    s.frame("return", 2, 7, "check", 1)
    s.frame("return", 1, 9, "<module>", 0)
    s = end(s, 3)
    sm = job(tmp_path, s, exit_code=3).summary()
    assert sm["failure"] is None
    assert sm["hint"]["reason"] == "non-zero exit" and "ValueError" not in sm["hint"]["based_on"]


def test_v2_a_frame_that_calls_on_after_the_raise_handled_it(tmp_path):
    s = python()
    raise_in_parse(s)
    s.frame("call", 4, 10, "fallback", 2)
    s.frame("return", 4, 11, "fallback", 2)
    s.frame("return", 2, 5, "check", 1)   # same line as the raise: only the call shows it was handled
    s.frame("return", 1, 9, "<module>", 0)
    assert job(tmp_path, end(s, 3), exit_code=3).summary()["failure"] is None


def test_v2_unwinding_to_the_top_without_evidence_is_named_but_uncertain(tmp_path):
    s = python()
    raise_in_parse(s)
    s.frame("return", 2, 5, "check", 1)
    s.frame("exception", 1, 9, "<module>", 0, type="ValueError", message="bad")
    s.frame("return", 1, 9, "<module>", 0)
    f = job(tmp_path, end(s)).summary()["failure"]
    assert (f["type"], f["func"], f["line"], f["certain"]) == ("ValueError", "parse", 2, False)
    assert "cannot be told" in f["why"]


def test_v2_the_printed_exception_makes_it_certain(tmp_path):
    s = python()
    raise_in_parse(s)
    s.frame("return", 2, 5, "check", 1)
    s.frame("exception", 1, 9, "<module>", 0, type="ValueError", message="bad")
    s.frame("return", 1, 9, "<module>", 0)
    mon = monitor()
    mon.add("log", stream="stderr", text="Traceback (most recent call last):\n  ...\nValueError: bad\n")
    ix = open_index(write_archive(tmp_path / "job", [mon, end(s)], job={**MANIFEST_JOB, "verbosity": 2}))
    f = ix.summary()["failure"]
    assert (f["type"], f["certain"]) == ("ValueError", True)


def test_v3_lines_after_the_raise_mean_handled_and_a_reraise_means_not(tmp_path):
    """except ValueError: log(); raise -- lines in between, then the same exception again."""
    s = python()
    s.frame("call", 1, 1, "<module>", 0)
    s.frame("line", 1, 9, "<module>", 0)
    s.frame("call", 2, 4, "check", 1)
    s.frame("line", 2, 5, "check", 1)
    s.frame("exception", 2, 5, "check", 1, type="ValueError", message="bad", traceback=TB[:2])
    s.frame("line", 2, 6, "check", 1)
    s.frame("line", 2, 7, "check", 1)
    s.frame("exception", 2, 7, "check", 1, type="ValueError", message="bad")
    s.frame("return", 2, 7, "check", 1)
    s.frame("exception", 1, 9, "<module>", 0, type="ValueError", message="bad")
    s.frame("return", 1, 9, "<module>", 0)
    ix = job(tmp_path, end(s), verbosity=3)
    f = ix.summary()["failure"]
    assert (f["type"], f["func"], f["certain"]) == ("ValueError", "check", True)


def test_caught_outside_the_jobs_code_is_named(tmp_path):
    """A test runner (untraced) calls test_a, which fails, then test_b, which handles its own error."""
    s = python()
    s.frame("call", 1, 1, "<module>", 0)
    s.frame("call", 2, 10, "test_a", 1)
    s.frame("line", 2, 11, "test_a", 1)
    s.frame("exception", 2, 11, "test_a", 1, type="KeyError", message="'run'", traceback=TB[:2])
    s.frame("return", 2, 11, "test_a", 1)
    s.frame("call", 3, 20, "test_b", 1)
    s.frame("line", 3, 21, "test_b", 1)
    s.frame("exception", 3, 21, "test_b", 1, type="ZeroDivisionError", message="division by zero",
            traceback=TB[:2])
    s.frame("line", 3, 22, "test_b", 1)
    s.frame("return", 3, 22, "test_b", 1)
    s.frame("return", 1, 30, "<module>", 0)
    f = job(tmp_path, end(s), verbosity=3).summary()["failure"]
    assert (f["type"], f["func"], f["certain"]) == ("KeyError", "test_a", True)


def test_v4_a_returned_value_is_handled_unless_the_caller_gets_the_exception(tmp_path):
    s = python()
    s.frame("call", 1, 1, "<module>", 0)
    s.frame("call", 2, 4, "check", 1)
    s.frame("exception", 2, 5, "check", 1, type="OSError", message="gone", traceback=TB[:2])
    s.frame("return", 2, 5, "check", 1, value=["NoneType", "None"])   # handled: returned None
    s.frame("call", 3, 4, "check", 1)
    s.frame("exception", 3, 5, "check", 1, type="KeyError", message="'x'", traceback=TB[:2])
    s.frame("return", 3, 5, "check", 1, value=["NoneType", "None"])   # as legacy logs write it
    s.frame("exception", 1, 9, "<module>", 0, type="KeyError", message="'x'")
    s.frame("return", 1, 9, "<module>", 0)
    f = job(tmp_path, end(s), verbosity=4).summary()["failure"]
    assert (f["type"], f["certain"]) == ("KeyError", True)


def test_an_exception_of_a_process_that_exited_0_is_never_the_failure(tmp_path):
    sh = Stream(150)
    sh.add("process", phase="start", argv=["bash", "run.sh"], ppid=100, cwd="/job", lang="shell")
    sh.add("command", file="/job/run.sh", line=2, func="main", depth=0, text="python3 t.py")
    s = python(301, sh.t, ppid=150)
    s.frame("call", 1, 1, "<module>", 0)
    s.frame("exception", 1, 2, "<module>", 0, type="RuntimeError", message="ignored", traceback=TB[:1])
    end(s, 0)
    sh.t = s.t
    sh.add("command", file="/job/run.sh", line=3, func="main", depth=0, text="grep -q x y")
    sh.add("process", phase="exit", exit_code=2)
    sm = job(tmp_path, sh, s, exit_code=2).summary()
    f = sm["failure"]
    assert (f["kind"], f["line"], f["message"], f["exit_code"]) == ("command", 3, "grep -q x y", 2)
    assert sm["hint"]["reason"] == "command failed"


@pytest.mark.parametrize("sig, cls, reason", [(11, "task", "crashed"), (6, "task", "crashed"),
                                              (9, "site", "killed"), (15, "site", "killed")])
def test_a_crash_is_the_jobs_own_problem_a_kill_is_the_sites(tmp_path, sig, cls, reason):
    s = python()
    s.frame("call", 1, 1, "<module>", 0)
    s.frame("call", 2, 4, "read_header", 1)
    sm = job(tmp_path, end(s, signal=sig), exit_code=128 + sig).summary()
    assert (sm["hint"]["class"], sm["hint"]["reason"]) == (cls, reason)
    if cls == "task":
        assert (sm["failure"]["kind"], sm["failure"]["func"]) == ("signal", "read_header")
    else:
        assert sm["failure"] is None


def test_hint_of_a_job_without_an_exit_code_does_not_call_it_non_zero(tmp_path):
    mon = monitor()
    mon.records = [r for r in mon.records if r.get("state") != "FAILED"]
    ix = open_index(write_archive(tmp_path / "job", [mon], job={**MANIFEST_JOB, "exit_code": None}))
    hint = ix.summary()["hint"]
    assert hint["reason"] != "non-zero exit" and "None" not in hint["based_on"]


@pytest.mark.parametrize("message, exit_code, certain", [("done", 1, True), ("4", 4, True), ("4", 1, False)])
def test_v2_sys_exit_is_certain_when_the_exit_status_is_the_one_it_gives(tmp_path, message, exit_code, certain):
    """`raise SystemExit(...)` at module level prints no traceback; the process's status is the evidence."""
    s = python()
    s.frame("call", 1, 1, "<module>", 0)
    s.frame("exception", 1, 15, "<module>", 0, type="SystemExit", message=message, traceback=TB[:1])
    s.frame("return", 1, 15, "<module>", 0)
    f = job(tmp_path, end(s, exit_code), exit_code=exit_code).summary()["failure"]
    assert (f["type"], f["certain"]) == ("SystemExit", certain)
