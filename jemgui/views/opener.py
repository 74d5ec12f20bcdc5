"""Open an input without freezing the window: index in a worker thread, report back by signal.

Each `open` gets a new generation number; progress and results of an older
one (the user opened something else, or cancelled) are dropped. Nothing the
input does can raise into the window: every failure becomes one line.

A big input is shown before indexing ends: `started` hands over an `Index`
on the file being built as soon as its first records are in (the window
grows it with each `progress`), `early_failure` the failure read from the
streams' ends, and `opened` the same `Index`, moved onto the finished file.
"""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from jemgui.models import indexer as engine
from jemgui.models.index import Index, Indexer, UnreadableInput, list_jobs
from jemgui.models.indexer import Cancelled
from jemgui.models.tail import early_failure


class Opener(QObject):
    """Lists the jobs of an input, indexes the chosen one, hands the `Index` to the GUI thread."""

    progress = Signal(int, int, int)         # done bytes, total bytes, records
    choose_job = Signal(str, list)           # path, [(key, label)] when the input holds several jobs
    started = Signal(object, str)            # Index on the file being built, path
    early_failure = Signal(dict)             # the failure read from the streams' ends
    opened = Signal(object, str)             # Index (the started one, when there was one), path
    failed = Signal(str, str)                # path, one-line reason

    _w_progress = Signal(int, int, int, int)
    _w_jobs = Signal(int, str, list)
    _w_done = Signal(int, str, str)
    _w_failed = Signal(int, str, str)
    _w_first = Signal(int, str, str)
    _w_early = Signal(int, dict)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.generation = 0
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._w_progress.connect(self._on_progress)
        self._w_jobs.connect(self._on_jobs)
        self._w_done.connect(self._on_done)
        self._w_failed.connect(self._on_failed)
        self._w_first.connect(self._on_first)
        self._w_early.connect(self._on_early)
        self.partial: Index | None = None  #: the Index handed out by `started`, until `opened`

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def open(self, path: str | Path, job: str | None = None) -> int:
        """Start opening `path` (the job `job` inside it); returns the request's generation."""
        self._cancel.set()
        self.generation += 1
        self._drop_partial()
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._work, args=(self.generation, str(path), job, self._cancel),
                                        name="jemgui-index", daemon=True)
        self._thread.start()
        return self.generation

    def cancel(self) -> None:
        """Stop the current indexing; the window keeps what it showed before."""
        self._cancel.set()
        self.generation += 1
        self._drop_partial()

    def _drop_partial(self) -> None:
        if self.partial is not None:
            self.partial.close()
            self.partial = None

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
            first = []

            def progress(done: int, total: int, records: int) -> None:
                if records and not first:
                    first.append(records)
                    self._emit(self._w_first, gen, path, str(indexer.db_path))
                self._emit(self._w_progress, gen, done, total, records)

            def on_input(inp) -> None:
                try:
                    found = early_failure(inp)
                except Exception:  # noqa: BLE001 - a quick look only: the index's summary says it anyway
                    found = None
                if found:
                    self._emit(self._w_early, gen, found)

            final = indexer.run(progress=progress, cancel=cancel, on_input=on_input)
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

    def _on_first(self, gen: int, path: str, db_path: str) -> None:
        if gen != self.generation:
            return
        try:
            self.partial = Index(db_path)
        except Exception:  # noqa: BLE001 - the finished index is shown instead
            return
        self.started.emit(self.partial, path)

    def _on_early(self, gen: int, failure: dict) -> None:
        if gen == self.generation:
            self.early_failure.emit(failure)

    def _on_done(self, gen: int, path: str, db_path: str) -> None:
        if gen != self.generation:
            return
        index, self.partial = self.partial, None
        try:
            if index is None:
                index = Index(db_path)
            else:
                building = index.db_path
                index.reopen(db_path)
                engine.remove_companions(building)
        except Exception as exc:
            self.failed.emit(path, f"the index could not be read: {exc}")
            return
        self.opened.emit(index, path)

    def _on_failed(self, gen: int, path: str, reason: str) -> None:
        if gen == self.generation:
            self._drop_partial()
            self.failed.emit(path, reason)
