"""`jemgui connect --broker URL [--job ID]`: the inspector window on a live job.

Without `--job` the window lists the jobs the broker announces and watches
the one chosen. Commands from the steering panel are signed with the
credential the options name, else the grid default (`X509_USER_PROXY`, then
`~/.globus`); without one the window only watches, and its steering panel
says why. The job's replies, announcements and batches are checked as
`jemgui follow` checks them (`--ca-dir`, `--job-owner`, `--require-signed`):
what does not verify is dropped and counted in the status bar. The values
(never the broker password, nor the checks) become File ▸ Connect's defaults.
"""

from __future__ import annotations

import argparse
import sys

from jemgui.cli import EXIT_COMPONENT, EXIT_NO, UsageError
from jemgui.commands.common import CommandFailed, run_guarded

HELP = "open the inspector on a live job"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from jemgui.live.options import (
        add_connection_arguments,
        add_credential_arguments,
        add_verify_arguments,
    )

    add_connection_arguments(parser, required=True)
    parser.add_argument("--job", metavar="ID", help="the job to watch (default: choose from a list)")
    add_credential_arguments(parser)
    add_verify_arguments(parser)
    parser.add_argument("--screenshot", metavar="FILE.png",
                        help="render the window offscreen once records arrived, save it, and exit "
                             "(needs --job)")
    parser.add_argument("--wait", type=float, default=60.0, metavar="S",
                        help="--screenshot: give up when no record came within S seconds (default 60)")


def settings_from_args(args: argparse.Namespace):
    """The Connect dialog's values for these options (the password is not among what is kept)."""
    from jemgui.views.live_dialogs import ConnectSettings

    kind = ("p12" if args.p12 else "proxy" if args.proxy else
            "pem" if args.cert or args.key else "default")
    return ConnectSettings(
        broker=args.broker, user=args.broker_user or "", tls_ca=args.tls_ca or "",
        tls_cert=args.tls_cert or "", tls_key=args.tls_key or "", credential=kind,
        cert=args.cert or "", key=args.key or "", p12=args.p12 or "", proxy=args.proxy or "",
        job=args.job or "")


def credential_from_args(args: argparse.Namespace, ask_passphrase):
    """(credential, "") or, when none was named and the default one cannot be used, (None, why).

    A credential the options name that cannot be loaded is a usage error.
    """
    from jemgui.live.credentials import CredentialError, default_paths, load

    named = any((args.cert, args.key, args.p12, args.proxy))
    if not named:
        missing = [str(p) for p in default_paths().values() if not p.exists()]
        if missing:
            return None, f"no credential found ({', '.join(missing)} missing)"

    def passphrase():
        answer = ask_passphrase(args.p12 or args.key or "your key")
        if answer is None:
            raise CredentialError("no passphrase given")
        return answer

    try:
        return load(args.cert, args.key, p12=args.p12, proxy=args.proxy, passphrase=passphrase), ""
    except CredentialError as exc:
        if named:
            raise UsageError(str(exc)) from None
        return None, str(exc)


def run(args: argparse.Namespace) -> int:
    from jemgui.commands.follow import JOB_ID
    from jemgui.live.options import HeldWarnings, checks_from_args, connection_from_args

    if args.job and not JOB_ID.fullmatch(args.job):
        raise UsageError(f"--job {args.job!r} is not a job id (letters, digits, _ . -)")
    if args.screenshot and not args.job:
        raise UsageError("--screenshot needs --job")
    connection = connection_from_args(args, name="jemgui-window")
    settings = settings_from_args(args)
    # said once the broker answers: a broker never reached stays the one line
    held = HeldWarnings(lambda text: print(f"jemgui connect: {text}", file=sys.stderr))
    checks = checks_from_args(args, held)
    connection.on_connect(held.release)
    if args.screenshot:
        return run_guarded("connect", lambda: _screenshot(args, settings, connection, checks))

    from jemgui.app import make_app
    from jemgui.views.live_app import run_live
    from jemgui.views.live_dialogs import ask_passphrase

    make_app()
    credential, note = credential_from_args(args, lambda what: ask_passphrase(None, what))
    return run_live(settings, credential, note, connection,
                    on_shown=lambda window: settings.save(window.settings), checks=checks)


def _screenshot(args, settings, connection, checks) -> int:
    from jemgui.views.live_app import LiveTimeout, live_screenshot

    def no_terminal(what):
        if not sys.stdin.isatty():
            return None
        import getpass

        return getpass.getpass(f"passphrase for {what}: ")

    credential, note = credential_from_args(args, no_terminal)
    try:
        out = live_screenshot(settings, args.screenshot, credential, note, connection,
                              timeout=args.wait, checks=checks)
    except LiveTimeout as exc:
        reached = connection.generation > 0
        raise CommandFailed(str(exc), code=EXIT_NO if reached else EXIT_COMPONENT) from None
    except OSError as exc:
        raise CommandFailed(str(exc)) from None
    print(out)
    return 0
