"""The import report: every problem found in an input, counted, never fatal.

A reader that meets bad input records it here and goes on with the next good
record; `summary` and the window's status bar show the report.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

#: how many problems are kept with their place; the rest are only counted
MAX_LISTED = 1000


@dataclass(frozen=True)
class Problem:
    """One problem: where (file, 1-based line or 0) and what (a code and a sentence)."""

    file: str
    line: int
    code: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message} [{self.code}]"


@dataclass
class ImportReport:
    """Problems found while reading an input, and notes such as unknown kinds.

    Codes in use: `bad-json`, `bad-record` (a required field missing, of the
    wrong type or range, or nesting too deep), `bad-field` (another field of the
    wrong type or range, left out), `bad-utf8`, `too-long`, `cut-line` (the last
    line of a stream ends without a newline), `seq-hole`, `seq-repeat`,
    `unknown-kind`, `unsafe-member`, `too-large`, `too-many-streams`,
    `bad-member`, `no-events`, `no-manifest`, `bad-manifest`, `aborted` (the
    job ended abruptly), `legacy`.
    """

    problems: list[Problem] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)

    def add(self, file: str, line: int, code: str, message: str) -> None:
        self.counts[code] += 1
        if len(self.problems) < MAX_LISTED:
            self.problems.append(Problem(file, line, code, message))

    def count(self, code: str, n: int = 1) -> None:
        """Count an event that needs no place (unknown kinds are only counted)."""
        self.counts[code] += n

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def to_json(self) -> dict:
        return {
            "counts": dict(self.counts),
            "problems": [p.__dict__ for p in self.problems],
            "listed": len(self.problems),
        }

    @classmethod
    def from_json(cls, data: dict) -> ImportReport:
        report = cls()
        report.counts.update(data.get("counts", {}))
        report.problems = [Problem(**p) for p in data.get("problems", [])]
        return report

    def lines(self) -> list[str]:
        """One line per listed problem, then a line for what was only counted."""
        out = [str(p) for p in self.problems]
        listed = Counter(p.code for p in self.problems)
        rest = {c: n - listed[c] for c, n in self.counts.items() if n > listed[c]}
        if rest:
            out.append("also: " + ", ".join(f"{n} {c}" for c, n in sorted(rest.items())))
        return out
