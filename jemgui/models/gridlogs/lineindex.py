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

from jemgui.models.gridlogs.textlog import DATE_REACH, DAY, LEVEL_REACH, Clock, level_of
from jemgui.models.gridlogs.tracebacks import HEADERS

CHUNK = 4 << 20
#: bytes of one line shown (a line of megabytes would fill the panel's cache of lines)
MAX_SHOWN = 10_000
#: every SPARSE-th line's start is kept
SPARSE = 16
ERRORS = frozenset(("ERROR", "CRITICAL", "FATAL", "CATASTROPHE"))
#: what an error line holds (both traceback headers hold `raceback (most recent`); CATASTROPHE is
#: the transform's name for a promoted bad_alloc in its report, never a level a log line prints,
#: so it is not searched for (one pass over the bytes less)
_WORDS = (b"CRITICAL", b"ERROR", b"FATAL", b"raceback (most recent")
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
                _skip_line(f)
            for _ in range(stop - first):
                raw = f.readline(MAX_SHOWN + 1)
                more = 0 if len(raw) <= MAX_SHOWN or raw.endswith(b"\n") else _skip_line(f)
                text = raw[:MAX_SHOWN].rstrip(b"\r\n").decode("utf-8", "replace")
                out.append(f"{text} … ({len(raw) + more - MAX_SHOWN:,} more bytes)" if more else text)
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


def _skip_line(f) -> int:
    """Read to the end of the current line a MB at a time; the bytes skipped before its newline."""
    n = 0
    while True:
        part = f.readline(1 << 20)
        n += len(part)
        if not part:
            return n
        if part.endswith(b"\n"):
            return n - 1


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


#: which bytes of `YYYY-MM-DD HH:MM:SS` must be digits; then `,` or `.` and up to 6 digits of fraction
_DATE_MASK = np.array([c == "d" for c in "dddd-dd-dd dd:dd:dd"] + [False] * 7)
_WIDE = np.arange(26)
_SCALE = 10 ** np.arange(5, -1, -1)


def _fraction(rows: np.ndarray, first: int) -> np.ndarray:
    """Seconds of the `,ddd` or `.ddd` (1 to 6 digits, as textlog reads them) at column `first`."""
    sep = (rows[:, first] == ord(",")) | (rows[:, first] == ord("."))
    digits = rows[:, first + 1:first + 7].astype(np.int64) - 48
    run = np.cumprod((digits >= 0) & (digits <= 9), axis=1)  # the digits before the first non-digit
    return np.where(sep, (digits * run * _SCALE).sum(axis=1) / 1e6, 0.0)


