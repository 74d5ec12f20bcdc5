"""`jemgui inspect ARCHIVE (--at N | --record PID:SEQ | --time T | --failure) [--json]`."""

from __future__ import annotations

import argparse
import datetime as dt

from jemgui.cli import UsageError
from jemgui.commands.common import (
    CommandFailed,
    add_input_arguments,
    fmt_time,
    open_for_cli,
    print_json,
    run_guarded,
)
from jemgui.models.at_exception import failing_stack
from jemgui.models.index import Index
from jemgui.models.text import printable

HELP = "print the replayed state at one position"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_input_arguments(parser)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--at", type=int, metavar="N", help="position N of the merged timeline (0-based)")
    where.add_argument("--record", metavar="PID:SEQ", help="the record with this pid and seq")
    where.add_argument("--time", metavar="T", help="the last record at or before T (epoch seconds or ISO-8601)")
    where.add_argument("--failure", action="store_true",
                       help="the job's failure: the exception that escaped, the failed command or the crash")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def parse_record(text: str) -> tuple[int, int]:
    try:
        pid, seq = text.split(":")
        return int(pid), int(seq)
    except ValueError:
        raise UsageError(f"--record wants PID:SEQ, not {text!r}") from None


def parse_time(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--time wants epoch seconds or ISO-8601, not {text!r}") from None
    return (t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)).timestamp()


def position(ix: Index, args: argparse.Namespace) -> int:
    """The position the arguments name, or a one-line failure."""
    if args.at is not None:
        if not 0 <= args.at < ix.count:
            raise UsageError(f"--at {args.at} is outside 0..{ix.count - 1}")
        return args.at
    if args.record:
        pid, seq = parse_record(args.record)
        pos = ix.pos_of(pid, seq)
        if pos is None:
            raise UsageError(f"no record {pid}:{seq} in this job")
        return pos
    if args.time:
        return ix.pos_at_time(parse_time(args.time))
    pos = ix.failure_pos()
    if pos is None:
        raise CommandFailed("the job has no recorded failure (see `jemgui summary`)", code=1)
    return pos


def say(line: str) -> None:
    """Print a line of the state: what the archive wrote is shown with its control characters escaped."""
    print(printable(line))


def run(args: argparse.Namespace) -> int:
    if args.record:
        parse_record(args.record)
    if args.time:
        parse_time(args.time)

    def body() -> int:
        ix = open_for_cli(args)
        if ix.count == 0:
            raise CommandFailed(f"{args.archive}: the job has no records")
        pos = position(ix, args)
        state = ix.state_at(pos)
        # at the failure, the frames the exception passed show their locals at the exception
        failing = failing_stack(ix, state.thread(state.current_thread), pos) if args.failure else None
        if args.json:
            out = state.to_json()
            if failing is not None:
                for t, ts in zip(out["threads"], state.threads, strict=True):
                    if ts.key == state.current_thread:
                        t["stack"] = failing
            print_json(out)
            return 0
        rec = state.record
        say(f"Position {state.pos}: {rec.get('kind')} at {fmt_time(rec.get('ts'))} (record {rec.get('pid')}:"
            f"{rec.get('seq')})  job state {state.job_state or '?'}")
        for t in state.threads:
            mark = "*" if t.key == state.current_thread else " "
            say(f"{mark} thread {t.pid}/{t.tid}")
            frames = failing if failing is not None and t.key == state.current_thread else [
                f.to_json() for f in t.stack]
            for depth, f in enumerate(frames):
                at = "  (locals at the exception)" if f.get("locals_at") else ""
                say(f"    {'  ' * depth}{f['func']} at {f['file']}:{f['line']}{at}")
                for name, (typ, val) in f["locals"].items():
                    say(f"    {'  ' * depth}  {name}: {typ} = {val}")
            if t.returned:
                say(f"    returned from {t.returned[0]}: {t.returned[1][1]}")
        if state.metrics:
            say("Metrics  " + "  ".join(f"{k}={v:g}" for k, (_, v) in sorted(state.metrics.items())))
        return 0

    return run_guarded("inspect", body)
