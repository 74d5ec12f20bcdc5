"""State at a record, navigation and summary on hand-written jobs with known answers."""

from __future__ import annotations

import pytest
import sqlite_utils

from jemgui.models import indexer, schema
from jemgui.models.index import Index, open_index
from jemgui.models.inputs import open_input
from tests.models.jobs import MANIFEST_JOB, Stream, failing_python, monitor, shell, write_archive


@pytest.fixture(scope="module")
def ix(tmp_path_factory):
    return open_index(write_archive(tmp_path_factory.mktemp("job")))


def pos_of(ix, pid, seq):
    return ix.db.execute("SELECT pos FROM records WHERE pid=? AND seq=?", (pid, seq)).fetchone()[0]


def py_stack(state, pid=200, tid=1):
    t = next(t for t in state.threads if t.pid == pid and t.tid == tid)
    return [(f.func, f.line) for f in t.stack], t


def test_timeline_is_merged_by_time(ix):
    ts = [r["ts"] for r in ix.iter_records()]
    assert ts == sorted(ts)
    assert ix.count == len(monitor().records) + len(shell().records) + len(failing_python().records)


def test_stack_and_locals_at_the_raise(ix):
    raise_pos = pos_of(ix, 200, 13)
    state = ix.state_at(raise_pos)
    frames, t = py_stack(state)
    assert frames == [("<module>", 15), ("main", 13), ("f", 9), ("g", 5)]
    assert t.stack[-1].locals == {"n": ["int", "42"], "d": ["dict", "{}"]}
    assert t.stack[-2].locals == {"x": ["int", "21"], "y": ["int", "42"]}
    assert state.record["type"] == "KeyError"
    # the stack equals the traceback Python printed
    assert [(fr[2], fr[1]) for fr in state.record["traceback"]] == frames


def test_return_keeps_the_frame_until_the_next_record(ix):
    at_return = ix.state_at(pos_of(ix, 200, 14))
    assert py_stack(at_return)[0][-1] == ("g", 5)
    after = ix.state_at(pos_of(ix, 200, 15))
    assert py_stack(after)[0] == [("<module>", 15), ("main", 13), ("f", 9)]


def test_changed_names_are_those_set_by_this_record(ix):
    state = ix.state_at(pos_of(ix, 200, 9))
    _, t = py_stack(state)
    assert t.stack[-1].changed == {"y"}
    assert ix.state_at(pos_of(ix, 200, 10)).thread(t.key).stack[-1].changed == {"n"}


def test_shell_stack_and_metrics_and_state(ix):
    env = pos_of(ix, 150, 3)
    state = ix.state_at(env)
    frames, _ = py_stack(state, pid=150, tid=0)
    assert frames == [("main", 5), ("setup", 3)]
    assert state.job_state == "RUNNING"
    later = ix.state_at(ix.count - 1)
    assert later.metrics["load1"][1] == 5.0 and later.job_state == "FAILED"


def test_steps_forwards_and_backwards(ix):
    f_line9 = pos_of(ix, 200, 9)
    g_call = pos_of(ix, 200, 10)
    g_line4 = pos_of(ix, 200, 11)
    f_exc = pos_of(ix, 200, 15)
    assert ix.step(f_line9, "into") == g_call
    assert ix.step(f_line9, "over") == f_exc  # skips all of g
    assert ix.step(f_exc, "over", backward=True) == f_line9
    assert ix.step(g_line4, "out") == f_exc
    assert ix.step(g_line4, "out", backward=True) == f_line9
    assert ix.step(g_call, "into", backward=True) == f_line9
    # from a record of no thread, steps follow the thread given
    metric = next(p for p in range(ix.count) if ix.record(p)["kind"] == "metric" and p > f_line9)
    t = ix.row(f_line9)[5]
    assert ix.step(metric, "into", thread=t) > metric
    assert ix.step(metric, "into", thread=None) is None


