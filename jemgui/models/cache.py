"""Where indexes live and how an input's content names its index.

The key is a hash of the input's bytes, so a copied or moved archive reuses
its index. Hashing gigabytes on every open would be slow, so a small table
remembers the key of each (path, size, mtime, inode) already hashed.

The index folder and triage's facts table are bounded (`JEMGUI_CACHE_LIMIT`,
default 4 GiB): after a build the least recently opened indexes go until the
rest fits (then the least recently triaged facts), and build
files left by a process that died are removed when the next process starts
indexing.
"""

from __future__ import annotations

import errno
import hashlib
import os
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import platformdirs

#: bump when the index schema or its meaning changes: old indexes are rebuilt
SCHEMA_VERSION = 5


class CacheUnusable(OSError):
    """The cache folder cannot be made or is not a folder: a part is missing, not the input."""


def cache_dir() -> Path:
    """The user's cache folder for jemgui (JEMGUI_CACHE_DIR overrides it)."""
    d = Path(os.environ.get("JEMGUI_CACHE_DIR") or platformdirs.user_cache_dir("jemgui"))
    if d.exists() and not d.is_dir():
        raise CacheUnusable(errno.ENOTDIR, "the cache folder is not a folder (see JEMGUI_CACHE_DIR)", str(d))
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CacheUnusable(exc.errno, f"cannot make the cache folder ({exc.strerror}; see JEMGUI_CACHE_DIR)",
                            str(d)) from None
    return d


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    out = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if not os.path.islink(os.path.join(dirpath, d)))
        out += [Path(dirpath) / f for f in sorted(filenames)]
    return [p for p in out if p.is_file() and not p.is_symlink()]


