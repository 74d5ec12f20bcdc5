"""Grid trust store and certificate-chain verification, RFC 3820 proxies included.

`cryptography`'s X.509 verifier implements the web PKI and rejects grid user
certificates and proxy chains, so the path is checked here with its
primitives. `TrustStore.verify_chain` accepts a chain when ALL of these hold
(anything else raises `Untrusted` with a one-line reason):

* Path: the certificates, signer first, link by issuer name -> subject name
  and end at a trust anchor: either a certificate that is in the store
  itself, or one whose issuer is a store certificate with a verifying key.
  Certificates sent after the anchor are ignored. At most `MAX_PATH` long.
* Shape: zero or more proxies, then exactly one end-entity certificate
  (no CA basicConstraints), then CA certificates up to the anchor.
* Signatures: every certificate except the anchor is signed by the next one
  (`verify_directly_issued_by`: issuer name and signature). The anchor's own
  self-signature is not checked (the folder is what is trusted, as OpenSSL
  does). MD5 and SHA-1 signatures are refused. RSA keys under 2048 bits and
  keys other than RSA, EC (P-256/384/521) and Ed25519 are refused.
* Dates: `now` lies within notBefore..notAfter of EVERY certificate of the
  path, the anchor included.
* CAs: basicConstraints CA:TRUE; keyUsage, when present, has keyCertSign;
  a CA's pathLenConstraint bounds the CA certificates below it (proxies and
  the end entity do not count).
* End entity and proxies: keyUsage, when present, has digitalSignature (they
  sign the command or the next proxy) and never keyCertSign; extendedKeyUsage,
  when present, has clientAuth or anyExtendedKeyUsage.
* RFC 3820 proxy (ProxyCertInfo 1.3.6.1.5.5.7.1.14, which must be critical):
  issued by the end entity or a proxy; subject = issuer's subject plus one
  single-valued CN; no CA bit, no subject/issuer alternative names; policy
  language inheritAll or Globus "limited" (an independent proxy carries no
  rights of its issuer and is refused); pCPathLenConstraint bounds the proxies
  below it. Legacy Globus proxies (no ProxyCertInfo, last CN `proxy` or
  `limited proxy`) follow the same rules; pre-RFC draft proxies are refused.
* Critical extensions: only those listed in `_UNDERSTOOD` may be critical.

* Names: every subject of the path can be written as a grid DN without
  ambiguity: no attribute value holds `/`, `=`, `+`, a control character or
  a line break (spec section 6), else the chain is untrusted.
* Namespaces: each certificate a CA issued has a subject its CA may issue:
  the CA's `.namespaces` file (EUGridPMA format, regular expressions), or
  else its `.signing_policy` (Globus format, `*` wildcards), found in the CA
  folder by the CA's DN. A CA with neither file is not constrained (noted in
  `problems`). A CA's nameConstraints extension, critical or not, is applied
  to directory names; any other kind of constraint makes the chain untrusted.
* Keys: Ed25519 keys of small order (which anyone can forge signatures for)
  and RSA keys with an even or tiny public exponent are refused.

Not checked: CRLs (`*.r0` files are ignored, so revocation is NOT checked),
certificate policies.

Every CA certificate in the folder is a trust anchor, as grid middleware
treats `/etc/grid-security/certificates`. Verified chains are cached by the
hash of their DER bytes; the dates are checked again on every use.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat import asn1
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

#: RFC 3820 ProxyCertInfo extension
PROXY_CERT_INFO = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.14")
#: the pre-RFC (GT3 draft) ProxyCertInfo; such proxies are refused
DRAFT_PROXY_CERT_INFO = x509.ObjectIdentifier("1.3.6.1.4.1.3536.1.222")
PPL_INHERIT_ALL = x509.ObjectIdentifier("1.3.6.1.5.5.7.21.1")
PPL_INDEPENDENT = x509.ObjectIdentifier("1.3.6.1.5.5.7.21.2")
PPL_LIMITED = x509.ObjectIdentifier("1.3.6.1.4.1.3536.1.1.1.9")
LEGACY_PROXY_CNS = ("proxy", "limited proxy")

#: longest path (proxies + end entity + CAs) that is followed
MAX_PATH = 12
MIN_RSA_BITS = 2048
#: verified chains kept in memory
CACHE_SIZE = 256

_UNDERSTOOD = {
    ExtensionOID.BASIC_CONSTRAINTS,
    ExtensionOID.KEY_USAGE,
    ExtensionOID.EXTENDED_KEY_USAGE,
    ExtensionOID.SUBJECT_KEY_IDENTIFIER,
    ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
    ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
    ExtensionOID.ISSUER_ALTERNATIVE_NAME,
    ExtensionOID.CERTIFICATE_POLICIES,
    ExtensionOID.CRL_DISTRIBUTION_POINTS,
    ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
    ExtensionOID.NAME_CONSTRAINTS,
    PROXY_CERT_INFO,
}
_AMBIGUOUS = re.compile(r"[/=+\x00-\x1f\x7f\u0080-\u009f\u2028\u2029]")
_WEAK_HASHES = (hashes.MD5, hashes.SHA1)
_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)
_CA_FILE = re.compile(r"^[0-9a-f]{8}\.\d+$")

# OpenSSL's short names, for the one-line DN form grid tools print
_SHORT_NAMES = {
    NameOID.COUNTRY_NAME: "C",
    NameOID.STATE_OR_PROVINCE_NAME: "ST",
    NameOID.LOCALITY_NAME: "L",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.COMMON_NAME: "CN",
    NameOID.DOMAIN_COMPONENT: "DC",
    NameOID.EMAIL_ADDRESS: "emailAddress",
    NameOID.USER_ID: "UID",
    NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.SURNAME: "SN",
    NameOID.GIVEN_NAME: "GN",
    NameOID.TITLE: "title",
    NameOID.INITIALS: "initials",
    NameOID.PSEUDONYM: "pseudonym",
    NameOID.DN_QUALIFIER: "dnQualifier",
    NameOID.STREET_ADDRESS: "street",
    NameOID.POSTAL_CODE: "postalCode",
}


class Untrusted(ValueError):
    """The chain does not verify to a trusted CA; the message says why, in one line."""


class TrustStoreError(ValueError):
    """The CA folder cannot be used at all."""


@asn1.sequence
class ProxyPolicy:
    policy_language: x509.ObjectIdentifier
    policy: bytes | None


@asn1.sequence
class ProxyCertInfo:
    path_len: int | None
    proxy_policy: ProxyPolicy


def grid_dn(name: x509.Name) -> str:
    """`x509.Name` -> "/DC=org/DC=example/CN=Jane Doe": OpenSSL's one-line form, encoding order."""
    parts = []
    for rdn in name.rdns:
        parts.append(
            "+".join(
                f"{_SHORT_NAMES.get(a.oid, a.oid.dotted_string)}="
                f"{a.value.hex() if isinstance(a.value, bytes) else a.value}"
                for a in rdn
            )
        )
    return "".join("/" + p for p in parts)


