"""Background queries: each worker thread has its own index handle, and only the newest answer lands."""

from __future__ import annotations

import threading
import time

from jemgui.models.index import Index, open_index
from jemgui.views.background import BackgroundQueries


def test_a_newer_request_drops_the_older_answer(qtbot, archive):
    db_path = open_index(archive).db_path
    queries = BackgroundQueries(lambda: Index(db_path))
    got, started = [], threading.Event()

    def slow(ix):
        started.set()
        time.sleep(0.3)
        return ("slow", ix.count)

    queries.submit("filter", slow, got.append)
    started.wait(5)
    queries.submit("filter", lambda ix: ("fast", list(ix.find(kinds=["exception"]).tolist())), got.append)
    qtbot.waitUntil(lambda: queries.idle() and bool(got), timeout=5000)
    qtbot.wait(50)
    assert got == [("fast", [23, 25, 27, 29])]


def test_channels_are_independent_and_errors_come_back_as_one_line(qtbot, archive):
    db_path = open_index(archive).db_path
    queries = BackgroundQueries(lambda: Index(db_path))
    results, errors = [], []
    queries.submit("history", lambda ix: ix.var_history(5, "y"), results.append)
    queries.submit("marks", lambda ix: ix.state_at(10**9), results.append, errors.append)
    qtbot.waitUntil(lambda: len(results) + len(errors) == 2, timeout=5000)
    assert [r[0] for r in results[0]] == [18]
    assert errors[0].startswith("IndexError: ") and "\n" not in errors[0]


def test_cancel_drops_a_pending_answer(qtbot, archive):
    db_path = open_index(archive).db_path
    queries = BackgroundQueries(lambda: Index(db_path))
    got = []
    queries.submit("filter", lambda ix: time.sleep(0.1) or ix.count, got.append)
    queries.cancel("filter")
    qtbot.waitUntil(queries.idle, timeout=5000)
    qtbot.wait(50)
    assert got == []
