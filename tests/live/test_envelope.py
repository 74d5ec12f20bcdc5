"""The signed command envelope and the grid chain checks, with a real test PKI (spec section 6)."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from joserfc import jws as rfc_jws
from joserfc.jwk import ECKey, OKPKey, RSAKey
from pki import Identity, name, need_openssl

from jemgui.live.envelope import (
    ALLOWED_ALGS,
    MAX_MESSAGE_BYTES,
    CommandRefused,
    ReplayCache,
    new_command,
    sign,
    verify,
)
from jemgui.live.trust import TrustStore, TrustStoreError, grid_dn, identity_of

JOB = "4711"


@pytest.fixture(scope="module")
def trust(pki):
    return TrustStore.from_dir(pki.ca_dir)


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signed(who, cmd="ping", args=None, job=JOB, alg=None, **fields) -> bytes:
    command = new_command(job, cmd, args)
    command.update(fields)
    return sign(command, who, alg)


def refused(body, trust, now=None, cache=None, job=JOB) -> CommandRefused:
    with pytest.raises(CommandRefused) as info:
        verify(body, job, trust, cache or ReplayCache(), now)
    return info.value


def edit(body: bytes, part: str, change) -> bytes:
    """Re-encode one part (protected/payload) of a JWS after `change(obj)`, keeping the signature."""
    outer = json.loads(body)
    obj = json.loads(unb64u(outer[part]))
    change(obj)
    outer[part] = b64u(json.dumps(obj).encode())
    return json.dumps(outer).encode()


# -- commands that verify ---------------------------------------------------


@pytest.mark.parametrize("who,alg", [
    ("owner", "PS256"), ("owner", "RS256"), ("shifter", "ES256"), ("sub_user", "ES384"),
    ("admin", "EdDSA"),
])
def test_each_allowed_alg_verifies(pki, trust, who, alg):
    ident = getattr(pki, who)
    body = signed(ident, "set_verbosity", {"level": 2}, alg=alg)
    assert json.loads(unb64u(json.loads(body)["protected"]))["alg"] == alg
    v = verify(body, JOB, trust, ReplayCache())
    assert v.command["cmd"] == "set_verbosity" and v.command["args"] == {"level": 2}
    assert v.sender_dn == v.identity_dn == ident.dn
    assert v.chain[0] == ident.cert and v.chain[-1] == (pki.sub_ca if who == "sub_user" else pki.ca).cert


def _joserfc_key(ident: Identity):
    pem = ident.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
    kind = type(ident.key).__name__
    cls = RSAKey if "RSA" in kind else ECKey if "EC" in kind else OKPKey
    return cls.import_key(pem)


@pytest.mark.filterwarnings("ignore:EdDSA is deprecated")
@pytest.mark.parametrize("who,alg", [
    ("owner", "PS256"), ("owner", "RS256"), ("shifter", "ES256"), ("sub_user", "ES384"),
    ("admin", "EdDSA"), ("owner_proxy", "ES256"),
])
def test_commands_signed_by_an_independent_jose_library_verify(pki, trust, who, alg):
    ident = getattr(pki, who)
    header = {"alg": alg, "typ": "jem-command", "x5c": [
        base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in ident.chain]}
    payload = json.dumps(new_command(JOB, "ping")).encode()
    token = rfc_jws.serialize_json({"protected": header}, payload, _joserfc_key(ident), algorithms=[alg])
    assert set(token) == {"protected", "payload", "signature"}
    v = verify(json.dumps(token).encode(), JOB, trust, ReplayCache())
    assert v.command["cmd"] == "ping" and v.sender_dn == ident.dn
    assert v.identity_dn == grid_dn(identity_of(list(ident.chain)).subject)


def test_our_signatures_verify_with_the_independent_library(pki):
    body = json.loads(signed(pki.shifter))
    key = ECKey.import_key(pki.shifter.cert.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    registry = rfc_jws.JWSRegistry(algorithms=["ES256"])
    registry.max_header_length = 16 * 1024  # x5c makes headers bigger than its 512-byte default
    obj = rfc_jws.deserialize_json(body, key, registry=registry)
    assert json.loads(obj.payload)["cmd"] == "ping"


def test_rfc3820_proxy_chains_verify_as_their_owner(pki, trust):
    proxy2 = pki.proxy(pki.owner_proxy, "rsa")
    limited = pki.proxy(pki.owner, kind="limited")
    legacy = pki.proxy(pki.owner, "ed25519", kind="legacy")
    for ident in (pki.owner_proxy, proxy2, limited, legacy):
        v = verify(signed(ident), JOB, trust, ReplayCache())
        assert v.sender_dn == ident.dn and v.sender_dn.startswith(pki.owner.dn + "/CN=")
        assert v.identity_dn == pki.owner.dn == "/DC=org/DC=example/CN=Jane Owner"
    assert len(verify(signed(proxy2), JOB, trust, ReplayCache()).chain) == 4


def test_chain_may_include_the_root_and_the_store_fills_in_intermediates(pki, trust):
    with_root = Identity("r", pki.owner.key, pki.owner.cert, (*pki.owner.chain, pki.ca.cert))
    assert verify(signed(with_root), JOB, trust, ReplayCache()).chain[-1] == pki.ca.cert
    # the sub-CA is in the store too, so the signer's certificate alone is enough
    alone = Identity("a", pki.sub_user.key, pki.sub_user.cert, (pki.sub_user.cert,))
    assert verify(signed(alone), JOB, trust, ReplayCache()).chain[-1] == pki.sub_ca.cert


def test_grid_dn_matches_openssl_oneline(pki, tmp_path):
    need_openssl()
    for ident in (pki.owner, pki.owner_proxy, pki.sub_user):
        path = tmp_path / "c.pem"
        path.write_bytes(ident.cert.public_bytes(serialization.Encoding.PEM))
        out = subprocess.run(["openssl", "x509", "-noout", "-subject", "-nameopt", "compat",
                              "-in", path], capture_output=True, text=True, check=True).stdout
        assert out.strip() == "subject=" + grid_dn(ident.cert.subject)


def test_openssl_agrees_the_proxy_chain_is_valid(pki, tmp_path):
    need_openssl()
    pem = serialization.Encoding.PEM
    proxy2 = pki.proxy(pki.owner_proxy)
    (tmp_path / "leaf.pem").write_bytes(proxy2.cert.public_bytes(pem))
    (tmp_path / "chain.pem").write_bytes(b"".join(c.public_bytes(pem) for c in proxy2.chain[1:]))
    out = subprocess.run(["openssl", "verify", "-allow_proxy_certs", "-CApath", pki.ca_dir,
                          "-untrusted", tmp_path / "chain.pem", tmp_path / "leaf.pem"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


# -- refusals, in the spec's order --------------------------------------------


@pytest.mark.parametrize("body,why", [
    (b"not json", "not valid JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"payload": "e30", "signature": "AA"}', "exactly protected, payload and signature"),
    (b'{"payload": "e30", "signatures": []}', "exactly protected"),
    (b"\xff\xfe{}", "not valid JSON"),
    (b"[" * 5000 + b"]" * 5000, "nested too deeply"),
])
def test_malformed_messages(trust, body, why):
    err = refused(body, trust)
    assert err.code == "malformed" and why in err.detail
    assert err.cmd is None and err.sender is None


def test_malformed_parts(pki, trust):
    good = signed(pki.owner)
    outer = json.loads(good)
    cases = {
        "padded base64": {**outer, "payload": outer["payload"] + "="},
        "standard base64": {**outer, "signature": outer["signature"].replace("-", "+") + "+"},
        "extra unprotected header": {**outer, "header": {"x5c": []}},
        "payload not json": {**outer, "payload": b64u(b"ping")},
        "empty signature": {**outer, "signature": ""},
    }
    for label, obj in cases.items():
        assert refused(json.dumps(obj).encode(), trust).code == "malformed", label
    for change in (
        lambda c: c.pop("nonce"), lambda c: c.pop("job"), lambda c: c.pop("exp"),
        lambda c: c.update(iat="now"), lambda c: c.update(exp=True), lambda c: c.update(args=[1]),
        lambda c: c.update(nonce="c2hvcnQ"), lambda c: c.update(nonce="not/base64url+x" * 3),
        lambda c: c.update(cmd=5),
    ):
        assert refused(edit(good, "payload", change), trust).code == "malformed"
    for change in (
        lambda h: h.pop("alg"), lambda h: h.pop("x5c"), lambda h: h.update(typ="JWT"),
        lambda h: h.pop("typ"), lambda h: h.update(x5c=[]), lambda h: h.update(x5c="abc"),
        lambda h: h.update(x5c=["not base64!"]), lambda h: h.update(jwk={"kty": "oct"}),
        lambda h: h.update(crit=["b64"], b64=False), lambda h: h.update(x5c=h["x5c"] * 11),
    ):
        assert refused(edit(good, "protected", change), trust).code == "malformed"
    dup = json.dumps(outer).replace('"payload"', '"payload": "e30", "payload"', 1).encode()
    assert refused(dup, trust).code == "malformed"
    nan = edit(good, "payload", lambda c: c.update(iat=float("nan")))
    assert "not a JSON number" in refused(nan, trust).detail


def test_oversized_message_is_malformed_before_anything_else(pki, trust):
    body = signed(pki.owner, "get_file", {"path": "x" * MAX_MESSAGE_BYTES})
    err = refused(body, trust)
    assert err.code == "malformed" and "larger than" in err.detail
    small = signed(pki.owner, "get_file", {"path": "x" * 1000})
    assert verify(small, JOB, trust, ReplayCache()).command["cmd"] == "get_file"


@pytest.mark.parametrize("alg", ["none", "HS256", "RS512", "ES512", "Ed25519", "PS384"])
def test_algs_outside_the_list_are_bad_alg_even_from_strangers(pki, trust, alg):
    # the stranger's chain is untrusted too: bad-alg comes first
    body = edit(signed(pki.stranger), "protected", lambda h: h.update(alg=alg))
    err = refused(body, trust)
    assert err.code == "bad-alg" and alg in err.detail


def test_hmac_with_the_public_key_as_secret_is_refused(pki, trust):
    """The classic confusion attack: HS256 keyed with the certificate's public key."""
    import hashlib
    import hmac

    outer = json.loads(signed(pki.owner))
    header = json.loads(unb64u(outer["protected"]))
    header["alg"] = "HS256"
    protected = b64u(json.dumps(header).encode())
    secret = pki.owner.cert.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    mac = hmac.new(secret, f"{protected}.{outer['payload']}".encode(), hashlib.sha256).digest()
    body = json.dumps({"protected": protected, "payload": outer["payload"], "signature": b64u(mac)})
    assert refused(body.encode(), trust).code == "bad-alg"


