"""`jemgui export ARCHIVE --format chrome|csv|jsonl -o FILE [--job ID]`: a job for other tools.

The file is written beside its target and renamed when complete, so a failed
export never leaves half a file behind.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from jemgui.cli import UsageError
from jemgui.commands.common import CommandFailed, add_input_arguments, open_for_cli, run_guarded
from jemgui.models.export import EXPORTERS, SUFFIXES

HELP = "write a job as Chrome trace, CSV or JSONL"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_input_arguments(parser)
    parser.add_argument("--format", choices=sorted(EXPORTERS),
                        help="chrome (a trace for Perfetto), csv (the event table) or jsonl (the records); "
                             "default: from the output file's ending")
    parser.add_argument("-o", "--output", required=True, metavar="FILE", help="file to write, - for stdout")


def output_format(args: argparse.Namespace) -> str:
    """The --format, or the one the output file's ending names."""
    if args.format:
        return args.format
    for suffix, fmt in SUFFIXES.items():
        if args.output.lower().endswith(suffix):
            return fmt
    raise UsageError(f"cannot tell the format from {args.output!r}; give --format chrome, csv or jsonl")


def run(args: argparse.Namespace) -> int:
    fmt = output_format(args)
    target = None if args.output == "-" else Path(args.output)
    if target is not None and not target.parent.is_dir():
        raise UsageError(f"cannot write {args.output}: there is no folder {str(target.parent)!r}")

    def body() -> int:
        index = open_for_cli(args)
        try:
            if target is None:
                EXPORTERS[fmt](index, sys.stdout.buffer)
                sys.stdout.buffer.flush()
                return 0
            n = _write(index, fmt, target)
        finally:
            index.close()
        unit = "trace events" if fmt == "chrome" else "rows" if fmt == "csv" else "records"
        print(f"wrote {n} {unit} of {index.count} records to {target}")
        return 0

    return run_guarded("export", body)


def _write(index, fmt: str, target: Path) -> int:
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        with open(tmp, "wb") as out:
            n = EXPORTERS[fmt](index, out)
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise CommandFailed(f"cannot write {target}: {exc.strerror or exc}", code=2) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return n
