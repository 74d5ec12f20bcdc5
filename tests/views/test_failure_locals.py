"""The failing frames' locals at every verbosity from 2 up (issue 13, item 1): `jemgui summary`
(text and JSON), `inspect --failure` and the window's locals view, for a job the real monitor
recorded; at verbosity 2 and 3 they are marked as taken at the exception, and they equal what
verbosity 4 gives for the same run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from jemgui.models.cursor import Cursor
from jemgui.models.index import open_index
from tests.monitor.tracing import PROGRAMS, PYTHONS

FAILING = PROGRAMS / "failing_locals.py"
SCALED = {"api_token": ["str", "<redacted>"], "box": ["__main__.Box", "Box(4)"], "data": ["list", "[0, 1, 2, 3]"],
          "n": ["int", "4"], "scale": ["int", "0"]}
RATIO = {"items": ["list", "[0, 1, 2, 3]"], "k": ["int", "0"], "label": ["str", "'total of 4'"],
         "total": ["int", "6"]}
VERSION = "3.12" if "3.12" in PYTHONS else next(iter(PYTHONS))


def jemgui(*args) -> str:
    out = subprocess.run([sys.executable, "-m", "jemgui", *map(str, args)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.fixture(scope="module")
def archives(tmp_path_factory) -> dict[int, object]:
    """The failing program recorded by `jemgui run` at verbosity 2, 3 and 4."""
    tmp = tmp_path_factory.mktemp("failing")
    out = {}
    for level in (2, 3, 4):
        out[level] = tmp / f"v{level}"
        done = subprocess.run([sys.executable, "-m", "jemgui", "run", "--out", str(out[level]), "--verbosity",
                               str(level), "--", PYTHONS[VERSION], str(FAILING)], capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 1 and "ZeroDivisionError" in done.stderr, done.stderr
    return out


def test_summary_json_gives_each_failing_frames_locals_at_every_level(archives):
    stacks = {}
    for level, archive in archives.items():
        failure = json.loads(jemgui("summary", archive, "--json"))["failure"]
        stack = {fr["func"]: fr for fr in failure["stack"]}
        assert stack["ratio"]["locals"] == RATIO and stack["scaled"]["locals"] == SCALED, level
        assert stack["ratio"]["locals_at"] == stack["scaled"]["locals_at"] == "exception"
        stacks[level] = failure["stack"]
    by_level = {level: [(fr["func"], fr["locals"]) for fr in stack] for level, stack in stacks.items()}
    assert by_level[2] == by_level[3] == by_level[4]


def test_summary_text_and_inspect_failure_at_verbosity_2(archives):
    text = jemgui("summary", archives[2])
    assert "Locals of the failing frame (at the exception):" in text
    assert "  label: str = 'total of 4'" in text and "      box = Box(4)" in text
    shown = jemgui("inspect", archives[2], "--failure")
    assert "scaled at" in shown and "(locals at the exception)" in shown and "box: __main__.Box = Box(4)" in shown
    state = json.loads(jemgui("inspect", archives[2], "--failure", "--json"))
    stack = {fr["func"]: fr["locals"] for t in state["threads"] for fr in t["stack"]}
    assert stack["scaled"] == SCALED and stack["ratio"] == RATIO


def test_locals_view_shows_an_outer_failing_frame_at_the_exception(qtbot, archives):
    from jemgui.views.locals_view import LocalsView

    ix = open_index(archives[2])
    cursor = Cursor(ix)
    view = LocalsView(cursor)
    qtbot.addWidget(view)
    cursor.seek(ix.failure_pos())
    scaled = next(f for f in cursor.stack if f.func == "scaled")
    assert scaled.locals == {}  # verbosity 2: no values at this record
    cursor.select_frame(scaled.frame_id)
    rows = {view.locals.topLevelItem(i).text(0): view.locals.topLevelItem(i).text(2)
            for i in range(view.locals.topLevelItemCount())}
    assert rows == {name: value for name, (_, value) in SCALED.items()}
    assert "at the exception" in view.note.text()
    cursor.select_frame(cursor.stack[-1].frame_id)  # the raising frame, at its own exception record
    rows = {view.locals.topLevelItem(i).text(0) for i in range(view.locals.topLevelItemCount())}
    assert rows == set(RATIO) and "at the exception" in view.note.text() and "changed here" not in view.note.text()
