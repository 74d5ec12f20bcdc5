"""A throw-away grid PKI for tests and benchmarks, made with `cryptography`.

`TestPKI(folder)` holds a grid-style CA (RSA) with a subordinate CA (EC P-384),
an unrelated CA (EC P-256), and people of every role and key type, each built
on first use:

=================  ======================================  ===========
attribute          subject                                 key
=================  ======================================  ===========
owner              /DC=org/DC=example/CN=Jane Owner        RSA 2048
shifter            .../OU=Shifters/CN=Sam Shifter          EC P-256
admin              .../OU=Site Admins/CN=Ada Admin         Ed25519
sub_user           .../OU=Sub/CN=Pat P384 (sub CA)         EC P-384
stranger           /DC=net/DC=other/CN=Stan Stranger       RSA 2048 (other CA)
expired            /DC=org/DC=example/CN=Ed Expired        EC P-256
not_yet_valid      /DC=org/DC=example/CN=Nat Future        EC P-256
owner_proxy        owner's DN + /CN=<serial> (RFC 3820)    EC P-256
=================  ======================================  ===========

`ca_dir` is a folder in the `/etc/grid-security/certificates` layout (hash
named `.0` files, `.signing_policy`, `.namespaces`, a `.r0` CRL) holding the
grid CA and its sub-CA, not the other CA. `issue` and `proxy` make more,
including deliberately broken certificates. An `Identity` works as a signing
credential for `jemgui.live.envelope.sign` (it has `.key` and `.chain`).
"""

from __future__ import annotations

import datetime as dt
import functools
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat import asn1
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from jemgui.live.trust import (
    PPL_INDEPENDENT,
    PPL_INHERIT_ALL,
    PPL_LIMITED,
    PROXY_CERT_INFO,
    ProxyCertInfo,
    ProxyPolicy,
    grid_dn,
)

UTC = dt.timezone.utc
PROXY_POLICIES = {"inherit": PPL_INHERIT_ALL, "limited": PPL_LIMITED, "independent": PPL_INDEPENDENT}


def new_key(kind: str):
    """A private key: "rsa" (2048), "rsa1024", "ec256", "ec384", "ec521", "ec256k1", "ed25519"."""
    if kind.startswith("rsa"):
        return rsa.generate_private_key(65537, int(kind[3:] or 2048))
    if kind.startswith("ec"):
        curve = {"ec256": ec.SECP256R1, "ec384": ec.SECP384R1, "ec521": ec.SECP521R1,
                 "ec256k1": ec.SECP256K1}[kind]
        return ec.generate_private_key(curve())
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(kind)


def name(*parts: tuple[str, str]) -> x509.Name:
    """x509.Name from ("DC", "org"), ("CN", "Jane") ... in the given (grid) order."""
    oids = {"DC": NameOID.DOMAIN_COMPONENT, "CN": NameOID.COMMON_NAME, "O": NameOID.ORGANIZATION_NAME,
            "OU": NameOID.ORGANIZATIONAL_UNIT_NAME, "C": NameOID.COUNTRY_NAME}
    return x509.Name([x509.NameAttribute(oids[k], v) for k, v in parts])


def _hash_for(key, weak: bool = False):
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if weak:
        return hashes.SHA1()
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size > 256:
        return hashes.SHA384()
    return hashes.SHA256()


