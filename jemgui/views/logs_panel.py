"""The Logs panel: a grid job's files as a tree, the chosen file's lines in step with the cursor.

It shows `gridlogs.logs.JobLogs` and changes only the cursor. A cursor move
scrolls to the line logged at that moment (the record's own line when it is a
log line or a logged traceback, else the last line at or before its time);
clicking a line moves the cursor to that line's record. Lines are read from
the file as they are shown, so a file of any size opens at once. Search looks
through every file; next/previous error steps through the ERROR, FATAL,
CRITICAL lines and tracebacks of all files in time order. The files are
found, indexed and searched on the panel's own worker thread, never on the GUI
thread (the job's query worker holds an index handle the panel does not need,
and may be busy while a growing index is read).
"""

from __future__ import annotations

from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, Qt, Signal
from PySide6.QtGui import QAction, QBrush, QColor, QFont, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QSplitter,
    QTableView,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from jemgui.models.cursor import POS, Cursor
from jemgui.models.gridlogs.lineindex import LineIndex
from jemgui.models.gridlogs.logs import JobLogs
from jemgui.models.gridlogs.summary import SOURCES
from jemgui.models.gridlogs.textlog import level_of
from jemgui.views import theme
from jemgui.views.binding import subscribe

LEVEL_COLOURS = {"ERROR": "#c62828", "FATAL": "#b71c1c", "CRITICAL": "#b71c1c", "CATASTROPHE": "#b71c1c",
                 "WARNING": "#e65100", "DEBUG": "#757575", "VERBOSE": "#9e9e9e"}
ERROR_BACKGROUND = QColor("#ffebee")
#: a file bigger than this is indexed on the worker when first shown (a smaller one at once)
BIG = 32 << 20
AT_CURSOR = QColor("#fff59d")
BLOCK = 256
ERROR_KEYS = (("next_error", "Next error in the logs", "Alt+E", False),
              ("prev_error", "Previous error in the logs", "Alt+Shift+E", True))


def is_grid_job(job: dict) -> bool:
    return job.get("source") in SOURCES


class Worker(QObject):
    """One thread for the panel's slow work; a result reaches the GUI thread only if no newer
    request was made on its channel."""

    _done = Signal(object, object, object)  # (channel, generation, callbacks), result, error

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        pool = self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jemgui-logs")
        self.latest: dict[str, int] = {}
        self.futures: list = []
        self._done.connect(self._deliver)
        self.destroyed.connect(lambda *_: pool.shutdown(wait=False, cancel_futures=True))

    def submit(self, channel: str, fn, on_result, on_error=None) -> None:
        gen = self.latest[channel] = self.latest.get(channel, 0) + 1

        def work():
            try:
                result, error = fn(), None
            except Exception as exc:  # reported in the panel, never raised in the worker
                result, error = None, f"{type(exc).__name__}: {exc}"
            try:
                self._done.emit((channel, gen, on_result, on_error), result, error)
            except RuntimeError:
                pass  # the panel went away meanwhile

        self.futures = [f for f in self.futures if not f.done()] + [self.pool.submit(work)]

    def idle(self) -> bool:
        return all(f.done() for f in self.futures)

    def _deliver(self, meta, result, error) -> None:
        channel, gen, on_result, on_error = meta
        if gen != self.latest.get(channel):
            return
        if error is None:
            on_result(result)
        elif on_error is not None:
            on_error(error)


