"""`jemgui follow`: capture a live job into a normal archive folder, holes filled.

The capture subscribes to the job's events and announcements, asks the job
for every range it missed (late join, reconnect, dropped batches) with
signed `history` commands, and exits once the job ended and every stream is
whole. Every announcement, batch and reply is checked against the job's
signature (spec section 6a): what does not verify is dropped and counted,
never written. Exit status 0 when the archive is complete, 1 when it is not
(the manifest's `capture` part says what is missing, and what was dropped),
4 when the broker cannot be reached.
"""

from __future__ import annotations

import getpass
import sys
import time
from pathlib import Path

from jemgui.cli import ComponentError, UsageError
from jemgui.live.protocol import JOB_ID
from jemgui.models.text import printable

HELP = "capture a live job into an archive"


def add_arguments(parser) -> None:
    from jemgui.live.options import (
        add_connection_arguments,
        add_credential_arguments,
        add_verify_arguments,
    )

    add_connection_arguments(parser, required=True)
    parser.add_argument("--job", required=True, metavar="ID", help="the job to follow")
    add_verify_arguments(parser)
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="archive folder to write (new, or empty)")
    add_credential_arguments(parser)
    parser.add_argument("--idle-timeout", type=float, default=60.0, metavar="S",
                        help="give up when nothing was heard of the job for S seconds (default 60)")
    parser.add_argument("--connect-timeout", type=float, default=30.0, metavar="S",
                        help="give up when the broker cannot be reached for S seconds (default 30)")


def load_signer(args, command: str, required: bool):
    """`sign(command_dict) -> bytes` for the credential the options name (or the default one).

    None when no credential was named and the default one is missing and
    not `required`; UsageError when a named one cannot be loaded.
    """
    from jemgui.live.credentials import CredentialError, default_paths, load
    from jemgui.live.envelope import sign

    named = any((args.cert, args.key, args.p12, args.proxy))
    if not named and not required and not all(p.exists() for p in default_paths().values()):
        return None

    def passphrase():
        if not sys.stdin.isatty():
            raise CredentialError("the key is encrypted and there is no terminal to ask for its passphrase")
        return getpass.getpass("passphrase for your key: ")

    try:
        credential = load(args.cert, args.key, p12=args.p12, proxy=args.proxy,
                          passphrase=passphrase)
    except CredentialError as exc:
        raise UsageError(str(exc)) from None
    signer = lambda cmd: sign(cmd, credential)  # noqa: E731
    signer.identity_dn = credential.identity_dn  # who signs: the default job owner of `send`
    return signer


def run(args) -> int:
    from jemgui.live.follower import ArchiveWriter, Follower
    from jemgui.live.options import HeldWarnings, connection_from_args, verifier_from_args

    if not JOB_ID.fullmatch(args.job):
        raise UsageError(f"--job {args.job!r} is not a job id (letters, digits, _ . -)")
    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"--out {out} exists and is not an empty folder")
    connection = connection_from_args(args, name="jemgui-follow")
    signer = load_signer(args, "follow", required=False)
    held = HeldWarnings(lambda text: print(f"jemgui follow: {text}", file=sys.stderr))
    verifier = verifier_from_args(args, args.job, warn=held)

    connection.start()
    try:
        if not connection.wait_connected(args.connect_timeout):
            raise ComponentError(f"cannot reach the broker: {connection.status}")
        held.release()
        if signer is None:  # said once the broker answers, so a failure stays one line
            print("jemgui follow: no credential found: records the job's broker dropped cannot be "
                  "asked for", file=sys.stderr)
        writer = ArchiveWriter(out)
        follower = Follower(connection, args.job, signer, sink=writer, verifier=verifier)
        try:
            result = follower.run(idle_timeout=args.idle_timeout)
        except KeyboardInterrupt:
            result = follower.summary(False, "interrupted")
        follower.finish()
        capture = {"broker": str(connection.url), "complete": result.complete,
                   "captured": time.time(), "records": result.records,
                   "recovered": follower.recovered,
                   "lost": {str(pid): [list(r) for r in gaps] for pid, gaps in result.lost.items()},
                   "verified": result.seal.verified, "signer": result.seal.signer,
                   "dropped": sum(result.dropped.values())}
        writer.close(follower.store.job or {"id": args.job}, capture)
    finally:
        connection.close()
    streams = len(follower.store.streams)
    dropped = sum(result.dropped.values())
    if dropped:
        reason, n = max(result.dropped.items(), key=lambda kv: kv[1])
        print(f"jemgui follow: {dropped} messages dropped that did not verify (most: {n}x "
              f"{printable(reason)})", file=sys.stderr)
    if result.complete:
        print(f"job {args.job}: {result.records} records in {streams} streams, complete, "
              f"{printable(result.seal.words())}: {out}")
        return 0
    missing = sum(b - a + 1 for gaps in result.lost.values() for a, b in gaps)
    print(f"jemgui follow: {result.reason}; {out} holds {result.records} records, "
          f"{missing} missing", file=sys.stderr)
    return 1