def test_untrusted_chains(pki, trust):
    p = pki
    user_signed = p.issue(name(("DC", "org"), ("DC", "example"), ("CN", "Fake Person")), "ec256",
                          p.shifter, label="fake")
    wrong_subject = p.issue(name(("DC", "org"), ("DC", "example"), ("CN", "Ada Admin")), "ec256",
                            p.owner, proxy="inherit", key_usage="digital_signature", eku=(),
                            label="badproxy")
    admin_named = p.issue(name(("DC", "org"), ("DC", "example"), ("CN", "Ada Admin"), ("CN", "1")),
                          "ec256", p.owner, proxy="inherit", key_usage="digital_signature", eku=(),
                          label="badproxy2")
    grandchild = p.proxy(p.proxy(p.owner, path_len=0))
    sub_sub = p.issue(name(("DC", "org"), ("DC", "example"), ("CN", "Sub Sub CA")), "ec256",
                      p.sub_ca, ca=True)
    cases = {
        "stranger": (p.stranger, "no trusted CA issued"),
        "expired": (p.expired, "expired on"),
        "not yet valid": (p.not_yet_valid, "not valid before"),
        "issued by a user": (user_signed, "not a CA"),
        "proxy not named after its issuer": (wrong_subject, "plus one CN"),
        "proxy named after someone else": (admin_named, "plus one CN"),
        "proxy path length": (grandchild, "proxies below it"),
        "independent proxy": (p.proxy(p.owner, kind="independent"), "independent"),
        "non-critical ProxyCertInfo": (p.proxy(p.owner, proxy_critical=False), "must be critical"),
        "CA path length": (p.user("deep", "Deep User", issuer=sub_sub), "CAs below it"),
        "signer is a CA": (Identity("ca", p.sub_ca.key, p.sub_ca.cert, p.sub_ca.chain), "CA"),
        "signer is a CA outside the store": (p.issue(
            name(("DC", "org"), ("DC", "example"), ("CN", "Loose CA")), "ec256", p.sub_ca, ca=True,
            key_usage=None), "is a CA, not a person"),
        "RSA 1024": (p.user("rsa1024", "Small Key", "rsa1024"), "1024-bit"),
        "server-only EKU": (p.user("srv", "host.example.org", eku=(ExtendedKeyUsageOID.SERVER_AUTH,)),
                            "clientAuth"),
        "no digitalSignature": (p.user("enc", "Encrypt Only", key_usage="key_encipherment"),
                                "digitalSignature"),
        "proxy with an alternative name": (p.proxy(p.owner, san="jane@example.org"), "alternative"),
        "secp256k1": (p.user("k1", "Bitcoin Curve", "ec256k1"), "unsupported curve"),
    }
    for label, (ident, why) in cases.items():
        # sign with the shifter's key but send this chain: the chain is refused first
        body = edit(signed(p.shifter), "protected", lambda h, i=ident: h.update(x5c=[
            base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in i.chain]))
        err = refused(body, trust)
        assert (err.code, label) == ("untrusted", label) and why in err.detail, (label, err.detail)


