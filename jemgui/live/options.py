"""Command-line options of the live link, and the Monitor service they make.

`jemgui run` wires the live link with two lines:

    add_broker_arguments(parser)
    for service in services_from_args(args, monitor): monitor.add_service(service)

The other live commands (`jobs`, `follow`, `send`, `connect`) take the
connection options (`add_connection_arguments`), the signing credential
(`add_credential_arguments`) and how the job's signatures are checked
(`add_verify_arguments`).
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from jemgui.cli import UsageError
from jemgui.live.connection import Connection, TLSFiles
from jemgui.live.url import BrokerURLError, parse_broker_url
from jemgui.models.text import printable

GRID_CA_DIR = "/etc/grid-security/certificates"
PASSWORD_ENV = "JEMGUI_BROKER_PASSWORD"


class HeldWarnings:
    """Warnings about signing and trust, held until the broker answers: when it never does, the
    command's error stays one line (the set-up did not matter), and once it does they are said."""

    def __init__(self, warn):
        self.warn = warn
        self.held: list[str] | None = []

    def __call__(self, text: str) -> None:
        if self.held is None:
            self.warn(text)
        else:
            self.held.append(text)

    def release(self, _connection=None) -> None:
        held, self.held = self.held or [], None
        for text in held:
            self.warn(text)


class OptionError(UsageError, ValueError):
    """An option value that cannot be used: a usage error (exit status 2)."""


def add_connection_arguments(parser: argparse.ArgumentParser, required: bool = False) -> None:
    g = parser.add_argument_group("broker (ActiveMQ over STOMP 1.2)")
    g.add_argument("--broker", metavar="URL", required=required,
                   help="stomp://host:port or stomp+ssl://host:port")
    g.add_argument("--broker-user", metavar="NAME", help="broker login")
    g.add_argument("--broker-password", metavar="PW",
                   help=f"broker passcode (better: the {PASSWORD_ENV} environment variable)")
    g.add_argument("--tls-ca", metavar="PEM", help="CA certificates that sign the broker's certificate")
    g.add_argument("--tls-cert", metavar="PEM", help="client certificate for stomp+ssl")
    g.add_argument("--tls-key", metavar="PEM", help="key of --tls-cert")


def add_broker_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `jemgui run`: the connection, and who may send the job commands."""
    add_connection_arguments(parser)
    g = parser.add_argument_group("back-channel (signed commands to the job)")
    g.add_argument("--owner", metavar="DN",
                   help="the job owner's DN (default: the subject of the proxy in X509_USER_PROXY)")
    g.add_argument("--ca-dir", metavar="DIR",
                   help=f"trusted CA certificates (default: X509_CERT_DIR, then {GRID_CA_DIR})")
    g.add_argument("--policy", metavar="FILE", help="who may send which command (default: owner only)")
    g.add_argument("--site-account", metavar="USER",
                   help="besides root, the account that may own the policy file and its folders")
    g = parser.add_argument_group("the job's signature on its replies, announcements and batches")
    g.add_argument("--job-proxy", metavar="FILE",
                   help="sign with this proxy (default: X509_USER_PROXY when it is readable)")
    g.add_argument("--job-cert", metavar="PEM", help="sign with this certificate (with --job-key)")
    g.add_argument("--job-key", metavar="PEM", help="the key of --job-cert")


def add_credential_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("signing credential (default: X509_USER_PROXY, then ~/.globus)")
    g.add_argument("--cert", metavar="PEM", help="your certificate")
    g.add_argument("--key", metavar="PEM", help="its key (asked for a passphrase when encrypted)")
    g.add_argument("--p12", metavar="FILE", help="a PKCS#12 file instead of --cert/--key")
    g.add_argument("--proxy", metavar="FILE", help="a grid proxy instead of --cert/--key")


def add_verify_arguments(parser: argparse.ArgumentParser) -> None:
    """How a reader checks what the job signs (spec section 6a)."""
    g = parser.add_argument_group("checking the job's signatures")
    g.add_argument("--ca-dir", metavar="DIR",
                   help=f"trusted CA certificates (default: X509_CERT_DIR, then {GRID_CA_DIR})")
    g.add_argument("--job-owner", metavar="DN",
                   help="the job's owner, whose signature its messages must carry "
                        "(default: the first verified signer, or the DN the job announces)")
    g.add_argument("--require-signed", action="store_true",
                   help="drop every message that does not verify, unsigned ones included")


@dataclass(frozen=True)
class Checks:
    """The options of `add_verify_arguments`, resolved: what a reader that watches several jobs
    (the window) keeps to make each job's verifier and its job list."""

    trust: object | None  #: a TrustStore, or None: nothing can verify
    owner: str | None = None
    require_signed: bool = False

    def verifier(self, job_id: str):
        from jemgui.live.jobsig import JobVerifier

        return JobVerifier(job_id, self.trust, self.owner, self.require_signed)


