"""The job's stdout and stderr: passed on byte for byte, and kept as `log` records.

The bytes reach the monitor's own stdout/stderr as soon as they are read, unchanged.
Records are per line (a partial line goes out after a short quiet spell) so a reader
can show them next to what the job was doing. If the monitor's own output is closed,
the relay stops reading and the monitor closes the pipe, so the job sees a broken pipe
as it would alone.
"""

from __future__ import annotations

import codecs
import os
import select
import threading
from collections.abc import Callable

QUIET = 0.2
MAX_RECORD = 64 * 1024


class OutputRelay(threading.Thread):
    """Copies one pipe of the job to one of the monitor's file descriptors."""

    def __init__(self, source: int, target: int, name: str, on_text: Callable[[str, str], None]):
        super().__init__(name=f"jem-{name}", daemon=True)
        self.source = source
        self.target = target
        self.stream_name = name
        self.on_text = on_text
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.partial = ""
        self.target_broken = False

    def run(self) -> None:
        poller = select.poll()
        poller.register(self.source, select.POLLIN | select.POLLHUP | select.POLLERR)
        try:
            while True:
                if not poller.poll(QUIET * 1000):
                    self._emit_partial()
                    continue
                try:
                    data = os.read(self.source, 65536)
                except InterruptedError:
                    continue
                except OSError:
                    break
                if not data:
                    break
                self._pass_on(data)
                if self.target_broken:
                    break
                self._lines(self.decoder.decode(data))
        finally:
            self._lines(self.decoder.decode(b"", final=True))
            self._emit_partial()

    def _pass_on(self, data: bytes) -> None:
        if self.target_broken:
            return
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self.target, view):]
        except OSError:
            self.target_broken = True

    def _lines(self, text: str) -> None:
        if not text:
            return
        text = self.partial + text
        lines = text.split("\n")
        self.partial = lines.pop()
        for line in lines:
            self._send(line + "\n")
        if len(self.partial) > MAX_RECORD:
            self._emit_partial()

    def _emit_partial(self) -> None:
        if self.partial:
            text, self.partial = self.partial, ""
            self._send(text)

    def _send(self, text: str) -> None:
        for start in range(0, len(text), MAX_RECORD):
            self.on_text(self.stream_name, text[start:start + MAX_RECORD])
