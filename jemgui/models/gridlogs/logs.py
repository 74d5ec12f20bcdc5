"""A grid job's log files as the Logs panel shows them: the tree, each file's lines, errors, search.

`JobLogs.open(path, job)` finds the job's work directory in the input the
window opened (a folder as it is; a pack's log members copied out once, as
the reader does) and lists its files. Each text file gets a `LineIndex` when
first asked for (`index`), or all of them at once (`build_all`, in a worker
thread), so nothing is loaded whole. Times of lines match the records'
(`textlog` rules, with the job's `log_clock`: the payload's start and the
node's offset from UTC), so the cursor and a file's lines map both ways by time;
a log record (`logfile`, `logline`) names its line exactly.
"""

from __future__ import annotations

import bisect
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from jemgui.models.gridlogs import job as gridjob
from jemgui.models.gridlogs.lineindex import LineIndex, build
from jemgui.models.report import ImportReport

#: files shown but never indexed as text
BINARY = (".tgz", ".gz", ".tar", ".root", ".pyc", ".zip")
#: how many records around a time are searched for the log record of a line
NEAR = 4000


@dataclass
class LogFile:
    name: str          # relative to the work directory, with `/`
    size: int
    path: Path | None  # None: listed in the pack but not copied out (not a log)

    @property
    def text(self) -> bool:
        return self.path is not None and not self.name.endswith(BINARY)


