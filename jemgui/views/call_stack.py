"""The selected thread's call stack at the cursor, innermost frame first, with a thread chooser."""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from jemgui.models.cursor import Cursor
from jemgui.models.text import printable
from jemgui.views.binding import subscribe


def thread_label(ts) -> str:
    """`pid 4711 · thread 140…` with the depth of its stack."""
    depth = len(ts.stack)
    frames = f"{depth} frame{'s' if depth != 1 else ''}" if depth else "no frame"
    return f"pid {ts.pid} · thread {ts.tid}  ({frames})"


class CallStackView(QWidget):
    """Shows `Cursor.stack`; choosing a thread or a frame changes only the cursor."""

    COLUMNS = ("Function", "Location")

    def __init__(self, cursor: Cursor, parent: QWidget | None = None):
        super().__init__(parent)
        self.cursor = cursor
        self._shown: list[int] | None = None
        self.threads = QComboBox()
        self.threads.setToolTip("Thread (and process) whose stack is shown")
        self.threads.currentIndexChanged.connect(self._thread_chosen)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(self.COLUMNS)
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.header().setStretchLastSection(True)
        self.tree.setColumnWidth(0, 170)
        self.tree.currentItemChanged.connect(self._frame_chosen)
        self.empty = QLabel("No frame: this thread is not inside traced code here.")
        self.empty.setStyleSheet("color: #757575; padding: 4px;")
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(QLabel("Thread:"))
        top.addWidget(self.threads, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(self.tree)
        layout.addWidget(self.empty)
        subscribe(self, cursor.changed, self._on_cursor)
        self._show()

    def _on_cursor(self, changed) -> None:
        self._show()

    def _show(self) -> None:
        state = self.cursor.state
        threads = list(state.threads) if state is not None else []
        with QSignalBlocker(self.threads):
            keys = [t.key for t in threads]
            if [self.threads.itemData(i) for i in range(self.threads.count())] != keys:
                self.threads.clear()
                for t in threads:
                    self.threads.addItem(thread_label(t), t.key)
            else:
                for i, t in enumerate(threads):
                    self.threads.setItemText(i, thread_label(t))
            self.threads.setCurrentIndex(keys.index(self.cursor.thread) if self.cursor.thread in keys else -1)
            self.threads.setEnabled(len(threads) > 1)
        stack = self.cursor.stack
        frames = list(reversed(stack))
        with QSignalBlocker(self.tree):
            ids = [f.frame_id for f in frames]
            if ids != self._shown:   # other frames: new rows; the same frames: new lines only
                self._shown = ids
                self.tree.clear()
                items = []
                for i, frame in enumerate(frames):
                    item = QTreeWidgetItem([printable(frame.func or "?"), ""])
                    item.setData(0, Qt.ItemDataRole.UserRole, frame.frame_id)
                    if i == 0:
                        font = item.font(0)
                        font.setBold(True)
                        item.setFont(0, font)
                    items.append(item)
                self.tree.addTopLevelItems(items)
            current = None
            for i, frame in enumerate(frames):
                item = self.tree.topLevelItem(i)
                where = printable(f"{frame.file}:{frame.line}")
                if item.text(1) != where:
                    item.setText(1, where)
                    item.setToolTip(1, where)
                if frame.frame_id == self.cursor.frame_id:
                    current = item
            if current is not None:
                self.tree.setCurrentItem(current)
            else:
                self.tree.setCurrentItem(None)
        self.empty.setVisible(not stack)

    def selected_frame_id(self) -> int | None:
        item = self.tree.currentItem()
        return item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None

    def _thread_chosen(self, i: int) -> None:
        if i >= 0:
            self.cursor.select_thread(self.threads.itemData(i))

    def _frame_chosen(self, item, _previous) -> None:
        if item is not None:
            self.cursor.select_frame(item.data(0, Qt.ItemDataRole.UserRole))

