"""Where indexes live and how an input's content names its index.

The key is a hash of the input's bytes, so a copied or moved archive reuses
its index. Hashing gigabytes on every open would be slow, so a small table
remembers the key of each (path, size, mtime, inode) already hashed.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import platformdirs

#: bump when the index schema or its meaning changes: old indexes are rebuilt
SCHEMA_VERSION = 5


def cache_dir() -> Path:
    """The user's cache folder for jemgui (JEMGUI_CACHE_DIR overrides it)."""
    d = Path(os.environ.get("JEMGUI_CACHE_DIR") or platformdirs.user_cache_dir("jemgui"))
    d.mkdir(parents=True, exist_ok=True)
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


def content_key(path: str | os.PathLike, job: str | None = None) -> str:
    """A hex key naming the index of `path` (and the chosen `job` inside it)."""
    path = Path(path).resolve()
    files = _files(path)
    sig = f"v{SCHEMA_VERSION}|{_stat_sig(files, path)}"  # a schema bump must not find the old key
    db = sqlite3.connect(cache_dir() / "keys.sqlite", timeout=10)
    try:
        db.execute("CREATE TABLE IF NOT EXISTS keys (path TEXT, job TEXT, sig TEXT, key TEXT, PRIMARY KEY (path, job))")
        row = db.execute("SELECT sig, key FROM keys WHERE path=? AND job=?", (str(path), job or "")).fetchone()
        if row and row[0] == sig:
            return row[1]
        h = hashlib.blake2b(digest_size=20)
        h.update(f"v{SCHEMA_VERSION}|{job or ''}".encode())
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
