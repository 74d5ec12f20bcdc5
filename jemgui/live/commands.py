"""The monitor's side of the back-channel: verify, check the policy, check the arguments, run.

Transport-free: `CommandHandler.handle` takes a message body and returns the
reply body and the fields of the `control` record; the broker link sends the
one and writes the other. Every argument is checked before anything is
changed, so a refused command changes nothing.

Decisions where the spec leaves room:

* `set_verbosity` takes `level` and/or `cap` (0..4). `cap` is for site
  administrators and changes this job's cap; lowering the cap below the
  verbosity in force lowers the verbosity to the cap. Result:
  `{"verbosity": n, "cap": c}`.
* `get_file`: `path` relative to the working directory, with no `..` part at
  all (even one that would come back inside), not absolute, and not
  resolving (through links) outside the folder: else `forbidden`. A file
  with more than one hard link, the job's proxy (`X509_USER_PROXY`, or any
  `x509up_*` file) and a file holding a PEM `PRIVATE KEY` block anywhere are
  `forbidden` too. `tail` is
  0..1 MiB, default 64 KiB; more is `bad-args` (refused, not clamped, so the
  sender learns the limit). A missing, unreadable or non-regular file is
  `bad-args`. The text is the file's last `tail` bytes decoded as UTF-8,
  undecodable bytes replaced.
* Unknown argument names are `bad-args`; unknown commands are `forbidden`.
* A backend that fails unexpectedly gives `{"ok": false, "error": "failed"}`
  (a code the spec does not list: it is not the sender's fault).
"""

from __future__ import annotations

import os
import re
import stat
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

from .envelope import CommandRefused, ReplayCache, parse_command, verify
from .policy import MAX_VERBOSITY, Policy
from .trust import TrustStore

