"""The inspector's signing credential: a grid certificate and key, a PKCS#12 file or a proxy.

A passphrase is only ever handed to `cryptography` to decrypt the key in
memory; it is not stored, logged or written anywhere. Callers that ask the
user pass a callable, which is called only when the key turns out to be
encrypted.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
    pkcs12,
)

from .envelope import default_alg
from .trust import grid_dn, identity_of

Passphrase = str | bytes | Callable[[], str | bytes] | None


class CredentialError(ValueError):
    """The credential cannot be loaded; the message is one line."""


class PassphraseNeeded(CredentialError):
    """The key is encrypted and no passphrase was given."""


@dataclass(frozen=True)
class Credential:
    """A private key and its certificate chain, signer first."""

    key: object
    chain: tuple[x509.Certificate, ...]
    source: str
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @property
    def certificate(self) -> x509.Certificate:
        return self.chain[0]

    @property
    def sender_dn(self) -> str:
        """Subject of the signing certificate (a proxy's DN ends in its proxy CN)."""
        return grid_dn(self.chain[0].subject)

    @property
    def identity_dn(self) -> str:
        """The DN the monitor's policy sees: the end-entity subject, proxy CNs removed."""
        return grid_dn(identity_of(list(self.chain)).subject)

    @property
    def alg(self) -> str:
        return default_alg(self.key)

    @property
    def algs(self) -> tuple[str, ...]:
        """Every `alg` this key can sign with (RSA: PS256 and RS256)."""
        return ("PS256", "RS256") if self.alg == "PS256" else (self.alg,)

    def describe(self) -> str:
        """One line to show before sending: who signs, and until when."""
        kind = "proxy, " if self.sender_dn != self.identity_dn else ""
        until = self.certificate.not_valid_after_utc
        return f"{self.identity_dn} ({kind}valid until {until:%Y-%m-%d %H:%M} UTC)"


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CredentialError(f"cannot read {what} {path}: {exc.strerror}") from None


def _secret(passphrase: Passphrase) -> bytes | None:
    if callable(passphrase):
        passphrase = passphrase()
    if isinstance(passphrase, str):
        passphrase = passphrase.encode("utf-8")
    return passphrase


def _load_key(data: bytes, path: Path, passphrase: Passphrase):
    try:
        return load_pem_private_key(data, None)
    except TypeError:  # encrypted
        pass
    except ValueError:
        raise CredentialError(f"{path} holds no readable private key") from None
    secret = _secret(passphrase)
    if secret is None:
        raise PassphraseNeeded(f"the key in {path} is encrypted; a passphrase is needed")
    try:
        return load_pem_private_key(data, secret)
    except (TypeError, ValueError):
        raise CredentialError(f"wrong passphrase for {path}") from None


def _public(key) -> bytes:
    return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def _assemble(key, certs: list[x509.Certificate], source: str, warnings=()) -> Credential:
    """Put the certificate of `key` first, then its issuers in order; check the pair fits."""
    if not certs:
        raise CredentialError(f"{source}: no certificate found")
    try:
        default_alg(key)
    except ValueError as exc:
        raise CredentialError(f"{source}: {exc}") from None
    mine = _public(key.public_key())
    leaf = next((c for c in certs if _public(c.public_key()) == mine), None)
    if leaf is None:
        raise CredentialError(f"{source}: the key does not belong to the certificate")
    chain, rest = [leaf], [c for c in certs if c is not leaf]
    while rest:
        nxt = next((c for c in rest if c.subject == chain[-1].issuer), None)
        if nxt is None or nxt.subject == nxt.issuer:
            break  # self-signed roots are left out: the monitor has them
        chain.append(nxt)
        rest.remove(nxt)
    return Credential(key, tuple(chain), source, tuple(warnings))


def _key_warnings(path: Path) -> list[str]:
    try:
        mode = path.stat().st_mode
    except OSError:
        return []
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return [f"{path} can be read by other users; grid tools expect mode 0400 or 0600"]
    return []


def load_pem(cert: str | Path, key: str | Path, passphrase: Passphrase = None) -> Credential:
    """A certificate (optionally followed by its chain) and a key, as PEM files."""
    cert, key = Path(cert), Path(key)
    data = _read(cert, "certificate")
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise CredentialError(f"{cert} holds no PEM certificate") from None
    private = _load_key(_read(key, "key"), key, passphrase)
    return _assemble(private, certs, str(cert), _key_warnings(key))


def load_pkcs12(path: str | Path, passphrase: Passphrase = None) -> Credential:
    """A PKCS#12 (.p12/.pfx) file; tried without a passphrase first."""
    path = Path(path)
    data = _read(path, "PKCS#12 file")
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, None)
    except ValueError:
        secret = _secret(passphrase)
        if secret is None:
            raise PassphraseNeeded(f"{path} is protected; a passphrase is needed") from None
        try:
            key, cert, extra = pkcs12.load_key_and_certificates(data, secret)
        except ValueError:
            raise CredentialError(f"wrong passphrase for {path}, or not a PKCS#12 file") from None
    if key is None:
        raise CredentialError(f"{path} holds no private key")
    return _assemble(key, [c for c in [cert, *extra] if c is not None], str(path),
                     _key_warnings(path))


def load_proxy(path: str | Path) -> Credential:
    """A proxy file as grid tools write it: proxy certificate, its key, then the chain."""
    path = Path(path)
    data = _read(path, "proxy")
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise CredentialError(f"{path} holds no PEM certificate") from None
    key = _load_key(data, path, None)
    return _assemble(key, certs, str(path), _key_warnings(path))


def default_paths(env: dict | None = None) -> dict[str, Path]:
    """Where the grid convention looks: `X509_USER_PROXY`, else `X509_USER_CERT`/`KEY`, else ~/.globus."""
    env = os.environ if env is None else env
    if env.get("X509_USER_PROXY"):
        return {"proxy": Path(env["X509_USER_PROXY"])}
    globus = Path(env.get("HOME") or Path.home()) / ".globus"
    return {
        "cert": Path(env.get("X509_USER_CERT") or globus / "usercert.pem"),
        "key": Path(env.get("X509_USER_KEY") or globus / "userkey.pem"),
    }


def load(
    cert: str | Path | None = None, key: str | Path | None = None, *, p12: str | Path | None = None,
    proxy: str | Path | None = None, passphrase: Passphrase = None, env: dict | None = None,
) -> Credential:
    """The credential the user named, or the default one of `default_paths`."""
    if sum(x is not None for x in (cert or key, p12, proxy)) > 1:
        raise CredentialError("give a certificate and key, a PKCS#12 file or a proxy, not several")
    if p12 is not None:
        return load_pkcs12(p12, passphrase)
    if proxy is not None:
        return load_proxy(proxy)
    if cert is None and key is None:
        found = default_paths(env)
        if "proxy" in found:
            return load_proxy(found["proxy"])
        cert, key = found["cert"], found["key"]
    elif cert is None:
        raise CredentialError("a key needs its certificate")
    return load_pem(cert, key if key is not None else cert, passphrase)
