"""One open job: the models every panel is built from, handed to each view's constructor.

The index may still grow (a big archive being indexed, a live job): `grow()`
takes in what is new and tells the window, which has each panel update in
place; `close()` releases every connection to the index at once.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from jemgui.models.cursor import Breakpoints, Cursor
from jemgui.models.index import Index
from jemgui.models.text import printable
from jemgui.views.background import BackgroundQueries


class Inspection(QObject):
    """The index, its cursor and breakpoints, and a worker for slow queries (with its own index handle)."""

    grown = Signal()  #: the index gained records (or was completed)

    def __init__(self, index: Index, path: str, parent: QObject | None = None, growing: bool = False):
        super().__init__(parent)
        self.index, self.path = index, path
        self.growing = growing  #: the index is still being built
        self.summary = index.summary()
        self.cursor = Cursor(index)
        self.breakpoints = Breakpoints()
        self.queries = BackgroundQueries(lambda: Index(self.index.db_path), self, self._update_reader)
        self.closed = False

    def _update_reader(self, reader: Index) -> None:
        """A worker thread's own handle follows the index: to its finished file, or its new records."""
        if reader.db_path != self.index.db_path:
            reader.reopen(self.index.db_path)
        else:
            reader.refresh()

    def grow(self) -> bool:
        """Take in records committed since (cheap: the new ones only); True when there were any."""
        if self.closed or not self.index.refresh():
            return False
        self.queries.index_changed()
        self.grown.emit()
        return True

    def complete(self) -> None:
        """The index is whole (moved onto its finished file): the summary and the failure are final."""
        self.growing = False
        self.index.refresh()
        self.queries.index_changed()
        self.summary = self.index.summary()
        self.grown.emit()

    def close(self) -> None:
        """Release the index and the workers' handles at once (the panels must be gone first)."""
        if self.closed:
            return
        self.closed = True
        self.queries.close()
        self.index.close()

    @property
    def title(self) -> str:
        job = self.summary.get("job") or {}
        name = job.get("name")
        ident = job.get("id") or self.summary.get("label") or self.path
        return printable(f"job {ident}" + (f" ({name})" if name else ""))  # a window title: no escapes run

    def place(self, where: str | None = None, record: tuple[int, int] | None = None) -> str | None:
        """Put the cursor at the failure, a (pid, seq) record, or the start; a note when that failed."""
        ix = self.index
        if record is not None:
            pos = ix.pos_of(*record)
            if pos is None:
                self.cursor.seek(0)
                return f"no record {record[0]}:{record[1]} in this job"
            self.cursor.seek(pos)
            return None
        failure = (self.summary.get("failure") or {}).get("position")
        if failure is not None and where in (None, "failure"):
            self.cursor.seek(failure)
            return None
        self.cursor.seek(0)
        return "no failure recorded in this job" if where == "failure" else None
