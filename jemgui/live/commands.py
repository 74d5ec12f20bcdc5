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
  resolving (through links) outside the folder: else `forbidden`. `tail` is
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
import stat
import threading
from pathlib import Path, PurePosixPath
from typing import Protocol

from .envelope import CommandRefused, ReplayCache, verify
from .policy import MAX_VERBOSITY, Policy
from .trust import TrustStore

MAX_TAIL = 1024 * 1024
DEFAULT_TAIL = 64 * 1024


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


def read_tail(path: Path, tail: int) -> dict:
    """`{"size", "text"}` of the last `tail` bytes of a regular file; `bad-args` otherwise.

    The final component is opened without following links (`safe_path`
    resolved them already, so a link there now was swapped in since), and
    without blocking, so a FIFO cannot hang the monitor.
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


class CommandHandler:
    """Serves one job's command queue: `handle(body) -> (reply, control)`."""

    def __init__(self, job_id: str, trust: TrustStore, policy: Policy,
                 replay_cache: ReplayCache, backend: Backend):
        self.job_id, self.trust, self.policy = job_id, trust, policy
        self.replay_cache, self.backend = replay_cache, backend
        self._lock = threading.Lock()  # one command at a time: the cap is read, then changed

    def handle(self, body: bytes, now: float | None = None) -> tuple[dict, dict]:
        """The reply body and the `control` record's fields for one message."""
        cmd, v = None, None
        with self._lock:
            try:
                v = verify(body, self.job_id, self.trust, self.replay_cache, now)
                cmd, args = v.command["cmd"], v.command["args"]
                try:
                    self.policy.check(v.identity_dn, cmd, args, self.backend.cap)
                    result = self._run(cmd, args)
                except CommandRefused as exc:
                    exc.cmd, exc.sender = cmd, v.sender_dn
                    raise
            except CommandRefused as exc:
                reply = {"ok": False, "error": exc.code, "detail": exc.detail}
                return reply, {"cmd": exc.cmd, "sender": exc.sender, "accepted": False,
                               "error": exc.code}
            except Exception as exc:  # the backend failed: say so, keep serving
                detail = f"the monitor could not run {cmd!r}: {type(exc).__name__}: {exc}"
                sender = v.sender_dn if v is not None else None
                return ({"ok": False, "error": "failed", "detail": detail},
                        {"cmd": cmd, "sender": sender, "accepted": False, "error": "failed"})
        return ({"ok": True, "cmd": cmd, "result": result},
                {"cmd": cmd, "sender": v.sender_dn, "accepted": True})

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
