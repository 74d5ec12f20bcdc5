"""Index queries off the GUI thread; a result for an outdated request is dropped.

Every request names a channel ("filter", "history", ...) and gets the
channel's next generation number. The worker hands its result back through
a queued Qt signal, and the GUI thread delivers it only if no newer request
was made on that channel since, so a slow query started while the user was
still typing or dragging never overwrites a newer answer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QObject, Signal


class BackgroundQueries(QObject):
    """Runs `fn(reader)` in a worker thread, where `reader` is that thread's own index handle."""

    _done = Signal(str, int, object, object)   # channel, generation, result, error

    def __init__(self, open_reader: Callable[[], Any], parent: QObject | None = None,
                 update_reader: Callable[[Any], None] | None = None):
        super().__init__(parent)
        self._open_reader = open_reader
        self._update_reader = update_reader
        self._version = 0  #: bumped when the index grew or moved: readers update before the next query
        self._readers: list = []
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jemgui-query")
        self._generation: dict[str, int] = {}
        self._callbacks: dict[str, tuple[int, Callable, Callable | None]] = {}
        self._futures: list = []
        self._done.connect(self._deliver)
        self.destroyed.connect(lambda *_: self._pool.shutdown(wait=False, cancel_futures=True))

    def generation(self, channel: str) -> int:
        return self._generation.get(channel, 0)

    def submit(self, channel: str, fn: Callable[[Any], Any], on_result: Callable[[Any], None],
               on_error: Callable[[str], None] | None = None) -> int:
        """Queue `fn`; `on_result` runs in the GUI thread unless a newer request came first."""
        gen = self._generation.get(channel, 0) + 1
        self._generation[channel] = gen
        self._callbacks[channel] = (gen, on_result, on_error)
        self._futures = [f for f in self._futures if not f.done()]
        self._futures.append(self._pool.submit(self._work, channel, gen, fn))
        return gen

    def idle(self) -> bool:
        """True when no query is queued or running (its result may still wait in the event queue)."""
        return all(f.done() for f in self._futures)

    def cancel(self, channel: str) -> None:
        """Drop whatever result is pending on `channel`."""
        self._generation[channel] = self._generation.get(channel, 0) + 1

    def index_changed(self) -> None:
        """The index grew (or moved to its finished file): readers catch up before their next query."""
        self._version += 1

    def close(self) -> None:
        """Drop pending results and release the readers' connections (once a running query ended)."""
        for channel in list(self._generation):
            self.cancel(channel)
        self._pool.submit(self._close_readers)
        self._pool.shutdown(wait=False, cancel_futures=False)

    def _close_readers(self) -> None:
        for reader in self._readers:
            close = getattr(reader, "close", None)
            if close is not None:
                close()
        self._readers.clear()

    def _reader(self):
        reader = getattr(self._local, "reader", None)
        if reader is None:
            reader = self._local.reader = self._open_reader()
            self._local.version = self._version
            self._readers.append(reader)
        elif self._local.version != self._version and self._update_reader is not None:
            self._local.version = self._version
            self._update_reader(reader)
        return reader

    def _work(self, channel: str, gen: int, fn: Callable) -> None:
        if gen != self._generation.get(channel):
            return  # superseded before it started
        try:
            result, error = fn(self._reader()), None
        except Exception as exc:  # reported to the caller, never raised in a worker
            result, error = None, f"{type(exc).__name__}: {exc}"
        try:
            self._done.emit(channel, gen, result, error)
        except RuntimeError:
            pass  # the window went away meanwhile

    def _deliver(self, channel: str, gen: int, result: Any, error: str | None) -> None:
        current = self._callbacks.get(channel)
        if current is None or current[0] != gen or gen != self._generation.get(channel):
            return  # stale: a newer request is on its way
        _, on_result, on_error = current
        if error is None:
            on_result(result)
        elif on_error is not None:
            on_error(error)
