"""Index a log file by line, a chunk at a time, so a log of any size is shown without being loaded.

`build` reads the file in chunks and keeps, with numpy: where every SPARSE-th
line starts and its time (a line's text is read from the file when it is
shown, and the time of a line in between is read from its block of SPARSE
lines: 1.5 MB for ten million lines), and the lines that are errors (a level
of ERROR, FATAL, CRITICAL or CATASTROPHE, or a traceback's header). Times follow `textlog`'s
rules, vectorised: a full date in a line's first 120 bytes, else `HH:MM:SS` at
its start placed on the day of the time before it (the next day when the clock
goes back by more than twelve hours), the node's offset from UTC taken off;
a line without a time, or one that reads earlier, holds the time before it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import as_strided

from jemgui.models.gridlogs.textlog import DATE_REACH, DAY, LEVEL_REACH, Clock, level_of
from jemgui.models.gridlogs.tracebacks import HEADERS

CHUNK = 4 << 20
#: every SPARSE-th line's start is kept
SPARSE = 16
ERRORS = frozenset(("ERROR", "CRITICAL", "FATAL", "CATASTROPHE"))
#: what an error line holds (both traceback headers hold `raceback (most recent`)
_WORDS = tuple(w.encode() for w in sorted(ERRORS)) + (b"raceback (most recent",)
_D = np.uint8(ord("0"))


@dataclass
class LineIndex:
    """One log file's lines: sparse starts, per-line times, error lines (0-based line numbers)."""

    path: Path
    size: int = 0
    count: int = 0
    t0: float = 0.0
    offset: float = 0.0
    #: where every SPARSE-th line starts, and its time
    starts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    errors: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def _block_times(self, block: int, stop: int) -> list[float]:
        """Times of the lines from the block's first up to line `stop` - 1 (textlog's Clock from
        the first one's time, which the index keeps)."""
        first = block * SPARSE
        clock = Clock(float(self.times[block]), int(self.offset))
        out = [clock.last]
        for text in self.lines(first + 1, stop):
            out.append(clock.stamp(text)[0])
        return out

    def time(self, line: int) -> float:
        """Epoch time of 0-based `line`."""
        if not self.count:
            return self.t0
        line = min(max(line, 0), self.count - 1)
        block = line // SPARSE
        if line == block * SPARSE:
            return float(self.times[block])
        return self._block_times(block, line + 1)[-1]

    def line_at(self, ts: float) -> int:
        """The last line logged at or before `ts` (the first line when `ts` is before every one)."""
        if not self.count:
            return 0
        block = int(np.searchsorted(self.times, ts, side="right")) - 1
        if block < 0:
            return 0
        times = self._block_times(block, min(self.count, (block + 1) * SPARSE))
        return block * SPARSE + int(np.searchsorted(times, ts, side="right")) - 1

    def lines(self, first: int, stop: int) -> list[str]:
        """The text of lines `first` to `stop` - 1, read from the file."""
        first, stop = max(0, first), min(stop, self.count)
        if first >= stop:
            return []
        block = first // SPARSE
        skip = first - block * SPARSE
        out: list[str] = []
        with open(self.path, "rb") as f:
            f.seek(int(self.starts[block]))
            for _ in range(skip):
                f.readline()
            for _ in range(stop - first):
                raw = f.readline(1 << 20)
                out.append(raw.rstrip(b"\r\n").decode("utf-8", "replace"))
        return out

    def search(self, needle: str, limit: int = 1000) -> list[int]:
        """Lines holding `needle` (ignoring case), at most `limit`, in order."""
        word = needle.lower().encode()
        if not word:
            return []
        found: list[int] = []
        line = 0
        for block, end in _blocks(self.path):
            low = block[:end].lower()
            at, counted = low.find(word), 0
            while at >= 0 and len(found) < limit:
                line += low.count(b"\n", counted, at)
                counted = at
                if not found or found[-1] != line:
                    found.append(line)
                at = low.find(word, at + 1)
            if len(found) >= limit:
                break
            line += low.count(b"\n", counted)
        return found


