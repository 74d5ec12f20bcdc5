"""Loading the inspector's signing credential: PEM pair, PKCS#12, proxy file, grid defaults."""

from __future__ import annotations

import pytest

from jemgui.live.credentials import (
    CredentialError,
    PassphraseNeeded,
    default_paths,
    load,
    load_pem,
    load_pkcs12,
    load_proxy,
)
from jemgui.live.envelope import ReplayCache, new_command, sign, verify
from jemgui.live.trust import TrustStore

SECRET = "c0rrect horse battery"


@pytest.fixture(scope="module")
def trust(pki):
    return TrustStore.from_dir(pki.ca_dir)


def roundtrip(cred, trust):
    """The credential signs a command the monitor accepts; returns what the monitor saw."""
    return verify(sign(new_command("j1", "ping"), cred), "j1", trust, ReplayCache())


def test_plain_pem_pair(pki, trust, tmp_path):
    cert, key = pki.shifter.write_pem(tmp_path)
    cred = load_pem(cert, key, passphrase=lambda: pytest.fail("asked for a passphrase"))
    assert cred.sender_dn == cred.identity_dn == pki.shifter.dn
    assert cred.alg == "ES256" and cred.warnings == ()
    assert pki.shifter.dn in cred.describe() and "valid until" in cred.describe()
    assert roundtrip(cred, trust).sender_dn == pki.shifter.dn


@pytest.mark.parametrize("given", [SECRET, SECRET.encode(), lambda: SECRET])
def test_encrypted_key_with_passphrase(pki, trust, tmp_path, given):
    cert, key = pki.owner.write_pem(tmp_path, passphrase=SECRET.encode())
    cred = load_pem(cert, key, passphrase=given)
    assert cred.algs == ("PS256", "RS256")
    for alg in cred.algs:
        assert verify(sign(new_command("j1", "ping"), cred, alg), "j1", trust, ReplayCache())


def test_encrypted_key_needs_the_right_passphrase(pki, tmp_path):
    cert, key = pki.owner.write_pem(tmp_path, passphrase=SECRET.encode())
    with pytest.raises(PassphraseNeeded, match="encrypted"):
        load_pem(cert, key)
    with pytest.raises(CredentialError, match="wrong passphrase"):
        load_pem(cert, key, passphrase="nope")


def test_passphrase_is_never_written(pki, tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    cert, key = pki.owner.write_pem(home / ".globus", passphrase=SECRET.encode())
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    cred = load(cert, key, passphrase=SECRET, env={"HOME": str(home)})
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert before == after
    assert all(SECRET.encode() not in data for data in after.values())
    assert SECRET not in repr(cred)


def test_key_that_does_not_fit_the_certificate(pki, tmp_path):
    cert, _ = pki.owner.write_pem(tmp_path / "a")
    _, key = pki.shifter.write_pem(tmp_path / "b")
    with pytest.raises(CredentialError, match="does not belong"):
        load_pem(cert, key)


def test_unreadable_files_give_one_line(pki, tmp_path):
    junk = tmp_path / "junk.pem"
    junk.write_text("hello\n")
    cert, key = pki.shifter.write_pem(tmp_path)
    for call, why in [
        (lambda: load_pem(tmp_path / "missing.pem", key), "cannot read certificate"),
        (lambda: load_pem(junk, key), "no PEM certificate"),
        (lambda: load_pem(cert, junk), "no readable private key"),
        (lambda: load_pkcs12(junk), "passphrase is needed"),
        (lambda: load_pkcs12(junk, "x"), "not a PKCS#12"),
        (lambda: load_proxy(cert), "no readable private key"),
    ]:
        with pytest.raises(CredentialError) as info:
            call()
        assert why in str(info.value) and "\n" not in str(info.value)


def test_key_types_that_cannot_sign_commands(pki, tmp_path):
    cert, key = pki.user("p521", "Big Curve", "ec521").write_pem(tmp_path)
    with pytest.raises(CredentialError, match="P-256/P-384"):
        load_pem(cert, key)


def test_pkcs12(pki, trust, tmp_path):
    plain = pki.sub_user.write_p12(tmp_path / "plain.p12")
    cred = load_pkcs12(plain)
    assert cred.alg == "ES384" and [c.subject for c in cred.chain] == [
        pki.sub_user.cert.subject, pki.sub_ca.cert.subject]
    assert roundtrip(cred, trust).identity_dn == pki.sub_user.dn
    locked = pki.admin.write_p12(tmp_path / "locked.p12", SECRET.encode())
    with pytest.raises(PassphraseNeeded):
        load_pkcs12(locked)
    with pytest.raises(CredentialError, match="wrong passphrase"):
        load_pkcs12(locked, "wrong")
    cred = load(p12=locked, passphrase=lambda: SECRET)
    assert cred.alg == "EdDSA" and roundtrip(cred, trust).sender_dn == pki.admin.dn


def test_proxy_file(pki, trust, tmp_path):
    path = pki.owner_proxy.write_proxy(tmp_path / "x509up_u1000")
    cred = load_proxy(path)
    assert cred.sender_dn.startswith(pki.owner.dn + "/CN=")
    assert cred.identity_dn == pki.owner.dn
    assert "proxy" in cred.describe() and pki.owner.dn in cred.describe()
    seen = roundtrip(cred, trust)
    assert seen.sender_dn == cred.sender_dn and seen.identity_dn == pki.owner.dn
    # a proxy of a proxy, chain in the file
    deeper = pki.proxy(pki.owner_proxy, "ed25519").write_proxy(tmp_path / "deeper")
    cred = load_proxy(deeper)
    assert len(cred.chain) == 3 and roundtrip(cred, trust).identity_dn == pki.owner.dn


def test_default_locations(pki, trust, tmp_path):
    home = tmp_path / "home"
    pki.shifter.write_pem(home / ".globus")
    (home / ".globus" / "shifter-cert.pem").rename(home / ".globus" / "usercert.pem")
    (home / ".globus" / "shifter-key.pem").rename(home / ".globus" / "userkey.pem")
    env = {"HOME": str(home)}
    assert default_paths(env) == {"cert": home / ".globus/usercert.pem",
                                  "key": home / ".globus/userkey.pem"}
    assert load(env=env).sender_dn == pki.shifter.dn
    proxy = pki.owner_proxy.write_proxy(tmp_path / "proxy.pem")
    env["X509_USER_PROXY"] = str(proxy)
    assert default_paths(env) == {"proxy": proxy}
    assert load(env=env).identity_dn == pki.owner.dn
    cert, key = pki.admin.write_pem(tmp_path / "elsewhere")
    env = {"HOME": str(home), "X509_USER_CERT": str(cert), "X509_USER_KEY": str(key)}
    assert load(env=env).sender_dn == pki.admin.dn
    with pytest.raises(CredentialError, match="not several"):
        load(cert, key, proxy=proxy)


def test_combined_pem_and_loose_key_permissions(pki, tmp_path):
    proxy = pki.owner_proxy.write_proxy(tmp_path / "both.pem")
    assert load(proxy).identity_dn == pki.owner.dn  # a cert file that holds its key too
    cert, key = pki.shifter.write_pem(tmp_path)
    key.chmod(0o644)
    assert any("can be read by other users" in w for w in load_pem(cert, key).warnings)