def test_sha1_signed_certificate_is_refused(pki, trust, tmp_path):
    """cryptography will not sign with SHA-1 any more; the openssl tool still does."""
    need_openssl()
    pem = serialization.Encoding.PEM
    user = pki.user("sha1", "Old Hash", "rsa")
    (tmp_path / "ca.pem").write_bytes(pki.ca.cert.public_bytes(pem))
    (tmp_path / "ca.key").write_bytes(pki.ca.key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (tmp_path / "user.key").write_bytes(user.key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    run = dict(cwd=tmp_path, check=True, capture_output=True)
    subprocess.run(["openssl", "req", "-new", "-key", "user.key", "-subj",
                    "/DC=org/DC=example/CN=Old Hash", "-out", "user.csr"], **run)
    subprocess.run(["openssl", "x509", "-req", "-in", "user.csr", "-CA", "ca.pem", "-CAkey",
                    "ca.key", "-CAcreateserial", "-sha1", "-days", "5", "-out", "user.pem"], **run)
    cert = x509.load_pem_x509_certificate((tmp_path / "user.pem").read_bytes())
    assert cert.signature_hash_algorithm.name == "sha1"
    err = refused(signed(Identity("s", user.key, cert, (cert,))), trust)
    assert err.code == "untrusted" and "too weak" in err.detail


def test_unreadable_certificate_and_unknown_critical_extension(pki, trust):
    body = edit(signed(pki.owner), "protected", lambda h: h.update(x5c=[b64u(b"junk") + "=="]))
    assert refused(body, trust).code == "untrusted"
    ident = pki.user("crit", "Critical Ext")
    cert = (x509.CertificateBuilder().subject_name(ident.cert.subject).issuer_name(pki.ca.cert.subject)
            .public_key(ident.key.public_key()).serial_number(7)
            .not_valid_before(ident.cert.not_valid_before_utc)
            .not_valid_after(ident.cert.not_valid_after_utc)
            .add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier("1.2.3.4"), b"\x05\x00"),
                           critical=True)
            .sign(pki.ca.key, pki.ca.cert.signature_hash_algorithm))
    err = refused(signed(Identity("c", ident.key, cert, (cert,))), trust)
    assert err.code == "untrusted" and "1.2.3.4" in err.detail


