"""One job's triage facts: what `summary --json` says of it, cut to what a table of many jobs needs.

`input_facts(path)` opens every job an input holds (through the index cache,
so the inspector opens it at once later) and returns one small dict per job;
an input that cannot be read gives one dict with `outcome` "unreadable" and the
one-line `error`, so one bad tarball never stops a triage of thousands. The
facts are kept in a small table beside the index cache, keyed like it by the
input's content, so a second triage of the same files reads no log at all.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

import orjson

from jemgui.models import cache
from jemgui.models.triage.signature import headline, signature

#: bump when the facts or the signature change: old cached facts are then recomputed
FACTS_VERSION = 4
MAX_MESSAGE = 300
MAX_EVIDENCE = 3
CLASSES = {"site": "site", "task": "task", "unclear": "unclear", "unknown": "unclear"}


def _cut(text, n: int = MAX_MESSAGE):
    return text[:n] if isinstance(text, str) else text


def _cpu_efficiency(peak: dict, job: dict) -> float | None:
    """CPU seconds per wall second: prmon's cumulative utime+stime over wtime, else the
    transform report's executors' cpuTime over wallTime."""
    wtime = peak.get("wtime")
    if isinstance(wtime, (int, float)) and wtime > 0 and peak.get("utime") is not None:
        return round((peak.get("utime", 0) + peak.get("stime", 0)) / wtime, 3)
    ex = [e for e in job.get("executors") or [] if isinstance(e, dict)]
    cpu = sum(e.get("cpuTime") or 0 for e in ex)
    wall = sum(e.get("wallTime") or 0 for e in ex)
    return round(cpu / wall, 3) if wall > 0 else None


def from_summary(s: dict, recorded_peak: dict) -> dict:
    """The triage facts of one job from its `summarize` result (and the index's recorded peaks)."""
    job = s.get("job") or {}
    outcome = "ok" if s.get("hint") is None else ("unknown" if s["hint"].get("class") == "unknown" else "failed")
    hint = s.get("hint") or {}  # none for a job that succeeded
    cls = hint.get("class")
    fail = s.get("failure")
    failure = None
    if fail:
        failure = {k: _cut(fail.get(k)) for k in ("kind", "type", "message", "file", "line", "func", "record")}
        failure["traceback"] = (fail.get("traceback") or [])[-12:]
        if not failure["traceback"] and fail.get("stack"):
            failure["traceback"] = [[f.get("file"), f.get("line"), f.get("func")] for f in fail["stack"]][-12:]
    peak = s.get("peak") or {}
    f = {
        "id": str(job["id"]) if job.get("id") is not None else None,
        "task": str(job["task"]) if job.get("task") is not None else None,
        "site": job.get("site") or job.get("queue"),
        "queue": job.get("queue"),
        "host": job.get("host"),
        "source": job.get("source") or "JEM archive",
        "outcome": outcome,
        "class": None if outcome == "ok" else CLASSES.get(cls, "unclear"),
        "reason": _cut(hint.get("reason")),
        "exit_code": s.get("exit_code"),
        "exit_acronym": s.get("exit_acronym"),
        "exit_message": _cut(s.get("exit_message")),
        "pilot_error": s.get("pilot_error"),
        "failure": failure,
        "evidence": [{"file": e.get("file"), "line": e.get("line"), "text": _cut(e.get("text"))}
                     for e in (hint.get("evidence") or [])[:MAX_EVIDENCE]],
        "based_on": _cut(hint.get("based_on")),
        "started": s.get("started"),
        "ended": s.get("ended"),
        "duration": s.get("duration"),
        "peak_rss": peak.get("rss"),
        "peak_pss": peak.get("pss"),
        "peak_vms": peak.get("vms"),
        "peak_memory": peak.get("pss") if peak.get("pss") is not None else peak.get("rss"),
        "cpu_efficiency": _cpu_efficiency(recorded_peak, job),
        "records": s.get("records"),
    }
    f["signature"] = signature(f)
    f["headline"] = headline(f)
    return f


def _evidence_record(ix, evidence: list[dict]) -> str | None:
    """`pid:seq` of the log record of the first deciding line (a site failure has no exception
    to open at, but the line that shows it: `caught signal: SIGTERM`, `No space left`)."""
    for e in evidence:
        text = (e.get("text") or "").strip()
        if not text or "pilotErrorCodes" in text or not e.get("file") or not e.get("line"):
            continue
        for pos in ix.find(kinds=["log"], pids=[1] if e["file"] == "pilotlog.txt" else None, text=text[:200]):
            rec = ix.record(int(pos))
            if rec.get("logfile") == e["file"] and rec.get("logline") == e["line"]:
                return f"{rec['pid']}:{rec['seq']}"
        return None
    return None


def _one_job(path: Path, job: str | None) -> dict:
    from jemgui.models.index import open_index
    from jemgui.models.summary import summarize

    ix = open_index(path, job=job)
    try:
        s = summarize(ix)
        f = from_summary(s, dict(ix.meta.get("peak") or {}))
        # where the inspector opens this job: its failure, else the line that shows it
        f["at"] = (f["failure"] or {}).get("record")
        if f["at"] is None and f["outcome"] != "ok":
            f["at"] = _evidence_record(ix, (s.get("hint") or {}).get("evidence") or [])
        return f
    finally:
        ix.close()


def _compute(path: Path) -> list[dict]:
    """Facts of every job in `path` (a pack or folder may hold several JEM jobs)."""
    from jemgui.models.inputs import UnreadableInput, list_jobs

    try:
        return [{**_one_job(path, None), "job": None}]
    except UnreadableInput:
        try:
            refs = list_jobs(path)
        except UnreadableInput:
            refs = []
        if len(refs) < 2:
            raise
    return [{**_one_job(path, r.key), "job": r.key} for r in refs]


# -- the facts cache: part of the index cache, under its cap -------------------------------------

#: a row's last use is written again only when older than this (a cached triage writes little)
TOUCH_AFTER = 60.0
#: bytes a row costs beyond its value (key, time, b-tree): to choose how many rows to prune
ROW_OVERHEAD = 120


def facts_file() -> Path:
    return cache.cache_dir() / "triage.sqlite"


_held = threading.local()  #: this thread's connection to the facts table, and which file it is


def _db() -> sqlite3.Connection:
    """This thread's connection, kept open: closing the last one after a write checkpoints the WAL
    with an fsync (16 ms a lookup that marked its row used, against 1 ms). A file removed or
    replaced since (`jemgui cache clear`) is opened anew."""
    path = facts_file()
    try:
        ident = (str(path), path.stat().st_ino)
    except FileNotFoundError:
        ident = None
    held = getattr(_held, "db", None)
    if held is not None and ident is not None and held[0] == ident:
        return held[1]
    _forget()
    db = sqlite3.connect(path, timeout=60)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")  # a cache: a write lost to a crash is recomputed
    if db.execute("SELECT 1 FROM sqlite_master WHERE name='facts'").fetchone():
        with db:  # the first table had no last use: its rows are recomputed when asked again
            db.execute("DROP TABLE facts")
    db.execute("CREATE TABLE IF NOT EXISTS jobs (key TEXT PRIMARY KEY, value BLOB, used REAL)")
    db.execute("CREATE INDEX IF NOT EXISTS jobs_used ON jobs (used)")
    _held.db = ((str(path), path.stat().st_ino), db)
    return db


def _forget() -> None:
    held = getattr(_held, "db", None)
    _held.db = None
    if held is not None:
        held[1].close()


def _lookup(key: str) -> list[dict] | None:
    db = _db()
    row = db.execute("SELECT value, used FROM jobs WHERE key=?", (key,)).fetchone()
    if row and row[1] < time.time() - TOUCH_AFTER:
        with db:
            db.execute("UPDATE jobs SET used=? WHERE key=?", (time.time(), key))
    return orjson.loads(row[0]) if row else None


def _store(key: str, facts: list[dict]) -> None:
    db = _db()
    with db:
        db.execute("INSERT OR REPLACE INTO jobs VALUES (?, ?, ?)", (key, orjson.dumps(facts), time.time()))
    cache.evict()  # the cap covers this table too


def table_size() -> int:
    """Bytes of the facts table on disk (with its WAL companions)."""
    out = 0
    for suffix in ("", "-wal", "-shm"):
        try:
            out += Path(f"{facts_file()}{suffix}").stat().st_size
        except FileNotFoundError:
            pass
    return out


def table_entries() -> tuple[int, float | None]:
    """(inputs whose facts are kept, the latest use of any) for `jemgui cache list`."""
    if not facts_file().exists():
        return 0, None
    return _db().execute("SELECT count(*), max(used) FROM jobs").fetchone()


def prune(older_than: float | None = None, free: int | None = None) -> int:
    """Forget the facts of inputs last triaged before `older_than` (epoch s), or the least recently
    triaged until about `free` bytes are freed; the file is then compacted. Returns rows removed."""
    if not facts_file().exists():
        return 0
    db = _db()
    if older_than is not None:
        keys = [k for (k,) in db.execute("SELECT key FROM jobs WHERE used < ?", (older_than,))]
    else:
        keys, freed = [], 0
        for k, n in db.execute("SELECT key, length(value) FROM jobs ORDER BY used, key"):
            if freed >= (free or 0):
                break
            keys.append(k)
            freed += n + len(k) + ROW_OVERHEAD
    if keys:
        with db:
            db.executemany("DELETE FROM jobs WHERE key=?", [(k,) for k in keys])
        db.execute("VACUUM")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return len(keys)


def clear_cache() -> None:
    """Forget every cached facts (the indexes stay)."""
    _forget()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{facts_file()}{suffix}").unlink(missing_ok=True)


def input_facts(path: str | os.PathLike, use_cache: bool = True) -> list[dict]:
    """The facts of each job in the input `path`; never raises for a bad input (see the module doc)."""
    path = Path(path)
    try:
        key = f"{FACTS_VERSION}|{cache.content_key(path)}"
        found = _lookup(key) if use_cache else None
        if found is None:
            found = _compute(path)
            if use_cache:
                _store(key, found)
    except (cache.CacheUnusable, ImportError):
        raise  # the cache folder or a module of the installation: the whole triage stops
    except Exception as exc:  # noqa: BLE001 - one unreadable input is a row of the table, not the end
        return [{"path": str(path), "job": None, "outcome": "unreadable", "class": None, "signature": None,
                 "error": " ".join(str(exc).split())[:MAX_MESSAGE] or type(exc).__name__}]
    return [{"path": str(path), **f} for f in found]
