"""`jemgui run [options] -- COMMAND [ARGS...]`: run a job under the monitor and record it.

The exit status is the job's own (a job ended by signal N ends the monitor by signal N
too), so `jemgui run` can stand in for the command in any pilot or batch script.
Building the `Monitor` (`monitor_from_args`) is separate from running it so that the
live link's options can add services in between.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from jemgui.cli import UsageError
from jemgui.live.options import add_broker_arguments, services_from_args
from jemgui.monitor.inject import _jem_changes
from jemgui.monitor.parts import check_inject
from jemgui.monitor.runner import DEFAULT_VERBOSITY, VALUE_MODES, Monitor, MonitorError

HELP = "run a job under the monitor and record it"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--job-id", metavar="ID", help="job id (default: time and pid)")
    parser.add_argument("--out", metavar="DIR", help="archive folder to write (default: ./jem-<id>)")
    parser.add_argument("--verbosity", metavar="0-4", type=int, default=DEFAULT_VERBOSITY,
                        help=f"0 off, 1 process, 2 calls, 3 lines, 4 values (default {DEFAULT_VERBOSITY})")
    parser.add_argument("--include", metavar="PAT", action="append", default=[],
                        help="also trace files matching this glob (repeatable)")
    parser.add_argument("--exclude", metavar="PAT", action="append", default=[],
                        help="do not trace files matching this glob (repeatable)")
    parser.add_argument("--repr-limit", metavar="N", type=int, default=200,
                        help="cut recorded values to N characters (default 200)")
    parser.add_argument("--sample-interval", metavar="S", type=float, default=1.0,
                        help="seconds between resource samples (default 1)")
    parser.add_argument("--values", choices=VALUE_MODES, default="changed",
                        help="verbosity 4: compare after each line only the locals it may have changed, all of "
                             "them at calls, returns, exceptions and every "
                             f"{_jem_changes.BOUND_LINES} lines or {_jem_changes.BOUND_SECONDS:g} s of a "
                             "frame (changed, the default), or all of them on every line (exact, slow)")
    parser.add_argument("--no-redact", action="store_true",
                        help="record values of secret-looking names as they are")
    parser.add_argument("--pack", action="store_true", help="also write DIR.tgz at the end")
    add_broker_arguments(parser)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the job: -- COMMAND [ARGS...]")


def monitor_from_args(args: argparse.Namespace) -> Monitor:
    """The Monitor the options ask for (not started); bad options are usage errors."""
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    try:
        return Monitor(
            command, out=args.out, job_id=args.job_id, verbosity=args.verbosity,
            include=args.include, exclude=args.exclude, repr_limit=args.repr_limit,
            sample_interval=args.sample_interval, redact=not args.no_redact, pack=args.pack,
            reaper=True, values=args.values,
        )
    except MonitorError as exc:
        raise UsageError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    check_inject()  # the tracer and bash env file are there, or one line and exit 4
    monitor = monitor_from_args(args)
    for service in services_from_args(args, monitor):
        monitor.add_service(service)
    return run_monitor(monitor)


def run_monitor(monitor: Monitor) -> int:
    """Run the job; exit as it exited."""
    try:
        monitor.prepare()
    except MonitorError as exc:
        raise UsageError(str(exc)) from None
    try:
        status = monitor.run()
    except OSError as exc:
        print(f"jemgui run: cannot run {monitor.command[0]}: {exc.strerror or exc}", file=sys.stderr)
        return 127 if isinstance(exc, FileNotFoundError) else 126
    if status < 0:
        _die_like(-status)
        return 128 - status  # the signal did not end the monitor: the shell's number for it
    return status


def _die_like(signum: int) -> None:
    """End the monitor by the signal that ended the job, so callers see the same status."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError):
        pass
    if signum not in (signal.SIGKILL, signal.SIGSTOP):  # these two keep their default action anyway
        signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signum])
