"""The event table: every record of the job (or the filtered ones), read from the index in pages.

The Qt model is an adapter over the index, never a copy: it asks for rows a
page at a time as the view scrolls, so a job of millions of records costs a
few hundred rows of memory. The current row follows the cursor; choosing a
row moves the cursor.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from datetime import datetime, timezone

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, QTimer
from PySide6.QtGui import QAction, QBrush, QFont, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from jemgui.models.cursor import POS, Cursor
from jemgui.models.export import iso_time, record_name
from jemgui.views import theme
from jemgui.views.background import BackgroundQueries
from jemgui.views.binding import subscribe

# fields of a row tuple from `Index.rows`
POS_, TS, PID, TID, KIND, FILE, LINE, FUNC, DETAIL = range(9)
_DISPLAY, _FONT, _ALIGN, _BACKGROUND, _FOREGROUND = (
    Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.FontRole, Qt.ItemDataRole.TextAlignmentRole,
    Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.ForegroundRole)


class EventTableModel(QAbstractTableModel):
    """Rows of `Index.rows`, or of the positions a filter found, fetched in cached pages."""

    COLUMNS = ("Time", "Process", "Thread", "Kind", "File", "Frame", "Called file / exception / command")
    PAGE = 32
    PAGES = 512

    def __init__(self, index, parent=None):
        super().__init__(parent)
        self.ix = index
        self.positions: np.ndarray | None = None
        self._count = index.count
        self._pages: OrderedDict[int, list[tuple]] = OrderedDict()
        self._bold = QFont()
        self._bold.setBold(True)
        self._brushes = {k: QBrush(theme.kind_colour(k)) for k in theme.KIND_COLOURS}
        self._backgrounds = {k: QBrush(theme.kind_background(k)) for k in theme.KIND_BACKGROUNDS}

    # -- rows and positions ------------------------------------------------------

    def rowCount(self, parent=None) -> int:  # Qt override
        if parent is not None and parent.isValid():
            return 0
        return len(self.positions) if self.positions is not None else self._count

    def columnCount(self, parent=None) -> int:  # Qt override
        return 0 if parent is not None and parent.isValid() else len(self.COLUMNS)

    def pos_at(self, row: int) -> int:
        return int(self.positions[row]) if self.positions is not None else row

    def row_of(self, pos: int) -> tuple[int, bool]:
        """The row showing `pos`, or the nearest row before it; and whether it is exact."""
        if self.positions is None:
            return min(pos, self._count - 1), pos < self._count
        i = int(np.searchsorted(self.positions, pos))
        if i < len(self.positions) and self.positions[i] == pos:
            return i, True
        return max(0, i - 1), False

    def set_positions(self, positions: np.ndarray | None) -> None:
        """Show only these positions (sorted), or every record when None."""
        self.beginResetModel()
        self.positions = None if positions is None else np.asarray(positions, dtype=np.int64)
        self._pages.clear()
        self.endResetModel()

    def grow(self) -> None:
        """Take in records the index gained since (a growing or live job)."""
        count = self.ix.count
        if count > self._count and self.positions is None:
            self.beginInsertRows(QModelIndex(), self._count, count - 1)
            self._count = count
            self._pages.pop(self._count // self.PAGE, None)
            self.endInsertRows()
        else:
            self._count = count

    def row(self, row: int) -> tuple:
        """The index's row tuple shown at `row`."""
        return self._entry(row)[0]

    def _entry(self, row: int) -> tuple[tuple, tuple]:
        """(row tuple, the seven display strings) of a table row, from its cached page."""
        page_no = row // self.PAGE
        page = self._pages.get(page_no)
        if page is None:
            page = self._pages[page_no] = [(r, self._texts(r)) for r in self._fetch(page_no)]
            if len(self._pages) > self.PAGES:
                self._pages.popitem(last=False)
        else:
            self._pages.move_to_end(page_no)
        i = row - page_no * self.PAGE
        if i < len(page):
            return page[i]
        blank = (self.pos_at(row), 0.0, 0, 0, "", "", None, "", "")
        return blank, self._texts(blank)

    @staticmethod
    def _texts(r: tuple) -> tuple[str, ...]:
        """The row as the columns show it (formatted once per page, not per paint)."""
        where = ""
        if r[FILE]:
            name = os.path.basename(r[FILE])
            where = f"{name}:{r[LINE]}" if r[LINE] is not None else name
        return (theme.clock_us(r[TS]) if r[TS] else "", str(r[PID]), "" if r[TID] is None else str(r[TID]),
                r[KIND], where, r[FUNC] or "", (r[DETAIL] or "").replace("\n", " ⏎ "))

    def _fetch(self, page_no: int) -> list[tuple]:
        start = page_no * self.PAGE
        stop = min(start + self.PAGE, self.rowCount())
        if self.positions is None:
            return list(self.ix.rows(start, stop))
        wanted = self.positions[start:stop]
        if not len(wanted):
            return []
        lo, hi = int(wanted[0]), int(wanted[-1]) + 1
        if hi - lo <= 8 * len(wanted):
            by_pos = {r[POS_]: r for r in self.ix.rows(lo, hi)}
            return [by_pos[int(p)] for p in wanted if int(p) in by_pos]
        return list(self.ix.rows_at(wanted))

    # -- display -------------------------------------------------------------------

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        return None

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if role not in self._ROLES or not index.isValid():
            return None
        col = index.column()
        r, texts = self._entry(index.row())
        if role == Qt.ItemDataRole.DisplayRole:
            return texts[col]
        if role == Qt.ItemDataRole.ForegroundRole:
            return self._brushes.get(r[KIND], self._brushes["other"]) if col == 3 else None
        if role == Qt.ItemDataRole.BackgroundRole:
            return self._backgrounds.get(r[KIND])
        if role == Qt.ItemDataRole.FontRole:
            return self._bold if col == 3 and r[KIND] == "exception" else None
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return self._right if col in (1, 2) else None
        when = datetime.fromtimestamp(r[TS], timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f UTC") if r[TS] else ""
        where = f"{r[FILE]}:{r[LINE]}" if r[FILE] else ""
        name = record_name(self.ix.record(r[POS_])) if 0 <= r[POS_] < self.ix.count else "?"
        return "\n".join(x for x in (f"record {name}  ·  {when}", where, (r[DETAIL] or "")[:2000]) if x)

    def multiData(self, index: QModelIndex, roles) -> None:  # Qt override
        """All roles of a cell in one call: Qt 6 delegates ask this way, and one call from C++
        into Python per cell instead of seven is what keeps a table repaint fast."""
        if not index.isValid():
            return
        col = index.column()
        r, texts = self._entry(index.row())
        kind = r[KIND]
        for rd in roles:   # Qt reuses the span: every role is set or cleared
            role = rd.role()
            value = None
            if role == _DISPLAY:
                value = texts[col]
            elif role == _FOREGROUND:
                if col == 3:
                    value = self._brushes.get(kind, self._brushes["other"])
            elif role == _BACKGROUND:
                value = self._backgrounds.get(kind)
            elif role == _FONT:
                if col == 3 and kind == "exception":
                    value = self._bold
            elif role == _ALIGN and col in (1, 2):
                value = self._right
            if value is None:
                rd.clearData()
            else:
                rd.setData(value)

    _ROLES = frozenset((Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ForegroundRole, Qt.ItemDataRole.BackgroundRole,
                        Qt.ItemDataRole.FontRole, Qt.ItemDataRole.TextAlignmentRole, Qt.ItemDataRole.ToolTipRole))
    _right = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


class EventTableView(QWidget):
    """Filter bar and table over `EventTableModel`; the current row is the cursor's record."""

    def __init__(self, index, cursor: Cursor, queries: BackgroundQueries, parent: QWidget | None = None):
        super().__init__(parent)
        self.index, self.cursor, self.queries = index, cursor, queries
        self.model = EventTableModel(index, self)
        self.table = QTableView()
        self.table.setModel(self.model)
        t = self.table
        t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        t.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        t.setWordWrap(False)
        t.setShowGrid(False)
        t.setAlternatingRowColors(False)
        t.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        vh = t.verticalHeader()
        vh.setVisible(False)
        vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vh.setDefaultSectionSize(t.fontMetrics().height() + 4)
        hh = t.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        hh.setStretchLastSection(True)
        hh.setHighlightSections(False)
        fm = t.fontMetrics()
        for col, sample in enumerate(("00:00:00.000000 ", "999999 ", "9999999999 ", "exception ",
                                      "transform_events.py:9999", "process_event_x")):
            t.setColumnWidth(col, fm.horizontalAdvance(sample) + 16)
        t.selectionModel().currentRowChanged.connect(self._row_chosen)
        self.copy_action = QAction("Copy record", self)
        self.copy_action.setShortcut(QKeySequence.StandardKey.Copy)
        self.copy_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.copy_action.setToolTip("Copy the selected record as a line that starts with its PID:SEQ")
        self.copy_action.triggered.connect(self.copy_record)
        t.addAction(self.copy_action)
        t.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self._pushing = False
        self._choosing = False
        self._build_filter_bar()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)
        layout.addLayout(self.bar)
        layout.addWidget(t)
        subscribe(self, cursor.changed, self._on_cursor)
        self._follow()

    # -- filter bar ------------------------------------------------------------

    def _build_filter_bar(self) -> None:
        self.bar = QHBoxLayout()
        self.bar.setContentsMargins(0, 0, 0, 0)
        self.kinds_button = QToolButton()
        self.kinds_button.setText("All kinds")
        self.kinds_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.kinds_button.setToolTip("Show only these kinds of record")
        menu = QMenu(self.kinds_button)
        self.kind_actions: dict[str, QAction] = {}
        for kind in theme.KIND_COLOURS:
            act = menu.addAction(kind)
            act.setCheckable(True)
            act.setChecked(True)
            act.toggled.connect(self._filter_changed)
            self.kind_actions[kind] = act
        self.kinds_button.setMenu(menu)
        self.process_box = QComboBox()
        self.process_box.setToolTip("Show only this process")
        self.process_box.addItem("All processes", None)
        self.thread_box = QComboBox()
        self.thread_box.setToolTip("Show only this thread")
        self.thread_box.addItem("All threads", None)
        threads = self.index.threads()
        for pid in sorted({t.pid for t in threads} | set(self._pids())):
            self.process_box.addItem(f"pid {pid}", pid)
        for t in threads:
            self.thread_box.addItem(f"pid {t.pid} · thread {t.tid}", t.key)
        self.process_box.currentIndexChanged.connect(self._filter_changed)
        self.thread_box.currentIndexChanged.connect(self._filter_changed)
        self.text = QLineEdit()
        self.text.setPlaceholderText("Filter by text: file, function, command, exception…  (Ctrl+F)")
        self.text.setClearButtonEnabled(True)
        self._typing = QTimer(self)
        self._typing.setSingleShot(True)
        self._typing.setInterval(250)
        self._typing.timeout.connect(self.apply_filter)
        self.text.textChanged.connect(lambda _: self._typing.start())
        self.text.returnPressed.connect(self.apply_filter)
        self.count_label = QLabel()
        self.count_label.setStyleSheet("color: #616161;")
        self.bar.addWidget(self.kinds_button)
        self.bar.addWidget(self.process_box)
        self.bar.addWidget(self.thread_box)
        self.bar.addWidget(self.text, 1)
        self.bar.addWidget(self.count_label)
        self._show_count()

    def _pids(self) -> list[int]:
        try:
            return [int(p["pid"]) for p in self.index.summary().get("processes", []) if "pid" in p]
        except Exception:  # the summary is a convenience here, not a need
            return []

    def filter_args(self) -> dict:
        kinds = [k for k, a in self.kind_actions.items() if a.isChecked()]
        pid = self.process_box.currentData()
        thread = self.thread_box.currentData()
        text = self.text.text().strip()
        return {
            "kinds": None if len(kinds) == len(self.kind_actions) else kinds,
            "pids": None if pid is None else [pid],
            "threads": None if thread is None else [thread],
            "text": text or None,
        }

    def _filter_changed(self, *_) -> None:
        kinds = [k for k, a in self.kind_actions.items() if a.isChecked()]
        self.kinds_button.setText("All kinds" if len(kinds) == len(self.kind_actions)
                                  else f"{len(kinds)} kinds" if len(kinds) != 1 else kinds[0])
        self.apply_filter()

    def apply_filter(self) -> None:
        """Ask the index for the matching positions, off the GUI thread; a newer filter wins."""
        args = self.filter_args()
        if not any(v is not None for v in args.values()):
            self.queries.cancel("filter")
            self._filtered(None)
            return
        self.count_label.setText("filtering…")
        self.queries.submit("filter", lambda idx: idx.find(**args), self._filtered,
                            lambda err: self.count_label.setText(f"filter failed: {err}"))

    def _filtered(self, positions) -> None:
        self.model.set_positions(positions)
        self._show_count()
        self._follow()

    def grow(self) -> None:
        """The index grew: new rows at the end (a filter is applied again to what is new)."""
        self.model.grow()
        if self.model.positions is not None:
            self.apply_filter()
        self._show_count()

    def _show_count(self) -> None:
        total = self.index.count
        if self.model.positions is None:
            self.count_label.setText(f"{total:,} records")
        else:
            self.count_label.setText(f"{len(self.model.positions):,} of {total:,}")

    # -- cursor ----------------------------------------------------------------

    def _on_cursor(self, changed) -> None:
        if POS in changed:
            self._follow()

    def _follow(self) -> None:
        pos = self.cursor.pos
        if pos is None or not self.model.rowCount():
            return
        row, exact = self.model.row_of(pos)
        self._pushing = True
        try:
            sm = self.table.selectionModel()
            if exact:
                idx = self.model.index(row, 0)
                sm.setCurrentIndex(idx, sm.SelectionFlag.ClearAndSelect | sm.SelectionFlag.Rows)
            else:
                sm.clearSelection()
                sm.setCurrentIndex(self.model.index(row, 0), sm.SelectionFlag.NoUpdate)
            if not self._choosing:
                self._reveal(row)
        finally:
            self._pushing = False

    def _reveal(self, row: int) -> None:
        """Scroll `row` into view: centred after a jump, untouched when already visible."""
        t = self.table
        first = t.rowAt(0)
        last = t.rowAt(t.viewport().height() - 1)
        if first < 0 or not (first <= row <= (last if last >= 0 else self.model.rowCount())):
            t.scrollTo(self.model.index(row, 0), QAbstractItemView.ScrollHint.PositionAtCenter)

    def copy_text(self, pos: int) -> str:
        """The record at `pos` as one tab-separated line: PID:SEQ (what `inspect --record` takes),
        time, kind, file:line, function, detail."""
        _, ts, _, _, kind, file, line, func, detail = self.index.rows(pos, pos + 1)[0]
        where = f"{file}:{line}" if file and line is not None else file or ""
        return "\t".join((record_name(self.index.record(pos)), iso_time(ts), kind, where, func or "",
                          (detail or "").replace("\n", " ")))

    def copy_record(self) -> str | None:
        """Put the selected record on the clipboard (Ctrl+C); returns the text copied."""
        pos = self.current_pos()
        if pos is None:
            return None
        text = self.copy_text(pos)
        QGuiApplication.clipboard().setText(text)
        return text

    def current_pos(self) -> int | None:
        """Position of the selected row (None when the cursor's record is filtered out)."""
        rows = self.table.selectionModel().selectedRows()
        return self.model.pos_at(rows[0].row()) if rows else None

    def _row_chosen(self, current: QModelIndex, _previous) -> None:
        if not self._pushing and current.isValid():
            self._choosing = True   # the row is where the user put it: no scrolling under the mouse
            try:
                self.cursor.seek(self.model.pos_at(current.row()))
            finally:
                self._choosing = False