def test_bad_signatures(pki, trust):
    good = signed(pki.owner)
    tampered_payload = edit(good, "payload", lambda c: c.update(cmd="snapshot"))
    tampered_header = edit(good, "protected", lambda h: h.update(alg="RS256"))
    extra_header = edit(good, "protected", lambda h: h.update(kid="x"))
    outer = json.loads(good)
    flipped = {**outer, "signature": b64u(bytes([unb64u(outer["signature"])[0] ^ 1])
                                          + unb64u(outer["signature"])[1:])}
    wrong_key = Identity("w", pki.shifter.key, pki.owner.cert, pki.owner.chain)  # EC key, RSA cert
    other_rsa = Identity("o", pki.stranger.key, pki.owner.cert, pki.owner.chain)  # RSA, not theirs
    p256_as_384 = edit(signed(pki.shifter), "protected", lambda h: h.update(alg="ES384"))
    rsa_as_ec = edit(good, "protected", lambda h: h.update(alg="ES256"))
    # a trusted P-521 certificate, but no allowed alg fits its key
    p521 = edit(signed(pki.shifter), "protected", lambda h: h.update(x5c=[base64.b64encode(
        pki.user("p521", "Big Curve", "ec521").cert.public_bytes(serialization.Encoding.DER)
    ).decode()]))
    for body in (tampered_payload, tampered_header, extra_header, json.dumps(flipped).encode(),
                 signed(wrong_key, alg="ES256"), signed(other_rsa), p256_as_384, rsa_as_ec, p521):
        err = refused(body, trust)
        assert err.code == "bad-signature" and err.cmd is None and err.sender is None


