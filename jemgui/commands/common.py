"""What the headless commands share: opening an input with a one-line error, and printing."""

from __future__ import annotations

import argparse
import datetime as dt
import sqlite3
import sys

import orjson

from jemgui.cli import EXIT_COMPONENT
from jemgui.models.cache import CacheUnusable
from jemgui.models.index import Index, open_index
from jemgui.models.inputs import UnreadableInput
from jemgui.models.text import printable

EXIT_UNREADABLE = 3


class CommandFailed(Exception):
    """A headless command cannot go on: `code` is its exit code, the message one line."""

    def __init__(self, message: str, code: int = EXIT_UNREADABLE):
        super().__init__(message)
        self.code = code


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("archive", metavar="ARCHIVE", help="archive folder, .tar/.tgz/.zip, .jsonl(.gz), .jmd or Chrome trace .json")
    parser.add_argument("--job", help="which job, when the input holds several")


def open_for_cli(args: argparse.Namespace) -> Index:
    """Open (indexing if needed) the input named on the command line, or fail in one line."""
    progress = None
    if sys.stderr.isatty():
        import time

        from jemgui.models.indexer import progress_words

        t0 = time.monotonic()

        def progress(done, total, records):
            words = progress_words(records, done, total, time.monotonic() - t0)
            print(f"\r\033[Kindexing: {words} ({100 * done / max(total, 1):.0f}%)", end="", file=sys.stderr)
    try:
        ix = open_index(args.archive, job=args.job, progress=progress)
    except UnreadableInput as exc:
        raise CommandFailed(str(exc)) from exc
    except CacheUnusable as exc:
        raise CommandFailed(f"{exc.strerror}: {exc.filename}", code=EXIT_COMPONENT) from exc
    except (OSError, sqlite3.Error) as exc:
        raise CommandFailed(f"{args.archive}: cannot read ({exc})") from exc
    finally:
        if progress is not None:
            print("\r\033[K", end="", file=sys.stderr)
    return ix


def run_guarded(name: str, body) -> int:
    """Run a command body, turning CommandFailed into its one-line message and exit code."""
    try:
        return body()
    except CommandFailed as exc:
        print(f"jemgui {name}: {printable(' '.join(str(exc).split()))}", file=sys.stderr)  # always one line
        return exc.code


def print_json(data) -> None:
    sys.stdout.buffer.write(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS) + b"\n")
    sys.stdout.flush()


def fmt_time(ts: float | None) -> str:
    if ts is None:
        return "?"
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" + f".{int((seconds - s) * 1000):03d}"


def fmt_bytes(n: float | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n}"