def _blocks(path: Path):
    """(data, end) of the file a chunk at a time: `data[:end]` ends at a line's end (the last
    chunk may not); the bytes after `end` start the next chunk (bounds, not slices: no copies)."""
    carry = b""
    with open(path, "rb") as f:
        while True:
            data = f.read(CHUNK)
            if not data:
                if carry:
                    yield carry, len(carry)
                return
            if carry:
                data = carry + data
            end = data.rfind(b"\n") + 1
            if end == 0:
                carry = data
                continue
            yield data, end
            carry = data[end:]


def _digits(buf: np.ndarray, at: np.ndarray, n: int) -> np.ndarray:
    """The number written by the `n` digits at each position (-1 where one is not a digit)."""
    value = np.zeros(len(at), np.int64)
    ok = np.ones(len(at), bool)
    for k in range(n):
        d = np.take(buf, at + k).astype(np.int64) - 48
        ok &= (d >= 0) & (d <= 9)
        value = value * 10 + d
    return np.where(ok, value, -1)


def _days(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of civil dates (H. Hinnant's days_from_civil, vectorised)."""
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    doy = (153 * (m + np.where(m > 2, -3, 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


#: which bytes of `YYYY-MM-DD HH:MM:SS,mmm` must be digits
_DATE_MASK = np.array([c == "d" for c in "dddd-dd-dd dd:dd:dd"] + [False] * 4)
_MS_MASK = np.array([False] * 20 + [True] * 3)


def _full_dates(buf: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(line, epoch seconds) of the first full date within DATE_REACH bytes of each line's start."""
    n = len(buf)
    at = np.flatnonzero(buf[4:n - 19] == ord("-"))  # the dash after a year: one pass over the bytes
    for off, ch in ((7, "-"), (13, ":"), (16, ":")):
        at = at[buf[at + off] == ord(ch)]
    at = at[(buf[at + 10] == ord(" ")) | (buf[at + 10] == ord("T"))]
    line = np.searchsorted(starts, at, side="right") - 1
    keep = at - starts[line] <= DATE_REACH
    at, line = at[keep], line[keep]
    # the 23 bytes from each candidate, as rows (one gather of whole rows; columns are views)
    rows = as_strided(buf, shape=(max(n - 22, 0), 23), strides=(1, 1))[at]
    digit = (rows - _D) <= 9
    ok = (digit | ~_DATE_MASK).all(axis=1)
    at, line, rows, digit = at[ok], line[ok], rows[ok], digit[ok]
    first = np.flatnonzero(np.diff(line, prepend=-1))  # the first date of each line
    line, rows, digit = line[first], rows[first], digit[first]
    d = rows.astype(np.int32) - 48
    y = d[:, 0] * 1000 + d[:, 1] * 100 + d[:, 2] * 10 + d[:, 3]
    mo, day = d[:, 5] * 10 + d[:, 6], d[:, 8] * 10 + d[:, 9]
    h, mi, sec = d[:, 11] * 10 + d[:, 12], d[:, 14] * 10 + d[:, 15], d[:, 17] * 10 + d[:, 18]
    ms = np.where(((rows[:, 19] == ord(",")) | (rows[:, 19] == ord("."))) & (digit | ~_MS_MASK).all(axis=1),
                  d[:, 20] * 100 + d[:, 21] * 10 + d[:, 22], 0)
    ok = (y >= 1970) & (mo >= 1) & (mo <= 12) & (day >= 1) & (day <= 31) & (h < 24) & (mi < 60) & (sec < 61)
    days = _days(y[ok].astype(np.int64), mo[ok].astype(np.int64), day[ok].astype(np.int64))
    secs = h[ok] * 3600 + mi[ok] * 60 + sec[ok] + ms[ok] / 1000.0
    return line[ok], days * 86400.0 + secs


def _clock_times(buf: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(line, seconds of the day) of lines that start with `HH:MM:SS` and a space or fraction."""
    n = len(buf)
    line = np.flatnonzero(starts + 9 < n)
    at = starts[line]
    keep = (buf[at + 2] == ord(":")) & (buf[at + 5] == ord(":"))
    line, at = line[keep], at[keep]
    h, mi, s = _digits(buf, at, 2), _digits(buf, at + 3, 2), _digits(buf, at + 6, 2)
    after = buf[at + 8]
    ok = (h >= 0) & (h < 24) & (mi >= 0) & (mi < 60) & (s >= 0) & (s < 61) & (
        (after == ord(" ")) | (after == ord("\t")) | (after == ord(",")) | (after == ord(".")))
    return line[ok], (h * 3600 + mi * 60 + s)[ok].astype(np.float64)


def _error_lines(block: bytes, end: int, starts: np.ndarray, lines_end: np.ndarray) -> list[int]:
    """Lines of `block` that are errors: the level `level_of` reads is one of ERRORS, or a
    traceback's header ends the line."""
    found = set()
    for word in _WORDS:
        at = block.find(word, 0, end)
        while at >= 0:
            k = int(np.searchsorted(starts, at, side="right")) - 1
            found.add(k)
            at = block.find(word, int(lines_end[k]) + 1, end)  # one look per line
    out = []
    for k in sorted(found):
        text = block[starts[k]:lines_end[k]].decode("utf-8", "replace").rstrip("\r")
        if level_of(text[:LEVEL_REACH]) in ERRORS or text.rstrip().endswith(HEADERS):
            out.append(k)
    return out


def build(path: str | Path, start: float, offset: float = 0.0) -> LineIndex:
    """The index of the log at `path`; `start` is the time of lines before the first timed one,
    `offset` the node's seconds ahead of UTC (taken off every time read)."""
    path = Path(path)
    ix = LineIndex(path, t0=float(start), offset=float(offset))
    sparse: list[np.ndarray] = []
    times: list[np.ndarray] = []
    errors: list[np.ndarray] = []
    last = float(start)  # the time of the line before the chunk
    line0 = 0
    pos0 = 0
    for block, end in _blocks(path):
        buf = np.frombuffer(block, np.uint8, count=end)
        nl = np.flatnonzero(buf == 10)
        ends = nl if block[end - 1] == 10 else np.append(nl, len(buf))
        starts = np.concatenate(([0], ends[:-1] + 1)).astype(np.int64)
        count = len(starts)
        t = np.full(count, np.nan)
        cl, sod = _clock_times(buf, starts)
        if len(cl):  # placed on the day of the time before, and on the next one at each wrap
            local = last + offset
            day0 = np.floor(local / DAY) * DAY
            first = day0 + sod[0]
            if first < local - DAY / 2:
                day0 += DAY
            wraps = np.concatenate(([0], np.cumsum(np.diff(sod) < -DAY / 2)))
            t[cl] = day0 + wraps * DAY + sod - offset
        fl, full = _full_dates(buf, starts)
        t[fl] = full - offset
        held = np.maximum.accumulate(np.where(np.isnan(t), -np.inf, t))
        held = np.maximum(held, last)
        last = float(held[-1])
        first_sparse = (-line0) % SPARSE
        sparse.append(starts[first_sparse::SPARSE] + pos0)
        times.append(held[first_sparse::SPARSE])
        errors.append(np.asarray(_error_lines(block, end, starts, ends), np.int64) + line0)
        line0 += count
        pos0 += end
    ix.count, ix.size = line0, pos0
    ix.starts = np.concatenate(sparse) if sparse else np.zeros(1, np.int64)
    ix.times = np.concatenate(times) if times else np.zeros(0)
    ix.errors = np.concatenate(errors) if errors else np.zeros(0, np.int64)
    return ix