def test_wrong_job(pki, trust):
    err = refused(signed(pki.owner, job="4712"), trust)
    assert err.code == "wrong-job" and "4712" in err.detail
    assert err.cmd == "ping" and err.sender == pki.owner.dn


def test_expired_and_future_dated_commands(pki, trust):
    now = time.time()
    cases = {
        "expired": dict(iat=now - 100, exp=now - 1),
        "future": dict(iat=now + 31, exp=now + 60),
        "too long": dict(iat=now, exp=now + 301),
        "negative lifetime": dict(iat=now + 10, exp=now + 5),
    }
    for label, fields in cases.items():
        assert refused(signed(pki.owner, **fields), trust, now).code == "expired", label
    # the limits themselves are accepted
    for fields in (dict(iat=now + 30, exp=now + 60), dict(iat=now, exp=now + 300),
                   dict(iat=now - 10, exp=now)):
        assert verify(signed(pki.owner, **fields), JOB, trust, ReplayCache(), now)


def test_replayed_nonce(pki, trust):
    cache = ReplayCache()
    body = signed(pki.owner)
    verify(body, JOB, trust, cache)
    assert refused(body, trust, cache=cache).code == "replay"
    nonce = json.loads(unb64u(json.loads(body)["payload"]))["nonce"]
    again = signed(pki.shifter, "snapshot", nonce=nonce)
    assert refused(again, trust, cache=cache).code == "replay"
    # a command refused before the replay check does not burn its nonce
    command = new_command("4712", "ping")
    assert refused(sign(command, pki.owner), trust, cache=cache).code == "wrong-job"
    verify(sign({**command, "job": JOB}, pki.owner), JOB, trust, cache)


