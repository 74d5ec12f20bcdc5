"""Who may send which command to a job (spec section 6, issue 6).

Roles, decided on the sender's IDENTITY DN (the end-entity subject; proxy CNs
removed), additive when one person holds several:

* owner (the job's user DN, given to the monitor): every command on this job;
  `set_verbosity` only up to the site cap.
* shifter (DN patterns of the file): ping, history, snapshot, get_file and
  `set_verbosity` to raise the verbosity up to the cap (never lower it).
* admin (DN patterns of the file): ping, and `set_verbosity` with any `level`
  and with the `cap` argument, which changes the site cap of this job.

Everything else is `forbidden`. Without a file: the owner alone, cap 4.
The file is read once, when the monitor starts; see
`resources/policy.example.toml`.

Identity is the DN together with the CA that issued it: the owner's CA is
pinned when known (`owner_ca`, from the job's proxy), and a role entry may be
a table `{dn = "<pattern>", ca = "<CA DN>"}` instead of a bare DN pattern
(which any trusted CA may have issued; the CA folder's namespaces still apply).

The file must be a regular file that neither other users nor the job's
owner can change: owned by root or the site's account (`site_uid`), not
writable by group or others, in folders likewise owned and not writable by
others (a root-owned sticky folder such as /tmp is allowed above them).
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


def _patterns(value, name: str, where: str) -> tuple[tuple[str, str | None], ...]:
    """(DN pattern, CA DN or None) of each entry: a string, or a table {dn, ca}."""
    out = []
    for entry in value if isinstance(value, list) else [None]:
        if isinstance(entry, dict) and set(entry) <= {"dn", "ca"} and "dn" in entry:
            dn, ca = entry["dn"], entry.get("ca")
        else:
            dn, ca = entry, None
        if not (isinstance(dn, str) and dn.startswith("/")
                and (ca is None or isinstance(ca, str) and ca.startswith("/"))):
            raise PolicyError(f"{where}: {name} must be a list of DN patterns starting with '/' "
                              "(or tables {dn = ..., ca = ...})")
        out.append((dn, ca))
    return tuple(out)


def check_file(path: Path, site_uid: int | None) -> bytes:
    """The policy file's bytes, once it is a regular file only root or the site can change."""
    allowed = {0} if site_uid is None else {0, site_uid}
    who = "root" if site_uid is None else f"root or uid {site_uid}"
    real = Path(os.path.realpath(path))
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise PolicyError(f"cannot read policy file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise PolicyError(f"policy file {path} is not a regular file")
        if info.st_uid not in allowed:
            raise PolicyError(f"policy file {path} is owned by uid {info.st_uid}, not {who}")
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise PolicyError(f"policy file {path} is writable by group or others; refusing it")
        for folder in real.parents:
            d = os.lstat(folder)
            open_to_others = d.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
            sticky_root = d.st_uid == 0 and d.st_mode & stat.S_ISVTX
            if d.st_uid not in allowed or (open_to_others and not sticky_root):
                raise PolicyError(f"policy file {path} is in {folder}, which someone other than "
                                  f"{who} can change")
        return f.read(1 << 20)


def _level(value) -> bool:
    return type(value) is int and 0 <= value <= MAX_VERBOSITY


@dataclass(frozen=True)
class Policy:
    """The roles of one job and the site's initial verbosity cap."""

    owner_dn: str | None
    cap: int = MAX_VERBOSITY
    shifters: tuple[tuple[str, str | None], ...] = ()
    admins: tuple[tuple[str, str | None], ...] = ()
    warnings: tuple[str, ...] = field(default=(), compare=False)
    owner_ca: str | None = None

    @classmethod
    def load(cls, path: str | Path | None, owner_dn: str | None, site_uid: int | None = None,
             owner_ca: str | None = None) -> Policy:
        """The policy of `path` (TOML, or JSON for a `.json` name); owner only, cap 4, for None."""
        if path is None:
            return cls(owner_dn, owner_ca=owner_ca)
        path = Path(path)
        raw = check_file(path, site_uid)
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
            warnings, owner_ca,
        )

    def roles(self, identity_dn: str, ca_dn: str | None = None) -> frozenset[str]:
        """The roles `identity_dn`, issued by `ca_dn`, holds for this job."""
        def match(entries) -> bool:
            return any(fnmatch.fnmatchcase(identity_dn, p) and (ca is None or ca == ca_dn)
                       for p, ca in entries)

        roles = set()
        if self.owner_dn is not None and identity_dn == self.owner_dn \
                and (self.owner_ca is None or self.owner_ca == ca_dn):
            roles.add("owner")
        if match(self.shifters):
            roles.add("shifter")
        if match(self.admins):
            roles.add("admin")
        return frozenset(roles)

    def check(self, identity_dn: str, cmd: str, args: dict, current_cap: int,
              ca_dn: str | None = None, verbosity: int | None = None) -> None:
        """Raise `CommandRefused('forbidden')` unless `identity_dn` may send `cmd` with `args`.

        Argument values that are not valid are left for the command's own
        check (`bad-args`); only what the policy needs is looked at here.
        """
        roles = self.roles(identity_dn, ca_dn)
        if not roles:
            issuer = f" (CA {ca_dn})" if ca_dn else ""
            raise CommandRefused("forbidden", f"{identity_dn}{issuer} is not this job's owner, a "
                                 "shifter or a site administrator")
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
        if roles == {"shifter"} and type(level) is int and verbosity is not None \
                and level < verbosity:
            raise CommandRefused("forbidden", f"a shifter may only raise the verbosity (it is "
                                 f"{verbosity}, not lower it to {level}")


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