def ambiguous(name: x509.Name) -> str | None:
    """The first attribute value of `name` that a grid DN cannot hold unambiguously, or None."""
    for rdn in name.rdns:
        for a in rdn:
            value = a.value.hex() if isinstance(a.value, bytes) else a.value
            if _AMBIGUOUS.search(value):
                return value
    return None


# -- CA namespaces (.namespaces, .signing_policy) ---------------------------------------


@dataclass(frozen=True)
class Namespace:
    """Which subjects one CA may issue: (permit?, compiled pattern) rules, first match wins."""

    rules: tuple[tuple[bool, re.Pattern], ...]
    source: str

    def allows(self, subject_dn: str) -> bool:
        for permit, pattern in self.rules:
            if pattern.fullmatch(subject_dn):
                return permit
        return False


_NS_RULE = re.compile(
    r'TO\s+Issuer\s+"((?:[^"\\]|\\.)*)"\s+((?:(?:PERMIT|DENY)\s+Subject\s+"(?:[^"\\]|\\.)*"\s*)+)',
    re.IGNORECASE)
_NS_SUBJECT = re.compile(r'(PERMIT|DENY)\s+Subject\s+"((?:[^"\\]|\\.)*)"', re.IGNORECASE)


def parse_namespaces(text: str, source: str) -> dict[str, Namespace]:
    """Rules by issuer DN from an EUGridPMA `.namespaces` file (patterns are regexes)."""
    text = re.sub(r"#[^\n]*", "", text).replace("\\\n", " ")
    out: dict[str, list] = {}
    for m in _NS_RULE.finditer(text):
        rules = out.setdefault(m.group(1), [])
        for verb, pattern in _NS_SUBJECT.findall(m.group(2)):
            try:
                rules.append((verb.upper() == "PERMIT", re.compile(pattern, re.DOTALL)))
            except re.error as exc:
                raise ValueError(f"{source}: pattern {pattern!r} is not a regular expression: "
                                 f"{exc}") from None
    return {dn: Namespace(tuple(r), source) for dn, r in out.items()}


