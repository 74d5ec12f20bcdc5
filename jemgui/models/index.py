"""Open an input's index (building it once, keyed by content) and answer every question.

`open_index` is the one entry point: it finds or builds the SQLite index in
the cache folder and returns an `Index`. An `Index` can also be opened on an
index that is still being built (`Indexer`), and `refresh()` sees new records.
"""

from __future__ import annotations

import bisect
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path

import numpy as np
import orjson

from jemgui.models import cache
from jemgui.models.inputs import UnreadableInput, list_jobs, open_input
from jemgui.models.navigation import Navigation
from jemgui.models.records import EXCEPTION, KIND_CODE, KIND_NAMES, STATE, describe
from jemgui.models.replay import Replay
from jemgui.models.report import ImportReport
from jemgui.models.schema import BLOCK_SHIFT, BLOCK_SIZE, unpack_block

__all__ = ["Index", "Indexer", "open_index", "list_jobs", "UnreadableInput"]


class Indexer:
    """Builds the index of one input; run it in a worker thread to keep a window responsive.

    `db_path` is known at once; an `Index(db_path)` opened on it while `run`
    goes on sees the records committed so far.
    """

    def __init__(self, path: str | os.PathLike, job: str | None = None):
        self.path, self.job = Path(path), job
        if not self.path.exists():
            raise UnreadableInput(f"{self.path}: no such file or folder")
        # An input seen before (unchanged) is found by its files' sizes and times. A new one is
        # indexed at once and named by the hash of its contents afterwards: hashing first would
        # read a big input whole before its first record could be shown.
        self.key = cache.known_key(self.path, job)
        self.folder = cache.index_folder()
        self.final_path: Path | None = self.folder / f"{self.key}.sqlite" if self.key else None
        self.db_path = self.folder / cache.building_name(self.key or "new")

    @property
    def cached(self) -> bool:
        """True when a complete index of this input already exists."""
        return self.final_path is not None and self.final_path.exists()

    def run(self, progress=None, cancel: threading.Event | None = None, on_input=None) -> Path:
        """Build (unless cached) and return the final index path.

        `on_input(JobInput)` is called once the input is open, before indexing starts (a quick
        look at it, such as the failure at the streams' ends).
        """
        if self.cached:
            cache.mark_used(self.final_path)
            return self.final_path
        from jemgui.models import indexer  # sqlite_utils and the builder load only when building

        inp = open_input(self.path, self.job)
        try:
            if on_input is not None:
                on_input(inp)
            indexer.remove(self.db_path)
            indexer.build(inp, self.db_path, progress, cancel)
            if self.final_path is None:
                self.key = cache.content_key(self.path, self.job)  # its files were just read: cheap now
                self.final_path = self.folder / f"{self.key}.sqlite"
                if self.final_path.exists():  # the same contents under another name: indexed already
                    indexer.remove(self.db_path)
                    cache.mark_used(self.final_path)
                    return self.final_path
            os.replace(self.db_path, self.final_path)
        except BaseException:
            indexer.remove(self.db_path)
            raise
        finally:
            inp.close()
        cache.evict(keep=self.final_path)
        return self.final_path


def open_index(path: str | os.PathLike, job: str | None = None, progress=None,
               cancel: threading.Event | None = None) -> Index:
    """The index of `path` (built now unless the cache has it). Raises UnreadableInput."""
    return Index(Indexer(path, job).run(progress, cancel))


