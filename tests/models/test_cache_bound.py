"""The index cache is bounded: least recently opened indexes go first, builds a dead process left are removed,
and `jemgui cache` lists and clears it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jemgui.models import cache
from tests.models.jobs import MANIFEST_JOB, failing_python, monitor, shell, write_archive

JEMGUI = str(Path(sys.executable).with_name("jemgui"))
DAY = 86400


def job(root: Path, job_id: str, n_metrics: int = 5) -> Path:
    """An archive of its own content (the job id differs), so of its own index."""
    return write_archive(root / job_id, [monitor(n_metrics=n_metrics), shell(), failing_python()],
                         job=dict(MANIFEST_JOB, id=job_id))


def jemgui(*args, cache_dir: Path, env: dict | None = None, **kw):
    environ = dict(os.environ, JEMGUI_CACHE_DIR=str(cache_dir), **(env or {}))
    return subprocess.run([JEMGUI, *map(str, args)], capture_output=True, text=True, env=environ,
                          timeout=120, **kw)


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("JEMGUI_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(cache.LIMIT_ENV, raising=False)
    return tmp_path / "cache"


def opened(path: Path) -> Path:
    """Open the index of `path` as the window and commands do; its file."""
    from jemgui.models.index import open_index

    ix = open_index(path)
    ix.close()
    return ix.db_path


def age(index: Path, days: float) -> None:
    t = time.time() - days * DAY
    os.utime(index, (t, t))


def test_the_least_recently_opened_indexes_go_when_a_build_exceeds_the_cap(own_cache, tmp_path, monkeypatch):
    a, b, c = (opened(job(tmp_path, name)) for name in ("a", "b", "c"))
    age(a, 3)
    age(b, 2)
    age(c, 1)
    assert opened(job(tmp_path, "a")) == a  # opening again makes `a` the most recently used
    sizes = {i.path: i.size for i in cache.cached_indexes()}
    monkeypatch.setenv(cache.LIMIT_ENV, str(sum(sizes.values()) + min(sizes.values()) // 2))
    d = opened(job(tmp_path, "d"))  # four do not fit: b, the least recently used, goes
    assert [i.path for i in cache.cached_indexes()] == [c, a, d]
    assert not b.exists() and not Path(f"{b}-shm").exists()

    monkeypatch.setenv(cache.LIMIT_ENV, "1K")  # smaller than any index: the one just built stays
    e = opened(job(tmp_path, "e"))
    assert [i.path for i in cache.cached_indexes()] == [e]


def test_the_cap_is_a_size_in_the_environment(own_cache, monkeypatch):
    assert cache.size_limit() == cache.DEFAULT_LIMIT == 4 << 30
    for text, size in (("500M", 500 << 20), ("1.5GiB", 3 << 29), ("2g", 2 << 30), ("123456", 123456)):
        monkeypatch.setenv(cache.LIMIT_ENV, text)
        assert cache.size_limit() == size
    monkeypatch.setenv(cache.LIMIT_ENV, "lots")
    with pytest.raises(cache.CacheLimitError, match="JEMGUI_CACHE_LIMIT='lots' is not a size"):
        cache.size_limit()

    r = jemgui("cache", cache_dir=own_cache, env={cache.LIMIT_ENV: "lots"})
    assert (r.returncode, r.stderr.splitlines()) == (
        2, ["jemgui cache: JEMGUI_CACHE_LIMIT='lots' is not a size (e.g. 4G, 500M)"])
    r = jemgui("cache", cache_dir=own_cache, env={cache.LIMIT_ENV: "500M"})
    assert r.returncode == 0 and r.stdout.splitlines()[-1].startswith("0 indexes, 0 B of 500.0 MiB")


def test_a_build_whose_process_died_is_removed_by_the_next_one_but_a_live_build_is_kept(tmp_path):
    store = tmp_path / "cache"
    index = store / "index"
    env = dict(os.environ, JEMGUI_CACHE_DIR=str(store), JEMGUI_INDEX_WORKER="0")

    def start_build(name: str) -> subprocess.Popen:
        archive = job(tmp_path, name, n_metrics=60_000)  # takes seconds to index
        proc = subprocess.Popen([JEMGUI, "summary", str(archive)], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not list(index.glob(f"*.{proc.pid}.*.building.sqlite")):
            assert proc.poll() is None and time.monotonic() < deadline, "the build never started"
            time.sleep(0.01)
        return proc

    killed = start_build("killed")
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    left = sorted(p.name for p in index.glob(f"*.{killed.pid}.*"))
    assert left and left[0].endswith(".building.sqlite")  # the interrupted build, with its WAL

    paused = start_build("paused")
    paused.send_signal(signal.SIGSTOP)
    try:
        r = jemgui("summary", job(tmp_path, "next"), cache_dir=store)  # the next process to index
        assert r.returncode == 0, r.stderr
        assert list(index.glob(f"*.{killed.pid}.*")) == []
        assert list(index.glob(f"*.{paused.pid}.*.building.sqlite")), "a live build was removed"
    finally:
        paused.send_signal(signal.SIGCONT)
    assert paused.wait(120) == 0  # and it finishes
    assert list(index.glob("*.building.sqlite*")) == []
    assert len(cache.cached_indexes(index)) == 2


def test_jemgui_cache_lists_and_clears(tmp_path):
    store = tmp_path / "cache"
    old, new = job(tmp_path, "old-job"), job(tmp_path, "new-job")
    for archive in (old, new):
        assert jemgui("summary", archive, cache_dir=store).returncode == 0

    listed = json.loads(jemgui("cache", "list", "--json", cache_dir=store).stdout)
    by_job = {i["job"]: i for i in listed["indexes"]}
    assert set(by_job) == {"old-job", "new-job"} and listed["limit"] == cache.DEFAULT_LIMIT
    assert by_job["old-job"]["inputs"] == [str(old.resolve())]
    assert listed["total"] == sum(i["size"] for i in listed["indexes"]) > 0
    age(Path(by_job["old-job"]["path"]), 40)

    table = jemgui("cache", cache_dir=store).stdout.splitlines()
    assert table[0].split() == ["LAST", "USED", "SIZE", "JOB", "INPUT"]
    assert "old-job" in table[1] and str(old.resolve()) in table[1]  # least recently used first
    assert "new-job" in table[2] and table[3].startswith("2 indexes, ")
    assert time.strftime("%Y-%m-%d", time.localtime(time.time() - 40 * DAY)) in table[1]

    r = jemgui("cache", "clear", "--older-than", "30d", cache_dir=store)
    assert (r.returncode, r.stdout.split()[:2]) == (0, ["removed", "1"])
    assert [i["job"] for i in json.loads(jemgui("cache", "list", "--json", cache_dir=store).stdout)["indexes"]] \
        == ["new-job"]
    bad = jemgui("cache", "clear", "--older-than", "soon", cache_dir=store)
    assert bad.returncode == 2 and bad.stderr.splitlines() == [
        "jemgui cache clear: error: argument --older-than: 'soon' is not an age (e.g. 30d, 12h, 2w) "
        "(see jemgui cache clear --help)"]
    assert jemgui("cache", "clear", cache_dir=store).stdout.startswith("removed 1 indexes")
    assert list((store / "index").glob("*.sqlite*")) == []
    assert jemgui("summary", new, cache_dir=store).returncode == 0  # rebuilt when needed