def _glob(pattern: str) -> re.Pattern:
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c)
                              for c in pattern), re.DOTALL)


def parse_signing_policy(text: str, source: str) -> dict[str, Namespace]:
    """Rules by issuer DN from a Globus `.signing_policy` file (`*` and `?` wildcards)."""
    out: dict[str, list] = {}
    current = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"access_id_CA\s+X509\s+'([^']*)'", line)
        if m:
            current = out.setdefault(m.group(1), [])
            continue
        m = re.match(r"cond_subjects\s+globus\s+'(.*)'\s*$", line)
        if m and current is not None:
            current.extend((True, _glob(p)) for p in re.findall(r'"([^"]*)"', m.group(1)))
    return {dn: Namespace(tuple(r), source) for dn, r in out.items()}


def _ext(cert: x509.Certificate, oid):
    try:
        return cert.extensions.get_extension_for_oid(oid)
    except x509.ExtensionNotFound:
        return None


def _is_ca(cert: x509.Certificate) -> bool:
    bc = _ext(cert, ExtensionOID.BASIC_CONSTRAINTS)
    return bool(bc and bc.value.ca)


def _legacy_proxy_cn(cert: x509.Certificate) -> bool:
    rdns = cert.subject.rdns
    if not rdns or len(rdns[-1]) != 1:
        return False
    (last,) = rdns[-1]
    return last.oid == NameOID.COMMON_NAME and last.value in LEGACY_PROXY_CNS


def is_proxy(cert: x509.Certificate) -> bool:
    """Does `cert` present itself as a proxy (RFC 3820 extension, or legacy Globus CN)?"""
    return _ext(cert, PROXY_CERT_INFO) is not None or (
        _ext(cert, DRAFT_PROXY_CERT_INFO) is None
        and not _is_ca(cert)
        and _legacy_proxy_cn(cert)
        and x509.Name(cert.subject.rdns[:-1]) == cert.issuer
    )


def identity_of(chain: list[x509.Certificate]) -> x509.Certificate:
    """The end-entity certificate a chain speaks for: the first that is not a proxy."""
    for cert in chain:
        if not is_proxy(cert):
            return cert
    raise Untrusted("the chain holds only proxies, no end-entity certificate")


