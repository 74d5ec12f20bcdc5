"""The job's stdout and stderr: they reach the same place as without the monitor, in the
same order, and the monitor keeps a copy as `log` records when it can do so unseen.

What the monitor's own fd 1 and fd 2 are decides how (`JobOutput`):

- a terminal: the job gets it itself (isatty, colours, prompts, job control as alone);
  the monitor cannot read what is written there, so it records no `log` for it and a
  `marker` says so;
- a regular file (`> job.log 2>&1`, `> out 2> err`): the job gets the file itself and
  the monitor reads it as it grows, from where it stood when the job began, so the
  bytes and their order are the job's own;
- anything else (a pipe, a socket, /dev/null): the job writes into a pipe that the
  monitor empties into the real one at once; when stdout and stderr are the same pipe,
  one pipe carries both, so their order is kept.

When stdout and stderr are one file or one pipe, nothing tells whose a byte was: their
lines are recorded as `stdout`, in the order written, and a `marker` says so.
Records are per line (a partial line goes out after a short quiet spell). If the
monitor's own output is closed, the relay stops and closes the pipe, so the job sees a
broken pipe as it would alone.
"""

from __future__ import annotations

import codecs
import fcntl
import os
import select
import stat
import threading
import time
from collections.abc import Callable

QUIET = 0.2  # s without output before a partial line is recorded
TAIL_EVERY = 0.05  # s between reads of a growing output file
MAX_RECORD = 64 * 1024
CHUNK = 65536


class Lines:
    """Turns the bytes of one output into `log` records of whole lines."""

    def __init__(self, name: str, on_text: Callable[[str, str], None]):
        self.name = name
        self.on_text = on_text
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.partial = ""

    def feed(self, data: bytes, final: bool = False) -> None:
        text = self.decoder.decode(data, final=final)
        if text:
            lines = (self.partial + text).split("\n")
            self.partial = lines.pop()
            for line in lines:
                self._send(line + "\n")
            if len(self.partial) > MAX_RECORD:
                self.flush()
        if final:
            self.flush()

    def flush(self) -> None:
        """Record the partial line (the output went quiet, or ended)."""
        if self.partial:
            text, self.partial = self.partial, ""
            self._send(text)

    def _send(self, text: str) -> None:
        for start in range(0, len(text), MAX_RECORD):
            self.on_text(self.name, text[start:start + MAX_RECORD])


class Relay(threading.Thread):
    """Copies one pipe of the job to one of the monitor's descriptors as soon as it reads."""

    def __init__(self, source: int, target: int, lines: Lines):
        super().__init__(name=f"jem-{lines.name}", daemon=True)
        self.source = source
        self.target = target
        self.lines = lines
        self.target_broken = False

    def run(self) -> None:
        poller = select.poll()
        poller.register(self.source, select.POLLIN | select.POLLHUP | select.POLLERR)
        try:
            while True:
                if not poller.poll(QUIET * 1000):
                    self.lines.flush()
                    continue
                try:
                    data = os.read(self.source, CHUNK)
                except InterruptedError:
                    continue
                except OSError:
                    break
                if not data:
                    break
                self._pass_on(data)
                if self.target_broken:
                    break
                self.lines.feed(data)
        finally:
            self.lines.feed(b"", final=True)
            if self.target_broken:  # the job now gets a broken pipe, as it would alone
                self._close()

    def _close(self) -> None:
        if self.source >= 0:
            os.close(self.source)
            self.source = -1

    def _pass_on(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self.target, view):]
        except OSError:
            self.target_broken = True

    def finish(self, timeout: float) -> None:
        """Wait for the job's side to close; the pipe is closed once it did."""
        self.join(timeout)
        if not self.is_alive():
            self._close()


