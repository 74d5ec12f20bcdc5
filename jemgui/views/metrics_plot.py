"""System metrics over the job's wall-clock time, with the cursor as a draggable line.

Load is on the left axis and memory (MiB) on the right, as the original JEM
IDE drew them; other series can be switched on. The selected frame's
lifetime is shaded, exceptions and state changes are marked, and clicking or
dragging seeks the cursor. Curves are peak-downsampled and clipped to the
view, so a multi-hour job zooms smoothly.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSignalBlocker, Qt, QTimer
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import (
    QGraphicsItem,
    QHBoxLayout,
    QLabel,
    QMenu,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from jemgui.models.cursor import FRAME, POS, Cursor
from jemgui.models.export import record_name
from jemgui.models.text import printable
from jemgui.views import theme
from jemgui.views.background import BackgroundQueries
from jemgui.views.binding import subscribe

#: series plotted in MiB on the right axis
MEMORY = ("rss", "pss", "swap", "vms", "mem_avail")  # pss, swap: prmon's, in a grid job's tarball
BYTES = (*MEMORY, "read_bytes", "write_bytes")
DEFAULT_ON = ("load1", "rss", "pss")
MAX_STATE_LINES = 40


class ClockAxis(pg.DateAxisItem):
    """Wall-clock ticks in UTC that keep the time of day even when zoomed to milliseconds."""

    def __init__(self, **kw):
        super().__init__(orientation="bottom", utcOffset=0, **kw)
        # room for one row of labels from the start: sized from the labels it has drawn, the
        # axis could be squeezed to 2 px by the layout before drawing any, and never show them
        self.setHeight(QFontMetrics(QFont()).height() + 10)

    def tickValues(self, minVal, maxVal, size):  # Qt-style override of pyqtgraph
        if maxVal - minVal < 60:
            # under a minute, steps of 1, 2 or 5 x 10^n seconds; DateAxisItem's levels gave a
            # short job's axis ticks a millisecond apart, which overlap and show no label
            return pg.AxisItem.tickValues(self, minVal, maxVal, size)
        return super().tickValues(minVal, maxVal, size)

    def tickStrings(self, values, scale, spacing):  # Qt-style override of pyqtgraph
        if spacing >= 3600:
            return super().tickStrings(values, scale, spacing)
        fmt = theme.clock if spacing < 1 else (lambda t: theme.clock(t)[:8])
        out = []
        for v in values:
            try:
                out.append(fmt(v))
            except (OverflowError, OSError, ValueError):
                out.append("")
        return out


class MetricsPlot(QWidget):
    """Shows the index's metric series and marks; changes only the cursor (seek)."""

    def __init__(self, index, cursor: Cursor, queries: BackgroundQueries, parent: QWidget | None = None):
        super().__init__(parent)
        self.index, self.cursor, self.queries = index, cursor, queries
        self.exceptions = None
        pg.setConfigOptions(antialias=True)
        # No view box gets pyqtgraph's context menu (disabled below anyway): building the two
        # menus was a quarter of the time a new inspection took to show.
        self.widget = pg.PlotWidget(background="w", axisItems={"bottom": ClockAxis()},
                                    viewBox=pg.ViewBox(enableMenu=False))
        self.item = self.widget.getPlotItem()
        self.left = self.item.getViewBox()
        self.item.showGrid(x=True, y=True, alpha=0.15)
        self.item.setMenuEnabled(False)
        self.left.setMouseEnabled(x=True, y=False)
        self.left.enableAutoRange(y=True)
        self.left.setAutoVisible(y=True)
        self.right = pg.ViewBox(enableMenu=False)
        self.right.setMouseEnabled(x=True, y=False)
        self.right.enableAutoRange(y=True)
        self.right.setAutoVisible(y=True)
        self.item.showAxis("right")
        self.item.scene().addItem(self.right)
        self.item.getAxis("right").linkToView(self.right)
        for name in ("left", "right"):  # a load of 0.6 reads 0.6, not 600 "(x0.001)"
            self.item.getAxis(name).enableAutoSIPrefix(False)
        self.right.setXLink(self.left)
        self.marks_box = pg.ViewBox(enableMenu=False)
        self.marks_box.setMouseEnabled(x=False, y=False)
        self.marks_box.setYRange(0, 1, padding=0)
        self.marks_box.setXLink(self.left)
        self.item.scene().addItem(self.marks_box)
        self.left.sigResized.connect(self._fit_boxes)
        self.legend = self.item.addLegend(offset=(-10, -10), labelTextSize="8pt")
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.names = list(index.metric_names())
        self.enabled = {n for n in self.names if n in DEFAULT_ON} or set(self.names[:1])

        self.region = pg.LinearRegionItem(movable=False, brush=pg.mkBrush(*theme.FRAME_SPAN),
                                          pen=pg.mkPen(None))
        self.region.setZValue(-10)
        self.left.addItem(self.region, ignoreBounds=True)
        self.line = pg.InfiniteLine(angle=90, movable=True, pen=pg.mkPen(theme.CURSOR_PEN, width=2),
                                    hoverPen=pg.mkPen(theme.CURSOR_PEN, width=4))
        self.line.setZValue(20)
        self.line.setToolTip("The cursor: drag to seek")
        self.left.addItem(self.line, ignoreBounds=True)
        self.vcross = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#9e9e9e", style=Qt.PenStyle.DashLine))
        self.hcross = pg.InfiniteLine(angle=0, movable=False, pen=pg.mkPen("#9e9e9e", style=Qt.PenStyle.DashLine))
        for c in (self.vcross, self.hcross):
            c.setVisible(False)
            self.left.addItem(c, ignoreBounds=True)
        self.readout = QLabel(" ")
        self.readout.setObjectName("readout")
        self.readout.setFont(theme.mono_font())
        self.readout.setStyleSheet("color: #424242;")

        self.series_button = QToolButton()
        self.series_button.setText("Series")
        self.series_button.setToolTip("Choose which metrics are plotted")
        self.series_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.series_button)
        for name in self.names:
            act = menu.addAction(name)
            act.setCheckable(True)
            act.setChecked(name in self.enabled)
            act.toggled.connect(lambda on, n=name: self.set_series(n, on))
        self.series_button.setMenu(menu)
        self.series_button.setEnabled(bool(self.names))
        self.empty = QLabel("No metric samples in this job (recorded from verbosity 1 up)")
        self.empty.setStyleSheet("color: #757575;")
        self.empty.setVisible(not self.names)

        bar = QHBoxLayout()
        bar.setContentsMargins(4, 0, 4, 0)
        bar.addWidget(self.readout, 1)
        bar.addWidget(self.empty)
        bar.addWidget(self.series_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(bar)
        layout.addWidget(self.widget)

        self._drag_x: float | None = None
        self._drag_timer = QTimer(self)
        self._drag_timer.setSingleShot(True)
        self._drag_timer.setInterval(0)
        self._drag_timer.timeout.connect(self._seek_drag)
        self.line.sigDragged.connect(self._dragged)
        self.line.sigPositionChangeFinished.connect(self._dragged)
        self.widget.scene().sigMouseMoved.connect(self._mouse_moved)
        self.widget.scene().sigMouseClicked.connect(self._clicked)

        self._t0 = index.time_at(0) if index.count else 0.0
        self._t1 = index.time_at(index.count - 1) if index.count else 1.0
        for name in self.names:
            if name in self.enabled:
                self._add_curve(name)
        self._axis_labels()
        # marks need every exception record read: off the GUI thread, drawn when they arrive
        queries.submit("marks", lambda ix: ix.marks(), self._add_marks)
        self.left.setXRange(self._t0, max(self._t1, self._t0 + 1e-3), padding=0.01)
        self._cache_static_items()
        subscribe(self, cursor.changed, self._on_cursor)
        self._show()

    # -- series ----------------------------------------------------------------

    def _fit_boxes(self) -> None:
        rect = self.left.sceneBoundingRect()
        for box in (self.right, self.marks_box):
            box.setGeometry(rect)
            box.linkedViewChanged(self.left, box.XAxis)

    def _add_curve(self, name: str) -> None:
        ts, values = self.index.metric_series(name)
        values = np.asarray(values, dtype=float)
        if name in BYTES:
            values = values / 2**20
        pen = pg.mkPen(theme.series_pen(name, self.names.index(name)), width=1)  # 1: raster fast path
        curve = pg.PlotDataItem(np.asarray(ts, dtype=float), values, pen=pen, name=name)
        curve.setSkipFiniteCheck(True)
        if name in BYTES:
            self.right.addItem(curve)
            self.legend.addItem(curve, f"{name} (MiB, right)")
        else:
            self.left.addItem(curve)
            self.legend.addItem(curve, name)
        # only once the curve is inside its view box: these ask the box for the visible range
        curve.setDownsampling(auto=True, method="peak")
        curve.setClipToView(True)
        self.curves[name] = curve
        curve.curve.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)

    def grow(self) -> None:
        """The index grew (indexing, a live job): the curves take their new samples, the axis its new end."""
        for name, curve in self.curves.items():
            ts, values = self.index.metric_series(name)
            values = np.asarray(values, dtype=float)
            curve.setData(np.asarray(ts, dtype=float), values / 2**20 if name in BYTES else values)
        if self.index.count:
            (_, x1), _ = self.left.viewRange()
            old_t1, self._t1 = self._t1, max(self._t1, self.index.time_at(self.index.count - 1))
            if x1 >= old_t1:  # the job's end was in view: keep it so
                self.left.setXRange(self._t0, max(self._t1, self._t0 + 1e-3), padding=0.01)

    def set_series(self, name: str, on: bool) -> None:
        """Plot or hide one metric series."""
        if on and name not in self.curves:
            self._add_curve(name)
        elif not on and name in self.curves:
            curve = self.curves.pop(name)
            self.legend.removeItem(curve)
            (self.right if name in BYTES else self.left).removeItem(curve)
        self.enabled = set(self.curves)
        self._axis_labels()

    def _axis_labels(self) -> None:
        left = [n for n in self.curves if n not in BYTES]
        right = [n for n in self.curves if n in BYTES]
        self.item.setLabel("left", " / ".join(left) or "")
        self.item.setLabel("right", (" / ".join(right) + " (MiB)") if right else "")

    def _cache_static_items(self) -> None:
        """Keep axes, grid, curves and marks as pixmaps: moving the cursor line then repaints
        a thin strip from cache instead of re-stroking every curve (25 ms -> 1 ms a move)."""
        cache = QGraphicsItem.CacheMode.DeviceCoordinateCache
        for name in ("left", "right", "bottom"):
            self.item.getAxis(name).setCacheMode(cache)
        for curve in self.curves.values():
            curve.curve.setCacheMode(cache)

    # -- marks -------------------------------------------------------------------

    def _add_marks(self, marks: list) -> None:
        exc = [m for m in marks if m[2] == "exception"]
        if exc:
            texts = {m[0]: printable(m[3]) for m in exc}
            self.exceptions = pg.ScatterPlotItem(
                x=[m[1] for m in exc], y=[0.96] * len(exc), data=[m[0] for m in exc],
                symbol="t", size=10, pen=pg.mkPen("#b71c1c"), brush=pg.mkBrush("#e53935"),
                hoverable=True, tip=lambda x, y, data: f"{texts.get(data, 'exception')}\n(record {self._record_name(data)})")
            self.exceptions.sigClicked.connect(lambda _item, points, _ev: self.cursor.seek(int(points[0].data())))
            self.marks_box.addItem(self.exceptions)
            self.exceptions.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        states = [m for m in marks if m[2] == "state"][:MAX_STATE_LINES]
        for i, (pos, ts, _kind, text) in enumerate(states):
            text = printable(text)  # a state is whatever the archive wrote
            # staggered, so states a moment apart (STARTED, RUNNING) do not print over each other
            line = pg.InfiniteLine(pos=ts, angle=90, movable=False,
                                   pen=pg.mkPen(theme.KIND_COLOURS["state"], style=Qt.PenStyle.DotLine),
                                   label=text, labelOpts={"position": 0.85 - 0.1 * (i % 3),
                                                          "color": theme.KIND_COLOURS["state"],
                                                          "anchors": [(0, 0.5), (0, 0.5)]})
            line.setToolTip(f"state {text} (record {self._record_name(pos)})")
            self.marks_box.addItem(line, ignoreBounds=True)

    def _record_name(self, pos: int) -> str:
        """PID:SEQ, as every other output names a record."""
        return record_name(self.index.record(int(pos)))

    # -- cursor ----------------------------------------------------------------

    def _on_cursor(self, changed) -> None:
        if POS in changed or FRAME in changed:
            self._show()

    def _show(self) -> None:
        pos = self.cursor.pos
        if pos is None:
            return
        t = self.index.time_at(pos)
        if not self.line.moving:
            with QSignalBlocker(self.line):
                self.line.setValue(t)
        frame = self.cursor.frame
        if frame is not None:
            start = self.index.time_at(frame.start_pos)
            end = self.index.time_at(frame.end_pos) if frame.end_pos is not None else self._t1
            self.region.setRegion((start, max(end, start)))
            self.region.setVisible(True)
        else:
            self.region.setVisible(False)
        (x0, x1), _ = self.left.viewRange()
        if not (x0 <= t <= x1) and not self.line.moving:
            half = (x1 - x0) / 2
            self.left.setXRange(t - half, t + half, padding=0)

    def cursor_x(self) -> float:
        return float(self.line.value())

    def _dragged(self, *_) -> None:
        self._drag_x = float(self.line.value())
        if not self._drag_timer.isActive():
            self._drag_timer.start()

    def _seek_drag(self) -> None:
        if self._drag_x is not None:
            x, self._drag_x = self._drag_x, None
            self.cursor.seek(self.index.pos_at_time(x))

    def _mouse_moved(self, scene_pos) -> None:
        if not self.left.sceneBoundingRect().contains(scene_pos):
            self.vcross.setVisible(False)
            self.hcross.setVisible(False)
            return
        p = self.left.mapSceneToView(scene_pos)
        self.vcross.setPos(p.x())
        self.hcross.setPos(p.y())
        self.vcross.setVisible(True)
        self.hcross.setVisible(True)
        self.readout.setText(self.readout_text(p.x(), p.y()))

    @staticmethod
    def readout_text(x: float, y: float) -> str:
        """The crosshair read-out, as the original JEM IDE printed it."""
        try:
            return f"X: {theme.stamp(x)} Y: {y:.3f}"
        except (OverflowError, OSError, ValueError):
            return f"Y: {y:.3f}"

    def _clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or event.isAccepted():
            return
        if not self.left.sceneBoundingRect().contains(event.scenePos()):
            return
        x = self.left.mapSceneToView(event.scenePos()).x()
        self.cursor.seek(self.index.pos_at_time(x))
