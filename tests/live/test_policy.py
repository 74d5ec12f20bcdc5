"""Who may send what: the roles of spec section 6 and the policy file (issue 6)."""

from __future__ import annotations

import json
import os
import sys

import pytest

from jemgui.live.envelope import CommandRefused
from jemgui.live.policy import COMMANDS, Policy, PolicyError
from jemgui.resources import resource_path

OWNER = "/DC=org/DC=example/CN=Jane Owner"
SHIFTER = "/DC=org/DC=example/OU=Shifters/CN=Sam Shifter"
ADMIN = "/DC=org/DC=example/OU=Site Admins/CN=Ada Admin"
STRANGER = "/DC=net/DC=other/CN=Stan Stranger"
GRID_CA = "/DC=org/DC=example/CN=Example Grid CA"
OTHER_CA = "/DC=net/DC=other/CN=Other CA"
#: the tests' files belong to the user running them, who plays the site's account
SITE = os.getuid()
ARGS = {"ping": {}, "snapshot": {}, "history": {"pid": 1, "from_seq": 0, "to_seq": 9},
        "get_file": {"path": "log.txt"}, "set_verbosity": {"level": 1}}

needs_toml = pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is Python 3.11+")


def allowed(policy, dn, cmd, args=None, cap=None, ca=None, verbosity=None) -> bool:
    try:
        policy.check(dn, cmd, ARGS[cmd] if args is None else args,
                     policy.cap if cap is None else cap, ca, verbosity)
    except CommandRefused as exc:
        assert exc.code == "forbidden" and exc.detail
        return False
    return True


@pytest.fixture
def site(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text(
        'cap = 2\nshifters = ["/DC=org/DC=example/OU=Shifters/*"]\n'
        f'admins = ["{ADMIN}"]\n')
    path.chmod(0o644)
    return Policy.load(path, OWNER, SITE)


def test_default_is_the_owner_alone_with_cap_4():
    policy = Policy.load(None, OWNER)
    assert policy.cap == 4
    assert all(allowed(policy, OWNER, c) for c in COMMANDS)
    assert allowed(policy, OWNER, "set_verbosity", {"level": 4})
    for dn in (SHIFTER, ADMIN, STRANGER, OWNER + "x", OWNER.lower()):
        assert not any(allowed(policy, dn, c) for c in COMMANDS), dn


def test_owner_everything_but_not_above_the_cap(site):
    assert all(allowed(site, OWNER, c) for c in COMMANDS)
    assert allowed(site, OWNER, "set_verbosity", {"level": 2})
    assert allowed(site, OWNER, "set_verbosity", {"level": 0})
    assert not allowed(site, OWNER, "set_verbosity", {"level": 3})
    assert not allowed(site, OWNER, "set_verbosity", {"level": 1, "cap": 4})
    # the cap in force is the one passed in, which an admin may have changed
    assert allowed(site, OWNER, "set_verbosity", {"level": 3}, cap=3)


def test_shifter_reads_and_raises_verbosity_up_to_the_cap(site):
    for cmd in ("ping", "history", "snapshot", "get_file"):
        assert allowed(site, SHIFTER, cmd)
    assert allowed(site, SHIFTER, "set_verbosity", {"level": 2})
    assert not allowed(site, SHIFTER, "set_verbosity", {"level": 3})
    assert not allowed(site, SHIFTER, "set_verbosity", {"cap": 3})
    assert not allowed(site, "/DC=org/DC=example/OU=Other/CN=Sam Shifter", "ping")


def test_admin_sets_any_verbosity_and_the_cap_but_reads_nothing(site):
    assert allowed(site, ADMIN, "set_verbosity", {"level": 4})
    assert allowed(site, ADMIN, "set_verbosity", {"cap": 4})
    assert allowed(site, ADMIN, "set_verbosity", {"level": 4, "cap": 1})
    assert allowed(site, ADMIN, "ping")
    for cmd in ("get_file", "snapshot", "history"):
        assert not allowed(site, ADMIN, cmd)


def test_roles_add_up(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"cap": 1, "shifters": [ADMIN], "admins": [ADMIN]}))
    policy = Policy.load(path, OWNER, SITE)
    assert policy.roles(ADMIN) == {"shifter", "admin"}
    assert allowed(policy, ADMIN, "get_file") and allowed(policy, ADMIN, "set_verbosity", {"level": 4})
    assert policy.roles(STRANGER) == frozenset()


def test_strangers_and_unknown_commands_are_forbidden(site):
    with pytest.raises(CommandRefused) as info:
        site.check(STRANGER, "ping", {}, 2)
    assert info.value.code == "forbidden" and STRANGER in info.value.detail
    with pytest.raises(CommandRefused, match="not a command"):
        site.check(OWNER, "shutdown", {}, 2)


