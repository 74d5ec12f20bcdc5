"""`jemgui jobs`: list the live jobs a broker announces (spec section 5, `/topic/jem.jobs`).

Monitors announce every 10 s; brokers configured like ours replay the last
15 s of announcements to a new subscriber, so the list is usually complete
at once. `--wait` says how long to listen. Each announcement is checked
against its job's signature (spec section 6a): the SIGNED BY column shows
who signed a job's announcements, or UNVERIFIED; what does not verify (or
is not an announcement of a valid job id) is dropped and counted. Every
value is printed with its control characters escaped.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections import Counter

HELP = "list the live jobs a broker announces"


def add_arguments(parser) -> None:
    from jemgui.live.options import add_connection_arguments, add_verify_arguments

    add_connection_arguments(parser, required=True)
    add_verify_arguments(parser)
    parser.add_argument("--wait", type=float, default=10.5, metavar="S",
                        help="listen for announcements this long (default 10.5: one period)")
    parser.add_argument("--json", action="store_true", help="one JSON announcement per line")


def collect(connection, wait: float, trust=None, require_signed: bool = False,
            dropped: Counter | None = None) -> dict[str, dict]:
    """The newest announcement of each job heard within `wait` seconds, by job id, each with
    its `seal`; what does not verify is counted in `dropped` (by reason)."""
    from jemgui.live.joblist import JobList

    heard = JobList(connection, trust, require_signed)
    deadline = time.monotonic() + wait
    while (left := deadline - time.monotonic()) > 0:
        heard.inbox.wait(left)
        heard.poll()
    heard.close()
    if dropped is not None:
        dropped.update(heard.dropped)
    return heard.jobs


def age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _started(ann: dict) -> float | None:
    started = ann["job"].get("started")
    if isinstance(started, bool) or not isinstance(started, int | float):
        return None
    return float(started) if math.isfinite(started) and 0 <= started < 1e11 else None


def rows(jobs: dict[str, dict], now: float) -> list[list[str]]:
    from jemgui.models.text import printable

    def text(value) -> str:
        return printable(value if isinstance(value, str) else "-" if value is None else
                         json.dumps(value))[:200]

    out = []
    for job_id, ann in sorted(jobs.items(), key=lambda kv: -(_started(kv[1]) or 0)):
        job = ann["job"]
        state = ann.get("state") or ann.get("status") or "?"
        state = text(state)
        if ann.get("status") == "ended" and state not in ("DONE", "FAILED", "KILLED"):
            state = f"{state} (ended)"
        started = _started(ann)
        seal = ann.get("seal")
        signer = seal.signer if seal is not None and seal.verified else "UNVERIFIED"
        out.append([job_id, text(job.get("user")), text(job.get("site")), text(job.get("host")),
                    state, age(now - started) if started is not None else "-", text(signer)])
    return out


def run(args) -> int:
    from jemgui.cli import ComponentError
    from jemgui.live.options import HeldWarnings, connection_from_args, trust_from_args
    from jemgui.models.text import printable

    def warn(text: str) -> None:
        print(f"jemgui jobs: {printable(text)}", file=sys.stderr)

    connection = connection_from_args(args, name="jemgui-jobs")
    held = HeldWarnings(warn)
    trust = trust_from_args(args, held)
    dropped: Counter = Counter()
    with connection:
        if not connection.wait_connected(min(30.0, max(args.wait, 5.0))):
            raise ComponentError(f"cannot reach the broker: {connection.status}")
        held.release()
        jobs = collect(connection, args.wait, trust, args.require_signed, dropped)
    if dropped:
        reason, n = dropped.most_common(1)[0]
        warn(f"{sum(dropped.values())} announcements dropped that did not verify "
             f"(most: {n}x {reason})")
    if args.json:
        for ann in jobs.values():
            seal = ann.pop("seal")
            print(json.dumps({**ann, "verified": seal.verified, "signer": seal.signer}))
        return 0
    table = [["JOB", "USER", "SITE", "HOST", "STATE", "AGE", "SIGNED BY"],
             *rows(jobs, time.time())]
    if len(table) == 1:
        print(f"no live jobs announced on {connection.url} within {args.wait:g} s")
        return 0
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    for r in table:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return 0