@dataclass
class Identity:
    """A certificate, its key and its chain up to (not including) the root CA."""

    label: str
    key: object
    cert: x509.Certificate
    chain: tuple[x509.Certificate, ...]  # cert first

    @property
    def dn(self) -> str:
        return grid_dn(self.cert.subject)

    def write_pem(self, folder: Path, passphrase: bytes | None = None) -> tuple[Path, Path]:
        """usercert.pem (the chain) and userkey.pem (mode 0600), optionally encrypted."""
        folder.mkdir(parents=True, exist_ok=True)
        cert = folder / f"{self.label}-cert.pem"
        key = folder / f"{self.label}-key.pem"
        cert.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.chain))
        enc = (serialization.BestAvailableEncryption(passphrase) if passphrase
               else serialization.NoEncryption())
        key.touch(mode=0o600)
        key.write_bytes(self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc))
        return cert, key

    def write_p12(self, path: Path, passphrase: bytes | None = None) -> Path:
        enc = (serialization.BestAvailableEncryption(passphrase) if passphrase
               else serialization.NoEncryption())
        path.write_bytes(pkcs12.serialize_key_and_certificates(
            self.label.encode(), self.key, self.cert, list(self.chain[1:]) or None, enc))
        path.chmod(0o600)
        return path

    def write_proxy(self, path: Path) -> Path:
        """A proxy file as grid tools write it: certificate, key, then the chain."""
        pem = serialization.Encoding.PEM
        key = self.key.private_bytes(pem, serialization.PrivateFormat.TraditionalOpenSSL
                                     if not isinstance(self.key, ed25519.Ed25519PrivateKey)
                                     else serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
        path.touch(mode=0o600)
        path.write_bytes(self.cert.public_bytes(pem) + key
                         + b"".join(c.public_bytes(pem) for c in self.chain[1:]))
        return path


class TestPKI:
    """Two unrelated CAs and the people of the module docstring, under `folder`."""

    __test__ = False  # not a pytest test class

    def __init__(self, folder: str | Path, now: dt.datetime | None = None):
        self.folder = Path(folder)
        self.now = now or dt.datetime.now(UTC).replace(microsecond=0)

    # -- the generic builder -------------------------------------------------

    def issue(
        self, subject: x509.Name, key_kind: str | object = "ec256", issuer: Identity | None = None,
        *, ca: bool = False, path_len: int | None = None, days: tuple[float, float] = (-1, 365),
        proxy: str | None = None, proxy_path_len: int | None = None, proxy_critical: bool = True,
        key_usage: str | None = "default", eku: tuple | None = None, weak_hash: bool = False,
        san: str | None = None, label: str = "cert",
    ) -> Identity:
        """A certificate for `subject`, signed by `issuer` (self-signed when None).

        `proxy` ("inherit", "limited", "independent") adds a ProxyCertInfo;
        `key_usage` "default" picks CA or end-entity bits, None leaves it out,
        or a comma list like "digital_signature,key_cert_sign".
        """
        key = new_key(key_kind) if isinstance(key_kind, str) else key_kind
        signer_key = issuer.key if issuer else key
        b = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer.cert.subject if issuer else subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.now + dt.timedelta(days=days[0]))
            .not_valid_after(self.now + dt.timedelta(days=days[1]))
        )
        if ca or proxy is None:
            b = b.add_extension(x509.BasicConstraints(ca=ca, path_length=path_len if ca else None),
                                critical=True)
        bits = dict.fromkeys(("digital_signature", "content_commitment", "key_encipherment",
                              "data_encipherment", "key_agreement", "key_cert_sign", "crl_sign",
                              "encipher_only", "decipher_only"), False)
        if key_usage == "default":
            key_usage = "key_cert_sign,crl_sign" if ca else "digital_signature"
        if key_usage:
            bits.update(dict.fromkeys(key_usage.split(","), True))
            b = b.add_extension(x509.KeyUsage(**bits), critical=True)
        if eku is None and not ca and proxy is None:
            eku = (ExtendedKeyUsageOID.CLIENT_AUTH,)
        if eku:
            b = b.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
        if san:
            b = b.add_extension(x509.SubjectAlternativeName([x509.RFC822Name(san)]), critical=False)
        b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        if proxy is not None:
            info = ProxyCertInfo(path_len=proxy_path_len, proxy_policy=ProxyPolicy(
                policy_language=PROXY_POLICIES[proxy], policy=None))
            b = b.add_extension(
                x509.UnrecognizedExtension(PROXY_CERT_INFO, asn1.encode_der(info)),
                critical=proxy_critical)
        cert = b.sign(signer_key, _hash_for(signer_key, weak_hash))
        chain = (cert, *issuer.chain) if issuer and not _self_signed(issuer.cert) else (cert,)
        return Identity(label, key, cert, chain)

    def proxy(self, of: Identity, key_kind: str = "ec256", kind: str = "inherit",
              path_len: int | None = None, cn: str | None = None, hours: float = 12,
              **kw) -> Identity:
        """A proxy of `of`: RFC 3820 ("inherit", "limited", "independent"), or a legacy
        Globus one without the extension ("legacy": CN=proxy, "legacy-limited")."""
        legacy_cn = {"legacy": "proxy", "legacy-limited": "limited proxy"}.get(kind)
        cn = cn or legacy_cn or str(secrets.randbelow(2**31))
        last = x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        kw.setdefault("key_usage", "digital_signature")
        kw.setdefault("eku", ())
        return self.issue(x509.Name([*of.cert.subject.rdns, last]), key_kind, of,
                          proxy=None if legacy_cn else kind, proxy_path_len=path_len,
                          days=(-1 / 24, hours / 24), label=f"{of.label}-proxy", **kw)

    def user(self, label: str, cn: str, key_kind: str = "ec256", issuer: Identity | None = None,
             ou: str | None = None, **kw) -> Identity:
        base = issuer or self.ca
        rdns = [r for r in base.cert.subject if r.oid == NameOID.DOMAIN_COMPONENT]
        parts = [(("DC", r.value)) for r in rdns] + ([("OU", ou)] if ou else []) + [("CN", cn)]
        return self.issue(name(*parts), key_kind, base, label=label, **kw)

    # -- the standard cast ---------------------------------------------------

    @functools.cached_property
    def ca(self) -> Identity:
        return self.issue(name(("DC", "org"), ("DC", "example"), ("CN", "Example Grid CA")),
                          "rsa", ca=True, path_len=1, days=(-30, 3650), label="ca")

    @functools.cached_property
    def sub_ca(self) -> Identity:
        return self.issue(name(("DC", "org"), ("DC", "example"), ("CN", "Example Sub CA")),
                          "ec384", self.ca, ca=True, path_len=0, days=(-20, 1000), label="subca")

    @functools.cached_property
    def other_ca(self) -> Identity:
        return self.issue(name(("DC", "net"), ("DC", "other"), ("CN", "Other CA")),
                          "ec256", ca=True, days=(-30, 3650), label="otherca")

    @functools.cached_property
    def owner(self) -> Identity:
        return self.user("owner", "Jane Owner", "rsa")

    @functools.cached_property
    def shifter(self) -> Identity:
        return self.user("shifter", "Sam Shifter", "ec256", ou="Shifters")

    @functools.cached_property
    def admin(self) -> Identity:
        return self.user("admin", "Ada Admin", "ed25519", ou="Site Admins")

    @functools.cached_property
    def sub_user(self) -> Identity:
        return self.user("subuser", "Pat P384", "ec384", issuer=self.sub_ca, ou="Sub")

    @functools.cached_property
    def stranger(self) -> Identity:
        return self.user("stranger", "Stan Stranger", "rsa", issuer=self.other_ca)

    @functools.cached_property
    def expired(self) -> Identity:
        return self.user("expired", "Ed Expired", days=(-30, -1))

    @functools.cached_property
    def not_yet_valid(self) -> Identity:
        return self.user("future", "Nat Future", days=(1, 30))

    @functools.cached_property
    def owner_proxy(self) -> Identity:
        return self.proxy(self.owner)

    # -- files ---------------------------------------------------------------

    @functools.cached_property
    def ca_dir(self) -> Path:
        """The grid CA and sub-CA in the `/etc/grid-security/certificates` layout."""
        return self.write_ca_dir(self.folder / "certificates", [self.ca, self.sub_ca])

    def write_ca_dir(self, folder: Path, cas: list[Identity]) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        for ca in cas:
            pem = ca.cert.public_bytes(serialization.Encoding.PEM)
            stem = _subject_hash(pem)
            (folder / f"{stem}.0").write_bytes(pem)
            dn = grid_dn(ca.cert.subject)
            (folder / f"{stem}.signing_policy").write_text(
                f"access_id_CA X509 '{dn}'\npos_rights globus CA:sign\n"
                f"cond_subjects globus '\"{dn.rsplit('/', 1)[0]}/*\"'\n")
            (folder / f"{stem}.namespaces").write_text(f'TO Issuer "{dn}" PERMIT Subject ".*"\n')
            crl = (x509.CertificateRevocationListBuilder().issuer_name(ca.cert.subject)
                   .last_update(self.now).next_update(self.now + dt.timedelta(days=7))
                   .sign(ca.key, _hash_for(ca.key)))
            (folder / f"{stem}.r0").write_bytes(crl.public_bytes(serialization.Encoding.PEM))
        (folder / "README.txt").write_text("not a certificate\n")
        return folder


def _self_signed(cert: x509.Certificate) -> bool:
    return cert.subject == cert.issuer


def need_openssl() -> str:
    """The openssl tool, which the grid's CA folders and the cross-checks are made with; a test
    without it fails saying so (CI must not quietly check less)."""
    tool = shutil.which("openssl")
    if tool is None:
        pytest.fail("the openssl tool is not installed (apt-get install openssl): the CA folder "
                    "and the cross-checks against it need it", pytrace=False)
    return tool


def _subject_hash(pem: bytes) -> str:
    """OpenSSL's subject hash (the `.0` file name of a CA in a grid CA folder)."""
    out = subprocess.run([need_openssl(), "x509", "-noout", "-subject_hash"], input=pem,
                         capture_output=True, check=True, timeout=10)
    return out.stdout.decode().strip()
