"""A new input is indexed at once and named by its contents afterwards (hashing a big input first
would read it whole before its first record could be shown); an unchanged one is found by its
files' sizes and times, and the same contents under another name are not indexed twice."""

from __future__ import annotations

import hashlib
import shutil

from jemgui.models import cache
from jemgui.models.index import Index, Indexer
from tests.models.jobs import write_archive


def test_a_new_input_is_not_read_before_indexing_and_is_named_by_its_contents_after(tmp_path, monkeypatch):
    archive = write_archive(tmp_path / "job")
    hashed = []
    real = hashlib.blake2b
    monkeypatch.setattr(cache.hashlib, "blake2b", lambda *a, **k: hashed.append(1) or real(*a, **k))
    job = Indexer(archive)
    assert job.key is None and not job.cached and not hashed  # nothing read yet
    final = job.run()
    assert hashed and final.name == f"{cache.content_key(archive)}.sqlite" and Index(final).count > 0
    hashed.clear()
    again = Indexer(archive)
    assert again.cached and again.final_path == final and not hashed  # found by sizes and times


def test_the_same_contents_elsewhere_reuse_the_index(tmp_path):
    a = write_archive(tmp_path / "a")
    first = Indexer(a).run()
    b = tmp_path / "b"
    shutil.copytree(a, b)
    job = Indexer(b)
    assert job.key is None
    assert job.run() == first and not job.db_path.exists()
    assert Indexer(b).cached