class LinesModel(QAbstractTableModel):
    """One file's lines (number, text), read a block at a time as the view asks."""

    def __init__(self):
        super().__init__()
        self.ix: LineIndex | None = None
        self.errors: set[int] = set()
        self.current: int | None = None
        self._blocks: OrderedDict[int, list[str]] = OrderedDict()
        self._font = theme.mono_font()
        self._bold = QFont(self._font)
        self._bold.setBold(True)

    def set_index(self, ix: LineIndex) -> None:
        self.beginResetModel()
        self.ix, self.errors, self.current = ix, {int(n) for n in ix.errors}, None
        self._blocks.clear()
        self.endResetModel()

    def rowCount(self, parent=None) -> int:  # Qt override
        return 0 if (parent is not None and parent.isValid()) or self.ix is None else self.ix.count

    def columnCount(self, parent=None) -> int:  # Qt override
        return 2

    def text(self, row: int) -> str:
        b = row // BLOCK
        lines = self._blocks.get(b)
        if lines is None:
            lines = self._blocks[b] = self.ix.lines(b * BLOCK, (b + 1) * BLOCK)
            while len(self._blocks) > 64:
                self._blocks.popitem(last=False)
        k = row - b * BLOCK
        return lines[k] if k < len(lines) else ""

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):  # Qt override
        row, col = index.row(), index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return str(row + 1) if col == 0 else self.text(row).expandtabs(8)
        if role == Qt.ItemDataRole.FontRole:
            return self._bold if row == self.current else self._font
        if role == Qt.ItemDataRole.ForegroundRole:
            if col == 0:
                return QBrush(QColor("#9e9e9e"))
            colour = LEVEL_COLOURS.get(level_of(self.text(row)) or "")
            return QBrush(QColor(colour)) if colour else None
        if role == Qt.ItemDataRole.BackgroundRole:
            if row == self.current:
                return QBrush(AT_CURSOR)
            if row in self.errors:
                return QBrush(ERROR_BACKGROUND)
        if role == Qt.ItemDataRole.TextAlignmentRole and col == 0:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def set_current(self, row: int | None) -> None:
        old, self.current = self.current, row
        for r in (old, row):
            if r is not None and self.ix is not None and r < self.ix.count:
                self.dataChanged.emit(self.index(r, 0), self.index(r, 1))


