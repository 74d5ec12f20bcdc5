"""A throw-away PKI for `jemgui demo --live`: a demo CA and one user, so steering works anywhere.

Nothing here is a grid identity. The CA is made on this machine, kept in the
cache folder, and trusted only by the demo job (it is the demo job's
`--ca-dir`); the user's certificate signs the window's commands and its DN is
the demo job's `--owner`. Files are made once and reused while the
certificate has more than a day left.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from jemgui.live.trust import grid_dn

ORG = (("DC", "org"), ("DC", "jemgui-demo"))
CA_CN = "JEM Inspector demo CA (this machine only)"
USER_CN = "Demo User"
_OIDS = {"DC": NameOID.DOMAIN_COMPONENT, "CN": NameOID.COMMON_NAME}


@dataclass(frozen=True)
class DemoPKI:
    """The files of the demo PKI under `folder`."""

    folder: Path

    @property
    def cert(self) -> Path:
        return self.folder / "usercert.pem"

    @property
    def key(self) -> Path:
        return self.folder / "userkey.pem"

    @property
    def ca_dir(self) -> Path:
        return self.folder / "certificates"

    @property
    def dn(self) -> str:
        """The user's DN in grid form (the demo job's owner)."""
        return grid_dn(x509.load_pem_x509_certificate(self.cert.read_bytes()).subject)


def _name(*cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(_OIDS[k], v) for k, v in (*ORG, ("CN", cn[0]))])


def _usable(pki: DemoPKI, now: dt.datetime) -> bool:
    """The files are there, fit together, and stay valid for at least a day."""
    try:
        cert = x509.load_pem_x509_certificate(pki.cert.read_bytes())
        ca = x509.load_pem_x509_certificate((pki.ca_dir / "demo-ca.pem").read_bytes())
        key = serialization.load_pem_private_key(pki.key.read_bytes(), None)
        cert.verify_directly_issued_by(ca)
    except (OSError, ValueError, TypeError):
        return False
    same_key = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) == \
        cert.public_key().public_bytes(serialization.Encoding.DER,
                                       serialization.PublicFormat.SubjectPublicKeyInfo)
    return same_key and cert.not_valid_after_utc > now + dt.timedelta(days=1)


def _write_private(path: Path, data: bytes) -> None:
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def ensure(folder: str | Path, days: int = 30) -> DemoPKI:
    """The demo PKI in `folder`, made (again) when missing, broken or about to expire."""
    pki = DemoPKI(Path(folder))
    now = dt.datetime.now(dt.timezone.utc)
    if _usable(pki, now):
        return pki
    pki.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    pki.ca_dir.mkdir(exist_ok=True)
    start, end = now - dt.timedelta(hours=1), now + dt.timedelta(days=days)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(CA_CN)
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                       critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    user_key = ec.generate_private_key(ec.SECP256R1())
    user = (
        x509.CertificateBuilder().subject_name(_name(USER_CN)).issuer_name(ca_name)
        .public_key(user_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False),
                       critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(user_key.public_key()), False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       False)
        .sign(ca_key, hashes.SHA256())
    )
    # the CA's key is not kept: nothing else will ever be signed by it
    pem = serialization.Encoding.PEM
    (pki.ca_dir / "demo-ca.pem").write_bytes(ca.public_bytes(pem))
    _write_private(pki.key, user_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))
    pki.cert.write_bytes(user.public_bytes(pem))
    return pki
