"""Locals and arguments of the selected frame, and the return value just produced.

Values that changed at this record are highlighted; the full recorded value
is in the tooltip and can be copied. Choosing a variable watches it in the
value history (it sets `Cursor.variable`, nothing else).
"""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtGui import QAction, QBrush, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QLabel,
    QMenu,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from jemgui.models.at_exception import exception_locals
from jemgui.models.cursor import Cursor
from jemgui.views import theme
from jemgui.views.binding import subscribe


def _table(headers: tuple[str, ...]) -> QTreeWidget:
    tree = QTreeWidget()
    tree.setHeaderLabels(headers)
    tree.setRootIsDecorated(False)
    tree.setUniformRowHeights(True)
    tree.setAlternatingRowColors(True)
    tree.setColumnWidth(0, 120)
    tree.setColumnWidth(1, 130)
    tree.setFont(theme.mono_font())
    return tree


class LocalsView(QWidget):
    """Shows `Cursor.frame.locals` and the selected thread's return value."""

    def __init__(self, cursor: Cursor, parent: QWidget | None = None):
        super().__init__(parent)
        self.cursor = cursor
        self._shown: tuple | None = None
        self.locals = _table(("Name", "Type", "Value"))
        self.locals.setToolTip("")
        self.locals.currentItemChanged.connect(self._variable_chosen)
        self.locals.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.locals.customContextMenuRequested.connect(self._menu)
        self.returned = _table(("Function", "Type", "Value"))
        copy = QAction("Copy value", self)
        copy.setShortcut(QKeySequence.StandardKey.Copy)
        copy.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        copy.triggered.connect(self.copy_value)
        self.addAction(copy)
        self.copy_action = copy
        self.note = QLabel()
        self.note.setStyleSheet("color: #757575; padding: 2px 4px;")
        ret_box = QWidget()
        ret_layout = QVBoxLayout(ret_box)
        ret_layout.setContentsMargins(0, 0, 0, 0)
        ret_layout.setSpacing(1)
        title = QLabel("Return value(s)")
        title.setStyleSheet("font-weight: bold; padding: 2px 4px;")
        ret_layout.addWidget(title)
        ret_layout.addWidget(self.returned)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.locals)
        split.addWidget(ret_box)
        split.setStretchFactor(0, 4)
        split.setStretchFactor(1, 1)
        split.setSizes([300, 80])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(1)
        layout.addWidget(self.note)
        layout.addWidget(split)
        subscribe(self, cursor.changed, self._on_cursor)
        self._show()

    def _on_cursor(self, changed) -> None:
        self._show()

    def _show(self) -> None:
        frame = self.cursor.frame
        with QSignalBlocker(self.locals):
            if frame is None:
                self.locals.clear()
                self._shown = None
                self.note.setText("No frame selected")
            else:
                self._show_frame(frame)
        self.returned.clear()
        ts = self.cursor.thread_state
        returned = getattr(ts, "returned", None)
        if returned:
            func, pair = returned
            self.returned.addTopLevelItem(self._item((func, *pair)))

    def _values(self, frame) -> tuple[dict, set, str]:
        """(locals, names changed here, how the note names them): a frame with no values at this
        record (verbosity 2 and 3) that an exception is passing shows its locals at the exception."""
        pos = self.cursor.pos
        if getattr(frame, "seg_id", None) is not None and pos is not None:
            found = exception_locals(self.cursor.index, frame.seg_id, pos)
            # (at its own exception record every local is in the record: none "changed here")
            if found is not None and (not frame.locals or found[0] == pos):
                return found[1], set(), " at the exception"
        return frame.locals, frame.changed, ""

    def _show_frame(self, frame) -> None:
        values, changed_here, at = self._values(frame)
        n = len(values)
        self.note.setText(f"{frame.func}  ·  {n} local{'s' if n != 1 else ''}{at}"
                          + (f"  ·  {len(changed_here)} changed here" if changed_here else ""))
        names = list(values)
        shown = (frame.frame_id, names)
        if shown != self._shown:   # another frame or other names: new rows, else update in place
            self._shown = shown
            self.locals.clear()
            self.locals.addTopLevelItems([self._item((name, *values[name])) for name in names])
        plain, changed_brush = QBrush(), QBrush(theme.CHANGED_BACKGROUND)
        for i, name in enumerate(names):
            item = self.locals.topLevelItem(i)
            type_name, value = values[name]
            self._fill(item, (name, type_name, value))
            changed = name in changed_here
            for col in range(3):
                item.setBackground(col, changed_brush if changed else plain)
            font = item.font(0)
            font.setBold(changed)
            item.setFont(0, font)
            item.setToolTip(0, f"{name} changed at this step" if changed else "")
            if name == self.cursor.variable:
                self.locals.setCurrentItem(item)

    @classmethod
    def _item(cls, cols: tuple[str, str, str]) -> QTreeWidgetItem:
        item = QTreeWidgetItem()
        cls._fill(item, cols)
        return item

    @staticmethod
    def _fill(item: QTreeWidgetItem, cols: tuple[str, str, str]) -> None:
        """Show (name, type, value) in a row; the full value stays in the item for copying."""
        if item.data(2, Qt.ItemDataRole.UserRole) == cols[2] and item.text(1) == cols[1]:
            return
        for col, text in enumerate(cols):
            item.setText(col, text.replace("\n", "⏎"))
        item.setToolTip(2, cols[2] if len(cols[2]) < 4000 else cols[2][:4000] + "…")
        item.setData(2, Qt.ItemDataRole.UserRole, cols[2])

    def copy_value(self) -> str | None:
        """Put the selected variable's (or the return value's) full value on the clipboard."""
        item = self.locals.currentItem() or self.returned.currentItem()
        if item is None:
            return None
        value = item.data(2, Qt.ItemDataRole.UserRole)
        QGuiApplication.clipboard().setText(value)
        return value

    def _variable_chosen(self, item, _previous) -> None:
        if item is not None:
            self.cursor.select_variable(item.text(0))

    def _menu(self, point) -> None:
        item = self.locals.itemAt(point)
        if item is None:
            return
        menu = QMenu(self)
        menu.addAction(self.copy_action)
        menu.addAction("Copy name = value",
                       lambda: QGuiApplication.clipboard().setText(
                           f"{item.text(0)} = {item.data(2, Qt.ItemDataRole.UserRole)}"))
        menu.addAction("Show value history", lambda: self.cursor.select_variable(item.text(0)))
        menu.exec(self.locals.viewport().mapToGlobal(point))
