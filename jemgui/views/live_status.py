"""Where a live job stands: the status bar part (link, flow, holes, back to live) and holes on the plot."""

from __future__ import annotations

import re

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

GREEN, RED, GREY, AMBER = "#2e7d32", "#c62828", "#757575", "#ef6c00"
#: at most this many holes are drawn on the plot (the status bar counts them all)
MAX_BANDS = 50


def _ranges(ranges: list[tuple[int, int]]) -> str:
    return ", ".join(f"{a}–{b}" if a != b else str(a) for a, b in ranges[:6]) + (
        " …" if len(ranges) > 6 else "")


def count(gaps: dict[int, list[tuple[int, int]]]) -> int:
    return sum(b - a + 1 for ranges in gaps.values() for a, b in ranges)


def holes_text(holes: dict[int, list[tuple[int, int]]], lost: dict[int, list[tuple[int, int]]],
               why_lost: str | None = None) -> tuple[str, str]:
    """(short text, tooltip) for the records still missing and those given up, per stream."""
    parts, tips = [], []
    if holes:
        parts.append(f"{count(holes):,} missing")
        tips.append("Asked for again (history), not here yet:\n" + "\n".join(
            f"  pid {pid}: seq {_ranges(r)}" for pid, r in sorted(holes.items())))
    if lost:
        parts.append(f"{count(lost):,} lost")
        tips.append(f"Given up ({why_lost or 'the job no longer has them'}):\n" + "\n".join(
            f"  pid {pid}: seq {_ranges(r)}" for pid, r in sorted(lost.items())))
    return ", ".join(parts), "\n".join(tips)


def plain_reason(error: str) -> str:
    """A connection error without what the status already says (host, port, errno)."""
    text = re.sub(r"^could not connect to host \S+, port \d+: ", "", error)
    return re.sub(r"\[Errno \d+\] ", "", text)


def lag_text(lag: float) -> str:
    if lag < 1:
        return f"lag {lag * 1000:.0f} ms"
    if lag < 120:
        return f"lag {lag:.1f} s"
    return f"quiet for {lag / 60:.0f} min"


class LiveStatus(QWidget):
    """Shows a `LiveSession`'s link and flow; `back_to_live` asks to follow the newest record again."""

    back_to_live = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.dot = QLabel("●")
        self.link = QLabel()
        self.flow = QLabel()
        self.holes = QLabel()
        self.live_button = QPushButton("⏭ Back to live")
        self.live_button.setToolTip("Follow the newest record again (Ctrl+L)")
        self.live_button.setFlat(True)
        self.live_button.setStyleSheet(f"color: {AMBER}; font-weight: bold;")
        self.live_button.clicked.connect(self.back_to_live)
        self.live_button.setVisible(False)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.setSpacing(8)
        for w in (self.dot, self.link, self.flow, self.holes, self.live_button):
            layout.addWidget(w)
        self.link.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._shown: tuple | None = None

    def show_session(self, session, following: bool, waiting: int = 0) -> None:
        """Show where `session` stands; `waiting`: records received but not shown yet."""
        conn, store = session.connection, session.store
        if conn.connected:
            colour = GREEN if not session.ended else GREY
            state = store.state or ("ended" if session.ended else "running")
            link = f"live: job {session.job_id} · {state}"
            tip = f"{conn.status}\nCapture: {session.folder}"
        else:
            colour = RED
            why = plain_reason(conn.last_error) or "connecting…"
            link = f"not connected to {conn.url}: {why[:80]}" + ("…" if len(why) > 80 else "")
            tip = conn.status + "\nReconnecting on its own; records missed meanwhile are asked for again."
        trust, trust_tip = trust_text(session)
        link, tip = link + trust, tip + trust_tip
        lost = session.lost()
        if session.ended and session.complete:
            flow = f"{store.received:,} records, " + (f"{count(lost):,} lost" if lost else "complete")
        else:
            flow = f"{store.records_per_second():,.0f} rec/s · {lag_text(store.lag())}"
        holes, holes_tip = holes_text(session.holes(), lost, session.backfill_problem)
        button = "" if following else (f"⏭ Back to live ({waiting:,} new)" if waiting else "⏭ Back to live")
        shown = (colour, link, tip, flow, holes, holes_tip, button)
        if shown == self._shown:
            return
        self._shown = shown
        self.dot.setStyleSheet(f"color: {colour};")
        self.link.setText(link)
        self.link.setToolTip(tip)
        self.dot.setToolTip(tip)
        self.flow.setText(flow)
        self.holes.setText(f"holes: {holes}" if holes else "")
        self.holes.setStyleSheet(f"color: {RED};" if holes else "")
        self.holes.setToolTip(holes_tip)
        self.holes.setVisible(bool(holes))
        self.live_button.setText(button)
        self.live_button.setVisible(bool(button))


