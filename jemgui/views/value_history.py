"""Every value the watched variable took in the selected frame: a table, and a plot when numeric.

The variable is `Cursor.variable` (chosen in the locals) in `Cursor.frame`;
the history is read off the GUI thread. Buttons jump to where it last
changed before the cursor, or next changes after it.
"""

from __future__ import annotations

import bisect
import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QAbstractTableModel, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from jemgui.models.cursor import FRAME, POS, VARIABLE, Cursor
from jemgui.views import theme
from jemgui.views.background import BackgroundQueries
from jemgui.views.binding import subscribe
from jemgui.views.metrics_plot import ClockAxis


def numeric(values: list[str]) -> np.ndarray | None:
    """The values as floats when every one is a plain number (bools count), else None."""
    out = []
    for v in values:
        if v in ("True", "False"):
            out.append(1.0 if v == "True" else 0.0)
            continue
        try:
            f = float(v)
        except (TypeError, ValueError):
            return None
        if math.isnan(f):
            return None
        out.append(f)
    return np.asarray(out, dtype=float) if out else None


class HistoryModel(QAbstractTableModel):
    """Rows (pos, ts, type, repr) of `Index.var_history`; type None means deleted."""

    COLUMNS = ("Time", "Record", "Type", "Value")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[tuple] = []

    def set_rows(self, rows: list[tuple]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def rowCount(self, parent=None) -> int:  # Qt override
        return 0 if parent is not None and parent.isValid() else len(self.rows)

    def columnCount(self, parent=None) -> int:  # Qt override
        return 0 if parent is not None and parent.isValid() else len(self.COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        pos, ts, type_, value = self.rows[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            col = index.column()
            if col == 0:
                return theme.clock(ts)
            if col == 1:
                return str(pos)
            if col == 2:
                return type_ or "(deleted)"
            return value if type_ is not None else ""
        return None

    def row_at_or_before(self, pos: int) -> int | None:
        i = bisect.bisect_right(self.rows, pos, key=lambda r: r[0]) - 1
        return i if i >= 0 else None


class ValueHistoryView(QWidget):
    """Shows the watched variable's history; changes only the cursor (jumps)."""

    def __init__(self, index, cursor: Cursor, queries: BackgroundQueries, parent: QWidget | None = None):
        super().__init__(parent)
        self.index, self.cursor, self.queries = index, cursor, queries
        self.key: tuple[int, str] | None = None
        self.title = QLabel()
        self.title.setStyleSheet("font-weight: bold; padding: 2px 4px;")
        self.prev_button = QPushButton("◀ Last change")
        self.prev_button.setToolTip("Jump to where this variable last changed (at or before the cursor)")
        self.prev_button.clicked.connect(lambda: self.jump(backward=True))
        self.next_button = QPushButton("Next change ▶")
        self.next_button.setToolTip("Jump to where this variable changes next")
        self.next_button.clicked.connect(lambda: self.jump(backward=False))
        self.model = HistoryModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 4)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setFont(theme.mono_font())
        self.table.setColumnWidth(0, 100)
        self.table.setColumnWidth(1, 70)
        self.table.setColumnWidth(2, 60)
        self.table.clicked.connect(lambda i: self.cursor.seek(self.model.rows[i.row()][0]))
        self.plot: pg.PlotWidget | None = None   # made when a numeric variable is first shown
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.addWidget(self.title, 1)
        buttons.addWidget(self.prev_button)
        buttons.addWidget(self.next_button)
        self.split = QSplitter(Qt.Orientation.Horizontal)
        self.split.addWidget(self.table)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)
        layout.addLayout(buttons)
        layout.addWidget(self.split)
        subscribe(self, cursor.changed, self._on_cursor)
        self._watch()

    def _make_plot(self) -> pg.PlotWidget:
        """The value-over-time plot, built on first use: most sessions never show one, and
        building a pyqtgraph plot costs about 40 ms of the window's launch."""
        if self.plot is None:
            self.plot = pg.PlotWidget(background="w", axisItems={"bottom": ClockAxis()})
            self.plot.setMinimumHeight(80)
            self.plot.getPlotItem().setMenuEnabled(False)
            self.plot.getPlotItem().showGrid(x=True, y=True, alpha=0.15)
            self.curve = self.plot.plot([], [], stepMode=None, pen=pg.mkPen("#1565c0", width=1.5),
                                        symbol="o", symbolSize=4, symbolBrush="#1565c0")
            self.now_line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(theme.CURSOR_PEN, width=1.5))
            self.plot.addItem(self.now_line, ignoreBounds=True)
            self.split.addWidget(self.plot)
            self.split.setSizes([300, 300])
        return self.plot

    def _hide_plot(self) -> None:
        if self.plot is not None:
            self.curve.setData([], [])
            self.plot.setVisible(False)

    def _on_cursor(self, changed) -> None:
        if VARIABLE in changed or FRAME in changed:
            self._watch()
        elif POS in changed:
            self._follow()

    def _watch(self) -> None:
        frame, name = self.cursor.frame, self.cursor.variable
        key = (frame.frame_id, name) if frame is not None and name and name in frame.locals else None
        enabled = key is not None
        self.prev_button.setEnabled(enabled)
        self.next_button.setEnabled(enabled)
        if key == self.key:
            self._follow()
            return
        self.key = key
        if key is None:
            self.title.setText("Value history: choose a variable in Locals")
            self.model.set_rows([])
            self._hide_plot()
            self.queries.cancel("history")
            return
        self.title.setText(f"Value history: {name} in {frame.func}")
        self.queries.submit("history", lambda ix: ix.var_history(*key), self._loaded,
                            lambda err: self.title.setText(f"Value history failed: {err}"))

    def _loaded(self, rows: list[tuple]) -> None:
        self.model.set_rows(rows)
        values = numeric([r[3] for r in rows if r[2] is not None])
        if values is not None and len(values) > 0:
            ts = np.asarray([r[1] for r in rows if r[2] is not None], dtype=float)
            plot = self._make_plot()
            self.curve.setData(ts, values)
            plot.setVisible(True)
            plot.getPlotItem().enableAutoRange()
        else:
            self._hide_plot()
        self._follow()

    def _follow(self) -> None:
        pos = self.cursor.pos
        if pos is None:
            return
        row = self.model.row_at_or_before(pos)
        if row is not None:
            self.table.selectRow(row)
            self.table.scrollTo(self.model.index(row, 0))
        else:
            self.table.clearSelection()
        if self.plot is not None and self.plot.isVisible():
            self.now_line.setValue(self.index.time_at(pos))

    def jump(self, backward: bool = True) -> int | None:
        """Seek to where the watched variable last changed (or next changes)."""
        if self.key is None or self.cursor.pos is None:
            return None
        pos = self.cursor.pos
        target = self.index.var_change(self.key[0], self.key[1], pos - 1 if backward else pos, backward=backward)
        if target is not None:
            self.cursor.seek(target)
        return target
