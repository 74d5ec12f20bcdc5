"""Background queries: each worker thread has its own index handle, and only the newest answer lands."""

from __future__ import annotations

import threading

from jemgui.models.index import Index, open_index
from jemgui.views.background import BackgroundQueries


def answered_after(qtbot, queries) -> None:
    """Wait until every answer of the queries submitted so far has been delivered or dropped.

    One worker runs the queries in order and each answer is queued to the GUI thread in
    that order, so once a query submitted now has answered, every earlier answer was handled.
    """
    done = []
    queries.submit("fence", lambda ix: None, done.append)
    qtbot.waitUntil(lambda: bool(done), timeout=5000)


def test_a_newer_request_drops_the_older_answer(qtbot, archive):
    db_path = open_index(archive).db_path
    queries = BackgroundQueries(lambda: Index(db_path))
    got, started, release = [], threading.Event(), threading.Event()

    def slow(ix):
        started.set()
        release.wait(5)
        return ("slow", ix.count)

    queries.submit("filter", slow, got.append)
    assert started.wait(5)
    queries.submit("filter", lambda ix: ("fast", list(ix.find(kinds=["exception"]).tolist())), got.append)
    release.set()  # the older answer comes now, after the newer request
    answered_after(qtbot, queries)
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
    got, started, release = [], threading.Event(), threading.Event()

    def running(ix):
        started.set()
        release.wait(5)
        return ix.count

    queries.submit("filter", running, got.append)
    assert started.wait(5)
    queries.cancel("filter")
    release.set()
    answered_after(qtbot, queries)
    assert got == []