class Index:
    """Read-only queries over one job's index. Not thread-safe: one per thread."""

    def __init__(self, db_path: str | os.PathLike):
        self.db_path = Path(db_path)
        self.db = self._connect(self.db_path)
        self._ts_coarse = np.empty(0)
        self._blocks: OrderedDict[int, list[bytes]] = OrderedDict()
        self.refresh()
        self.replay = Replay(self)
        self.nav = Navigation(self)

    # -- basics ---------------------------------------------------------------

    def refresh(self) -> bool:
        """Pick up records committed since the last look (while indexing runs, or a live job grows).

        The cost is that of what is new (and of the small tables), not of the whole index.
        True when the index changed.
        """
        meta = {k: orjson.loads(v) for k, v in self.db.execute("SELECT key, value FROM meta")}
        row = self.db.execute("SELECT max(pos) FROM records").fetchone()
        count = 0 if row[0] is None else row[0] + 1
        changed = count != getattr(self, "count", None) or meta != getattr(self, "meta", None)
        old = getattr(self, "count", 0)
        self.meta, self.count = meta, count
        if not hasattr(self, "_strings"):
            self._strings: dict[int, str] = {}
        last = max(self._strings, default=0)
        new = self.db.execute("SELECT id, text FROM strings WHERE id > ?", (last,)).fetchall()
        if new:
            self._strings.update(new)
            self._string_ids = None
        for b in [b for b in self._blocks if b >= old >> BLOCK_SHIFT]:  # a partial block grew
            del self._blocks[b]
        if changed:
            for name in ("_threads", "_metric_names"):
                self.__dict__.pop(name, None)
        return changed

    def reopen(self, db_path: str | os.PathLike) -> None:
        """Read another file of the same index (the finished one a build renamed into place)."""
        self.db.close()
        self.db_path = Path(db_path)
        self.db = self._connect(self.db_path)
        self._blocks.clear()
        self.refresh()

    @staticmethod
    def _connect(db_path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, check_same_thread=False)
        db.execute("PRAGMA query_only=1")
        db.execute("PRAGMA cache_size=-16384")  # 16 MB a reader: a window has two or three
        return db

    def close(self) -> None:
        """Release the connection at once (a replaced or closed index holds no file)."""
        self.db.close()

    @property
    def complete(self) -> bool:
        return bool(self.meta.get("complete"))

    @property
    def job(self) -> dict:
        return self.meta.get("job") or {}

    @property
    def manifest(self) -> dict:
        return self.meta.get("manifest") or {}

    @property
    def label(self) -> str:
        return self.meta.get("label") or ""

    @property
    def logs(self) -> dict:
        return self.meta.get("logs") or {}

    @property
    def report(self) -> ImportReport:
        return ImportReport.from_json(self.meta.get("report") or {})

    def string(self, i: int | None) -> str:
        return "" if i is None else self._strings.get(i, "")

    def string_id(self, text: str) -> int | None:
        if self._string_ids is None:
            self._string_ids = {t: i for i, t in self._strings.items()}
        return self._string_ids.get(text)

    # -- records -------------------------------------------------------------

    def _block(self, b: int) -> list[bytes]:
        lines = self._blocks.get(b)
        if lines is None:
            row = self.db.execute("SELECT data FROM blocks WHERE block=?", (b,)).fetchone()
            lines = unpack_block(row[0]).split(b"\n") if row else []
            self._blocks[b] = lines
            if len(self._blocks) > 64:
                self._blocks.popitem(last=False)
        else:
            self._blocks.move_to_end(b)
        return lines

    def raw(self, pos: int) -> bytes:
        """The record's JSON line at `pos`.

        While the index grows, a query may name a record committed after the last `refresh()`
        (each statement reads the newest commit): it is read too, not refused.
        """
        if pos < 0:
            raise IndexError(pos)
        if pos >= self.count:
            self._blocks.pop(pos >> BLOCK_SHIFT, None)  # the cached block may predate it
            lines = self._block(pos >> BLOCK_SHIFT)
            line = lines[pos & (BLOCK_SIZE - 1)] if (pos & (BLOCK_SIZE - 1)) < len(lines) else b""
            if not line:
                raise IndexError(pos)
            return line
        return self._block(pos >> BLOCK_SHIFT)[pos & (BLOCK_SIZE - 1)]

    def record(self, pos: int) -> dict:
        """The record at `pos`, as it stands in its stream."""
        return orjson.loads(self.raw(pos))

    def iter_records(self, start: int = 0, stop: int | None = None) -> Iterator[dict]:
        """Records in timeline order."""
        stop = self.count if stop is None else min(stop, self.count)
        pos = start
        while pos < stop:
            lines = self._block(pos >> BLOCK_SHIFT)
            for line in lines[pos & (BLOCK_SIZE - 1): (pos & (BLOCK_SIZE - 1)) + stop - pos]:
                if line:
                    yield orjson.loads(line)
                    pos += 1
            if not lines:
                break

    def pos_of(self, pid: int, seq: int) -> int | None:
        """The position of the record `pid:seq` (how users name a record), or None."""
        row = self.db.execute("SELECT pos FROM records WHERE pid=? AND seq=? LIMIT 1", (pid, seq)).fetchone()
        return None if row is None else row[0]

    def row(self, pos: int) -> tuple | None:
        """(pos, ts, pid, seq, kind, thread, seg, depth, file, line, func) of a record."""
        return self.db.execute("SELECT * FROM records WHERE pos=?", (pos,)).fetchone()

    def rows(self, start: int, stop: int) -> list[tuple]:
        """Event-table rows: (pos, ts, pid, tid, kind, file, line, func, detail)."""
        tids = {t.key: t.tid for t in self.threads()}
        out = []
        for pos, ts, pid, _seq, kind, thread, _seg, _d, file, line, func in self.db.execute(
            "SELECT * FROM records WHERE pos>=? AND pos<? ORDER BY pos", (start, stop)
        ):
            rec = self.record(pos)
            tid = tids.get(thread) if thread is not None else rec.get("tid")
            out.append((pos, ts, pid, tid, KIND_NAMES[kind], self.string(file) if file else rec.get("file", ""),
                        line if line is not None else rec.get("line"), self.string(func) if func else
                        rec.get("func", ""), describe(rec)))
        return out

    def rows_at(self, positions) -> list[tuple]:
        """Event-table rows for given positions (a filtered table's page)."""
        out = []
        for p in positions:
            out.extend(self.rows(int(p), int(p) + 1))
        return out

    def find(self, kinds=None, pids=None, threads=None, text: str | None = None,
             start: int = 0, stop: int | None = None) -> np.ndarray:
        """Positions of the records that match every filter given, in order."""
        where, args = ["pos>=?"], [start]
        if stop is not None:
            where.append("pos<?")
            args.append(stop)
        if kinds:
            codes = [KIND_CODE.get(k, len(KIND_NAMES) - 1) if isinstance(k, str) else k for k in kinds]
            where.append(f"kind IN ({','.join('?' * len(codes))})")
            args += codes
        if pids:
            where.append(f"pid IN ({','.join('?' * len(pids))})")
            args += list(pids)
        if threads:
            where.append(f"thread IN ({','.join('?' * len(threads))})")
            args += list(threads)
        sql = f"SELECT pos FROM records WHERE {' AND '.join(where)} ORDER BY pos"
        cur = self.db.execute(sql, args)
        if not text:
            return np.fromiter((r[0] for r in cur), dtype=np.int64)
        needle = text.lower().encode()
        return np.fromiter((r[0] for r in cur if needle in self.raw(r[0]).lower()), dtype=np.int64)

    # -- threads, time --------------------------------------------------------

    @cached_property
    def _threads(self) -> list:
        from jemgui.models.replay import ThreadInfo

        return [ThreadInfo(*r) for r in self.db.execute("SELECT * FROM threads ORDER BY thread")]

    def threads(self) -> list:
        """Every (pid, tid) with frames or shell commands, first seen first."""
        return self._threads

    @property
    def _ts_cache(self) -> np.ndarray:
        """Timestamps of every BLOCK_SIZE-th record, for time -> position lookups (extended as the index grows)."""
        have = len(self._ts_coarse)
        if have * BLOCK_SIZE < self.count:
            more = np.fromiter((r[0] for r in self.db.execute(
                f"SELECT ts FROM records WHERE pos >= ? AND pos % {BLOCK_SIZE} = 0 ORDER BY pos",
                (have * BLOCK_SIZE,))), dtype=np.float64)
            self._ts_coarse = np.concatenate([self._ts_coarse, more])
        return self._ts_coarse

    def time_at(self, pos: int) -> float:
        row = self.db.execute("SELECT ts FROM records WHERE pos=?", (pos,)).fetchone()
        return row[0] if row else float("nan")

    def pos_at_time(self, ts: float) -> int:
        """The last record at or before `ts` (the first record when `ts` is before it)."""
        if self.count == 0:
            return 0
        coarse = self._ts_cache
        b = max(0, bisect.bisect_right(coarse, ts) - 1)
        lo, hi = b * BLOCK_SIZE, min(self.count, (b + 1) * BLOCK_SIZE)
        tss = [r[0] for r in self.db.execute("SELECT ts FROM records WHERE pos>=? AND pos<? ORDER BY pos", (lo, hi))]
        return max(0, lo + bisect.bisect_right(tss, ts) - 1)

    # -- sources, metrics, marks ------------------------------------------------

    def source_paths(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT DISTINCT path FROM sources ORDER BY path")]

    def source(self, path: str, pos: int | None = None) -> str | None:
        """The text of `path` as recorded (the version in force at `pos`, else the last)."""
        if pos is not None:
            row = self.db.execute("SELECT text FROM sources WHERE path=? AND pos<=? ORDER BY pos DESC LIMIT 1",
                                  (path, pos)).fetchone()
            if row:
                return row[0]
        row = self.db.execute("SELECT text FROM sources WHERE path=? ORDER BY pos DESC LIMIT 1", (path,)).fetchone()
        return row[0] if row else None

    def source_lang(self, path: str) -> str:
        row = self.db.execute("SELECT lang FROM sources WHERE path=? LIMIT 1", (path,)).fetchone()
        return row[0] if row else ("shell" if path.endswith(".sh") else "python")

    def line_hits(self, path: str) -> dict[int, int]:
        """How often each line of `path` ran in this job."""
        fid = self.string_id(path)
        if fid is None:
            return {}
        return dict(self.db.execute("SELECT line, hits FROM line_hits WHERE file=?", (fid,)))

    @cached_property
    def _metric_names(self) -> list[str]:
        return [self.string(r[0]) for r in self.db.execute("SELECT DISTINCT name FROM metrics")]

    def metric_names(self) -> list[str]:
        return self._metric_names

    def metric_series(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(timestamps, values) of one metric over the whole job."""
        nid = self.string_id(name)
        rows = self.db.execute("SELECT ts, value FROM metrics WHERE name=? ORDER BY pos", (nid,)).fetchall()
        if not rows:
            return np.empty(0), np.empty(0)
        arr = np.asarray(rows, dtype=np.float64)
        return arr[:, 0], arr[:, 1]

    def marks(self) -> list[tuple[int, float, str, str]]:
        """(pos, ts, kind, text) of exceptions raised (first record) and state changes."""
        return self.db.execute("SELECT pos, ts, 'state', state FROM states UNION ALL "
                               "SELECT pos, ts, 'exception', text FROM raises ORDER BY pos").fetchall()

    def processes(self) -> list[dict]:
        cols = [d[1] for d in self.db.execute("PRAGMA table_info(processes)")]
        out = []
        for row in self.db.execute("SELECT * FROM processes ORDER BY start_pos"):
            p = dict(zip(cols, row, strict=True))
            p["argv"] = orjson.loads(p["argv"]) if p.get("argv") else []
            out.append(p)
        return out

    def streams(self) -> list[dict]:
        cols = [d[1] for d in self.db.execute("PRAGMA table_info(streams)")]
        out = []
        for row in self.db.execute("SELECT * FROM streams ORDER BY pid"):
            s = dict(zip(cols, row, strict=True))
            s["holes"] = orjson.loads(s["holes"] or "[]")
            out.append(s)
        return out

    def states(self) -> list[tuple[int, float, int, str]]:
        return self.db.execute("SELECT pos, ts, pid, state FROM states ORDER BY pos").fetchall()

    # -- replay and navigation (see replay.py, navigation.py) -----------------------

    def state_at(self, pos: int):
        return self.replay.state_at(pos)

    def locals_at(self, frame_id: int, pos: int) -> dict:
        return self.replay.locals_at(frame_id, pos)

    def step(self, pos: int, action: str, backward: bool = False, thread: int | None = None):
        return self.nav.step(pos, action, backward, thread)

    def next_exception(self, pos: int, backward: bool = False):
        return self.nav.next_kind(pos, EXCEPTION, backward)

    def next_state(self, pos: int, backward: bool = False):
        return self.nav.next_kind(pos, STATE, backward)

    def run_to(self, pos: int, breakpoints, backward: bool = False):
        return self.nav.run_to(pos, breakpoints, backward)

    def var_change(self, frame_id: int, name: str, pos: int, backward: bool = True):
        return self.nav.var_change(frame_id, name, pos, backward)

    def var_history(self, frame_id: int, name: str) -> list[tuple]:
        return self.nav.var_history(frame_id, name)

    def search(self, pos: int, text: str | None = None, kinds=None, file: str | None = None,
               func: str | None = None, pid: int | None = None, backward: bool = False):
        return self.nav.search(pos, text=text, kinds=kinds, file=file, func=func, pid=pid, backward=backward)

    def failure_pos(self) -> int | None:
        from jemgui.models.summary import failure_pos

        return failure_pos(self)

    def summary(self) -> dict:
        from jemgui.models.summary import summarize

        return summarize(self)
