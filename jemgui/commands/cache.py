"""`jemgui cache [list | clear [--older-than AGE]]`: what the index cache holds, and emptying it.

Indexes (and `jemgui triage`'s facts of each input) are rebuilt from their
archive when needed, so clearing loses nothing but time. The cache is capped at
JEMGUI_CACHE_LIMIT (default 4 GiB): the least recently opened indexes go first,
triage's small facts table last.
"""

from __future__ import annotations

import argparse
import re
import time

from jemgui.cli import UsageError
from jemgui.commands.common import fmt_bytes, print_json
from jemgui.models import cache
from jemgui.models.triage import facts

HELP = "list or clear the index cache"
_AGE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="{list,clear}")
    listing = actions.add_parser("list", help="the indexes, least recently used first (the default)")
    listing.add_argument("--json", action="store_true", help="print JSON for scripts")
    clearing = actions.add_parser("clear", help="remove every index, or those not opened for a while")
    clearing.add_argument("--older-than", metavar="AGE", type=parse_age,
                          help="only indexes and triage facts last used more than AGE ago: 30d, 12h, 2w, 90m, 45s")


def parse_age(text: str) -> float:
    """Seconds of an age such as `30d` or `12h`."""
    m = _AGE.fullmatch(text.strip().lower())
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r} is not an age (e.g. 30d, 12h, 2w)")
    return float(m[1]) * _SECONDS[m[2]]


def run(args: argparse.Namespace) -> int:
    try:
        limit = cache.size_limit()
    except cache.CacheLimitError as exc:
        raise UsageError(str(exc)) from None
    if args.action == "clear":
        kept, size = facts.table_entries()[0], facts.table_size()
        removed = cache.clear(args.older_than)
        gone = kept - facts.table_entries()[0]
        print(f"removed {len(removed)} indexes ({fmt_bytes(sum(c.size for c in removed))}) and the triage facts "
              f"of {gone} inputs ({fmt_bytes(max(0, size - facts.table_size()))})")
        return 0
    indexes = cache.cached_indexes(details=True)
    inputs, used = facts.table_entries()
    triage_size = facts.table_size()
    total = sum(c.size for c in indexes) + triage_size
    if getattr(args, "json", False):
        print_json({"folder": str(cache.index_folder()), "limit": limit, "total": total,
                    "indexes": [{"path": str(c.path), "size": c.size, "job": c.job, "used": c.used,
                                 "inputs": c.inputs} for c in indexes],
                    "triage": {"path": str(facts.facts_file()), "size": triage_size, "inputs": inputs,
                               "used": used}})
        return 0
    rows = [["LAST USED", "SIZE", "JOB", "INPUT"]]
    for c in indexes:
        rows.append([time.strftime("%Y-%m-%d %H:%M", time.localtime(c.used)), fmt_bytes(c.size),
                     c.job or "-", "; ".join(c.inputs) or "(input not known)"])
    if inputs:
        rows.append([time.strftime("%Y-%m-%d %H:%M", time.localtime(used)), fmt_bytes(triage_size), "-",
                     f"(jemgui triage's facts of {inputs} inputs: {facts.facts_file().name})"])
    if len(rows) > 1:
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        for r in rows:
            print("  ".join(v.ljust(w) for v, w in zip(r[:3], widths, strict=True)) + "  " + r[3])
    facts_note = f" and triage facts of {inputs} inputs" if inputs else ""
    print(f"{len(indexes)} indexes{facts_note}, {fmt_bytes(total)} of {fmt_bytes(limit)} "
          f"({cache.LIMIT_ENV}) in {cache.index_folder()}")
    return 0
