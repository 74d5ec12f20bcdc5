"""The cache key names an index of this content and this schema: a new schema never reuses an old index."""

from __future__ import annotations

from jemgui.models import cache
from tests.models.jobs import write_archive


def test_key_follows_content(tmp_path):
    archive = write_archive(tmp_path / "a")
    key = cache.content_key(archive)
    assert cache.content_key(archive) == key
    (archive / "events" / "150.jsonl").write_text('{"seq": 0, "ts": 1.0, "pid": 150, "kind": "log"}\n')
    assert cache.content_key(archive) != key


def test_schema_bump_gives_a_new_key_for_an_unchanged_input(tmp_path, monkeypatch):
    archive = write_archive(tmp_path / "a")
    old = cache.content_key(archive)  # remembered by (path, stat signature)
    monkeypatch.setattr(cache, "SCHEMA_VERSION", cache.SCHEMA_VERSION + 1)
    assert cache.content_key(archive) != old


def test_the_records_text_is_stored_compressed_and_read_back_whole(tmp_path):
    """The JSON lines were over half an index: blocks keep them zlib-compressed."""
    from jemgui.models.index import open_index

    archive = write_archive(tmp_path / "a")
    lines = [ln for f in sorted((archive / "events").glob("*.jsonl")) for ln in f.read_bytes().splitlines() if ln]
    ix = open_index(archive)
    stored = sum(n for (n,) in ix.db.execute("SELECT length(data) FROM blocks"))
    assert stored < 0.5 * sum(len(ln) + 1 for ln in lines)
    assert sorted(ix.raw(p) for p in range(ix.count)) == sorted(lines)
