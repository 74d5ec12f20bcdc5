"""What a converter of a foreign input (legacy `.jmd`, Chrome trace JSON) hands the indexer."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Converted:
    """A job read from a non-JSONL input, already as JEM records.

    `job` has the keys of the manifest's job object that the input knows
    (others absent); `streams` maps a pid to its records in `seq` order, each a
    dict with at least `seq`, `ts`, `pid`, `kind` as the spec requires.
    `logs` maps `stdout`/`stderr` to text when the input carried it.
    """

    job: dict = field(default_factory=dict)
    streams: dict[int, list[dict]] = field(default_factory=dict)
    logs: dict[str, str] = field(default_factory=dict)
