"""Open an input without freezing the window: index in a worker thread, report back by signal.

Each `open` gets a new generation number; progress and results of an older
one (the user opened something else, or cancelled) are dropped. Nothing the
input does can raise into the window: every failure becomes one line.
"""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from jemgui.models.index import Index, Indexer, UnreadableInput, list_jobs
from jemgui.models.indexer import Cancelled


class Opener(QObject):
    """Lists the jobs of an input, indexes the chosen one, hands the `Index` to the GUI thread."""

    progress = Signal(int, int, int)         # done bytes, total bytes, records
    choose_job = Signal(str, list)           # path, [(key, label)] when the input holds several jobs
    opened = Signal(object, str)             # Index, path
    failed = Signal(str, str)                # path, one-line reason

    _w_progress = Signal(int, int, int, int)
    _w_jobs = Signal(int, str, list)
    _w_done = Signal(int, str, str)
    _w_failed = Signal(int, str, str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.generation = 0
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._w_progress.connect(self._on_progress)
        self._w_jobs.connect(self._on_jobs)
        self._w_done.connect(self._on_done)
        self._w_failed.connect(self._on_failed)

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def open(self, path: str | Path, job: str | None = None) -> int:
        """Start opening `path` (the job `job` inside it); returns the request's generation."""
        self._cancel.set()
        self.generation += 1
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._work, args=(self.generation, str(path), job, self._cancel),
                                        name="jemgui-index", daemon=True)
        self._thread.start()
        return self.generation

    def cancel(self) -> None:
        """Stop the current indexing; the window keeps what it showed before."""
        self._cancel.set()
        self.generation += 1

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    # -- worker thread -----------------------------------------------------------

    def _work(self, gen: int, path: str, job: str | None, cancel: threading.Event) -> None:
        try:
            if job is None:
                jobs = list_jobs(path)
                if len(jobs) > 1:
                    self._emit(self._w_jobs, gen, path, [(j.key, j.label) for j in jobs])
                    return
                job = jobs[0].key if jobs and jobs[0].key else None
            indexer = Indexer(path, job)
            final = indexer.run(progress=lambda d, t, r: self._emit(self._w_progress, gen, d, t, r), cancel=cancel)
            self._emit(self._w_done, gen, path, str(final))
        except Cancelled:
            self._emit(self._w_failed, gen, path, "indexing cancelled")
        except UnreadableInput as exc:
            self._emit(self._w_failed, gen, path, str(exc))
        except Exception as exc:  # any bad input: one line, never a crash
            self._emit(self._w_failed, gen, path, f"{type(exc).__name__}: {exc}")

    def _emit(self, signal, gen: int, *args) -> None:
        if gen == self.generation:
            try:
                signal.emit(gen, *args)
            except RuntimeError:
                pass  # the window is gone

    # -- GUI thread ------------------------------------------------------------

    def _on_progress(self, gen: int, done: int, total: int, records: int) -> None:
        if gen == self.generation:
            self.progress.emit(done, total, records)

    def _on_jobs(self, gen: int, path: str, jobs: list) -> None:
        if gen == self.generation:
            self.choose_job.emit(path, jobs)

    def _on_done(self, gen: int, path: str, db_path: str) -> None:
        if gen != self.generation:
            return
        try:
            index = Index(db_path)
        except Exception as exc:
            self.failed.emit(path, f"the index could not be read: {exc}")
            return
        self.opened.emit(index, path)

    def _on_failed(self, gen: int, path: str, reason: str) -> None:
        if gen == self.generation:
            self.failed.emit(path, reason)
