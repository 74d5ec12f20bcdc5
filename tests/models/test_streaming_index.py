"""Indexing reports progress, can be cancelled, and is queryable while it runs."""

from __future__ import annotations

import threading

import pytest

from benchmarks.synth import write_archive
from jemgui.models import indexer
from jemgui.models.index import Index, Indexer


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    return write_archive(tmp_path_factory.mktemp("big") / "job", 150_000)


def test_records_are_queryable_before_indexing_ends(big, monkeypatch):
    seen = []
    ix_holder = {}
    job = Indexer(big)

    def progress(done, total, records):
        if "ix" not in ix_holder and records >= indexer.BATCH:
            ix_holder["ix"] = Index(job.db_path)
        if "ix" in ix_holder:
            ix = ix_holder["ix"]
            ix.refresh()
            seen.append((ix.count, ix.complete, done <= total))
            if ix.count:
                assert ix.record(ix.count - 1)["seq"] >= 0
                ix.state_at(ix.count // 2)

    monkeypatch.setattr(indexer, "BATCH", 256 * 40)
    job.run(progress=progress)
    partial = [c for c, complete, _ in seen if not complete and c > 0]
    assert partial, "no query saw a partly built index"
    assert all(ok for *_, ok in seen)
    final = Index(job.final_path)
    # a view before the end may already hold every record (only the closing facts were left)
    assert final.complete and final.count >= max(partial) and min(partial) < final.count


def test_cancel_leaves_no_index(big, monkeypatch):
    monkeypatch.setattr(indexer, "BATCH", 256 * 40)
    cancel = threading.Event()
    job = Indexer(big)
    if job.cached:
        job.final_path.unlink()
    with pytest.raises(indexer.Cancelled):
        job.run(progress=lambda *a: cancel.set(), cancel=cancel)
    # a new input has no final name yet (it is named by its contents once indexed)
    assert (job.final_path is None or not job.final_path.exists()) and not job.db_path.exists()
