"""`jemgui [open] ARCHIVE [--job ID] [--failure | --record PID:SEQ] [--screenshot FILE.png [--wait-indexed]]`."""

from __future__ import annotations

import argparse
from pathlib import Path

from jemgui.commands.common import CommandFailed, run_guarded
from jemgui.commands.inspect import parse_record

HELP = "open an archive in the inspector window (default)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("archive", nargs="?", metavar="ARCHIVE",
                        help="archive folder, .tar/.tgz/.zip, .jsonl(.gz), .jmd or Chrome trace .json")
    parser.add_argument("--job", help="which job, when the input holds several")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--failure", action="store_true", help="open at the exception that ended the job")
    where.add_argument("--record", metavar="PID:SEQ", help="open at the record with this pid and seq")
    parser.add_argument("--screenshot", metavar="FILE.png",
                        help="render the window offscreen as soon as it is usable (a big archive: its first "
                             "records, while indexing goes on), save it, and exit")
    parser.add_argument("--wait-indexed", action="store_true",
                        help="with --screenshot: take the picture once indexing ended")


def placement(args: argparse.Namespace) -> tuple[str | None, tuple[int, int] | None]:
    """Where the cursor starts: (`"failure"` or None, a (pid, seq) record or None)."""
    record = parse_record(args.record) if args.record else None
    return ("failure" if args.failure else None), record


def run(args: argparse.Namespace) -> int:
    where, record = placement(args)
    if args.archive is not None and not Path(args.archive).exists():
        return run_guarded("open", lambda: _fail(f"{args.archive}: no such file or folder"))
    if args.wait_indexed and not args.screenshot:
        from jemgui.cli import UsageError

        raise UsageError("--wait-indexed goes with --screenshot")
    if args.screenshot:
        if args.archive is None:
            from jemgui.cli import UsageError

            raise UsageError("--screenshot needs an ARCHIVE")
        return run_guarded("open", lambda: _screenshot(args, where, record))
    from jemgui.app import run_window

    return run_window(args.archive, args.job, where, record)


def _fail(message: str) -> int:
    raise CommandFailed(message)


def _screenshot(args: argparse.Namespace, where, record) -> int:
    from jemgui.app import screenshot
    from jemgui.cli import EXIT_COMPONENT
    from jemgui.models.cache import CacheUnusable
    from jemgui.models.inputs import UnreadableInput

    try:
        out = screenshot(args.archive, args.screenshot, args.job, where, record,
                         wait_indexed=args.wait_indexed or where == "failure" or record is not None)
    except UnreadableInput as exc:
        raise CommandFailed(str(exc)) from exc
    except CacheUnusable as exc:
        raise CommandFailed(f"{exc.strerror}: {exc.filename}", code=EXIT_COMPONENT) from exc
    except OSError as exc:
        raise CommandFailed(str(exc)) from exc
    print(out)
    return 0