@dataclass(frozen=True)
class Chain:
    """A verified path, signer first, anchor last."""

    path: tuple[x509.Certificate, ...]
    sender_dn: str  # subject of the signer (first certificate), proxy CNs included
    identity_dn: str  # subject of the end-entity certificate (proxy CNs removed)
    not_before: float  # latest notBefore of the path (Unix seconds)
    not_after: float  # earliest notAfter of the path
    ca_dn: str = ""  # the CA that issued the end-entity certificate

    @property
    def identity(self) -> str:
        """DN and issuing CA in one line: who this is, as the audit and the panel show it."""
        return f"{self.identity_dn} (CA {self.ca_dn})"

    @property
    def signer(self) -> x509.Certificate:
        return self.path[0]


class TrustStore:
    """The CA certificates a monitor trusts, and the chain checks of the module docstring."""

    def __init__(self, cas: list[x509.Certificate], problems: list[str] | None = None,
                 namespaces: dict[str, Namespace] | None = None):
        self.problems = list(problems or [])
        self.namespaces = dict(namespaces or {})
        self._anchors: set[x509.Certificate] = set()
        self._by_subject: dict[x509.Name, list[x509.Certificate]] = {}
        for cert in cas:
            if not _is_ca(cert):
                self.problems.append(f"{grid_dn(cert.subject)}: not a CA certificate, ignored")
                continue
            if cert not in self._anchors:
                self._anchors.add(cert)
                self._by_subject.setdefault(cert.subject, []).append(cert)
        self._cache: OrderedDict[bytes, Chain] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def from_dir(cls, folder: str | Path) -> TrustStore:
        """Load `*.N` (hash links) and `*.pem` files; CRLs, signing policies and others are skipped."""
        folder = Path(folder)
        if not folder.is_dir():
            raise TrustStoreError(f"CA folder {folder} does not exist or is not a folder")
        cas, problems = [], []
        by_policy: dict[str, Namespace] = {}
        by_namespaces: dict[str, Namespace] = {}
        for path in sorted(folder.iterdir()):
            if path.suffix in (".namespaces", ".signing_policy") and path.is_file():
                parse = parse_namespaces if path.suffix == ".namespaces" else parse_signing_policy
                try:
                    rules = parse(path.read_text("utf-8", errors="replace"), path.name)
                except (OSError, ValueError) as exc:
                    raise TrustStoreError(f"{path}: {exc}") from None
                (by_namespaces if path.suffix == ".namespaces" else by_policy).update(rules)
                continue
            if not (_CA_FILE.match(path.name) or path.suffix == ".pem") or not path.is_file():
                continue
            try:
                cas.extend(x509.load_pem_x509_certificates(path.read_bytes()))
            except (OSError, ValueError) as exc:
                problems.append(f"{path.name}: {exc}")
        store = cls(cas, problems, {**by_policy, **by_namespaces})  # .namespaces wins
        if not store._anchors:
            raise TrustStoreError(f"no CA certificate in {folder}")
        for dn in sorted({grid_dn(c.subject) for c in store._anchors} - set(store.namespaces)):
            store.problems.append(f"{dn}: no .namespaces or .signing_policy file, its "
                                  "subjects are not constrained")
        return store

    def __len__(self) -> int:
        return len(self._anchors)

    def verify_chain(self, ders: list[bytes], now: float) -> Chain:
        """Verify a chain given as DER certificates, signer first; raise `Untrusted`."""
        key = hashlib.sha256(b"".join(len(d).to_bytes(4, "big") + d for d in ders)).digest()
        with self._lock:
            chain = self._cache.get(key)
            if chain is not None:
                self._cache.move_to_end(key)
        if chain is None:
            try:
                certs = [x509.load_der_x509_certificate(d) for d in ders]
            except ValueError as exc:
                raise Untrusted(f"a certificate of the chain cannot be read: {exc}") from None
            chain = self._verify(certs, now)
            with self._lock:
                self._cache[key] = chain
                while len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
        if not chain.not_before <= now <= chain.not_after:
            _check_dates(chain.path, now)
        return chain

    def verify_certificates(self, certs: list[x509.Certificate], now: float) -> Chain:
        """`verify_chain` for parsed certificates (no cache)."""
        return self._verify(list(certs), now)

    # -- the checks --------------------------------------------------------

    def _build_path(self, certs: list[x509.Certificate]) -> list[x509.Certificate]:
        path = [certs[0]]
        while path[-1] not in self._anchors:
            if len(path) >= MAX_PATH:
                raise Untrusted(f"the chain is longer than {MAX_PATH} certificates")
            cert = path[-1]
            if len(path) < len(certs) and certs[len(path)].subject == cert.issuer:
                path.append(certs[len(path)])
                continue
            candidates = self._by_subject.get(cert.issuer)
            if not candidates:
                raise Untrusted(
                    f"no trusted CA issued {grid_dn(cert.subject)!r} "
                    f"(issuer {grid_dn(cert.issuer)!r})"
                )
            # several CAs may share a name (key roll-over): take the one whose key fits;
            # with none, the first, so the signature check below says what is wrong
            path.append(next((a for a in candidates if _signed_by(cert, a)), candidates[0]))
        if len(path) == 1:
            raise Untrusted("the signer's certificate is a CA certificate")
        return path

    def _verify(self, certs: list[x509.Certificate], now: float) -> Chain:
        if not certs:
            raise Untrusted("no certificate")
        path = self._build_path(certs)
        anchor = len(path) - 1
        _check_dates(path, now)
        # shape: proxies, one end entity, CAs
        n_proxies = 0
        while n_proxies < anchor and is_proxy(path[n_proxies]):
            n_proxies += 1
        eec = n_proxies
        if eec == anchor or _is_ca(path[eec]):
            raise Untrusted(f"{grid_dn(path[eec].subject)!r} is a CA, not a person or host")
        for i, cert in enumerate(path):
            dn = grid_dn(cert.subject)
            odd = ambiguous(cert.subject)
            if odd is not None:
                raise Untrusted(f"the subject {dn!r} cannot be written unambiguously as a grid DN "
                                f"(value {odd!r})")
            if eec <= i < anchor:
                self._check_namespace(cert, path[i + 1], dn)
            _check_extensions(cert, dn)
            _check_key(cert, dn)
            if i < anchor:
                _check_signature(cert, path[i + 1], dn)
            if i < n_proxies:
                _check_proxy(cert, path[i + 1], proxies_below=i, dn=dn)
            elif i == eec:
                _check_end_entity(cert, dn)
            else:
                _check_ca(cert, cas_below=i - eec - 1, dn=dn)
                for below in path[:i]:
                    _check_name_constraints(cert, below, dn)
        return Chain(
            path=tuple(path),
            sender_dn=grid_dn(path[0].subject),
            identity_dn=grid_dn(path[eec].subject),
            not_before=max(c.not_valid_before_utc.timestamp() for c in path),
            not_after=min(c.not_valid_after_utc.timestamp() for c in path),
            ca_dn=grid_dn(path[eec].issuer),
        )

    def _check_namespace(self, cert: x509.Certificate, issuer: x509.Certificate, dn: str) -> None:
        namespace = self.namespaces.get(grid_dn(issuer.subject))
        if namespace is not None and not namespace.allows(dn):
            raise Untrusted(f"CA {grid_dn(issuer.subject)!r} may not issue {dn!r} (its namespace "
                            f"in {namespace.source})")


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _check_dates(path, now: float) -> None:
    for cert in path:
        if now < cert.not_valid_before_utc.timestamp():
            raise Untrusted(
                f"certificate {grid_dn(cert.subject)!r} is not valid before "
                f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M:%S} UTC"
            )
        if now > cert.not_valid_after_utc.timestamp():
            raise Untrusted(
                f"certificate {grid_dn(cert.subject)!r} expired on "
                f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC"
            )


