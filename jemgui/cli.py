"""The `jemgui` command line: one sub-command per module in `jemgui.commands`.

Each command module defines `HELP` (one line), `add_arguments(parser)` and
`run(args) -> int`. Modules are imported only when their command runs, so
`jemgui run` on a worker node never imports Qt.

Exit codes: 0 ok, 1 the command ran and its answer is no (a capture left
incomplete, a command refused), 2 bad usage, 3 unreadable input, 4 a part the
command needs is missing or failed (no broker, no display, a file of the
installation); `run` exits as its job did. Each error is one line on stderr.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import importlib.util
import sys
from pathlib import Path

from jemgui import __version__

#: command name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "open": ("jemgui.commands.open", "open an archive in the inspector window (default)"),
    "demo": ("jemgui.commands.demo", "record the demo job and open it at its failure"),
    "summary": ("jemgui.commands.summary", "print what a job did and where it failed"),
    "triage": ("jemgui.commands.triage", "group many jobs' failures by site and task"),
    "inspect": ("jemgui.commands.inspect", "print the replayed state at one position"),
    "export": ("jemgui.commands.export", "write a job as Chrome trace, CSV or JSONL"),
    "run": ("jemgui.commands.run", "run a job under the monitor and record it"),
    "jobs": ("jemgui.commands.jobs", "list the live jobs a broker announces"),
    "follow": ("jemgui.commands.follow", "capture a live job into an archive"),
    "connect": ("jemgui.commands.connect", "open the inspector on a live job"),
    "send": ("jemgui.commands.send", "send a signed command to a running job"),
    "cache": ("jemgui.commands.cache", "list or clear the index cache"),
}

EXIT_OK, EXIT_NO, EXIT_USAGE, EXIT_UNREADABLE = 0, 1, 2, 3
#: could not reach the broker, a real component failed, a part of the installation is missing
EXIT_COMPONENT = 4


class UsageError(Exception):
    """Bad command-line usage: exit code 2."""


class ComponentError(Exception):
    """A part the command needs is missing or failed (broker, display, a shipped file): exit code 4."""


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line pointing to --help, not the whole usage block."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


def one_line(text: object) -> str:
    return " ".join(str(text).split())


def _available() -> dict[str, tuple[str, str]]:
    """Commands whose module exists in this build."""
    found = {}
    for name, (module, help_text) in COMMANDS.items():
        if importlib.util.find_spec(module) is not None:
            found[name] = (module, help_text)
    return found


def _looks_like_input(word: str) -> bool:
    """An existing path, or a word shaped like one (a folder part or a file ending)."""
    return Path(word).exists() or "/" in word or "\\" in word or "." in word


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = _available()
    if argv and argv[0] not in commands and not argv[0].startswith("-"):
        if "open" in commands and _looks_like_input(argv[0]):
            argv.insert(0, "open")  # `jemgui ARCHIVE [...]` is `jemgui open ARCHIVE [...]`
        else:
            close = difflib.get_close_matches(argv[0], commands, n=1)
            what = f"command {argv[0]!r} (did you mean {close[0]!r}?)" if close else \
                f"command or file {argv[0]!r} (see jemgui --help)"
            print(f"jemgui: no such {what}", file=sys.stderr)
            return EXIT_USAGE
    if argv and argv[0] in commands:
        return _run(argv[0], commands[argv[0]], argv[1:])
    parser = Parser(
        prog="jemgui",
        description="JEM Inspector: see what a batch or grid job did, or is doing now.",
        epilog="commands:\n" + "\n".join(f"  {n:<9} {h}" for n, (_, h) in commands.items())
        + "\n\nexit codes: 0 ok, 1 no (incomplete, refused), 2 bad usage, 3 unreadable input,"
          " 4 a missing or failed part (broker, display)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"jemgui {__version__}")
    parser.add_argument("command", nargs="?", help="one of the commands below")
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
    return EXIT_OK


def _run(name: str, entry: tuple[str, str], argv: list[str]) -> int:
    """Parse and run one command; its errors become one line and an exit code."""
    module = importlib.import_module(entry[0])
    parser = Parser(prog=f"jemgui {name}", description=entry[1])
    module.add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return int(module.run(args) or 0)
    except UsageError as exc:
        print(f"jemgui {name}: {one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except ComponentError as exc:
        print(f"jemgui {name}: {one_line(exc)}", file=sys.stderr)
        return EXIT_COMPONENT
    except OSError as exc:  # a file of the installation or the cache: never a traceback
        where = f": {exc.filename}" if exc.filename else ""
        print(f"jemgui {name}: {one_line(exc.strerror or exc)}{where}", file=sys.stderr)
        return EXIT_COMPONENT
    except KeyboardInterrupt:
        return 130
