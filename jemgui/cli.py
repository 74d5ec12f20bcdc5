"""The `jemgui` command line: one sub-command per module in `jemgui.commands`.

Each command module defines `HELP` (one line), `add_arguments(parser)` and
`run(args) -> int`. Modules are imported only when their command runs, so
`jemgui run` on a worker node never imports Qt.

Exit codes: 0 ok, 2 bad usage, 3 unreadable input; each error is one line on
stderr.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

from jemgui import __version__

#: command name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "open": ("jemgui.commands.open", "open an archive in the inspector window (default)"),
    "demo": ("jemgui.commands.demo", "record the demo job and open it at its failure"),
    "summary": ("jemgui.commands.summary", "print what a job did and where it failed"),
    "inspect": ("jemgui.commands.inspect", "print the replayed state at one position"),
    "export": ("jemgui.commands.export", "write a job as Chrome trace, CSV or JSONL"),
    "run": ("jemgui.commands.run", "run a job under the monitor and record it"),
    "jobs": ("jemgui.commands.jobs", "list the live jobs a broker announces"),
    "follow": ("jemgui.commands.follow", "capture a live job into an archive"),
    "connect": ("jemgui.commands.connect", "open the inspector on a live job"),
    "send": ("jemgui.commands.send", "send a signed command to a running job"),
}

EXIT_OK, EXIT_USAGE, EXIT_UNREADABLE = 0, 2, 3


class UsageError(Exception):
    """Bad command-line usage: exit code 2."""


def _available() -> dict[str, tuple[str, str]]:
    """Commands whose module exists in this build."""
    found = {}
    for name, (module, help_text) in COMMANDS.items():
        if importlib.util.find_spec(module) is not None:
            found[name] = (module, help_text)
    return found


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = _available()
    # `jemgui ARCHIVE [...]` is `jemgui open ARCHIVE [...]`.
    if argv and argv[0] not in commands and not argv[0].startswith("-") and "open" in commands:
        argv.insert(0, "open")
    if argv and argv[0] in commands:
        module = importlib.import_module(commands[argv[0]][0])
        parser = argparse.ArgumentParser(prog=f"jemgui {argv[0]}", description=commands[argv[0]][1])
        module.add_arguments(parser)
        args = parser.parse_args(argv[1:])
        try:
            return int(module.run(args) or 0)
        except UsageError as exc:
            print(f"jemgui {argv[0]}: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except KeyboardInterrupt:
            return 130
    parser = argparse.ArgumentParser(
        prog="jemgui",
        description="JEM Inspector: see what a batch or grid job did, or is doing now.",
        epilog="commands:\n" + "\n".join(f"  {n:<9} {h}" for n, (_, h) in commands.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"jemgui {__version__}")
    parser.add_argument("command", nargs="?", help="one of the commands below")
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_OK
    print(f"jemgui: unknown command {args.command!r}", file=sys.stderr)
    return EXIT_USAGE
