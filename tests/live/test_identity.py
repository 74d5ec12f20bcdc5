"""Who a sender is (issue 16): CA namespaces, unambiguous DNs, name constraints, weak keys,
signature lengths, and the replay cache's per-sender budget on disk.

Every certificate is a real X.509 certificate made here with `cryptography`.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from types import SimpleNamespace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID
from pki import name

from jemgui.live.commands import CommandHandler
from jemgui.live.envelope import CommandRefused, ReplayCache, new_command, sign, verify
from jemgui.live.policy import Policy
from jemgui.live.trust import TrustStore, Untrusted, ed25519_small_order, grid_dn

JOB = "ident-1"
OWNER_DN = "/DC=org/DC=example/CN=Jane Owner"
#: Ed25519 points of small order (the neutral element, order 2, and one of order 8)
SMALL_ORDER = ["0100000000000000000000000000000000000000000000000000000000000000",
               "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
               "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"]


def ca_folder(pki, folder, rules: dict, kind: str = "namespaces"):
    """The grid CA and the other CA in one folder, with the namespace rules given per CA."""
    folder.mkdir()
    for ca in (pki.ca, pki.other_ca):
        dn = grid_dn(ca.cert.subject)
        stem = dn.rsplit("=", 1)[1].replace(" ", "_")
        (folder / f"{stem}.pem").write_bytes(ca.cert.public_bytes(serialization.Encoding.PEM))
        if dn not in rules:
            continue
        if kind == "namespaces":
            (folder / f"{stem}.namespaces").write_text(
                f'# EUGridPMA style\nTO Issuer "{dn}" \\\n  PERMIT Subject "{rules[dn]}"\n')
        else:
            (folder / f"{stem}.signing_policy").write_text(
                f"access_id_CA X509 '{dn}'\npos_rights globus CA:sign\n"
                f"cond_subjects globus '\"{rules[dn]}\"'\n")
    return TrustStore.from_dir(folder)


def chain_of(ident) -> list[bytes]:
    return [c.public_bytes(serialization.Encoding.DER) for c in ident.chain]


@pytest.mark.parametrize("kind,grid_rule,other_rule", [
    ("namespaces", "/DC=org/DC=example/.*", "/DC=net/DC=other/.*"),
    ("signing_policy", "/DC=org/DC=example/*", "/DC=net/DC=other/*"),
])
def test_a_second_ca_cannot_issue_the_owners_dn(pki, tmp_path, kind, grid_rule, other_rule):
    grid, other = grid_dn(pki.ca.cert.subject), grid_dn(pki.other_ca.cert.subject)
    trust = ca_folder(pki, tmp_path / "certificates", {grid: grid_rule, other: other_rule}, kind)
    now = dt.datetime.now(dt.timezone.utc).timestamp()
    assert trust.verify_chain(chain_of(pki.owner), now).ca_dn == grid
    impostor = pki.issue(name(("DC", "org"), ("DC", "example"), ("CN", "Jane Owner")), "ec256",
                         pki.other_ca, label="impostor")
    assert impostor.dn == pki.owner.dn
    with pytest.raises(Untrusted, match="may not issue"):
        trust.verify_chain(chain_of(impostor), now)
    # without namespaces both verify, but identity is DN + CA: the policy tells them apart
    open_trust = ca_folder(pki, tmp_path / "open", {})
    assert open_trust.verify_chain(chain_of(impostor), now).ca_dn == other
    policy = Policy(OWNER_DN, owner_ca=grid)
    assert policy.roles(OWNER_DN, grid) == {"owner"} and policy.roles(OWNER_DN, other) == set()


@pytest.mark.parametrize("value", ["Users/CN=Jane Owner", "a=b", "x+y", "line\nbreak",
                                   "esc\x1b[2J", "nul\x00"])
def test_a_dn_that_cannot_be_written_unambiguously_is_untrusted(pki, value):
    sneaky = pki.issue(x509.Name([x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "org"),
                                  x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "example"),
                                  x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, value)]),
                       "ec256", pki.ca, label="sneaky")
    trust = TrustStore([pki.ca.cert])
    with pytest.raises(CommandRefused) as info:
        verify(sign(new_command(JOB, "ping"), sneaky), JOB, trust, ReplayCache())
    assert info.value.code == "untrusted" and "unambiguously" in info.value.detail


def _ca_with_constraint(pki, critical: bool, tree: x509.GeneralName):
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    subject = name(("DC", "org"), ("DC", "example"), ("CN", "Constrained CA"))
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(pki.ca.cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.NameConstraints(permitted_subtrees=[tree], excluded_subtrees=None),
                           critical=critical)
            .sign(pki.ca.key, hashes.SHA256()))
    return SimpleNamespace(key=key, cert=cert, chain=(cert, pki.ca.cert))


@pytest.mark.parametrize("critical", [True, False])
def test_name_constraints_apply_critical_or_not(pki, critical):
    physics = x509.DirectoryName(name(("DC", "org"), ("DC", "example"), ("OU", "Physics")))
    ca = _ca_with_constraint(pki, critical, physics)
    trust = TrustStore([pki.ca.cert])
    now = dt.datetime.now(dt.timezone.utc).timestamp()
    inside = pki.user("in", "Ian Inside", issuer=ca, ou="Physics")
    assert trust.verify_chain(chain_of(inside), now).identity_dn.endswith("OU=Physics/CN=Ian Inside")
    outside = pki.issue(name(("DC", "org"), ("DC", "example"), ("CN", "Jane Owner")), "ec256", ca)
    with pytest.raises(Untrusted, match="outside the names"):
        trust.verify_chain(chain_of(outside), now)
    odd = _ca_with_constraint(pki, critical, x509.DNSName("example.org"))
    other = pki.user("odd", "Olga Odd", issuer=odd)
    with pytest.raises(Untrusted, match="does not check"):
        trust.verify_chain(chain_of(other), now)


@pytest.mark.parametrize("point", SMALL_ORDER)
def test_ed25519_keys_of_small_order_are_refused(pki, point):
    public = ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(point))
    assert ed25519_small_order(bytes.fromhex(point))
    weak = pki.issue(name(("DC", "org"), ("DC", "example"), ("CN", "Wes Weak")),
                     SimpleNamespace(public_key=lambda: public), pki.ca, label="weak")
    now = dt.datetime.now(dt.timezone.utc).timestamp()
    with pytest.raises(Untrusted, match="small order"):
        TrustStore([pki.ca.cert]).verify_chain(chain_of(weak), now)


def test_real_ed25519_keys_are_not_small_order():
    for _ in range(50):
        raw = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes_raw()
        assert not ed25519_small_order(raw)


def _resign(body: bytes, change) -> bytes:
    obj = json.loads(body)
    sig = base64.urlsafe_b64decode(obj["signature"] + "==")
    obj["signature"] = base64.urlsafe_b64encode(change(sig)).rstrip(b"=").decode()
    return json.dumps(obj).encode()


@pytest.mark.parametrize("who,change", [
    ("shifter", lambda s: s + b"\0"),  # ES256: 65 bytes
    ("shifter", lambda s: s[:63]),
    ("shifter", lambda s: s + s),
    ("owner", lambda s: b"\0" + s),  # RSA-2048: 257 bytes
    ("admin", lambda s: s + b"\0"),  # EdDSA: 65 bytes
])
def test_signatures_of_the_wrong_length_are_bad_signature(pki, who, change):
    trust = TrustStore.from_dir(pki.ca_dir)
    body = _resign(sign(new_command(JOB, "ping"), getattr(pki, who)), change)
    with pytest.raises(CommandRefused) as info:
        verify(body, JOB, trust, ReplayCache())
    assert info.value.code == "bad-signature"


class Backend:
    verbosity, cap = 1, 4

    def __init__(self, workdir):
        self.workdir = workdir

    def ping(self):
        return {"verbosity": self.verbosity, "last_seq": {}, "time": 0.0}


def test_a_forbidden_senders_flood_cannot_lock_the_owner_out(pki, tmp_path):
    trust = TrustStore.from_dir(pki.ca_dir)
    replay = ReplayCache(per_sender=30, path=tmp_path / "nonces")
    handler = CommandHandler(JOB, trust, Policy(OWNER_DN), replay, Backend(tmp_path))
    stranger = pki.user("nobody", "Nora Nobody")
    codes = [handler.handle(sign(new_command(JOB, "ping"), stranger))[0]["error"]
             for _ in range(40)]
    assert codes == ["forbidden"] * 30 + ["replay"] * 10  # its own budget is spent
    assert handler.handle(sign(new_command(JOB, "ping"), pki.owner))[0]["ok"] is True
    # forged junk costs no budget at all: it never authenticates
    junk = json.loads(sign(new_command(JOB, "ping"), pki.owner))
    junk["signature"] = json.loads(sign(new_command(JOB, "snapshot"), pki.owner))["signature"]
    for _ in range(50):
        assert handler.handle(json.dumps(junk).encode())[0]["error"] == "bad-signature"
    assert handler.handle(sign(new_command(JOB, "ping"), pki.owner))[0]["ok"] is True


def test_a_restarted_monitor_still_refuses_a_captured_command(pki, tmp_path):
    trust = TrustStore.from_dir(pki.ca_dir)
    captured = sign(new_command(JOB, "ping"), pki.owner)
    first = CommandHandler(JOB, trust, Policy(OWNER_DN), ReplayCache(path=tmp_path / "n"),
                           Backend(tmp_path))
    assert first.handle(captured)[0]["ok"] is True
    first.replay_cache.close()
    restarted = CommandHandler(JOB, trust, Policy(OWNER_DN), ReplayCache(path=tmp_path / "n"),
                               Backend(tmp_path))
    assert restarted.handle(captured)[0]["error"] == "replay"
    assert restarted.handle(sign(new_command(JOB, "ping"), pki.owner))[0]["ok"] is True
    restarted.replay_cache.close()
    # each nonce is kept with its sender (DN and CA) until its command expired, then dropped
    lines = [json.loads(line) for line in (tmp_path / "n").read_text().splitlines()]
    assert len(lines) == 2 and all(sender.startswith(OWNER_DN + "\n") for _, _, sender in lines)
    (tmp_path / "n").write_text(json.dumps(["old-nonce", 1.0, "x"]) + "\ncut li")
    assert len(ReplayCache(path=tmp_path / "n")) == 0