def test_invalid_levels_are_left_for_bad_args(site):
    # the policy cannot compare "3" with the cap; the command's own check refuses it
    assert allowed(site, OWNER, "set_verbosity", {"level": "3"})


@needs_toml
def test_the_shipped_example_is_a_valid_policy():
    path = resource_path("policy.example.toml")
    policy = Policy.load(path, OWNER, SITE)
    assert policy.cap == 3 and policy.admins == ((ADMIN, None),)
    assert allowed(policy, SHIFTER, "snapshot")
    assert not allowed(policy, SHIFTER, "set_verbosity", {"level": 4})
    assert allowed(policy, ADMIN, "set_verbosity", {"level": 4})


@needs_toml
@pytest.mark.parametrize("text,why", [
    ("cap = ", "not valid TOML"),
    ("cap = 5", "cap must be"),
    ("cap = true", "cap must be"),
    ("shifter = []", "unknown setting"),
    ('shifters = "/DC=org/*"', "list of DN patterns"),
    ('admins = ["CN=Ada"]', "starting with '/'"),
])
def test_bad_policy_files_are_refused_with_one_line(tmp_path, text, why):
    path = tmp_path / "policy.toml"
    path.write_text(text + "\n")
    with pytest.raises(PolicyError) as info:
        Policy.load(path, OWNER, SITE)
    assert why in str(info.value) and "\n" not in str(info.value)


def test_policy_file_problems(tmp_path):
    with pytest.raises(PolicyError, match="cannot read"):
        Policy.load(tmp_path / "missing.toml", OWNER, SITE)
    path = tmp_path / "p.json"
    path.write_text("[1]")
    with pytest.raises(PolicyError, match="object of settings"):
        Policy.load(path, OWNER, SITE)
    path.write_text("{}")
    path.chmod(0o666)
    with pytest.raises(PolicyError, match="writable by group or others"):
        Policy.load(path, OWNER, SITE)
    path.chmod(0o644)
    policy = Policy.load(path, OWNER, SITE)
    assert policy == Policy(OWNER)
    if os.geteuid() != 0:
        assert any("writable by this user" in w for w in policy.warnings)


def test_a_shifter_may_raise_the_verbosity_but_never_lower_it(site):
    assert allowed(site, SHIFTER, "set_verbosity", {"level": 2}, verbosity=1)
    assert allowed(site, SHIFTER, "set_verbosity", {"level": 1}, verbosity=1)
    assert not allowed(site, SHIFTER, "set_verbosity", {"level": 0}, verbosity=1)
    # the owner and administrators may lower it
    assert allowed(site, OWNER, "set_verbosity", {"level": 0}, verbosity=2)
    assert allowed(site, ADMIN, "set_verbosity", {"level": 0}, verbosity=2)


def test_identity_is_the_dn_and_its_ca(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"shifters": [{"dn": "/DC=org/DC=example/OU=Shifters/*",
                                              "ca": GRID_CA}]}))
    path.chmod(0o644)
    policy = Policy.load(path, OWNER, SITE, owner_ca=GRID_CA)
    assert allowed(policy, OWNER, "ping", ca=GRID_CA)
    assert not allowed(policy, OWNER, "ping", ca=OTHER_CA)  # the owner's DN from another CA
    assert allowed(policy, SHIFTER, "ping", ca=GRID_CA)
    assert not allowed(policy, SHIFTER, "ping", ca=OTHER_CA)
    with pytest.raises(CommandRefused, match="CA /DC=net"):
        policy.check(OWNER, "ping", {}, 4, OTHER_CA)


def test_the_policy_file_must_be_one_only_root_or_the_site_can_change(tmp_path):
    folder = tmp_path / "etc"
    folder.mkdir(mode=0o755)
    path = folder / "policy.json"
    path.write_text("{}")
    path.chmod(0o644)
    assert Policy.load(path, OWNER, SITE) == Policy(OWNER)
    if os.geteuid() != 0:  # owned by this user, who is not the site's account here
        with pytest.raises(PolicyError, match="owned by uid"):
            Policy.load(path, OWNER)
    folder.chmod(0o777)
    with pytest.raises(PolicyError, match="which someone other than"):
        Policy.load(path, OWNER, SITE)
    folder.chmod(0o775)
    with pytest.raises(PolicyError, match="which someone other than"):
        Policy.load(path, OWNER, SITE)
    folder.chmod(0o755)
    fifo = folder / "fifo.json"
    os.mkfifo(fifo, 0o644)
    with pytest.raises(PolicyError, match="not a regular file"):
        Policy.load(fifo, OWNER, SITE)  # and it does not hang
    (folder / "link.json").symlink_to(path)
    assert Policy.load(folder / "link.json", OWNER, SITE) == Policy(OWNER)
