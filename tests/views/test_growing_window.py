"""A big archive is on screen while it is indexed: usable at its first records, grown in place, completed.

Indexing is slowed down here (each commit waits) so that every phase is
seen whatever the machine's speed; nothing in the window depends on it.
"""

from __future__ import annotations

import json
import time

import orjson
import pytest

from benchmarks.synth import write_archive as write_synthetic
from jemgui.app import open_and_wait
from jemgui.models import indexer
from tests.models.jobs import failing_python


@pytest.fixture
def slow_commits(monkeypatch, tmp_path):
    """Every commit of the index waits a little: indexing takes seconds, not a blink (and
    nothing is cached from another test)."""
    monkeypatch.setenv("JEMGUI_CACHE_DIR", str(tmp_path / "cache"))
    write = indexer.Writer.write

    def slow(self, batch):
        write(self, batch)
        time.sleep(0.15)

    monkeypatch.setattr(indexer.Writer, "write", slow)
    monkeypatch.setenv("JEMGUI_INDEX_WORKER", "0")


@pytest.fixture(scope="module")
def big_failing(tmp_path_factory):
    """A synthetic job of ~120 k records whose last process fails at the very end."""
    folder = write_synthetic(tmp_path_factory.mktemp("bigfail") / "job", 120_000, seed=5)
    py = failing_python(pid=200)
    t = 1_800_000_000.0
    with open(folder / "events" / "200.jsonl", "wb") as f:
        for rec in py.records:
            t += 0.001
            f.write(orjson.dumps({**rec, "ts": t}) + b"\n")
    (folder / "manifest.json").write_text(json.dumps({
        "format": "jem-archive", "version": 1,
        "job": {"id": "big-4711", "name": "reco", "exit_code": 1, "started": 1.7e9, "ended": t},
        "monitor": {"name": "jemgui", "version": "0"}}))
    return folder


def test_a_big_archive_is_usable_before_indexing_ends(qtbot, qapp, empty_window, big_failing, slow_commits):
    w = empty_window
    opened = []
    w.opener.opened.connect(lambda ix, p: opened.append(ix))
    t0 = time.monotonic()
    open_and_wait(qapp, w, big_failing, indexed=False)
    first = time.monotonic() - t0
    ins = w.inspection
    assert ins is not None and ins.growing and not opened, "the window waited for the whole index"
    assert first < 5, first
    partial_count = ins.index.count
    assert 0 < partial_count < 100_000
    assert w.progress.isVisible() and w.header.badge.text().startswith("?✖") or "KeyError" in w.header.badge.text()
    # the records so far can be stepped through
    assert ins.cursor.seek(partial_count - 1) and ins.cursor.state.pos == partial_count - 1
    # the panels grow in place: same inspection, more rows, longer slider
    qtbot.waitUntil(lambda: ins.index.count > partial_count, timeout=30000)
    qtbot.waitUntil(lambda: w.events.model.rowCount() > partial_count, timeout=30000)
    assert w.inspection is ins and w.transport_bar.slider.maximum() > partial_count - 1
    assert "records" in w.progress.format() and "/s" in w.progress.format()
    qtbot.waitUntil(lambda: bool(opened), timeout=120000)
    assert opened == [ins.index] and w.inspection is ins and not ins.growing
    assert ins.index.complete and ins.index.db_path.name.endswith(".sqlite")
    assert not ins.index.db_path.name.endswith(".building.sqlite")
    assert w.events.model.rowCount() == ins.index.count > 120_000
    assert w.header.go_to_failure()
    assert ins.cursor.state.record["kind"] == "exception" and ins.cursor.state.record["pid"] == 200


def test_the_failure_badge_shows_before_indexing_reaches_it(qtbot, qapp, empty_window, big_failing, slow_commits):
    w = empty_window
    open_and_wait(qapp, w, big_failing, indexed=False)
    qtbot.waitUntil(lambda: "KeyError" in w.header.badge.text(), timeout=10000)
    ins = w.inspection
    assert ins.growing and ins.index.pos_of(200, 0) is None  # its records are not indexed yet
    assert not w.header.go_to_failure()  # not yet reachable: the cursor stays
    assert "Indexing has not reached it" in w.header.badge.toolTip()


def test_cancel_while_shown_goes_back_and_releases_the_index(qtbot, qapp, window, big_failing, slow_commits):
    before = window.inspection
    open_and_wait(qapp, window, big_failing, indexed=False)
    partial = window.inspection
    assert partial is not before and partial.growing
    window.cancel_open()
    assert window.inspection is before and not window.progress.isVisible()
    with pytest.raises(Exception, match="closed"):
        partial.index.db.execute("SELECT 1")
    window.opener.wait(30)


def test_cancel_with_nothing_before_empties_the_window(qtbot, qapp, empty_window, big_failing, slow_commits):
    open_and_wait(qapp, empty_window, big_failing, indexed=False)
    empty_window.cancel_open()
    assert empty_window.inspection is None and not empty_window.header_bar.isVisible()
    empty_window.opener.wait(30)
