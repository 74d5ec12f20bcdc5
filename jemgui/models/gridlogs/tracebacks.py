"""Find Python tracebacks in any log, line by line, with their frames and chains.

A traceback is the block Python prints: `Traceback (most recent call last):`
(athena's `Shortened traceback (most recent user call last):` too), then
`  File "<path>", line N, in <func>` with the code line under it (3.11+ adds
`~~~^^^` marker lines), ending with `Type: message`. Chained exceptions are
printed cause first, joined by "The above exception was the direct cause of the
following exception:" or "During handling of the above exception, another
exception occurred:". A bare `  File ...` stack without the header (the pilot's
`caught signal: SIGTERM in FRAME=` dump) is not an exception and is ignored.
A traceback whose every line went through a logger (runcontainer logs each line
of the user's output) carries the logger's prefix on each line: the prefix of
the header line, with any digit standing for any digit (the time changes), is
taken off the lines after it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

HEADERS = ("Traceback (most recent call last):", "Shortened traceback (most recent user call last):")
CAUSE = "The above exception was the direct cause of the following exception:"
CONTEXT = "During handling of the above exception, another exception occurred:"
_FRAME = re.compile(r'^\s+File "(?P<file>[^"]*)", line (?P<line>\d+)(?:, in (?P<func>.+?))?\s*$')
_MARKER = re.compile(r"^\s*[~^\-]+\s*$")
_EXC = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(?::\s?(?P<message>.*))?$")
#: frames kept of one traceback (a deep recursion prints thousands)
MAX_FRAMES = 200


@dataclass
class Frame:
    file: str
    line: int
    func: str
    code: str | None = None


@dataclass
class Exc:
    """One exception of a chain; `relation` says how it follows the previous one."""

    type: str
    message: str
    frames: list[Frame]
    header_line: int
    end_line: int
    relation: str | None = None  # "cause", "context" or None for the first


@dataclass
class Chain:
    """A printed exception and the ones chained before it (cause first, as printed)."""

    excs: list[Exc]
    #: the level of the log message the traceback belongs to (the line before it, or the header's own
    #: when a logger wrote the header after its prefix and the frames bare), or None
    logged_at: str | None = None
    #: the header line's text before the header, as a pattern (digits may change), or None
    prefix: re.Pattern | None = None

    @property
    def start(self) -> int:
        return self.excs[0].header_line

    @property
    def end(self) -> int:
        return self.excs[-1].end_line

    @property
    def last(self) -> Exc:
        return self.excs[-1]


@dataclass
class Scanner:
    """Feed lines (number, text without newline) in order; collect finished chains."""

    chains: list[Chain] = field(default_factory=list)
    _state: str = "idle"
    _chain: Chain | None = None
    _exc: Exc | None = None
    _relation: str | None = None
    _code_wanted: bool = False
    _prev_level: str | None = None

    @property
    def inside(self) -> bool:
        """Whether the last line fed started or continued a traceback."""
        return self._state != "idle"

    def feed(self, n: int, text: str, level: str | None = None) -> None:
        state = self._state
        if state == "tb":
            self._in_traceback(n, text)
            return
        if state in ("after", "expect"):
            stripped = text.strip()
            if not stripped:
                return
            if state == "after" and stripped in (CAUSE, CONTEXT):
                self._relation = "cause" if stripped == CAUSE else "context"
                self._state = "expect"
                return
            if state == "expect" and _header(text) is not None:
                self._start(n, text)
                return
            self._close()
        self._idle(n, text, level)

    def _idle(self, n: int, text: str, level: str | None) -> None:
        at = _header(text)
        if at is None:
            self._prev_level = level if text.strip() else self._prev_level
            return
        prefix = re.compile(re.sub(r"\d", r"\\d", re.escape(text[:at]))) if text[:at].strip() else None
        # a logger's message that ends in the header (its level), else the log line just before it
        self._chain = Chain([], logged_at=level if prefix is not None else self._prev_level, prefix=prefix)
        self._relation = None
        self._start(n, text)

    def _start(self, n: int, text: str) -> None:
        assert self._chain is not None
        self._exc = Exc("", "", [], n, n, self._relation)
        self._state, self._code_wanted = "tb", False

    def _in_traceback(self, n: int, text: str) -> None:
        exc = self._exc
        assert exc is not None and self._chain is not None
        prefix = self._chain.prefix
        if prefix is not None and (m := prefix.match(text)):
            text = text[m.end():]
            self._chain.logged_at = None  # relayed line by line (the program's stderr), not one logged message
        exc.end_line = n
        m = _FRAME.match(text)
        if m:
            if len(exc.frames) < MAX_FRAMES:
                exc.frames.append(Frame(m["file"], int(m["line"]), m["func"] or "<module>"))
            self._code_wanted = True
            return
        if not text.strip() or _MARKER.match(text):
            return
        if text[:1].isspace():  # the code line, or "[Previous line repeated N more times]"
            if self._code_wanted and exc.frames and exc.frames[-1].code is None:
                exc.frames[-1].code = text.strip()
            self._code_wanted = False
            return
        m = _EXC.match(text.rstrip())
        if m:
            exc.type, exc.message = m["type"], (m["message"] or "").strip()
        else:  # not an exception line: the traceback was cut here
            exc.type, exc.message, exc.end_line = "", "the traceback ends before its exception line", n - 1
        self._chain.excs.append(exc)
        self._exc = None
        self._state = "after"

    def _close(self) -> None:
        chain = self._chain
        if self._exc is not None and chain is not None:  # cut inside a traceback
            exc = self._exc
            exc.type, exc.message = "", "the traceback ends before its exception line"
            chain.excs.append(exc)
        if chain is not None and chain.excs:
            self.chains.append(chain)
        self._chain, self._exc, self._state = None, None, "idle"
        self._prev_level = None

    def finish(self) -> list[Chain]:
        """Close what is open at the end of the file; the chains found, in order."""
        self._close()
        return self.chains


def _header(text: str) -> int | None:
    """Where a traceback header starts in `text` (after a log prefix), or None."""
    for h in HEADERS:
        at = text.find(h)
        if at >= 0 and text.rstrip().endswith(h):
            return at
    return None