def trust_text(session) -> tuple[str, str]:
    """(" · verified" or " · UNVERIFIED", tooltip lines): what the job's signature showed
    (spec 6a), and how many messages were dropped for not verifying."""
    seal = getattr(session.store, "seal", None)
    if seal is None:
        return "", ""
    if seal.verified:
        text, tip = " · verified", f"\nThe job's messages are signed by {seal.signer}"
    else:
        text, tip = " · UNVERIFIED", "\nThe job's messages carry no signature this window can check"
    verifier = getattr(getattr(session, "follower", None), "verifier", None)
    dropped = sum(verifier.dropped.values()) if verifier is not None else 0
    if dropped:
        tip += f"\n{dropped:,} messages dropped that did not verify"
    return text, tip


def hole_spans(session, index) -> list[tuple[float, float, str]]:
    """(start, end, text) in wall-clock time of each range a stream misses (open or given up).

    A hole starts at the stream's last record before it (or the job's start)
    and ends at the first record after it (or the newest record).
    """
    store, spans = session.store, []
    started = (store.job or {}).get("started")
    gaps = [(pid, r, "missing") for pid, ranges in session.holes().items() for r in ranges]
    gaps += [(pid, r, "lost") for pid, ranges in session.lost().items() for r in ranges]
    for pid, (first, last), what in gaps[:MAX_BANDS]:
        before = index.pos_of(pid, first - 1) if first > 0 else None
        if before is not None:
            t0 = index.time_at(before)
        else:
            t0 = started if isinstance(started, int | float) else index.time_at(0)
        after = index.pos_of(pid, last + 1)
        if after is not None:
            t1 = index.time_at(after)
        else:
            rec = store.streams[pid].ahead.get(last + 1)
            t1 = rec["ts"] if rec is not None else max(store.newest_ts, t0)
        n = last - first + 1
        spans.append((t0, t1, f"pid {pid}: {n:,} record{'s' if n != 1 else ''} {what} "
                              f"(seq {first}–{last})"))
    return spans


class HolesOverlay:
    """Red bands on the metrics plot's time axis where records are still missing."""

    def __init__(self) -> None:
        self.bands: list[pg.LinearRegionItem] = []
        self._plot = None
        self._shown: list | None = None

    def show(self, plot, spans: list[tuple[float, float, str]]) -> None:
        """Draw `spans` on `plot` (a MetricsPlot), replacing what was drawn."""
        if plot is self._plot and spans == self._shown:
            return
        self.clear()
        self._plot, self._shown = plot, spans
        for t0, t1, text in spans:
            band = pg.LinearRegionItem((t0, max(t1, t0)), movable=False,
                                       brush=pg.mkBrush(229, 57, 53, 60), pen=pg.mkPen(RED))
            band.setZValue(-5)
            band.setToolTip(f"Not here yet: {text}")
            plot.left.addItem(band, ignoreBounds=True)
            self.bands.append(band)

    def clear(self) -> None:
        """Take the bands off (a plot that was replaced took them with it)."""
        for band in self.bands:
            try:
                self._plot.left.removeItem(band)
            except RuntimeError:  # the plot is gone already
                pass
        self.bands, self._plot, self._shown = [], None, None