def test_exceptions_breakpoints_and_variables(ix):
    raise_pos = pos_of(ix, 200, 13)
    assert ix.next_exception(0) == raise_pos  # the raise, not each frame it passes
    assert ix.next_exception(raise_pos) is None
    assert ix.next_exception(ix.count - 1, backward=True) == raise_pos
    assert ix.run_to(0, [("/job/transform.py", 9)]) == pos_of(ix, 200, 9)
    assert ix.run_to(ix.count - 1, [("/job/transform.py", 4), ("/job/transform.py", 8)], backward=True) == pos_of(ix, 200, 11)
    assert ix.run_to(0, [("/nowhere.py", 1)]) is None
    f_frame = ix.state_at(raise_pos).threads[-1].stack[2].frame_id
    assert ix.var_change(f_frame, "y", raise_pos) == pos_of(ix, 200, 9)
    assert ix.var_change(f_frame, "y", 0, backward=False) == pos_of(ix, 200, 9)
    assert [h[3] for h in ix.var_history(f_frame, "x")] == ["21"]


def test_search_by_text_kind_file_function_process(ix):
    assert ix.search(0, text="KEYERROR", kinds=["exception"]) == pos_of(ix, 200, 13)
    assert ix.search(0, func="setup") == pos_of(ix, 150, 3)
    assert ix.search(0, kinds=["command"], pid=150, text="python3") == pos_of(ix, 150, 4)
    assert ix.search(0, file="/nowhere") is None
    assert list(ix.find(kinds=["state"])) == [p for p in range(ix.count) if ix.record(p)["kind"] == "state"]


def test_summary_names_the_failure(ix):
    s = ix.summary()
    assert s["exit_code"] == 1 and s["final_state"] == "FAILED"
    f = s["failure"]
    assert (f["type"], f["line"], f["func"]) == ("KeyError", 5, "g")
    assert [fr["func"] for fr in f["stack"]] == ["<module>", "main", "f", "g"]
    assert f["stack"][-1]["locals"]["d"] == ["dict", "{}"]
    assert s["hint"]["class"] == "task" and s["hint"]["reason"] == "bad input"  # KeyError on input data
    assert s["peak"]["rss"] == 5e6
    assert s["kinds"]["exception"] == 4
    assert s["holes"] == 0 and s["problems"]["counts"] == {}


def exits_with(pid: int, message: str) -> Stream:
    """A Python process whose `sys.exit(...)` escapes its outermost frame."""
    s = Stream(pid)
    s.add("process", phase="start", argv=["python3", "check_env.py"], ppid=100, cwd="/job", lang="python")
    s.frame("call", 1, 1, "<module>", 0)
    s.frame("exception", 1, 3, "<module>", 0, type="SystemExit", message=message,
            traceback=[["/job/check_env.py", 3, "<module>"]])
    s.frame("return", 1, 3, "<module>", 0)
    s.add("process", phase="exit", exit_code=int(message or 0))
    return s


@pytest.mark.parametrize("message, failed", [("0", False), ("", False), ("2", True)])
def test_a_clean_sys_exit_is_not_the_failure(tmp_path, message, failed):
    """A check that ends with sys.exit(0) while the job still runs (no verdict yet) is not a failure."""
    mon = monitor()
    mon.records = [r for r in mon.records if r.get("state") != "FAILED"]
    job = {**MANIFEST_JOB, "exit_code": None, "ended": None}
    ix = open_index(write_archive(tmp_path / "job", [mon, exits_with(300, message)], job=job))
    f = ix.summary()["failure"]
    assert (f is not None) == failed
    if failed:
        assert (f["type"], f["line"]) == ("SystemExit", 3)


def test_generator_resumes_keep_locals_and_frame(tmp_path):
    s = Stream(300)
    s.frame("call", 1, 1, "<module>", 0)
    s.frame("line", 1, 5, "<module>", 0)
    s.frame("call", 2, 1, "gen", 1, args={"n": ["int", "3"]})
    s.frame("line", 2, 2, "gen", 1, changed={"i": ["int", "0"]})
    s.frame("return", 2, 2, "gen", 1, value=["int", "0"], **{"yield": True})
    s.frame("line", 1, 6, "<module>", 0, changed={"a": ["int", "0"]})
    s.frame("call", 2, 2, "gen", 1, resume=True)
    s.frame("line", 2, 2, "gen", 1, changed={"i": ["int", "1"]})
    s.frame("return", 2, 2, "gen", 1, value=["int", "1"], **{"yield": True})
    s.frame("line", 1, 7, "<module>", 0)
    ix = open_index(write_archive(tmp_path, [s], manifest=False))
    resumed = ix.state_at(7)
    frames, t = py_stack(resumed, pid=300)
    assert frames == [("<module>", 6), ("gen", 2)]
    assert t.stack[-1].locals == {"i": ["int", "1"], "n": ["int", "3"]}
    first_frame = ix.state_at(3).threads[0].stack[-1].frame_id
    assert t.stack[-1].frame_id == first_frame  # the same frame across resumptions
    after_yield = ix.state_at(5)
    assert py_stack(after_yield, pid=300)[0] == [("<module>", 6)]
    assert after_yield.threads[0].returned == ("gen", ["int", "0"])
    assert ix.step(3, "over") == 4  # the yield ends the segment
    assert ix.step(4, "over") == 5


