"""One open job: the models every panel is built from, handed to each view's constructor."""

from __future__ import annotations

from PySide6.QtCore import QObject

from jemgui.models.cursor import Breakpoints, Cursor
from jemgui.models.index import Index
from jemgui.views.background import BackgroundQueries


class Inspection(QObject):
    """The index, its cursor and breakpoints, and a worker for slow queries (with its own index handle)."""

    def __init__(self, index: Index, path: str, parent: QObject | None = None):
        super().__init__(parent)
        self.index, self.path = index, path
        self.summary = index.summary()
        self.cursor = Cursor(index)
        self.breakpoints = Breakpoints()
        db_path = index.db_path
        self.queries = BackgroundQueries(lambda: Index(db_path), self)

    @property
    def title(self) -> str:
        job = self.summary.get("job") or {}
        name = job.get("name")
        ident = job.get("id") or self.summary.get("label") or self.path
        return f"job {ident}" + (f" ({name})" if name else "")

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
