"""The locals a frame held when an exception passed it: what a failure shows at every verbosity.

From verbosity 2 up each `exception` record carries all of its frame's locals (spec
section 2). At a failure the frames further out get their exception records just after
the failing one, and at verbosity 2 and 3 no other record of theirs has values, so the
failing frames' locals are read from those records and marked "at the exception".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jemgui.models.records import EXCEPTION

if TYPE_CHECKING:
    from jemgui.models.index import Index

#: how the failure's frames are marked where their locals come from their exception record
AT_EXCEPTION = "exception"
NEXT_OWN_SQL = "SELECT pos, kind FROM records WHERE seg=? AND pos>=? ORDER BY pos LIMIT 1"


def exception_locals(ix: Index, seg_id: int, pos: int) -> tuple[int, dict] | None:
    """(position, locals) of the exception record the frame activation `seg_id` is in or about to
    get at `pos`: its own first record at or after `pos`, when that is an exception record with
    `locals`. None when the frame ran on first (it handled the exception) or none was recorded."""
    db = getattr(ix, "db", None)
    if db is None:
        return None
    row = db.execute(NEXT_OWN_SQL, (seg_id, pos)).fetchone()
    if row is None or row[1] != EXCEPTION:
        return None
    found = ix.record(row[0]).get("locals")
    if not isinstance(found, dict):
        return None
    return row[0], {name: pair for name, pair in sorted(found.items())
                    if isinstance(pair, list) and len(pair) == 2}


def failing_stack(ix: Index, thread, pos: int) -> list[dict]:
    """The stack of `thread` (a replayed ThreadState) at the failure `pos`, outermost first, as
    `Frame.to_json` gives it; each frame the exception passed has its locals from its exception
    record and `locals_at: "exception"`."""
    out = []
    for frame in thread.stack if thread else []:
        entry = frame.to_json()
        found = exception_locals(ix, frame.seg_id, pos)
        if found is not None:
            entry["locals"], entry["locals_at"] = found[1], AT_EXCEPTION
        out.append(entry)
    return out
