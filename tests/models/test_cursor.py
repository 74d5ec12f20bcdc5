"""The cursor model on a real index of a hand-written failing job: what it selects, and when it emits."""

from __future__ import annotations

import pytest

from jemgui.models.cursor import FRAME, POS, THREAD, VARIABLE, Breakpoints, Cursor, Event
from jemgui.models.index import open_index
from tests.models.jobs import write_archive

# positions in the merged timeline of tests.models.jobs' default job (see test_replay)
SHELL_COMMAND, PY_LINE, SHELL_EXIT, CALL_F, LINE_F9, METRIC, CALL_G, RAISE = 11, 12, 13, 16, 18, 19, 20, 23
SHELL, PYTHON = 1, 2   # thread keys: (150, 0) and (200, 1)


@pytest.fixture(scope="module")
def ix(tmp_path_factory):
    return open_index(write_archive(tmp_path_factory.mktemp("job")))


@pytest.fixture
def cursor(ix):
    c = Cursor(ix)
    c.events = []
    c.changed.connect(c.events.append)
    return c


def test_starts_at_the_first_record_without_emitting(ix):
    c = Cursor(ix)
    assert c.pos == 0 and c.thread is None and c.frame is None and c.stack == []


def test_seek_moves_to_the_records_thread_and_its_innermost_frame(cursor):
    assert cursor.seek(RAISE)
    assert cursor.events == [frozenset({POS, THREAD, FRAME})]
    assert cursor.thread == PYTHON
    assert [f.func for f in cursor.stack] == ["<module>", "main", "f", "g"]
    assert cursor.frame.func == "g" and cursor.frame.line == 5
    assert cursor.state.record["type"] == "KeyError"


def test_seek_to_the_same_place_emits_nothing(cursor):
    cursor.seek(RAISE)
    cursor.events.clear()
    assert not cursor.seek(RAISE)
    assert not cursor.seek(RAISE, thread=PYTHON)
    assert cursor.events == []


def test_a_step_in_the_same_frame_emits_only_the_position(cursor):
    cursor.seek(17)
    cursor.events.clear()
    cursor.seek(LINE_F9)
    assert cursor.events == [frozenset({POS})]
    assert cursor.frame.line == 9 and cursor.frame.locals == {"x": ["int", "21"], "y": ["int", "42"]}


def test_a_record_without_thread_keeps_the_thread_chosen_before(cursor):
    cursor.seek(LINE_F9)
    cursor.events.clear()
    cursor.seek(METRIC)
    assert cursor.thread == PYTHON
    assert cursor.frame.func == "f"
    assert cursor.events == [frozenset({POS})]


def test_select_thread_shows_that_threads_innermost_frame(cursor):
    cursor.seek(PY_LINE)
    cursor.events.clear()
    assert cursor.select_thread(SHELL)
    assert cursor.events == [frozenset({THREAD, FRAME})]
    assert [f.func for f in cursor.stack] == ["main"]
    assert not cursor.select_thread(SHELL)
    assert not cursor.select_thread(999)   # no such thread here
    assert len(cursor.events) == 1
    cursor.seek(SHELL_EXIT)
    assert not cursor.select_thread(SHELL)  # bash has exited: its thread is gone


def test_select_frame_of_the_stack_only(cursor):
    cursor.seek(RAISE)
    caller = cursor.stack[1]
    cursor.events.clear()
    assert cursor.select_frame(caller.frame_id)
    assert cursor.frame.func == "main" and cursor.frame.line == 13
    assert cursor.events == [frozenset({FRAME})]
    assert not cursor.select_frame(caller.frame_id)
    assert not cursor.select_frame(-5)
    assert len(cursor.events) == 1


def test_seeking_resets_the_frame_to_the_innermost(cursor):
    cursor.seek(RAISE)
    cursor.select_frame(cursor.stack[0].frame_id)
    cursor.seek(RAISE - 1)
    assert cursor.frame.func == "g"


def test_variable_is_watched_across_moves(cursor):
    assert cursor.select_variable("y")
    assert cursor.events == [frozenset({VARIABLE})]
    assert not cursor.select_variable("y")
    cursor.seek(RAISE)
    assert cursor.variable == "y"


def test_seek_is_clamped_to_the_job(cursor, ix):
    cursor.seek(10**9)
    assert cursor.pos == ix.count - 1
    cursor.seek(-3)
    assert cursor.pos == 0


def test_step_by_moves_relative(cursor):
    cursor.seek(CALL_F)
    cursor.step_by(2)
    assert cursor.pos == LINE_F9
    cursor.step_by(-2)
    assert cursor.pos == CALL_F


def test_states_are_cached_and_refresh_forgets_them(cursor):
    cursor.seek(RAISE)
    first = cursor.state
    assert cursor.state is first
    cursor.refresh()
    assert cursor.state is not first and cursor.state.pos == RAISE


def test_event_connects_once_and_ignores_unknown_disconnects():
    e, seen = Event(), []
    e.connect(seen.append)
    e.connect(seen.append)
    e.emit(1)
    e.disconnect(seen.append)
    e.disconnect(seen.append)
    e.emit(2)
    assert seen == [1] and len(e) == 0


def test_breakpoints_toggle_and_report():
    bp, seen = Breakpoints(), []
    bp.changed.connect(seen.append)
    assert bp.toggle("/job/transform.py", 9)
    assert ("/job/transform.py", 9) in bp and bp.lines("/job/transform.py") == {9}
    assert not bp.toggle("/job/transform.py", 9)
    assert len(bp) == 0 and len(seen) == 2
    bp.toggle("/a.py", 1)
    bp.clear()
    assert list(bp) == [] and seen[-1] is None
