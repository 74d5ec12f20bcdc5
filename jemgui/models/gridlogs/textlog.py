"""Times and levels of free-form log lines (payload output, transform and athena logs).

A line's time is read where it has one: a full date (`2018-03-04 09:33:08,400`,
the transform's and most loggers' format) anywhere near its start, or a bare
`HH:MM:SS` at its start (athena's `log.<substep>`), placed on the day of the
last time known and moved to the next day when the clock goes back by more
than twelve hours (a job running across midnight). Lines without a time take
the last time known, so they sit after the last timed line; times never go
back within a file (a line that reads earlier is held at the last time).
The pilot writes UTC, but the transform and athena write the worker node's
local time: `local_offset` finds that offset from the payload's first dated
line and the pilot's payload start, and a Clock takes it off every time.
"""

from __future__ import annotations

import calendar
import functools
import re

_FULL = re.compile(r"(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:[,.](\d{1,6}))?")
_CLOCK = re.compile(r"^(\d\d):(\d\d):(\d\d)(?:[,.](\d{1,6}))?\s")
LEVELS = {w: w for w in ("VERBOSE", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "FATAL", "CATASTROPHE")}
LEVELS["WARN"] = "WARNING"
#: how far into a line a full date or a level may start
DATE_REACH = 120
LEVEL_REACH = 100
DAY = 86400.0


def full_date(text: str) -> float | None:
    """Epoch seconds of the first full date near the start of `text`, or None."""
    dash = text.find("-", 4, DATE_REACH + 8)
    if dash < 0:  # most lines have no date: a string search rules them out before the regex
        return None
    m = _FULL.search(text, dash - 4, DATE_REACH + 26)
    if m is None or m.start() > DATE_REACH:
        return None
    midnight = _midnight(m[1], m[2], m[3])
    h, mi, s = int(m[4]), int(m[5]), int(m[6])
    if midnight is None or not (h < 24 and mi < 60 and s < 61):
        return None
    frac = int(m[7]) / 10 ** len(m[7]) if m[7] else 0.0
    return midnight + h * 3600 + mi * 60 + s + frac


@functools.lru_cache(maxsize=256)
def _midnight(y: str, mo: str, d: str) -> float | None:
    """Epoch seconds of a day's start (UTC); a job's lines name few days, so they are remembered."""
    if not (1 <= int(mo) <= 12 and 1 <= int(d) <= 31):
        return None
    try:
        return float(calendar.timegm((int(y), int(mo), int(d), 0, 0, 0, 0, 0, 0)))
    except (ValueError, OverflowError):
        return None


def level_of(text: str) -> str | None:
    """The log level a line names near its start (WARN read as WARNING), or None."""
    for word in text[:LEVEL_REACH].split():  # word by word: faster than a regex of alternatives
        level = LEVELS.get(word.strip(":[]()<>,;|"))
        if level is not None:
            return level
    return None


#: how far a payload's first dated line may be from the pilot's payload start and still be UTC
UTC_SLACK = 20 * 60
ZONE_STEP = 15 * 60


def local_offset(first_dated: float | None, payload_start: float | None) -> int:
    """Seconds the node's clock is ahead of UTC (0 when it looks like UTC or nothing tells).

    The transform's first line comes within seconds of the payload's start; one
    that is hours off by a whole time-zone step was written in local time.
    """
    if first_dated is None or payload_start is None:
        return 0
    delta = first_dated - payload_start
    step = round(delta / ZONE_STEP) * ZONE_STEP
    if abs(delta) <= UTC_SLACK or abs(delta - step) > 10 * 60 or abs(step) > 14 * 3600:
        return 0
    return int(step)


class Clock:
    """The running time of one file: `stamp(text)` gives each line its time (UTC)."""

    def __init__(self, start: float, offset: int = 0):
        self.last = start
        self.timed = False
        self.offset = offset

    def stamp(self, text: str) -> tuple[float, bool]:
        """(time of the line, whether the line carried one)."""
        ts = full_date(text)
        if ts is not None:
            ts -= self.offset
        else:
            m = _CLOCK.match(text)
            if m:
                h, mi, s = int(m[1]), int(m[2]), int(m[3])
                if h < 24 and mi < 60 and s < 61:
                    frac = int(m[4]) / 10 ** len(m[4]) if m[4] else 0.0
                    local = self.last + self.offset
                    ts = local - local % DAY + h * 3600 + mi * 60 + s + frac
                    if ts < local - DAY / 2:
                        ts += DAY
                    ts -= self.offset
        if ts is None:
            return self.last, False
        self.timed = True
        if ts < self.last:
            return self.last, True
        self.last = ts
        return ts, True