MAX_TAIL = 1024 * 1024
DEFAULT_TAIL = 64 * 1024
#: refusals before the signature verified: anyone can send them, so they carry no sender
UNAUTHENTICATED = ("malformed", "bad-alg", "untrusted", "bad-signature")
_PRIVATE_KEY = re.compile(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")
_SCAN_CHUNK = 1 << 20


class Backend(Protocol):
    """What the monitor offers the handler. Methods return the command's `result`."""

    verbosity: int
    cap: int  # assigned by the handler when an administrator changes it
    workdir: Path

    def ping(self) -> dict: ...  # {"verbosity", "last_seq", "time"}

    def set_verbosity(self, level: int) -> None: ...

    def get_file(self, path: Path, tail: int) -> dict: ...  # {"size", "text"}; see read_tail

    def snapshot(self) -> dict: ...  # {"threads": [...]}

    def history(self, pid: int, from_seq: int, to_seq: int) -> dict: ...  # sends, then {"sent": n}


def _int(args: dict, name: str, lo: int, hi: int | None = None, default=None) -> int:
    value = args.get(name, default)
    if type(value) is not int or value < lo or (hi is not None and value > hi):
        bounds = f"{lo}..{hi}" if hi is not None else f"at least {lo}"
        raise CommandRefused("bad-args", f"{name} must be an integer {bounds}")
    return value


def _only(args: dict, *names: str) -> None:
    extra = sorted(set(args) - set(names))
    if extra:
        raise CommandRefused("bad-args", f"unknown argument(s): {', '.join(extra)}")


def safe_path(workdir: str | Path, relative: str) -> Path:
    """The file `relative` names inside `workdir`; `forbidden` if it could leave the folder."""
    if not isinstance(relative, str) or not relative or "\0" in relative:
        raise CommandRefused("bad-args", "path must be a non-empty relative path")
    pure = PurePosixPath(relative)
    if pure.is_absolute():
        raise CommandRefused("forbidden", "path must be relative to the job's working directory")
    if ".." in pure.parts:
        raise CommandRefused("forbidden", "path may not contain '..'")
    root = Path(os.path.realpath(workdir))
    target = Path(os.path.realpath(root / pure))
    if target != root and root not in target.parents:
        raise CommandRefused("forbidden", f"{relative} resolves outside the job's working directory")
    return target


def _proxy_file(info: os.stat_result, name: str) -> bool:
    """Is this the job's proxy credential (by `X509_USER_PROXY`, or by the grid's name)?"""
    if name.startswith("x509up_"):
        return True
    proxy = os.environ.get("X509_USER_PROXY")
    if proxy:
        try:
            other = os.stat(proxy)
        except OSError:
            return False
        return (other.st_dev, other.st_ino) == (info.st_dev, info.st_ino)
    return False


def _holds_private_key(fd: int) -> bool:
    """Does the open file hold a PEM private key block anywhere (read in 1 MiB steps)?"""
    os.lseek(fd, 0, os.SEEK_SET)
    carry = b""
    while chunk := os.read(fd, _SCAN_CHUNK):
        data = carry + chunk
        if _PRIVATE_KEY.search(data):
            return True
        carry = data[-64:]
    return False


def read_tail(path: Path, tail: int) -> dict:
    """`{"size", "text"}` of the last `tail` bytes of a regular file; `bad-args` otherwise.

    The final component is opened without following links (`safe_path`
    resolved them already, so a link there now was swapped in since), and
    without blocking, so a FIFO cannot hang the monitor. Hard links, proxies
    and files holding private keys are `forbidden` (module docstring).
    """
    name = path.name
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise CommandRefused("bad-args", f"no such file: {name}") from None
    except OSError as exc:
        raise CommandRefused("bad-args", f"cannot open {name}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise CommandRefused("bad-args", f"{name} is not a regular file")
        if info.st_nlink > 1:
            raise CommandRefused("forbidden", f"{name} has {info.st_nlink} hard links: it may be a "
                                 "file from outside the job's folder")
        if _proxy_file(info, name):
            raise CommandRefused("forbidden", f"{name} is a proxy credential")
        if _holds_private_key(fd):
            raise CommandRefused("forbidden", f"{name} holds a private key")
        os.lseek(fd, max(0, info.st_size - tail), os.SEEK_SET)
        chunks, want = [], tail
        while want > 0:
            chunk = os.read(fd, want)
            if not chunk:
                break
            chunks.append(chunk)
            want -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    return {"size": info.st_size, "text": data.decode("utf-8", errors="replace")}


@dataclass
class Outcome:
    """What became of one message: the reply, the audit fields, and where the reply may go.

    `reply_to`/`cid` are the signed ones, known once the headers matched them
    (else None: no reply is sent); `authenticated` once the signature verified.
    """

    reply: dict
    control: dict
    reply_to: str | None = None
    cid: str | None = None
    authenticated: bool = False


class CommandHandler:
    """Serves one job's command queue: `handle(body) -> (reply, control)`."""

    def __init__(self, job_id: str, trust: TrustStore, policy: Policy,
                 replay_cache: ReplayCache, backend: Backend):
        self.job_id, self.trust, self.policy = job_id, trust, policy
        self.replay_cache, self.backend = replay_cache, backend
        self._lock = threading.Lock()  # one command at a time: the cap is read, then changed

    def handle(self, body: bytes, now: float | None = None,
               headers: dict | None = None) -> tuple[dict, dict]:
        """The reply body and the `control` record's fields for one message."""
        out = self.serve(body, headers, now)
        return out.reply, out.control

    def serve(self, body: bytes, headers: dict | None = None, now: float | None = None) -> Outcome:
        """Check and run one message; `headers` (the STOMP ones) must match the signed fields."""
        cmd, v, reply_to, cid = None, None, None, None
        try:  # where a refusal may be sent: the signed reply_to, once the headers matched it
            command = parse_command(body if isinstance(body, bytes) else body.encode(), headers)[5]
            if headers is not None:
                reply_to, cid = command["reply_to"], command["cid"]
        except (CommandRefused, UnicodeEncodeError):
            pass
        with self._lock:
            try:
                v = verify(body, self.job_id, self.trust, self.replay_cache, now, headers)
                cmd, args = v.command["cmd"], v.command["args"]
                try:
                    self.policy.check(v.identity_dn, cmd, args, self.backend.cap,
                                      v.ca_dn, self.backend.verbosity)
                    result = self._run(cmd, args)
                except CommandRefused as exc:
                    exc.cmd, exc.sender = cmd, v.sender_dn
                    raise
            except CommandRefused as exc:
                reply = {"ok": False, "error": exc.code, "detail": exc.detail}
                control = {"cmd": exc.cmd, "sender": exc.sender, "accepted": False,
                           "error": exc.code}
                if v is not None or exc.code not in UNAUTHENTICATED:
                    control["ca"] = _ca(v, exc)
                return Outcome(reply, control, reply_to, cid, exc.code not in UNAUTHENTICATED)
            except Exception as exc:  # the backend failed: say so, keep serving
                detail = f"the monitor could not run {cmd!r}: {type(exc).__name__}: {exc}"
                sender = v.sender_dn if v is not None else None
                return Outcome({"ok": False, "error": "failed", "detail": detail},
                               {"cmd": cmd, "sender": sender, "ca": v.ca_dn if v else None,
                                "accepted": False, "error": "failed"}, reply_to, cid, v is not None)
        return Outcome({"ok": True, "cmd": cmd, "result": result},
                       {"cmd": cmd, "sender": v.sender_dn, "ca": v.ca_dn, "accepted": True},
                       reply_to, cid, True)

    def _run(self, cmd: str, args: dict) -> dict:
        b = self.backend
        if cmd == "ping":
            _only(args)
            return b.ping()
        if cmd == "snapshot":
            _only(args)
            return b.snapshot()
        if cmd == "history":
            _only(args, "pid", "from_seq", "to_seq")
            pid, first = _int(args, "pid", 0), _int(args, "from_seq", 0)
            last = _int(args, "to_seq", first)
            return b.history(pid, first, last)
        if cmd == "get_file":
            _only(args, "path", "tail")
            tail = _int(args, "tail", 0, MAX_TAIL, DEFAULT_TAIL)
            target = safe_path(b.workdir, args.get("path"))
            return {"path": args["path"], **b.get_file(target, tail)}
        if cmd == "set_verbosity":
            return self._set_verbosity(args)
        raise CommandRefused("forbidden", f"{cmd!r} is not a command this monitor knows")

    def _set_verbosity(self, args: dict) -> dict:
        _only(args, "level", "cap")
        if not args:
            raise CommandRefused("bad-args", "set_verbosity needs level, cap or both")
        b = self.backend
        level = _int(args, "level", 0, MAX_VERBOSITY) if "level" in args else b.verbosity
        if "cap" in args:
            cap = _int(args, "cap", 0, MAX_VERBOSITY)
            if "level" not in args:
                level = min(level, cap)
            b.cap = cap
        if level != b.verbosity:
            b.set_verbosity(level)
        return {"verbosity": b.verbosity, "cap": b.cap}


def _ca(v, exc: CommandRefused) -> str | None:
    """The issuing CA of an authenticated sender (refusals after the signature check)."""
    if v is not None:
        return v.ca_dn
    return getattr(exc, "ca", None)