class Tail(threading.Thread):
    """Reads an output file the job writes itself, from `offset` on, as it grows."""

    def __init__(self, reader: int, offset: int, lines: Lines):
        super().__init__(name=f"jem-tail-{lines.name}", daemon=True)
        self.reader = reader
        self.offset = offset
        self.lines = lines
        self.stopping = threading.Event()

    def run(self) -> None:
        quiet = 0.0
        try:
            while True:
                stop = self.stopping.is_set()
                if self._read():
                    quiet = 0.0
                elif stop:
                    break
                else:
                    quiet += TAIL_EVERY
                    if quiet >= QUIET:
                        self.lines.flush()
                    self.stopping.wait(TAIL_EVERY)
        finally:
            self.lines.feed(b"", final=True)
            os.close(self.reader)

    def _read(self) -> bool:
        got = False
        while True:
            try:
                data = os.pread(self.reader, CHUNK, self.offset)
            except OSError:
                return got
            if not data:
                try:
                    if os.fstat(self.reader).st_size < self.offset:  # the job truncated it: read anew
                        self.offset = 0
                        continue
                except OSError:
                    pass
                return got
            got = True
            self.offset += len(data)
            self.lines.feed(data)

    def finish(self, timeout: float) -> None:
        """Read what is left (the job has ended) and stop."""
        self.stopping.set()
        self.join(timeout)


def _identity(fd: int) -> os.stat_result | None:
    try:
        return os.fstat(fd)
    except OSError:
        return None


def _same(a: os.stat_result | None, b: os.stat_result | None) -> bool:
    return a is not None and b is not None and (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _where(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return f"fd {fd}"


class JobOutput:
    """How the job's stdout and stderr are wired (`popen_args`), and watched (`start`, `finish`)."""

    def __init__(self, on_text: Callable[[str, str], None], note: Callable[[str], None]):
        self.on_text = on_text
        self.note = note
        self.child_fds: dict[int, int | None] = {1: None, 2: None}  # None: the job inherits it
        self.watchers: list[Relay | Tail] = []
        self._to_close: list[int] = []
        self._plan()

    def _plan(self) -> None:
        ids = {fd: _identity(fd) for fd in (1, 2)}
        shared = _same(ids[1], ids[2])
        if shared and ids[1] is not None and not os.isatty(1):
            self.note(f"stdout and stderr go to one place ({_where(1)}): "
                      "their lines are recorded as stdout, in the order the job wrote them")
        for fd, name in ((1, "stdout"), (2, "stderr")):
            if fd == 2 and shared:
                self.child_fds[2] = self.child_fds[1]
                break
            info = ids[fd]
            if info is None:
                continue  # closed: the job gets it closed, as alone
            if os.isatty(fd):
                self.note(f"{'stdout and stderr are' if shared else name + ' is'} the terminal {_where(fd)}: "
                          "the job writes there itself, and that output is not recorded")
            elif stat.S_ISREG(info.st_mode):
                self._tail(fd, name)
            else:
                self._relay(fd, name)

    def _tail(self, fd: int, name: str) -> None:
        try:
            appending = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_APPEND
            offset = os.fstat(fd).st_size if appending else os.lseek(fd, 0, os.SEEK_CUR)
            reader = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            self.note(f"{name} goes to {_where(fd)}, which the monitor cannot read "
                      f"({exc.strerror}): that output is not recorded")
            return
        self.watchers.append(Tail(reader, offset, Lines(name, self.on_text)))

    def _relay(self, fd: int, name: str) -> None:
        read_end, write_end = os.pipe()  # neither is inherited: Popen puts write_end on fd 1/2
        self.child_fds[fd] = write_end
        self._to_close.append(write_end)
        self.watchers.append(Relay(read_end, fd, Lines(name, self.on_text)))

    def popen_args(self) -> dict:
        return {"stdout": self.child_fds[1], "stderr": self.child_fds[2]}

    def start(self) -> None:
        """The job has started: drop the monitor's copies of its pipe ends, begin watching."""
        self.close_child_ends()
        for watcher in self.watchers:
            watcher.start()

    def close_child_ends(self) -> None:
        for fd in self._to_close:
            os.close(fd)
        self._to_close = []

    def finish(self, timeout: float) -> None:
        """The job has ended: record the rest of its output (waiting at most `timeout` s for
        pipes that a process it left behind still holds)."""
        deadline = time.monotonic() + timeout
        for watcher in self.watchers:
            watcher.finish(max(0.0, deadline - time.monotonic()))