def _date_candidates(buf: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(line, position) of the first `dddd-dd-dd dd:dd:dd` look-alike within DATE_REACH bytes of each
    line's start that has one (its digits are checked when it is read, by `_dates`)."""
    n = len(buf)
    # the dash after a year (one pass over the bytes), where the 19 bytes of a date fit before the end
    at = np.flatnonzero(buf[4:max(n - 14, 4)] == ord("-"))
    for off, ch in ((7, "-"), (13, ":"), (16, ":")):
        at = at[buf[at + off] == ord(ch)]
    at = at[(buf[at + 10] == ord(" ")) | (buf[at + 10] == ord("T"))]
    line = np.searchsorted(starts, at, side="right") - 1
    keep = at - starts[line] <= DATE_REACH
    at, line = at[keep], line[keep]
    first = np.flatnonzero(np.diff(line, prepend=-1))
    return line[first], at[first]


def _dates(buf: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Epoch seconds of the full dates at positions `at` (NaN where one is not a date)."""
    rows = np.take(buf, at[:, None] + _WIDE, mode="clip")  # 26 bytes from each (past the end: the last)
    digit = (rows - _D) <= 9
    d = rows.astype(np.int64) - 48
    y = d[:, 0] * 1000 + d[:, 1] * 100 + d[:, 2] * 10 + d[:, 3]
    mo, day = d[:, 5] * 10 + d[:, 6], d[:, 8] * 10 + d[:, 9]
    h, mi, sec = d[:, 11] * 10 + d[:, 12], d[:, 14] * 10 + d[:, 15], d[:, 17] * 10 + d[:, 18]
    ok = ((digit | ~_DATE_MASK).all(axis=1) & (y >= 1970) & (mo >= 1) & (mo <= 12) & (day >= 1) & (day <= 31)
          & (h < 24) & (mi < 60) & (sec < 61))
    secs = _days(y, np.clip(mo, 1, 12), day) * 86400.0 + h * 3600 + mi * 60 + sec + _fraction(rows, 19)
    return np.where(ok, secs, np.nan)


def _monotone(buf: np.ndarray, at: np.ndarray, width: int) -> bool:
    """Whether the `width` bytes at each position never sort before those at the one before: for
    times written in one fixed format, whether they never go back (then the last one up to a
    line is also the greatest)."""
    if len(at) < 2:
        return True
    keys = np.ascontiguousarray(np.take(buf, at[:, None] + np.arange(width), mode="clip")).view(f"S{width}")
    keys = keys.ravel()
    return not bool((keys[1:] < keys[:-1]).any())


def _clock_candidates(buf: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Lines that start like `dd:dd:dd` (checked when read, by `_clocks`)."""
    line = np.flatnonzero(starts + 9 < len(buf))
    at = starts[line]
    return line[(buf[at + 2] == ord(":")) & (buf[at + 5] == ord(":"))]


def _clocks(buf: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Seconds of the day of the `HH:MM:SS` (and `,ddd` fraction) at positions `at`, followed by a
    space, as textlog reads them (NaN where there is none)."""
    rows = np.take(buf, at[:, None] + np.arange(16), mode="clip")
    d = rows.astype(np.int64) - 48
    h, mi, s = d[:, 0] * 10 + d[:, 1], d[:, 3] * 10 + d[:, 4], d[:, 6] * 10 + d[:, 7]
    digits = ((d[:, [0, 1, 3, 4, 6, 7]] >= 0) & (d[:, [0, 1, 3, 4, 6, 7]] <= 9)).all(axis=1)
    frac = _fraction(rows, 8)
    sep = (rows[:, 8] == ord(",")) | (rows[:, 8] == ord("."))
    run = np.cumprod((d[:, 9:15] >= 0) & (d[:, 9:15] <= 9), axis=1).sum(axis=1)
    end = np.where(sep, rows[np.arange(len(rows)), np.minimum(9 + run, 15)], rows[:, 8])
    space = (end == ord(" ")) | (end == ord("\t")) | (end == ord("\r")) | (end == ord("\n"))
    ok = digits & (h < 24) & (mi < 60) & (s < 61) & space & (~sep | (run > 0))
    return np.where(ok, h * 3600 + mi * 60 + s + frac, np.nan)


def _on_days(sod: np.ndarray, last: float, offset: float) -> np.ndarray:
    """Epoch times of clock readings (seconds of the day, NaN: none) in order: on the day of `last`
    (the time before them), the next day when a reading goes back by more than twelve hours."""
    local = last + offset
    day0 = np.floor(local / DAY) * DAY
    read = sod[~np.isnan(sod)]
    if len(read) and day0 + read[0] < local - DAY / 2:
        day0 += DAY
    known = ~np.isnan(sod)
    last_known = np.maximum.accumulate(np.where(known, np.arange(len(sod)), -1))
    before = np.concatenate(([-1], last_known[:-1]))  # the reading before each
    prev = np.where(before >= 0, sod[np.maximum(before, 0)], np.nan)
    wraps = np.cumsum(known & (sod < prev - DAY / 2))
    return day0 + wraps * DAY + sod - offset


def _last_read(buf: np.ndarray, lines: np.ndarray, at: np.ndarray, want: np.ndarray,
               read) -> tuple[np.ndarray, np.ndarray]:
    """For each line in `want`: the last of the candidate `lines` (their times at positions `at`)
    up to it whose time `read(buf, positions)` gives (NaN: not a time after all, so the one
    before is tried), as (line or -1, value)."""
    j = np.searchsorted(lines, want, side="right") - 1
    values = np.full(len(want), np.nan)
    pending = j >= 0
    for _ in range(64):  # a damaged time is rare: a few steps back find a good one
        todo = np.flatnonzero(pending)
        if not len(todo):
            break
        got = read(buf, at[j[todo]])
        good = ~np.isnan(got)
        values[todo[good]] = got[good]
        pending[todo[good]] = False
        j[todo[~good]] -= 1
        pending &= j >= 0
    found = ~np.isnan(values)
    return np.where(found, lines[np.maximum(j, 0)] if len(lines) else -1, -1), values


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
        first_sparse = (-line0) % SPARSE
        # the time held at each kept line (and the chunk's last) is that of the last timed line up to
        # it, so only those lines are read; times are held, never going back
        want = np.append(np.arange(first_sparse, count, SPARSE), count - 1)
        vals = np.full(len(want), np.nan)
        dl, dat = _date_candidates(buf, starts)
        cl = _clock_candidates(buf, starts)
        if (not len(dl) or not len(cl)) and _monotone(buf, dat, 26) and _monotone(buf, starts[cl], 15):
            # times only go forward here: the last timed line up to a kept line has its time
            date_line, dates = _last_read(buf, dl, dat, want, _dates)
            clock_line, sods = _last_read(buf, cl, starts[cl], want, _clocks)
            vals[date_line >= 0] = dates[date_line >= 0] - offset
            if (clock_line >= 0).any():
                vals[clock_line >= 0] = _on_days(sods[clock_line >= 0], last, offset)
        else:  # times that go back (or both kinds of time): every timed line is read
            t = np.full(count, np.nan)
            if len(cl):
                t[cl] = _on_days(_clocks(buf, starts[cl]), last, offset)
            if len(dl):
                t[dl] = np.where(np.isnan(found := _dates(buf, dat)), t[dl], found - offset)
            vals = np.maximum.accumulate(np.where(np.isnan(t), -np.inf, t))[want]
        held = np.maximum(np.maximum.accumulate(np.where(np.isnan(vals), -np.inf, vals)), last)
        last = float(held[-1])
        sparse.append(starts[first_sparse::SPARSE] + pos0)
        times.append(held[:-1])
        errors.append(np.asarray(_error_lines(block, end, starts, ends), np.int64) + line0)
        line0 += count
        pos0 += end
    ix.count, ix.size = line0, pos0
    ix.starts = np.concatenate(sparse) if sparse else np.zeros(1, np.int64)
    ix.times = np.concatenate(times) if times else np.zeros(0)
    ix.errors = np.concatenate(errors) if errors else np.zeros(0, np.int64)
    return ix