def test_threads_and_frames_whose_call_was_not_recorded(tmp_path):
    s = Stream(400)
    s.frame("call", 1, 1, "run", 0, tid=1)
    s.frame("call", 2, 1, "worker", 0, tid=2)
    s.frame("line", 1, 2, "run", 0, tid=1)
    # verbosity raised mid-run: a line of a frame never seen, two levels deep
    s.frame("line", 9, 40, "deep", 2, tid=2, changed={"k": ["str", "'v'"]})
    s.frame("line", 1, 3, "run", 0, tid=1)
    ix = open_index(write_archive(tmp_path, [s], manifest=False))
    state = ix.state_at(4)
    assert py_stack(state, 400, 1)[0] == [("run", 3)]
    assert py_stack(state, 400, 2)[0] == [("worker", 1), ("deep", 40)]  # worker is still running under it
    assert py_stack(state, 400, 2)[1].stack[-1].locals == {"k": ["str", "'v'"]}
    assert state.current_thread == py_stack(state, 400, 1)[1].key


def test_state_at_outside_the_timeline(ix):
    with pytest.raises(IndexError):
        ix.state_at(ix.count)


def test_threads_of_an_exited_process_are_gone(ix):
    shell_exit = pos_of(ix, 150, 5)
    assert [t.pid for t in ix.state_at(shell_exit - 1).threads if t.pid == 150] == [150]
    assert all(t.pid != 150 for t in ix.state_at(shell_exit).threads)  # bash exited: no last command shown
    py = ix.state_at(shell_exit)
    assert py_stack(py)[0], "the Python process still runs"
    assert all(t.pid != 200 for t in ix.state_at(ix.count - 1).threads)


def test_a_growing_index_knows_exits_already(tmp_path):
    """Processes are written with each batch, not at the end: a live view hides exited threads too."""
    root = write_archive(tmp_path / "job")
    db = tmp_path / "growing.sqlite"
    conn = indexer._connect(db)
    schema.create(sqlite_utils.Database(conn))
    conn.execute("INSERT INTO meta VALUES ('complete', 'false')")
    writer, inp = indexer.Writer(conn), open_input(root)
    checked = False
    for batch in indexer.Tracker(inp.streams, inp.report).run(batch=8):
        writer.write(batch)
        ix = Index(db)
        shell_exit = ix.pos_of(150, 5)
        if shell_exit is not None:
            assert ix.processes()[[p["pid"] for p in ix.processes()].index(150)]["exit_pos"] == shell_exit
            assert all(t.pid != 150 for t in ix.state_at(shell_exit).threads)
            checked = True
        ix.close()
        if checked:
            break
    inp.close()
    conn.close()
    assert checked


def test_marks_come_from_the_index_without_reading_records(ix, monkeypatch):
    states = [(p, ts, "state", s) for p, ts, _pid, s in ix.states()]
    raise_pos = pos_of(ix, 200, 13)
    want = sorted([*states, (raise_pos, ix.time_at(raise_pos), "exception", "KeyError: 42")])

    def no_reading(*_):
        raise AssertionError("marks read a record")

    monkeypatch.setattr(ix, "_block", no_reading)
    assert ix.marks() == want


def test_pos_of_is_an_index_lookup(ix):
    steps = []
    ix.db.set_progress_handler(lambda: steps.append(1), 1)  # counts SQLite's VM instructions
    try:
        assert ix.pos_of(200, 13) == pos_of(ix, 200, 13)
        assert ix.pos_of(200, 10_000) is None
    finally:
        ix.db.set_progress_handler(None, 1)
    assert len(steps) < 3 * ix.count, len(steps)  # a scan takes several instructions per record
