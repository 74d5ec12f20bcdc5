"""Triage's facts table is part of the index cache: under its cap (after the indexes), listed and
cleared by `jemgui cache`, and a cached triage marks the facts it used as used."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time

import pytest

from jemgui.models import cache
from jemgui.models.triage import facts
from jemgui.models.triage.run import expand
from tests.triage.corpus import make_corpus

DAY = 86400
JEMGUI = [sys.executable, "-m", "jemgui"]


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("JEMGUI_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(cache.LIMIT_ENV, raising=False)
    return tmp_path / "cache"


@pytest.fixture
def triaged(own_cache, tmp_path):
    """Eight tarballs triaged (facts and indexes cached), their facts last used 8, 7, ... 1 days ago."""
    make_corpus(tmp_path / "corpus", n=8, seed=5)
    paths, _ = expand([str(tmp_path / "corpus")])
    for p in paths:
        assert facts.input_facts(p)[0]["outcome"] != "unreadable"
    db = sqlite3.connect(facts.facts_file())
    keys = [k for (k,) in db.execute("SELECT key FROM jobs ORDER BY key")]
    with db:
        for i, k in enumerate(keys):
            db.execute("UPDATE jobs SET used=? WHERE key=?", (time.time() - (len(keys) - i) * DAY, k))
    db.close()
    return paths, keys


def _rows() -> list[str]:
    db = sqlite3.connect(facts.facts_file())
    try:
        return [k for (k,) in db.execute("SELECT key FROM jobs ORDER BY key")]
    finally:
        db.close()


def jemgui(*args, cache_dir, **env):
    return subprocess.run([*JEMGUI, *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "JEMGUI_CACHE_DIR": str(cache_dir), **env})


def test_the_cap_counts_the_facts_and_takes_them_last_oldest_first(triaged):
    paths, keys = triaged
    assert len(keys) == len(paths) == 8 and cache.cached_indexes()
    limit = facts.table_size() - 4096  # a page less
    cache.evict(limit=limit)
    assert cache.cached_indexes() == []  # every index went before any facts
    kept = _rows()
    assert facts.table_size() <= limit
    assert 0 < len(kept) < len(keys) and kept == keys[-len(kept):]  # the most recently used stay


def test_a_build_over_the_cap_prunes_the_facts_too(triaged, tmp_path, monkeypatch):
    """The cap holds after a triage itself: indexes and facts together under JEMGUI_CACHE_LIMIT."""
    paths, keys = triaged
    monkeypatch.setenv(cache.LIMIT_ENV, str(facts.table_size()))
    make_corpus(tmp_path / "more", n=12, seed=6)
    more, _ = expand([str(tmp_path / "more")])
    for p in more[:3]:
        facts.input_facts(p)
    total = sum(c.size for c in cache.cached_indexes()) + facts.table_size()
    assert total <= cache.size_limit()
    assert keys[0] not in _rows()  # the oldest facts went


def test_cache_list_and_clear_cover_the_facts(triaged, own_cache):
    paths, keys = triaged
    listed = json.loads(jemgui("cache", "list", "--json", cache_dir=own_cache).stdout)
    assert listed["triage"]["inputs"] == len(keys) and listed["triage"]["size"] == facts.table_size() > 0
    assert listed["total"] == sum(i["size"] for i in listed["indexes"]) + listed["triage"]["size"]
    text = jemgui("cache", "list", cache_dir=own_cache).stdout
    assert "triage's facts of 8 inputs" in text and "indexes and triage facts of 8 inputs" in text
    # a cached triage marks the facts it read as used: --older-than keeps them
    fresh = facts.input_facts(paths[0])
    assert fresh[0]["outcome"] != "unreadable"
    used_now = [k for k in _rows() if k.endswith(cache.content_key(paths[0]))]
    assert len(used_now) == 1
    done = jemgui("cache", "clear", "--older-than", "60h", cache_dir=own_cache)
    assert done.returncode == 0, done.stderr
    expected = {*keys[-2:], *used_now}  # used 2 days and 1 day ago, and now
    assert set(_rows()) == expected
    assert f"triage facts of {len(keys) - len(expected)} inputs" in done.stdout
    done = jemgui("cache", "clear", cache_dir=own_cache)
    assert f"triage facts of {len(expected)} inputs" in done.stdout
    assert not facts.facts_file().exists()