class LogsPanel(QWidget):
    """Files, lines, search and error steps of a grid job's logs; changes only the cursor."""

    def __init__(self, index, cursor: Cursor, queries, path: str, parent: QWidget | None = None):
        """`queries` (the job's query worker) is taken as every panel takes it, but not used: the
        panel's work needs no index handle and runs on its own `Worker`."""
        super().__init__(parent)
        self.index, self.cursor, self.path = index, cursor, path
        self.worker = Worker(self)
        self.logs: JobLogs | None = None
        self.name: str | None = None
        self.ix: LineIndex | None = None
        self._clicked: tuple[str, int] | None = None
        #: every file indexed (search and error steps wait for it, so the GUI thread never indexes them all)
        self.ready = False
        self.found: list[tuple[str, int, str]] | None = None
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["File", "Size"])
        self.tree.itemClicked.connect(self._file_clicked)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.search_box = QLineEdit()
        self.search_box.setPlaceholderText("Search all logs…")
        self.search_box.setClearButtonEnabled(True)
        self.search_box.returnPressed.connect(self.search)
        self.results = QListWidget()
        self.results.itemClicked.connect(self._result_clicked)
        self.results.setVisible(False)
        self.title = QLabel("Reading the job's logs…")
        self.title.setStyleSheet("padding: 2px 6px; color: #455a64;")
        self.model = LinesModel()
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(theme.mono_font().pointSize() + 9)
        self.table.horizontalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.table.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.table.clicked.connect(self._line_clicked)
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.tree)
        left.addWidget(self.results)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.setSpacing(0)
        rl.addWidget(self.title)
        rl.addWidget(self.table)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(1, 4)
        split.setSizes([280, 900])
        top = QHBoxLayout()
        top.setContentsMargins(4, 2, 4, 2)
        top.addWidget(self.search_box)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(top)
        layout.addWidget(split)
        self.actions: dict[str, QAction] = {}
        for name, label, keys, backward in ERROR_KEYS:
            act = QAction(label, self)
            act.setObjectName(name)
            act.setShortcut(QKeySequence(keys))
            act.setToolTip(f"{label} ({keys}): ERROR, FATAL, CRITICAL lines and tracebacks, in time order")
            act.setIconText("◀ error" if backward else "error ▶")
            act.triggered.connect(lambda _=False, b=backward: self.step_error(b))
            act.setEnabled(False)
            self.actions[name] = act
        subscribe(self, cursor.changed, self._on_cursor)
        job, start_path = dict(index.job), path
        self.worker.submit("open", lambda: _open(start_path, job), self._opened,
                           lambda err: self.title.setText(f"The logs could not be read: {err}"))

    # -- opening --------------------------------------------------------------------

    def _opened(self, logs: JobLogs | None) -> None:
        if logs is None:
            self.title.setText("No log files found in this input.")
            return
        self.logs = logs
        self.destroyed.connect(lambda *_: logs.close())
        folders: dict[str, QTreeWidgetItem] = {}
        for f in logs.files:
            parent = self.tree.invisibleRootItem()
            parts = f.name.split("/")
            for i in range(len(parts) - 1):
                key = "/".join(parts[: i + 1])
                if key not in folders:
                    folders[key] = QTreeWidgetItem(parent, [parts[i] + "/", ""])
                    folders[key].setExpanded(i == 0)
                parent = folders[key]
            item = QTreeWidgetItem(parent, [parts[-1], _size(f.size) if f.path is not None else ""])
            item.setData(0, Qt.ItemDataRole.UserRole, f.name)
            if not f.text:
                item.setForeground(0, QBrush(QColor("#9e9e9e")))
                item.setToolTip(0, "not a log: not copied out of the pack")
        for act in self.actions.values():
            act.setEnabled(True)
        first = next((f.name for f in logs.files if f.text), None)
        if first is not None:
            self.show_file(first)
        self._follow_cursor()  # the cursor's own line, else the line logged at its moment in that file
        self.worker.submit("all", lambda: (logs.build_all(), logs.errors()), self._all_indexed)

    def _all_indexed(self, _result) -> None:
        self.ready = True
        if self.search_box.text():
            self.search()

    # -- showing ------------------------------------------------------------------------

    def show_file(self, name: str, line: int | None = None, follow: bool = False) -> bool:
        """Show file `name` at `line` when given, or (`follow`) at the line logged at the cursor's
        moment. A big file not indexed yet is indexed on the worker and shown when it is."""
        if self.logs is None:
            return False
        f = self.logs.file(name)
        if name != self.name and f is not None and f.text and not self.logs.built(name) and f.size > BIG:
            logs = self.logs
            self.title.setText(f"Indexing {name} ({_size(f.size)})…")
            self.worker.submit("file", lambda: logs.index(name), lambda _ix: self.show_file(name, line, follow))
            return True
        if name != self.name:
            ix = self.logs.index(name)
            if ix is None:
                return False
            self.name, self.ix = name, ix
            self.model.set_index(ix)
            self.table.resizeColumnToContents(0)
            # as wide as the longest of the first lines (measuring every line of a big file would read it all)
            longest = max((len(t) for t in ix.lines(0, 2000)), default=0)
            width = self.table.fontMetrics().horizontalAdvance("x") * min(longest + 4, 2000)
            self.table.setColumnWidth(1, max(width, self.table.viewport().width()))
            self._select_tree(name)
            self.title.setText(f"<b>{name}</b> — {ix.count:,} lines, {len(ix.errors):,} errors")
        if follow and line is None and self.ix is not None and self.cursor.pos is not None:
            line = self.ix.line_at(self.index.time_at(self.cursor.pos))
        if line is not None and self.ix is not None and self.ix.count:
            line = min(max(line, 0), self.ix.count - 1)
            self.model.set_current(line)
            # the scroll bar counts rows (QTableView.scrollTo does not reach the end of millions of rows)
            rows = max(1, self.table.viewport().height() // max(1, self.table.rowHeight(0) or 1))
            bar = self.table.verticalScrollBar()
            bar.setRange(0, max(0, self.ix.count - rows))  # after a model reset, before Qt lays it out
            bar.setValue(max(0, line - rows // 2))
        return True

    def _select_tree(self, name: str) -> None:
        it = self.tree.invisibleRootItem()
        stack = [it]
        while stack:
            node = stack.pop()
            for i in range(node.childCount()):
                child = node.child(i)
                if child.data(0, Qt.ItemDataRole.UserRole) == name:
                    self.tree.setCurrentItem(child)
                    return
                stack.append(child)

    def current_line(self) -> int | None:
        return self.model.current

    # -- the cursor, both ways ---------------------------------------------------------

    def _on_cursor(self, changed) -> None:
        if POS in changed:
            self._follow_cursor()

    def _follow_cursor(self) -> None:
        if self.logs is None or self.cursor.pos is None:
            return
        if self._clicked is not None:  # the move came from a click here: keep the clicked line
            name, line = self._clicked
            self._clicked = None
            self.show_file(name, line)
            return
        rec = self.index.record(self.cursor.pos)
        place = JobLogs.line_of_record(rec)
        if place is not None and self.logs.file(place[0]) is not None and self.show_file(*place):
            return
        if self.name is None:
            return
        self.show_file(self.name, self.ix.line_at(self.index.time_at(self.cursor.pos)))

    def _line_clicked(self, mi: QModelIndex) -> None:
        self.go_to(self.name, mi.row())

    def go_to(self, name: str, line: int) -> None:
        """Show `name` at `line` and move the cursor to that line's record."""
        if self.logs is None or not self.show_file(name, line):
            return
        pos = self.logs.record_at(self.index, name, line)
        if pos is not None:
            self._clicked = (name, line)
            if not self.cursor.seek(pos):
                self._clicked = None

    def _file_clicked(self, item: QTreeWidgetItem, _col: int) -> None:
        name = item.data(0, Qt.ItemDataRole.UserRole)
        if name:
            self.show_file(name, follow=True)

    # -- search and errors --------------------------------------------------------------

    def search(self, text: str | None = None) -> None:
        """Look for `text` (the search box's) in every log, on the query worker; `found` holds the
        (file, line, text) of the hits once they are shown."""
        text = self.search_box.text() if text is None else text
        self.results.clear()
        self.found = None
        if self.logs is None or not text:
            self.results.setVisible(False)
            return
        self.results.setVisible(True)
        if not self.ready:
            self.results.addItem("Still indexing the logs: the search runs when that is done")
            return
        self.results.addItem(f"Searching for “{text}”…")
        logs = self.logs
        self.worker.submit("search", lambda: logs.search(text), lambda found: self._show_results(text, found))

    def _show_results(self, text: str, found: list[tuple[str, int, str]]) -> None:
        self.results.clear()
        for name, line, line_text in found:
            item = QListWidgetItem(f"{name}:{line + 1}  {line_text.strip()[:160]}")
            item.setData(Qt.ItemDataRole.UserRole, (name, line))
            self.results.addItem(item)
        if not found:
            self.results.addItem(f"“{text}” is in no log")
        self.found = found

    def _result_clicked(self, item: QListWidgetItem) -> None:
        place = item.data(Qt.ItemDataRole.UserRole)
        if place:
            self.go_to(*place)

    def step_error(self, backward: bool = False) -> tuple[str, int] | None:
        """Go to the next (previous) error line of any log after (before) the one shown."""
        if self.logs is None or self.cursor.pos is None:
            return None
        if not self.ready:
            self.title.setText("Still indexing the logs: error steps wait for it")
            return None
        line = self.model.current if self.model.current is not None else -1
        ts = self.ix.time(line) if self.ix is not None and line >= 0 else self.index.time_at(self.cursor.pos)
        found = self.logs.next_error(ts, self.name, line, backward)
        if found is None:
            self.title.setText(f"No error {'before' if backward else 'after'} this line in the logs")
            return None
        self.go_to(*found)
        return found


def _open(path: str, job: dict) -> JobLogs | None:
    """Find and list the logs, and index the file shown first (on the query worker)."""
    logs = JobLogs.open(Path(path), job)
    if logs is not None:
        first = next((f.name for f in logs.files if f.text), None)
        if first is not None:
            logs.index(first)
    return logs


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return str(n)