def _check_extensions(cert: x509.Certificate, dn: str) -> None:
    for ext in cert.extensions:
        if ext.critical and ext.oid not in _UNDERSTOOD:
            raise Untrusted(f"{dn!r} has a critical extension {ext.oid.dotted_string} not understood")


def _check_key(cert: x509.Certificate, dn: str) -> None:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise Untrusted(f"{dn!r} has a {key.key_size}-bit RSA key (at least {MIN_RSA_BITS})")
        e = key.public_numbers().e
        if e < 3 or e % 2 == 0:
            raise Untrusted(f"{dn!r} has an RSA key with the weak public exponent {e}")
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, _CURVES):
            raise Untrusted(f"{dn!r} has a key on the unsupported curve {key.curve.name}")
    elif isinstance(key, ed25519.Ed25519PublicKey):
        if ed25519_small_order(key.public_bytes_raw()):
            raise Untrusted(f"{dn!r} has an Ed25519 key of small order: anyone can sign for it")
    else:
        raise Untrusted(f"{dn!r} has an unsupported key type")


_P = 2**255 - 19
_D = -121665 * pow(121666, _P - 2, _P) % _P


def ed25519_small_order(raw: bytes) -> bool:
    """Is the encoded Ed25519 point of order 1, 2, 4 or 8 (or no point at all)?

    Eight times the point is the neutral element exactly for those; computed
    in extended coordinates with plain integers (a few µs, once per chain).
    """
    if len(raw) != 32:
        return True
    y = int.from_bytes(raw, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    if y >= _P:
        return True
    u, v = (y * y - 1) % _P, (_D * y * y + 1) % _P
    x = u * pow(v, 3, _P) * pow(u * pow(v, 7, _P), (_P - 5) // 8, _P) % _P
    if v * x * x % _P != u:
        x = x * pow(2, (_P - 1) // 4, _P) % _P
        if v * x * x % _P != u:
            return True  # not on the curve
    if x & 1 != sign:
        x = _P - x
    point = (x % _P, y, 1, x * y % _P)
    for _ in range(3):
        point = _double(point)
    X, Y, Z, _T = point
    return X % _P == 0 and (Y - Z) % _P == 0


def _double(p):
    X, Y, Z, _T = p
    a, b, c = X * X % _P, Y * Y % _P, 2 * Z * Z % _P
    h = (a + b) % _P
    e = (h - (X + Y) * (X + Y)) % _P
    g = (a - b) % _P
    f = (c + g) % _P
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _check_name_constraints(ca: x509.Certificate, cert: x509.Certificate, dn: str) -> None:
    """Apply `ca`'s nameConstraints (critical or not) to a certificate below it."""
    ext = _ext(ca, ExtensionOID.NAME_CONSTRAINTS)
    if ext is None:
        return
    nc = ext.value
    trees = [*(nc.permitted_subtrees or ()), *(nc.excluded_subtrees or ())]
    if any(not isinstance(t, x509.DirectoryName) for t in trees):
        raise Untrusted(f"CA {dn!r} has name constraints of a kind this monitor does not check")
    rdns = cert.subject.rdns

    def under(tree: x509.DirectoryName) -> bool:
        prefix = tree.value.rdns
        return rdns[:len(prefix)] == prefix

    subject = grid_dn(cert.subject)
    if nc.permitted_subtrees and not any(under(t) for t in nc.permitted_subtrees):
        raise Untrusted(f"{subject!r} is outside the names CA {dn!r} may issue")
    if any(under(t) for t in nc.excluded_subtrees or ()):
        raise Untrusted(f"{subject!r} is in a name CA {dn!r} may not issue")


def _check_signature(cert: x509.Certificate, issuer: x509.Certificate, dn: str) -> None:
    try:
        algo = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        raise Untrusted(f"{dn!r} is signed with an unsupported algorithm") from None
    if isinstance(algo, _WEAK_HASHES):
        raise Untrusted(f"{dn!r} is signed with {algo.name}, which is too weak")
    try:
        cert.verify_directly_issued_by(issuer)
    except InvalidSignature:
        raise Untrusted(f"the signature on {dn!r} does not verify with its issuer's key") from None
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise Untrusted(f"{dn!r} is not issued by {grid_dn(issuer.subject)!r}: {exc}") from None


def _key_usage(cert: x509.Certificate):
    ext = _ext(cert, ExtensionOID.KEY_USAGE)
    return ext.value if ext else None


def _check_signer_usage(cert: x509.Certificate, dn: str) -> None:
    ku = _key_usage(cert)
    if ku is not None and not ku.digital_signature:
        raise Untrusted(f"{dn!r} may not sign (keyUsage lacks digitalSignature)")
    if ku is not None and ku.key_cert_sign:
        raise Untrusted(f"{dn!r} is not a CA but has keyCertSign")
    eku = _ext(cert, ExtensionOID.EXTENDED_KEY_USAGE)
    if eku is not None and not (
        ExtendedKeyUsageOID.CLIENT_AUTH in eku.value
        or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in eku.value
    ):
        raise Untrusted(f"{dn!r} is not for client use (extendedKeyUsage lacks clientAuth)")


def _check_end_entity(cert: x509.Certificate, dn: str) -> None:
    if not cert.subject.rdns:
        raise Untrusted("the end-entity certificate has an empty subject")
    _check_signer_usage(cert, dn)


def _check_ca(cert: x509.Certificate, cas_below: int, dn: str) -> None:
    bc = _ext(cert, ExtensionOID.BASIC_CONSTRAINTS)
    if bc is None or not bc.value.ca:
        raise Untrusted(f"{dn!r} issues certificates but is not a CA")
    if bc.value.path_length is not None and cas_below > bc.value.path_length:
        raise Untrusted(f"{dn!r} allows {bc.value.path_length} CAs below it, the chain has {cas_below}")
    ku = _key_usage(cert)
    if ku is not None and not ku.key_cert_sign:
        raise Untrusted(f"{dn!r} may not sign certificates (keyUsage lacks keyCertSign)")


def _check_proxy(cert: x509.Certificate, issuer: x509.Certificate, proxies_below: int, dn: str):
    if _is_ca(cert):
        raise Untrusted(f"proxy {dn!r} claims to be a CA")
    rdns = cert.subject.rdns
    if (
        len(rdns) != len(issuer.subject.rdns) + 1
        or x509.Name(rdns[:-1]) != issuer.subject
        or len(rdns[-1]) != 1
        or next(iter(rdns[-1])).oid != NameOID.COMMON_NAME
    ):
        raise Untrusted(f"proxy {dn!r} is not its issuer's subject plus one CN")
    for oid in (ExtensionOID.SUBJECT_ALTERNATIVE_NAME, ExtensionOID.ISSUER_ALTERNATIVE_NAME):
        if _ext(cert, oid) is not None:
            raise Untrusted(f"proxy {dn!r} carries an alternative name")
    _check_signer_usage(cert, dn)
    pci = _ext(cert, PROXY_CERT_INFO)
    if pci is None:
        return  # legacy Globus proxy: name rules above are all there is
    if not pci.critical:
        raise Untrusted(f"proxy {dn!r}: ProxyCertInfo must be critical")
    try:
        info = asn1.decode_der(ProxyCertInfo, pci.value.value)
    except ValueError:
        raise Untrusted(f"proxy {dn!r}: ProxyCertInfo cannot be read") from None
    language = info.proxy_policy.policy_language
    if language == PPL_INDEPENDENT:
        raise Untrusted(f"proxy {dn!r} is independent: it carries none of its issuer's rights")
    if language not in (PPL_INHERIT_ALL, PPL_LIMITED):
        raise Untrusted(f"proxy {dn!r} has an unknown policy {language.dotted_string}")
    if info.path_len is not None and proxies_below > info.path_len:
        raise Untrusted(f"proxy {dn!r} allows {info.path_len} proxies below it, not {proxies_below}")
