"""The SQLite schema of an index (sqlite-utils creates it; the hot path inserts directly).

records   one row per record, `pos` = its place in the merged timeline
blocks    the records' JSON lines, BLOCK_SIZE consecutive positions per row (one insert per
          block instead of one blob per record: 2x faster indexing, same size; 64 lines, ~13 kB,
          so that reading one record reads a few pages, not fourteen), zlib-compressed
          (`pack_block`): they were over half the index, and JSON lines shrink about 6x
threads   one row per (pid, tid) that has frame or command records
frames    one row per frame activation (a generator keeps its frame across resumptions)
segs      one row per stretch of a frame on its thread's stack (call/resume .. return/yield),
          with the segment under it (`parent`), the line the parent was at, and the frame's
          func and file (a stack is one seek per frame)
changes   every change of a frame's local variable (args, changed, deleted); a frame's distinct
          names are found by skipping through its (frame, name, pos) index, one seek per name
line_hits how often each (file, line) ran: counted from records once all are in
raises    every exception raised (its first record, the one with a traceback) and its one-line text:
          the plot's marks without reading records
processes one row per pid, written as its start and exit records pass (replay hides the threads
          of a process that has exited)
metrics, states, sources, streams, strings, meta: as named
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # sqlite_utils loads only when an index is built (0.1 s off opening a cached one)
    import sqlite_utils


def pack_block(lines: bytes) -> bytes:
    """A block's stored form: zlib at level 1 (~100 us a block to pack, ~50 us to unpack)."""
    return zlib.compress(lines, 1)


def unpack_block(data: bytes) -> bytes:
    return zlib.decompress(data)


#: records per row of `blocks`; block of pos = pos >> BLOCK_SHIFT
BLOCK_SHIFT = 6
BLOCK_SIZE = 1 << BLOCK_SHIFT

TABLES = {
    "records": ({"pos": int, "ts": float, "pid": int, "seq": int, "kind": int, "thread": int,
                 "seg": int, "depth": int, "file": int, "line": int, "func": int}, "pos"),
    "blocks": ({"block": int, "data": bytes}, "block"),
    "threads": ({"thread": int, "pid": int, "tid": int, "first_pos": int, "last_pos": int}, "thread"),
    "frames": ({"frame": int, "thread": int, "fid": int, "func": int, "file": int, "first_pos": int}, "frame"),
    "segs": ({"seg": int, "frame": int, "parent": int, "depth": int, "start_pos": int, "end_pos": int,
              "parent_line": int, "func": int, "file": int}, "seg"),
    "changes": ({"frame": int, "name": int, "pos": int, "type": str, "repr": str}, None),
    "metrics": ({"pos": int, "ts": float, "name": int, "value": float}, None),
    "states": ({"pos": int, "ts": float, "pid": int, "state": str}, "pos"),
    "raises": ({"pos": int, "ts": float, "text": str}, "pos"),
    "sources": ({"pos": int, "pid": int, "path": str, "sha256": str, "lang": str, "text": str}, "pos"),
    "processes": ({"pid": int, "ppid": int, "argv": str, "lang": str, "python": str, "start_pos": int,
                   "start_ts": float, "exit_pos": int, "exit_ts": float, "exit_code": int, "signal": int}, "pid"),
    "streams": ({"pid": int, "name": str, "records": int, "first_seq": int, "last_seq": int,
                 "holes": str, "cut_line": int}, "pid"),
    "line_hits": ({"file": int, "line": int, "hits": int}, ("file", "line")),
    "strings": ({"id": int, "text": str}, "id"),
    "meta": ({"key": str, "value": str}, "key"),
}

#: indexes created before the first insert (queries while indexing need them)
EARLY_INDEXES = [
    ("changes", ["frame", "name", "pos"]),
    ("segs", ["frame"]),
    ("metrics", ["name", "pos"]),
]

#: indexes created once all records are in (cheaper in bulk)
LATE_INDEXES = [
    "CREATE INDEX IF NOT EXISTS records_thread ON records(thread, pos) WHERE thread IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS records_seg ON records(seg, pos) WHERE seg IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS records_kind ON records(kind, pos)",
    "CREATE INDEX IF NOT EXISTS records_pidseq ON records(pid, seq)",  # pid:seq, how users name a record
    "CREATE INDEX IF NOT EXISTS records_fileline ON records(file, line, pos) WHERE kind IN (2, 4)",
]


def create(db: sqlite_utils.Database) -> None:
    """Create every table and the early indexes in an empty database."""
    for name, (columns, pk) in TABLES.items():
        db[name].create(columns, pk=pk, not_null=None, if_not_exists=True)
    for table, cols in EARLY_INDEXES:
        db[table].create_index(cols, if_not_exists=True)


#: line and command records per (file, line), read off the records_fileline index
LINE_HITS = """INSERT OR REPLACE INTO line_hits
SELECT file, line, count(*) FROM records INDEXED BY records_fileline
WHERE kind IN (2, 4) AND line IS NOT NULL GROUP BY file, line"""


def finish(db: sqlite_utils.Database) -> None:
    """Create the indexes that were left for the end, and the tables made from them."""
    for sql in LATE_INDEXES:
        db.execute(sql)
    db.execute(LINE_HITS)
