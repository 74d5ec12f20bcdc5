"""`jemgui send`: send one signed command to a running job and print its reply as JSON.

Arguments are `name=value`; a value that reads as JSON (`3`, `true`,
`"x"`) is taken as such, anything else as a string, so `level=3` is a number
and `path=log.txt` a string. A `history` command also receives the records:
`--out FILE` writes them as JSON lines. The reply must carry the job's
signature (spec section 6a), made by the job's owner: `--job-owner`, by
default the sender (a shifter or an administrator names the owner). stderr
says whether it verified and by whom; replies that do not verify are dropped
and the wait goes on. Exit status: 0
when the job took the command, 1 when it refused it or did not answer, 4 when
the broker cannot be reached.
"""

from __future__ import annotations

import json
import sys

from jemgui.cli import ComponentError, UsageError

HELP = "send a signed command to a running job"


def add_arguments(parser) -> None:
    from jemgui.live.options import (
        add_connection_arguments,
        add_credential_arguments,
        add_verify_arguments,
    )

    add_connection_arguments(parser, required=True)
    parser.add_argument("--job", required=True, metavar="ID", help="the job to command")
    add_credential_arguments(parser)
    add_verify_arguments(parser)
    parser.add_argument("--timeout", type=float, default=15.0, metavar="S",
                        help="wait this long for the reply (default 15)")
    parser.add_argument("--out", metavar="FILE", help="history: write the records here as JSON lines")
    parser.add_argument("command", help="ping, set_verbosity, get_file, history or snapshot")
    parser.add_argument("args", nargs="*", metavar="name=value", help="the command's arguments")


def parse_args(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"argument {pair!r} is not name=value")
        try:
            out[name] = json.loads(value)
        except ValueError:
            out[name] = value
    return out


def run(args) -> int:
    from jemgui.commands.follow import JOB_ID, load_signer
    from jemgui.live.command_client import CommandClient
    from jemgui.live.options import HeldWarnings, connection_from_args, verifier_from_args
    from jemgui.models.text import printable

    if not JOB_ID.fullmatch(args.job):
        raise UsageError(f"--job {args.job!r} is not a job id (letters, digits, _ . -)")
    cmd_args = parse_args(args.args)
    connection = connection_from_args(args, name="jemgui-send")
    sign = load_signer(args, "send", required=True)

    def warn(text: str) -> None:
        print(f"jemgui send: {printable(text)}", file=sys.stderr)

    if not args.job_owner:
        args.job_owner = sign.identity_dn
    held = HeldWarnings(warn)
    verifier = verifier_from_args(args, args.job, held)
    records = []
    with connection:
        if not connection.wait_connected(args.timeout):
            raise ComponentError(f"cannot reach the broker: {connection.status}")
        held.release()
        client = CommandClient(connection, args.job, sign, verifier=verifier)
        try:
            reply = client.call(args.command, cmd_args, timeout=args.timeout,
                                on_batch=records.extend)
        except TimeoutError as exc:
            warn(str(exc))
            return 1
        finally:
            dropped = sum(verifier.dropped.values())
            if dropped:
                warn(f"{dropped} replies or batches dropped that did not verify: "
                     f"{next(iter(verifier.dropped))}")
    warn(f"reply {reply.seal.words()}")
    import orjson

    if args.out and records:
        with open(args.out, "wb") as f:
            f.writelines(orjson.dumps(r) + b"\n" for r in records)
    print(json.dumps(reply, indent=1))
    return 0 if reply.get("ok") else 1
