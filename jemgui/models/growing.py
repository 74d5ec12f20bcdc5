"""An index that grows as a live job's records arrive, one record at a time.

The archive index places records in the merged timeline, which needs every
stream to have shown a later record first: a quiet stream (a shell waiting
for its Python child) would hold the whole timeline back. This index places
records in the order they arrive instead, each stream's records in its own
order (the follower hands them on without holes). A thread's state depends
only on its own stream, so every thread has the same state at each of its
records as in the archive's index; only the interleaving of streams differs.
The archive's merged order is built once, when the job has ended.

Each record costs the same however many came before: the `Tracker` keeps
each thread's open frames, and a commit writes only the rows since the last
one (open frames and threads are rewritten as they stand). The indexes the
archive builds at the end are made at the start here, and line hits are
counted per commit. One thread feeds and commits; readers open `Index` on
`db_path` (WAL) and `refresh()`.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections import Counter
from pathlib import Path

import orjson

from jemgui.models import indexer, schema, streams
from jemgui.models.records import COMMAND, KIND_CODE, KIND_NAMES, LINE, OTHER
from jemgui.models.report import ImportReport
from jemgui.models.streams import StreamStats, _accept

#: line hits counted per commit, added to what the table holds
ADD_HITS = ("INSERT INTO line_hits VALUES (?, ?, ?) "
            "ON CONFLICT(file, line) DO UPDATE SET hits = hits + excluded.hits")


class GrowingIndex:
    """One job's index, written as records arrive; `add` then `commit` from one thread."""

    def __init__(self, db_path: str | os.PathLike, job: dict | None = None, label: str = "live"):
        import sqlite_utils

        self.db_path = Path(db_path)
        indexer.remove(self.db_path)
        self.conn = indexer._connect(self.db_path)
        schema.create(sqlite_utils.Database(self.conn))
        for sql in schema.LATE_INDEXES:
            self.conn.execute(sql)
        self.report = ImportReport()
        self.tracker = indexer.Tracker([], self.report)
        self.writer = indexer.Writer(self.conn)
        self.stats: dict[int, StreamStats] = {}
        self.job = dict(job or {})
        self.committed = 0  #: records readers can see
        self._job_changed = False
        self.ended = False
        indexer._write_meta(self.conn, {"job": self.job, "manifest": self._manifest(), "label": label,
                                        "complete": False, "logs": {}, "live": True})
        self.conn.commit()

    @property
    def count(self) -> int:
        """Records added so far (committed or not)."""
        return self.tracker.pos + 1

    def _manifest(self) -> dict:
        return {"format": "jem-archive", "version": 1, "job": self.job}

    def add(self, pid: int, records: list[dict]) -> int:
        """Track the next records of stream `pid` (in seq order); returns how many were good."""
        st = self.stats.get(pid)
        if st is None:
            st = self.stats[pid] = StreamStats(name=f"events/{pid}.jsonl", pid=pid)
        raws = list(map(orjson.dumps, records))
        recs = self._strict(pid, raws, st)
        if recs is None:  # a record the strict decoding refuses, or a seq that does not count on
            recs, kept = [], []
            for rec, raw in zip(records, raws, strict=True):
                r = _accept(rec, st.records + 1, st.name, self.report, st)
                if r is not None:
                    recs.append(r)
                    kept.append(raw)
            raws = kept
        if recs:
            self.tracker.feed(recs, raws)
        return len(recs)

    @staticmethod
    def _strict(pid: int, raws: list[bytes], st: StreamStats) -> list | None:
        """The records decoded as the archive's fast path decodes its lines (msgspec, typed; the
        lenient reading gives the same for each), or None when one needs the lenient reading."""
        recs = streams.decode_strict(raws) if raws else None
        last = -1 if st.last_seq is None else st.last_seq
        if recs is None or not streams.of_pid(recs, pid) or not streams.counts_on(recs, last):
            return None
        n = len(recs)
        if last < 0:
            st.first_seq = 0
        st.last_seq, st.records = last + n, st.records + n
        return recs

    def set_job(self, job: dict | None) -> None:
        """The job as the monitor announced it (written with the next commit)."""
        if job and job != self.job:
            self.job = dict(job)
            self._job_changed = True

    def commit(self) -> int:
        """Write what was added since the last commit; returns the records readers see now."""
        if self.tracker.pos + 1 == self.committed and not self._job_changed:
            return self.committed
        batch = self.tracker.take()
        hits = Counter((r[8], r[9]) for r in _rows(batch["records"])
                       if r[4] in (LINE, COMMAND) and r[9] is not None)
        self.writer.write(batch)
        if hits:
            self.conn.executemany(ADD_HITS, [(f, ln, n) for (f, ln), n in hits.items()])
        self._write_facts()
        self.conn.commit()
        self._job_changed = False
        self.committed = self.tracker.pos + 1
        return self.committed

    def _write_facts(self) -> None:
        t = self.tracker
        by_code = Counter()
        for name, n in t.kinds.items():
            by_code[KIND_CODE.get(name, OTHER)] += n
        self.conn.executemany("INSERT OR REPLACE INTO streams VALUES (?,?,?,?,?,?,?)", [
            (pid, st.name, st.records, st.first_seq, st.last_seq, orjson.dumps(st.holes).decode(), None)
            for pid, st in self.stats.items()])
        indexer._write_meta(self.conn, {
            "job": self.job, "manifest": self._manifest(), "count": t.pos + 1,
            "kinds": {KIND_NAMES[c]: by_code[c] for c in sorted(by_code)}, "peak": t.peak,
            "uncaught": list(t.uncaught) + list(t.chains.values()), "tracebacks": t.tracebacks,
            "last_traceback": t.last_traceback, "report": self.report.to_json(), "updated": time.time(),
        })

    def close(self) -> None:
        """Stop writing (the file stays for readers that still have it open)."""
        try:
            self.conn.close()
        except sqlite3.Error:
            pass


def _rows(flat: list):
    """The record rows of a batch's flat list, 11 values each."""
    return zip(*[iter(flat)] * 11, strict=True)