class JobLogs:
    """The files of one grid job's work directory, their line indexes, errors and search."""

    def __init__(self, folder: Path, files: list[LogFile], job: dict, tmp=None):
        self.folder, self.files, self.job = folder, files, job
        self._tmp = tmp
        self._indexes: dict[str, LineIndex] = {}
        self._lock = threading.Lock()
        clock = job.get("log_clock") if isinstance(job.get("log_clock"), dict) else {}
        self.started = _number(job.get("started"), 0.0)
        self.start = _number(clock.get("start"), self.started)
        self.offset = _number(clock.get("offset"), 0.0)
        self.order = {f.name: i for i, f in enumerate(files)}
        self._errors: list[tuple[float, int, int, str]] | None = None

    # -- opening --------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike, job: dict) -> JobLogs | None:
        """The logs of the grid job in `path` (a folder, tarball or zip), or None when it holds none."""
        from jemgui.models import inputs
        from jemgui.models.gridlogs.tarball import _copy_out

        path = Path(path)
        try:
            kind = inputs._kind(path)
            if kind not in ("folder", "tar", "zip"):
                return None
            names = inputs._member_names(path, kind)
        except (inputs.UnreadableInput, OSError):
            return None
        root = gridjob.grid_root(names)
        if root is None:
            return None
        inside = [(n, r) for n in names if (r := inputs._relative_to(n, root) if str(root) != "." else n)]
        tmp = None
        if kind == "folder":
            folder = path / root if str(root) != "." else path
            # the same files as a pack gives: logs and the job's JSON files, not a JEM archive's streams
            files = [LogFile(r.as_posix(), _size(folder / r), folder / r if gridjob.wanted(r) else None)
                     for _, r in inside]
        else:
            tmp = tempfile.TemporaryDirectory(prefix="jemgui-logs-")
            folder = _copy_out(path, kind, root, Path(tmp.name), ImportReport())
            files = [LogFile(r.as_posix(), _size(folder / r), folder / r if (folder / r).is_file() else None)
                     for _, r in inside]
        files.sort(key=lambda f: (f.name.count("/"), _rank(f.name), f.name))
        return cls(folder, files, job, tmp)

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    # -- files -----------------------------------------------------------------------

    def file(self, name: str) -> LogFile | None:
        i = self.order.get(name)
        return None if i is None else self.files[i]

    def built(self, name: str) -> bool:
        """Whether `name`'s line index is built (so `index` returns at once)."""
        with self._lock:
            return name in self._indexes

    def index(self, name: str) -> LineIndex | None:
        """The line index of text file `name` (built now unless built before), or None."""
        with self._lock:
            ix = self._indexes.get(name)
        if ix is not None:
            return ix
        f = self.file(name)
        if f is None or not f.text:
            return None
        if name == "pilotlog.txt":  # the pilot writes UTC and starts first
            ix = build(f.path, self.started or self.start, 0.0)
        else:
            ix = build(f.path, self.start, self.offset)
        with self._lock:
            self._indexes[name] = ix
            self._errors = None
        return ix

    def build_all(self, cancel: threading.Event | None = None) -> None:
        """Index every text file (for search and the error list)."""
        for f in self.files:
            if cancel is not None and cancel.is_set():
                return
            if f.text:
                self.index(f.name)

    # -- errors and search --------------------------------------------------------------

    def errors(self) -> list[tuple[float, int, int, str]]:
        """Every error line of every file as (time, file order, line, file), in time order."""
        if self._errors is None:
            out = []
            for f in self.files:
                ix = self.index(f.name) if f.text and not f.name.endswith(".json") else None
                if ix is not None:
                    out += [(ix.time(int(n)), self.order[f.name], int(n), f.name) for n in ix.errors]
            out.sort()
            self._errors = out
        return self._errors

    def next_error(self, ts: float, name: str | None = None, line: int = -1,
                   backward: bool = False) -> tuple[str, int] | None:
        """The error after (before) the place `ts`, file `name`, `line`: (file, line) or None."""
        errs = self.errors()
        key = (ts, self.order.get(name, -1) if name else (len(self.files) if backward else -1), line)
        keys = [e[:3] for e in errs]
        if backward:
            i = bisect.bisect_left(keys, key) - 1
            return (errs[i][3], errs[i][2]) if i >= 0 else None
        i = bisect.bisect_right(keys, key)
        return (errs[i][3], errs[i][2]) if i < len(errs) else None

    def search(self, needle: str, limit: int = 500) -> list[tuple[str, int, str]]:
        """(file, line, text) of lines holding `needle` in any text file, at most `limit`."""
        out: list[tuple[str, int, str]] = []
        for f in self.files:
            if not f.text or len(out) >= limit:
                continue
            ix = self.index(f.name)
            if ix is None:
                continue
            for n in ix.search(needle, limit - len(out)):
                out.append((f.name, n, ix.lines(n, n + 1)[0] if n < ix.count else ""))
        return out

    # -- the cursor ---------------------------------------------------------------------

    @staticmethod
    def line_of_record(rec: dict) -> tuple[str, int] | None:
        """The (file, 0-based line) a log record or logged traceback came from, or None."""
        if rec.get("kind") == "log" and isinstance(rec.get("logfile"), str) and type(rec.get("logline")) is int:
            return rec["logfile"], rec["logline"] - 1
        logged = rec.get("logged")
        if isinstance(logged, dict) and isinstance(logged.get("file"), str) and type(logged.get("line")) is int:
            return logged["file"], logged["line"] - 1
        return None

    def record_at(self, index, name: str, line: int) -> int | None:
        """The position in `index` of the record of `name`'s `line` (the last record at or before
        the line's time when the line has none of its own, past the records' cap)."""
        ix = self.index(name)
        if ix is None or index.count == 0:
            return None
        ts = ix.time(line)
        pos = index.pos_at_time(ts)
        want = (name, line + 1)
        lo, hi = max(0, pos - NEAR), min(index.count, pos + NEAR)
        for p in sorted(range(lo, hi), key=lambda p: abs(p - pos)):
            raw = index.raw(p)
            if name.encode() not in raw:
                continue
            rec = index.record(p)
            if rec.get("kind") == "log" and (rec.get("logfile"), rec.get("logline")) == want:
                return p
        return pos


def _number(value, default: float) -> float:
    """A number from the job's facts (any other value, from a damaged manifest, is `default`)."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _rank(name: str) -> int:
    """The files a shifter reads first come first."""
    first = ("pilotlog.txt", "payload.stdout", "payload.stderr", "jobReport.json")
    return first.index(name) if name in first else len(first) + (0 if name.startswith("log.") else 1)


def traceback_code(index, path: str) -> tuple[dict[int, str], list[str]]:
    """The code lines logged tracebacks show for `path` ({line: code}) and where they were logged
    (`file:line` of each traceback's header), from the job's call and exception records."""
    fid = index.string_id(path)
    if fid is None:
        return {}, []
    code: dict[int, str] = {}
    logged: list[str] = []
    for (pos,) in index.db.execute("SELECT pos FROM records WHERE file=? ORDER BY pos LIMIT 5000", (fid,)):
        rec = index.record(pos)
        if isinstance(rec.get("code"), str) and type(rec.get("line")) is int:
            code.setdefault(rec["line"], rec["code"])
        where = rec.get("logged")
        if isinstance(where, dict) and (at := f"{where.get('file')}:{where.get('line')}") not in logged:
            logged.append(at)
    return code, logged