def checks_from_args(args: argparse.Namespace, warn=None) -> Checks:
    """Checks for the options; without a usable CA folder nothing verifies (an error under
    --require-signed or with --ca-dir)."""
    return checks_from_values(getattr(args, "ca_dir", None), getattr(args, "job_owner", None),
                              getattr(args, "require_signed", False), warn)


def checks_from_values(ca_dir: str | None, job_owner: str | None, require_signed: bool,
                       warn=None) -> Checks:
    """`checks_from_args` for values that come from elsewhere (File ▸ Connect): the same checks
    and the same OptionError text, so the window and `jemgui connect` refuse alike."""
    return Checks(trust_from_folder(ca_dir, require_signed, warn), owner_dn(job_owner),
                  bool(require_signed))


def owner_dn(text: str | None) -> str | None:
    """The owner's DN as signers are compared (the grid's `/DC=.../CN=...` form): a DN typed in
    another form (`CN=a,O=b`) would match no signer and silently drop every message."""
    text = (text or "").strip()
    if not text:
        return None
    if not text.startswith("/") or "=" not in text:
        raise OptionError(f"--job-owner: {printable(text)} is not a DN in the grid's form "
                          "(/DC=org/DC=example/CN=Name, as voms-proxy-info and openssl x509 "
                          "-subject -nameopt compat print it)")
    return text


def verifier_from_args(args: argparse.Namespace, job_id: str, warn=None):
    """A JobVerifier for the options (see `checks_from_args`)."""
    return checks_from_args(args, warn).verifier(job_id)


def trust_from_args(args: argparse.Namespace, warn=None):
    """The reader's trust store, or None (said through `warn`) when there is no CA folder."""
    return trust_from_folder(getattr(args, "ca_dir", None), getattr(args, "require_signed", False),
                             warn)


def trust_from_folder(ca_dir: str | None, require_signed: bool = False, warn=None):
    """The trust store of `ca_dir` (None: the grid default), or None (said through `warn`) when
    the default folder cannot be used; OptionError when a named folder, or any folder under
    `require_signed`, cannot."""
    from jemgui.live.trust import TrustStore, TrustStoreError

    folder = ca_dir or default_ca_dir()
    try:
        return TrustStore.from_dir(folder)
    except TrustStoreError as exc:
        if require_signed or ca_dir:
            raise OptionError(f"--ca-dir: {exc}") from None
        if warn is not None:
            warn(f"{exc}: the job's signatures cannot be checked, everything is unverified")
        return None


def connection_from_args(args: argparse.Namespace, name: str = "jemgui", **kw) -> Connection:
    """A (not yet started) Connection for the options; OptionError when they do not fit."""
    try:
        url = parse_broker_url(args.broker)
    except BrokerURLError as exc:
        raise OptionError(str(exc)) from None
    tls = None
    if any((args.tls_ca, args.tls_cert, args.tls_key)):
        if not url.tls:
            raise OptionError("--tls-ca/--tls-cert/--tls-key need a stomp+ssl:// broker URL")
        for option, path in (("--tls-ca", args.tls_ca), ("--tls-cert", args.tls_cert),
                             ("--tls-key", args.tls_key)):
            if path and not Path(path).is_file():
                raise OptionError(f"{option} {path}: no such file")
        if args.tls_key and not args.tls_cert:
            raise OptionError("--tls-key needs --tls-cert")
        tls = TLSFiles(ca=args.tls_ca, cert=args.tls_cert, key=args.tls_key)
    password = args.broker_password or os.environ.get(PASSWORD_ENV)
    return Connection(url, user=args.broker_user, password=password, tls=tls, name=name, **kw)


def default_owner(env: dict | None = None) -> str | None:
    """The identity DN of the proxy in X509_USER_PROXY, when there is a readable one."""
    credential = _env_proxy(env)
    return credential.identity_dn if credential is not None else None


def _env_proxy(env: dict | None = None):
    env = os.environ if env is None else env
    path = env.get("X509_USER_PROXY")
    if not path:
        return None
    from jemgui.live.credentials import CredentialError, load_proxy

    try:
        return load_proxy(path)
    except (CredentialError, OSError):
        return None


