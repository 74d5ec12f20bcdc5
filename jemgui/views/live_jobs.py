"""The live jobs a broker announces (job, user, site, host, state, age); choosing one watches it."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from jemgui.commands.jobs import rows

COLUMNS = ("Job", "User", "Site", "Host", "State", "Age")


class LiveJobsView(QWidget):
    """Shows a `JobList` (polled on a timer, on the GUI thread); `watch(job_id)` when one is chosen."""

    watch = Signal(str)

    def __init__(self, job_list, parent: QWidget | None = None, period_ms: int = 250):
        super().__init__(parent)
        self.job_list = job_list
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.cellDoubleClicked.connect(lambda row, _col: self._chosen(row))
        self.note = QLabel()
        self.note.setStyleSheet("color: #757575;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        layout.addWidget(self.note)
        self._shown: list | None = None
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.refresh)
        self.timer.start(period_ms)
        self.refresh()

    def refresh(self) -> None:
        self.job_list.poll()
        table = rows(self.job_list.jobs, time.time())
        conn = self.job_list.connection
        self.note.setText("Jobs announce themselves every 10 s. Double-click one to watch it."
                           if conn.connected else conn.status)
        if table == self._shown:
            return
        selected = self.selected()
        self._shown = table
        self.table.setRowCount(len(table))
        for r, row in enumerate(table):
            for c, text in enumerate(row):
                item = self.table.item(r, c)
                if item is None:
                    item = QTableWidgetItem()
                    self.table.setItem(r, c, item)
                item.setText(text)
                item.setToolTip(text)
            if row[0] == selected:
                self.table.selectRow(r)
        if selected is None and table:
            self.table.selectRow(0)

    def selected(self) -> str | None:
        items = self.table.selectedItems()
        return self.table.item(items[0].row(), 0).text() if items else None

    def _chosen(self, row: int) -> None:
        self.watch.emit(self.table.item(row, 0).text())


class LiveJobsDialog(QDialog):
    """The list of live jobs as a non-modal dialog with a Watch button."""

    watch = Signal(str)

    def __init__(self, job_list, broker: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(f"Live jobs on {broker}")
        self.view = LiveJobsView(job_list, self)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Close)
        self.watch_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.watch_button.setText("Watch")
        self.watch_button.clicked.connect(self._watch_selected)
        buttons.rejected.connect(self.reject)
        self.view.watch.connect(self._watch)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view)
        layout.addWidget(buttons)
        self.resize(820, 360)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)

    def _watch_selected(self) -> None:
        job = self.view.selected()
        if job:
            self._watch(job)

    def _watch(self, job: str) -> None:
        self.view.timer.stop()
        self.watch.emit(job)
        self.accept()
