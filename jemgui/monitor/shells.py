"""The job's bash scripts: their xtrace files turned into records of each shell's own stream.

`inject/jem_bash_env.sh` (the job's BASH_ENV) makes every traced bash write its
xtrace to `<run>/bash/<pid>.trace`, one entry per command:

    \\x1e<time>\\x1f<file>\\x1f<line>\\x1f<function>\\x1f<#FUNCNAME>\\x1f<subshell>\\x1f<BASHPID>\\x1f<PIPESTATUS>\\x1f<text>\\n

plus a header entry (`H`: pid, ppid, cwd, time, $0, arguments) when the shell starts
and an exit entry (`X`: status, time) when it ends. The monitor polls those files
and writes `process`, `source` and `command` records to the shell's stream (a Python
that the script exec's goes on in the same stream: same pid). The pid and statuses
of each entry go to `exits.ParentView`, which learns from them how the shell's
children ended.
"""

from __future__ import annotations

import codecs
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from jemgui.monitor.exits import ParentView
from jemgui.monitor.inject._jem_values import redact_argv, redact_text
from jemgui.monitor.streams import JsonlStream, Streams, files_by_pid

RS, US = "\x1e", "\x1f"
SOURCE_LIMIT = 4 << 20
INTERNAL = "__jem_exit"
ENV_FILE = "jem_bash_env.sh"


class ShellTrace:
    """One bash process: the unread rest of its trace file and the stream it feeds."""

    def __init__(self, path: Path, streams: Streams, redact: bool,
                 on_command: Callable[[int, str, int, str], None] | None = None,
                 parents: ParentView | None = None):
        self.path = path
        self.on_command = on_command
        self.parents = parents
        self.pid = int(path.stem)
        self.streams = streams
        self.redact = redact
        self.offset = 0
        self.pending = ""
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.cwd = ""
        self.sent: set[str] = set()
        self.closed = False

    def poll(self, verbosity: int, traced: Callable[[str], bool], final: bool = False) -> int:
        """Turn what the shell wrote since the last poll into records; returns how many."""
        if self.closed:
            return 0
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return 0
        self.offset += len(data)
        text = self.pending + self.decoder.decode(data, final=final)
        chunks = text.split(RS)
        last = chunks.pop()
        if final or last.endswith("\n"):
            chunks.append(last)
            last = ""
        self.pending = last
        count = 0
        for chunk in chunks:
            if chunk:
                count += self._entry(chunk, verbosity, traced)
        return count

    def _open(self) -> JsonlStream:
        return self.streams.writer(self.pid)

    def _entry(self, chunk: str, verbosity: int, traced: Callable[[str], bool]) -> int:
        if chunk.endswith("\n"):
            chunk = chunk[:-1]
        if chunk.startswith("H" + US):
            return self._header(chunk.split(US))
        if chunk.startswith("X" + US):
            parts = chunk.split(US)
            try:
                code = int(parts[1])
            except (IndexError, ValueError):
                return 0
            self._open().record("process", {"phase": "exit", "exit_code": code}, _stamp(parts, 2))
            if self.parents is not None:
                self.parents.entry(self.pid, _stamp(parts, 2), self.pid, [code])
            return 1
        fields = chunk.split(US, 8)
        if len(fields) < 9:
            return 0
        stamp, file, line, func, nfuncs, subshell, printer, statuses, command = fields
        if self.parents is not None:
            self.parents.entry(self.pid, _stamp(fields, 0), _int(printer), _ints(statuses))
        if verbosity < 1:
            return 0
        if func == INTERNAL or command.startswith(INTERNAL) or file.endswith(ENV_FILE):
            return 0
        if file and not traced(file):
            return 0
        try:
            depth = max(0, int(nfuncs or 0) - 1) + int(subshell or 0)
            lineno = int(line)
        except ValueError:
            return 0
        stream = self._open()
        when = _stamp(fields, 0)
        count = 0
        if file and file not in self.sent:
            self.sent.add(file)
            count += self._source(stream, file, when)
        if self.on_command is not None:
            self.on_command(self.pid, file, lineno, command)
        stream.record("command", {
            "file": file, "line": lineno, "func": func or "main", "depth": depth,
            "text": redact_text(command) if self.redact else command,
        }, when)
        return count + 1

    def _header(self, parts: list[str]) -> int:
        if len(parts) < 6:
            return 0
        _, pid, ppid, cwd, stamp, *argv = parts
        self.cwd = cwd
        if argv and "bash" not in os.path.basename(argv[0]):
            argv.insert(0, "bash")
        try:
            with open(f"/proc/{self.pid}/cmdline", "rb") as f:
                real = [a.decode("utf-8", "surrogateescape") for a in f.read().split(b"\0")[:-1]]
            if real and "bash" in os.path.basename(real[0]):
                argv = real
        except OSError:
            pass
        if self.redact:
            argv = redact_argv(argv)
        fields = {"phase": "start", "argv": argv, "ppid": _int(ppid), "cwd": cwd, "lang": "shell"}
        self._open().record("process", fields, _stamp(parts, 4))
        if self.parents is not None:
            self.parents.started(self.pid, _int(ppid), _stamp(parts, 4))
        return 1

    def _source(self, stream: JsonlStream, file: str, when: float | None) -> int:
        path = file if os.path.isabs(file) else os.path.join(self.cwd, file)
        try:
            with open(path, "rb") as f:
                data = f.read(SOURCE_LIMIT)
        except OSError:
            return 0
        text = data.decode("utf-8", "replace")
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        stream.record("source", {"path": file, "sha256": digest, "lang": "shell", "text": text}, when)
        return 1

    def close(self) -> None:
        """No more records from this trace file."""
        self.closed = True


def _stamp(parts: list[str], index: int) -> float | None:
    try:
        return float(parts[index])
    except (IndexError, ValueError):
        return None


def _ints(text: str) -> list[int] | None:
    try:
        return [int(word) for word in text.split()] or None
    except ValueError:
        return None


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


class Shells:
    """All traced shells of the job, polled together."""

    def __init__(self, run_dir: Path, streams: Streams, redact: bool,
                 on_command: Callable[[int, str, int, str], None] | None = None,
                 parents: ParentView | None = None):
        self.folder = run_dir / "bash"
        self.streams = streams
        self.redact = redact
        self.on_command = on_command
        self.parents = parents
        self.traces: dict[int, ShellTrace] = {}

    def poll(self, verbosity: int, traced: Callable[[str], bool], final: bool = False) -> None:
        for pid, path in files_by_pid(self.folder, ".trace"):
            trace = self.traces.get(pid)
            if trace is None:
                trace = self.traces[pid] = ShellTrace(path, self.streams, self.redact, self.on_command, self.parents)
            if not trace.closed:
                trace.poll(verbosity, traced, final=final)

    def close(self) -> None:
        for trace in self.traces.values():
            if not trace.closed:
                trace.close()