def job_credential(args: argparse.Namespace, env: dict | None = None):
    """The credential the job signs with: --job-proxy, --job-cert/--job-key, else
    X509_USER_PROXY when readable; None (unsigned messages) without one."""
    from jemgui.live.credentials import CredentialError, load

    proxy, cert, key = (getattr(args, n, None) for n in ("job_proxy", "job_cert", "job_key"))
    if proxy or cert or key:
        if key and not cert:
            raise OptionError("--job-key needs --job-cert")
        try:
            return load(cert, key, proxy=proxy)
        except CredentialError as exc:
            raise OptionError(f"the job's credential: {exc}") from None
    return _env_proxy(env)


def site_uid(name: str | None) -> int | None:
    if not name:
        return None
    import pwd

    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        raise OptionError(f"--site-account {name!r}: no such user") from None


def default_ca_dir(env: dict | None = None) -> str:
    env = os.environ if env is None else env
    return env.get("X509_CERT_DIR") or GRID_CA_DIR


def services_from_args(args: argparse.Namespace, monitor, warn=None) -> list:
    """The Monitor services the options ask for: none without --broker, else the live link.

    Problems that leave the job runnable (no CA folder, no owner) are
    warned about through `warn(text)` (stderr by default): the job then
    publishes, and every command is refused.
    """
    if not getattr(args, "broker", None):
        return []
    from jemgui.live.command_server import CommandServer
    from jemgui.live.policy import Policy, PolicyError
    from jemgui.live.publisher import Publisher
    from jemgui.live.trust import TrustStore, TrustStoreError

    told = warn or (lambda text: print(f"jemgui run: {text}", file=sys.stderr))
    warn = HeldWarnings(told)
    connection = connection_from_args(args, name="jemgui-monitor")
    # the job inherits the monitor's environment: its code must not get the monitor's broker account
    os.environ.pop(PASSWORD_ENV, None)
    connection.on_connect(warn.release)
    credential = job_credential(args)
    if credential is None:
        warn("no job credential (--job-proxy, X509_USER_PROXY): replies, announcements and "
             "batches go out unsigned, and readers show them as unverified")
    owner = args.owner or default_owner()
    owner_ca = None
    if credential is not None and owner == credential.identity_dn:
        from jemgui.live.trust import grid_dn, identity_of

        owner_ca = grid_dn(identity_of(list(credential.chain)).issuer)
    if not owner:
        warn("no --owner and no proxy in X509_USER_PROXY: only --policy roles may send commands")
    ca_dir = args.ca_dir or default_ca_dir()
    try:
        trust = TrustStore.from_dir(ca_dir)
    except TrustStoreError as exc:
        if args.ca_dir:
            raise OptionError(f"--ca-dir: {exc}") from None
        warn(f"{exc}: every command will be refused as untrusted")
        trust = TrustStore([])
    try:
        policy = Policy.load(args.policy, owner, site_uid(getattr(args, "site_account", None)),
                             owner_ca)
    except PolicyError as exc:
        raise OptionError(f"--policy: {exc}") from None
    return [LiveLink(connection, Publisher(connection, credential=credential),
                     CommandServer(connection, trust, policy, credential), warn=told)]


class LiveLink:
    """The live link as one Monitor service: publisher and command server on one connection.

    Stopping runs in the order followers need: everything on disk is
    published and announced, commands are served until followers stop
    asking for history, then commands stop, the rest (their audit records
    too) is published, the end is announced and the link closes.
    """

    def __init__(self, connection: Connection, publisher, server, quiet: float = 1.5,
                 longest: float = 30.0, warn=None):
        self.connection = connection
        self.warn = warn  #: told once, at the end, when the broker was never reached
        self.publisher = publisher
        self.server = server
        self.quiet = quiet
        self.longest = longest

    def start(self, monitor) -> None:
        self.archive = monitor.archive_dir
        self.connection.start()
        self.publisher.start(monitor)
        self.server.start(monitor)

    def stop(self) -> None:
        try:
            if self.connection.connected:
                self.publisher.announce_now()
                self.server.linger(self.quiet, self.longest)
            # commands stop first: the audit record of the last one is then published too
            self.server.stop()
            self.publisher.stop()
        finally:
            self.connection.close()
        if self.warn is not None and self.connection.generation == 0:
            self.warn(f"the broker was never reached ({self.connection.status}): "
                      f"the job's records are only in {self.archive}")
