"""Who may send which command to a job (spec section 6, issue 6).

Roles, decided on the sender's IDENTITY DN (the end-entity subject; proxy CNs
removed), additive when one person holds several:

* owner (the job's user DN, given to the monitor): every command on this job;
  `set_verbosity` only up to the site cap.
* shifter (DN patterns of the file): ping, history, snapshot, get_file and
  `set_verbosity` up to the cap (lowering included).
* admin (DN patterns of the file): ping, and `set_verbosity` with any `level`
  and with the `cap` argument, which changes the site cap of this job.

Everything else is `forbidden`. Without a file: the owner alone, cap 4.
The file is read once, when the monitor starts; see
`resources/policy.example.toml`.
"""

from __future__ import annotations

import fnmatch
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from .envelope import CommandRefused

COMMANDS = ("ping", "set_verbosity", "get_file", "history", "snapshot")
MAX_VERBOSITY = 4
OWNER_MAY = frozenset(COMMANDS)
SHIFTER_MAY = frozenset(("ping", "history", "snapshot", "get_file", "set_verbosity"))
ADMIN_MAY = frozenset(("ping", "set_verbosity"))
_KEYS = {"cap", "shifters", "admins"}


class PolicyError(ValueError):
    """The policy file cannot be used; the message is one line."""


def _patterns(value, name: str, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(p, str) and p.startswith("/")
                                               for p in value):
        raise PolicyError(f"{where}: {name} must be a list of DN patterns starting with '/'")
    return tuple(value)


def _level(value) -> bool:
    return type(value) is int and 0 <= value <= MAX_VERBOSITY


@dataclass(frozen=True)
class Policy:
    """The roles of one job and the site's initial verbosity cap."""

    owner_dn: str | None
    cap: int = MAX_VERBOSITY
    shifters: tuple[str, ...] = ()
    admins: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def load(cls, path: str | Path | None, owner_dn: str | None) -> Policy:
        """The policy of `path` (TOML, or JSON for a `.json` name); owner only, cap 4, for None."""
        if path is None:
            return cls(owner_dn)
        path = Path(path)
        try:
            info = path.stat()
            raw = path.read_bytes()
        except OSError as exc:
            raise PolicyError(f"cannot read policy file {path}: {exc.strerror}") from None
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise PolicyError(f"policy file {path} is writable by group or others; refusing it")
        data = _parse(raw, path)
        unknown = set(data) - _KEYS
        if unknown:
            raise PolicyError(f"{path}: unknown setting(s) {', '.join(sorted(unknown))}")
        cap = data.get("cap", MAX_VERBOSITY)
        if not _level(cap):
            raise PolicyError(f"{path}: cap must be an integer 0..{MAX_VERBOSITY}")
        warnings = ()
        if os.access(path, os.W_OK) and os.geteuid() != 0:
            warnings = (f"policy file {path} is writable by this user, so the job could change it",)
        return cls(
            owner_dn, cap,
            _patterns(data.get("shifters", []), "shifters", str(path)),
            _patterns(data.get("admins", []), "admins", str(path)),
            warnings,
        )

    def roles(self, identity_dn: str) -> frozenset[str]:
        """The roles `identity_dn` holds for this job."""
        roles = set()
        if self.owner_dn is not None and identity_dn == self.owner_dn:
            roles.add("owner")
        if any(fnmatch.fnmatchcase(identity_dn, p) for p in self.shifters):
            roles.add("shifter")
        if any(fnmatch.fnmatchcase(identity_dn, p) for p in self.admins):
            roles.add("admin")
        return frozenset(roles)

    def check(self, identity_dn: str, cmd: str, args: dict, current_cap: int) -> None:
        """Raise `CommandRefused('forbidden')` unless `identity_dn` may send `cmd` with `args`.

        Argument values that are not valid are left for the command's own
        check (`bad-args`); only what the policy needs is looked at here.
        """
        roles = self.roles(identity_dn)
        if not roles:
            raise CommandRefused("forbidden", f"{identity_dn} is not this job's owner, a shifter "
                                 "or a site administrator")
        allowed = set()
        for role, may in (("owner", OWNER_MAY), ("shifter", SHIFTER_MAY), ("admin", ADMIN_MAY)):
            if role in roles:
                allowed |= may
        if cmd not in allowed:
            if cmd not in COMMANDS:
                raise CommandRefused("forbidden", f"{cmd!r} is not a command this monitor knows")
            raise CommandRefused(
                "forbidden", f"{cmd!r} is not allowed for a {' or '.join(sorted(roles))}"
            )
        if cmd != "set_verbosity" or "admin" in roles:
            return
        if "cap" in args:
            raise CommandRefused("forbidden", "only a site administrator may change the cap")
        level = args.get("level")
        if type(level) is int and level > current_cap:
            raise CommandRefused(
                "forbidden", f"verbosity {level} is above this site's cap of {current_cap}"
            )


def _parse(raw: bytes, path: Path) -> dict:
    if path.suffix == ".json":
        loads, kind = json.loads, "JSON"
    else:
        try:
            import tomllib
        except ImportError:  # Python 3.10
            raise PolicyError(f"{path}: TOML needs Python 3.11 or later; use a .json file") from None
        loads, kind = tomllib.loads, "TOML"
    try:
        data = loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{path} is not valid {kind}: {exc}") from None
    if not isinstance(data, dict):
        raise PolicyError(f"{path}: the policy must be an object of settings")
    return data
