"""Colours and fonts shared by the panels, so one kind of record looks the same everywhere."""

from __future__ import annotations

from datetime import datetime, timezone

from PySide6.QtGui import QColor, QFont, QFontDatabase

#: text colour of each record kind (event table, plot marks, legends)
KIND_COLOURS = {
    "process": "#2e7d32",
    "source": "#78909c",
    "command": "#6a1b9a",
    "call": "#1565c0",
    "line": "#455a64",
    "return": "#00838f",
    "exception": "#c62828",
    "metric": "#9e9e9e",
    "state": "#ef6c00",
    "log": "#795548",
    "control": "#ad1457",
    "marker": "#607d8b",
    "other": "#9e9e9e",
}

#: faint row backgrounds for the kinds a reader looks for first
KIND_BACKGROUNDS = {
    "exception": "#fdecea",
    "state": "#fff3e0",
    "process": "#e8f5e9",
    "control": "#fce4ec",
}

CURRENT_LINE = QColor("#fff59d")       # the line about to run, innermost frame
CALLER_LINE = QColor("#c8e6c9")        # a caller's line, when an outer frame is selected
EXCEPTION_LINE = QColor("#ffcdd2")     # the line where an exception is passing
CHANGED_BACKGROUND = QColor("#ffe082")  # a local that changed at this step
HITS = QColor("#43a047")
BREAKPOINT = QColor("#e53935")
FRAME_SPAN = (255, 213, 79, 70)        # the selected frame's lifetime on the plot
CURSOR_PEN = "#d32f2f"
SERIES_PENS = {"load1": "#c62828", "rss": "#1565c0", "vms": "#5c6bc0", "cpu": "#2e7d32",
               "mem_avail": "#6d4c41", "threads": "#8e24aa", "fds": "#00897b",
               "read_bytes": "#f9a825", "write_bytes": "#ef6c00"}
FALLBACK_PENS = ["#00695c", "#ad1457", "#283593", "#9e9d24", "#4e342e", "#37474f"]


def kind_colour(kind: str) -> QColor:
    return QColor(KIND_COLOURS.get(kind, KIND_COLOURS["other"]))


def kind_background(kind: str) -> QColor | None:
    colour = KIND_BACKGROUNDS.get(kind)
    return QColor(colour) if colour else None


def series_pen(name: str, i: int = 0) -> str:
    return SERIES_PENS.get(name) or FALLBACK_PENS[i % len(FALLBACK_PENS)]


def mono_font() -> QFont:
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    font.setStyleHint(QFont.StyleHint.Monospace)
    return font


def clock(ts: float) -> str:
    """Wall-clock time of day with milliseconds, UTC as everywhere in jemgui (the table, transport)."""
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%H:%M:%S.%f")[:-3]


def clock_us(ts: float) -> str:
    """Time of day with microseconds (UTC), as records carry it: the event table, where a fast
    job's records often share one millisecond."""
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%H:%M:%S.%f")


def stamp(ts: float) -> str:
    """Date and time with milliseconds (UTC), as the original JEM IDE's read-out printed it."""
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%d.%m.%Y %H:%M:%S.%f")[:-3]


def duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return "?"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h {m:02d}m {s:02d}s" if h else (f"{m}m {s:02d}s" if m else f"{s}s")