def _stat_sig(files: list[Path], root: Path) -> str:
    parts = []
    for f in files:
        st = f.stat()
        parts.append(f"{f.relative_to(root) if f != root else f.name}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _versions() -> str:
    """The schema's version and the converters': a change to either must not find the old key."""
    from jemgui.models.gridlogs import VERSION as GRIDLOGS

    return f"v{SCHEMA_VERSION}|gridlogs{GRIDLOGS}"


def _keys_db() -> sqlite3.Connection:
    db = sqlite3.connect(cache_dir() / "keys.sqlite", timeout=10)
    db.execute("CREATE TABLE IF NOT EXISTS keys (path TEXT, job TEXT, sig TEXT, key TEXT, PRIMARY KEY (path, job))")
    return db


def known_key(path: str | os.PathLike, job: str | None = None) -> str | None:
    """The key of `path` when its files are as they were when it was last hashed (nothing is read
    but their sizes and times), else None: a new input's key is only known once it was read."""
    path = Path(path).resolve()
    sig = f"{_versions()}|{_stat_sig(_files(path), path)}"
    db = _keys_db()
    try:
        row = db.execute("SELECT sig, key FROM keys WHERE path=? AND job=?", (str(path), job or "")).fetchone()
    finally:
        db.close()
    return row[1] if row and row[0] == sig else None


def content_key(path: str | os.PathLike, job: str | None = None) -> str:
    """A hex key naming the index of `path` (and the chosen `job` inside it): a hash of its contents,
    remembered with the files' sizes and times so that an unchanged input is not read again."""
    path = Path(path).resolve()
    files = _files(path)
    sig = f"{_versions()}|{_stat_sig(files, path)}"
    db = _keys_db()
    try:
        row = db.execute("SELECT sig, key FROM keys WHERE path=? AND job=?", (str(path), job or "")).fetchone()
        if row and row[0] == sig:
            return row[1]
        h = hashlib.blake2b(digest_size=20)
        h.update(f"{_versions()}|{job or ''}".encode())
        for f in files:
            h.update(b"\0" + (f.relative_to(path).as_posix() if f != path else "").encode() + b"\0")
            with open(f, "rb") as fh:
                while chunk := fh.read(1 << 22):
                    h.update(chunk)
        key = h.hexdigest()
        with db:
            db.execute("INSERT OR REPLACE INTO keys VALUES (?, ?, ?, ?)", (str(path), job or "", sig, key))
        return key
    finally:
        db.close()


# -- the index folder: bounded, least recently used indexes go first ----------------------------

#: the index cache's size cap unless JEMGUI_CACHE_LIMIT says otherwise
DEFAULT_LIMIT = 4 << 30
LIMIT_ENV = "JEMGUI_CACHE_LIMIT"
_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_tidied: set[Path] = set()


class CacheLimitError(ValueError):
    """JEMGUI_CACHE_LIMIT is not a size."""


def parse_size(text: str) -> int:
    """Bytes of a size such as `4G`, `500M`, `1.5GiB` or `123456` (units are powers of 1024)."""
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    number, unit = (t[:-1], t[-1]) if t and t[-1] in _UNITS else (t, "")
    try:
        value = float(number)
    except ValueError:
        raise CacheLimitError(f"{text!r} is not a size (e.g. 4G, 500M)") from None
    if value < 0 or value != value:
        raise CacheLimitError(f"{text!r} is not a size (e.g. 4G, 500M)")
    return int(value * _UNITS[unit])


def size_limit() -> int:
    """The index cache's cap in bytes: JEMGUI_CACHE_LIMIT, else DEFAULT_LIMIT. CacheLimitError if unreadable."""
    text = os.environ.get(LIMIT_ENV, "").strip()
    if not text:
        return DEFAULT_LIMIT
    try:
        return parse_size(text)
    except CacheLimitError as exc:
        raise CacheLimitError(f"{LIMIT_ENV}={exc}") from None


def index_folder() -> Path:
    """The folder of the indexes; the first time a process asks, interrupted builds in it are removed."""
    folder = cache_dir() / "index"
    folder.mkdir(exist_ok=True)
    if folder not in _tidied:
        _tidied.add(folder)
        remove_interrupted(folder)
    return folder


def building_name(key: str) -> str:
    """The file an index is built in: its builder's pid in the name tells whether the build lives on."""
    return f"{key}.{os.getpid()}.{threading.get_ident()}.building.sqlite"


def _builder_alive(name: str) -> bool:
    parts = name.split(".")
    if len(parts) < 5 or not parts[1].isdigit():
        return False
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def remove_interrupted(folder: Path) -> list[Path]:
    """Delete the build files (and their WAL companions) whose building process is gone."""
    gone = []
    for path in folder.glob("*.building.sqlite*"):
        base = path.name.removesuffix("-wal").removesuffix("-shm")
        if not _builder_alive(base):
            path.unlink(missing_ok=True)
            gone.append(path)
    return gone


@dataclass
class CachedIndex:
    """One complete index in the cache: its file, size (with WAL companions) and last use."""

    path: Path
    size: int
    used: float
    inputs: list[str] = field(default_factory=list)  #: the inputs (and `--job`) it was opened as
    job: str = ""

    @property
    def key(self) -> str:
        return self.path.name.removesuffix(".sqlite")


def mark_used(index_path: Path) -> None:
    """Note that an index was opened now (its modification time is its last use)."""
    try:
        os.utime(index_path)
    except OSError:
        pass  # a read-only cache still opens


def cached_indexes(folder: Path | None = None, details: bool = False) -> list[CachedIndex]:
    """The complete indexes, least recently used first; `details` adds their inputs and job ids."""
    folder = folder or index_folder()
    out = []
    for path in folder.glob("*.sqlite"):
        if path.name.endswith(".building.sqlite"):
            continue
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        extra = sum(_size(Path(f"{path}{s}")) for s in ("-wal", "-shm"))
        out.append(CachedIndex(path, st.st_size + extra, st.st_mtime))
    out.sort(key=lambda c: c.used)
    if details:
        _add_details(out)
    return out


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _add_details(indexes: list[CachedIndex]) -> None:
    by_key = {c.key: c for c in indexes}
    keys = cache_dir() / "keys.sqlite"
    if keys.exists():
        db = sqlite3.connect(f"file:{keys}?mode=ro", uri=True, timeout=10)
        try:
            for path, job, key in db.execute("SELECT path, job, key FROM keys ORDER BY path"):
                if key in by_key:
                    by_key[key].inputs.append(f"{path} --job {job}" if job else path)
        except sqlite3.Error:
            pass
        finally:
            db.close()
    for c in indexes:
        try:
            db = sqlite3.connect(f"file:{c.path}?mode=ro", uri=True)
            try:
                row = db.execute("SELECT value FROM meta WHERE key='job'").fetchone()
            finally:
                db.close()
            c.job = str((orjson.loads(row[0]) or {}).get("id") or "") if row else ""
        except (sqlite3.Error, orjson.JSONDecodeError, AttributeError):
            c.job = ""


def remove_index(index: CachedIndex) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{index.path}{suffix}").unlink(missing_ok=True)


def evict(keep: Path | None = None, limit: int | None = None) -> list[CachedIndex]:
    """Remove the least recently used indexes until the cache fits its cap; never `keep`.

    An index another process has open goes on working: its file lives until closed.
    """
    if limit is None:
        try:
            limit = size_limit()
        except CacheLimitError:
            limit = DEFAULT_LIMIT  # `jemgui cache` says what is wrong with the setting
    from jemgui.models.triage import facts

    indexes = cached_indexes()
    total = sum(c.size for c in indexes) + facts.table_size()
    removed = []
    for c in indexes:
        if total <= limit:
            break
        if keep is not None and c.path == keep:
            continue
        remove_index(c)
        total -= c.size
        removed.append(c)
    # then triage's facts (a kilobyte a job, each sparing a whole log's read), least recently used first
    while total > limit and facts.prune(free=total - limit):
        total = sum(c.size for c in cached_indexes()) + facts.table_size()
    return removed


def clear(older_than: float | None = None) -> list[CachedIndex]:
    """Remove every complete index and triage's facts, or those last used more than `older_than` seconds ago."""
    from jemgui.models.triage import facts

    cutoff = None if older_than is None else time.time() - older_than
    if cutoff is None:
        facts.clear_cache()
    else:
        facts.prune(older_than=cutoff)
    removed = []
    for c in cached_indexes():
        if cutoff is None or c.used < cutoff:
            remove_index(c)
            removed.append(c)
    return removed