def test_checks_run_in_the_spec_order(pki, trust):
    """Each message fails two checks; the earlier one in the spec's table wins."""
    now = time.time()
    stale = dict(iat=now - 200, exp=now - 100)
    cases = [
        (edit(edit(signed(pki.stranger), "protected", lambda h: h.update(alg="HS256")),
              "payload", lambda c: c.pop("nonce")), "malformed"),
        (edit(signed(pki.stranger), "protected", lambda h: h.update(alg="HS256")), "bad-alg"),
        (edit(signed(pki.stranger, job="x"), "payload", lambda c: c.update(cmd="x")), "untrusted"),
        (edit(signed(pki.owner, job="x"), "payload", lambda c: c.update(cmd="x")), "bad-signature"),
        (signed(pki.owner, job="other", **stale), "wrong-job"),
        (signed(pki.expired, **stale), "untrusted"),
    ]
    for body, code in cases:
        assert refused(body, trust, now).code == code


def test_replay_cache_is_bounded_and_forgets_expired_nonces():
    cache = ReplayCache(max_entries=3, skew=30)
    for i in range(3):
        cache.add(f"n{i}", exp=100.0, now=50.0)
    with pytest.raises(CommandRefused) as info:
        cache.add("n3", exp=100.0, now=60.0)
    assert info.value.code == "replay" and "try again" in info.value.detail
    assert len(cache) == 3
    with pytest.raises(CommandRefused):
        cache.add("n0", exp=200.0, now=129.0)  # still within exp + skew
    cache.add("n3", exp=300.0, now=131.0)  # the three old ones expired at 130
    assert len(cache) == 1
    cache.add("n0", exp=300.0, now=131.0)


def test_cached_chain_still_checks_dates(pki, tmp_path):
    short = pki.user("short", "Short Lived", days=(-1, 1))
    trust = TrustStore.from_dir(pki.ca_dir)
    cache = ReplayCache()
    verify(signed(short), JOB, trust, cache)
    later = time.time() + 2 * 86400
    body = signed(short, iat=later, exp=later + 60)
    err = refused(body, trust, now=later, cache=cache)
    assert err.code == "untrusted" and "expired on" in err.detail


def test_new_command_fields():
    cmd = new_command(JOB, "get_file", {"path": "log.txt"}, lifetime=30)
    assert len(unb64u(cmd["nonce"])) * 8 >= 128
    assert cmd["exp"] - cmd["iat"] == pytest.approx(30)
    assert new_command(JOB, "ping")["nonce"] != cmd["nonce"]
    with pytest.raises(ValueError):
        new_command(JOB, "ping", lifetime=301)
    assert set(ALLOWED_ALGS) == {"PS256", "RS256", "ES256", "ES384", "EdDSA"}


def test_trust_store_folder(pki, tmp_path):
    trust = TrustStore.from_dir(pki.ca_dir)
    assert len(trust) == 2 and trust.problems == []  # .r0, .signing_policy, README skipped
    (tmp_path / "broken.pem").write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    (tmp_path / "user.pem").write_bytes(pki.owner.cert.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(TrustStoreError, match="no CA certificate"):
        TrustStore.from_dir(tmp_path)
    with pytest.raises(TrustStoreError, match="does not exist"):
        TrustStore.from_dir(tmp_path / "missing")
    shutil.copy(next(pki.ca_dir.glob("*.0")), tmp_path / "ca.pem")
    store = TrustStore.from_dir(tmp_path)
    assert len(store) == 1 and len(store.problems) == 3
    assert any("no .namespaces or .signing_policy" in p for p in store.problems)
    assert any("broken.pem" in p for p in store.problems)
    assert any("not a CA" in p for p in store.problems)
