"""The signed command envelope of spec section 6: an RFC 7515 flattened JSON JWS.

`verify` runs the spec's checks in the spec's order and raises `CommandRefused`
with the first failing code. The structure, the `alg` and the x5c chain are
checked here before the JOSE library (jwcrypto) sees anything; jwcrypto then
only verifies the signature, with the one key taken from the verified first
x5c certificate. No other header (jwk, jku, x5u, kid) ever names a key.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import json
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from jwcrypto import jwk, jws

from .trust import TrustStore, Untrusted

#: the `typ` of every command
TYP = "jem-command"
ALLOWED_ALGS = ("PS256", "RS256", "ES256", "ES384", "EdDSA")
#: refusal codes, in the order the monitor checks them
ERRORS = (
    "malformed", "bad-alg", "untrusted", "bad-signature", "wrong-job",
    "expired", "replay", "forbidden", "bad-args",
)
#: largest message accepted; anything bigger is `malformed` before parsing
MAX_MESSAGE_BYTES = 64 * 1024
#: most certificates accepted in x5c
MAX_X5C = 10
#: how far in the future `iat` may lie, and the longest lifetime, in seconds
CLOCK_SKEW = 30.0
MAX_LIFETIME = 300.0
MIN_NONCE_BYTES = 16
MAX_NONCE_CHARS = 256
#: header names that would point at a key other than the x5c certificate, or change the payload
_REFUSED_HEADERS = ("jwk", "jku", "x5u", "crit", "b64")
_B64URL = re.compile(rb"[A-Za-z0-9_-]*")


class CommandRefused(Exception):
    """A command is refused with one of `ERRORS` and a one-sentence detail.

    `cmd` and `sender` are filled once the signature has verified (they are
    claims before that, and the audit record leaves them empty).
    """

    def __init__(self, code: str, detail: str, cmd: str | None = None, sender: str | None = None):
        assert code in ERRORS, code
        super().__init__(f"{code}: {detail}")
        self.code, self.detail, self.cmd, self.sender = code, detail, cmd, sender


@dataclass(frozen=True)
class Verified:
    """A command that passed every check up to and including `replay`."""

    command: dict
    sender_dn: str  # subject of the first x5c certificate (spec)
    identity_dn: str  # the end-entity subject, proxy CNs removed: what the policy looks at
    chain: tuple[x509.Certificate, ...]


class ReplayCache:
    """Nonces seen recently, each kept until its command's `exp` plus the clock skew.

    Memory is bounded: when `max_entries` unexpired nonces are held, new
    commands are refused (as `replay`) rather than forgetting a nonce early,
    which would let a captured command be replayed.
    """

    def __init__(self, max_entries: int = 100_000, skew: float = CLOCK_SKEW):
        self.max_entries, self.skew = max_entries, skew
        self._until: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._until)

    def add(self, nonce: str, exp: float, now: float) -> None:
        """Record `nonce`; raise `CommandRefused('replay')` if it is known or the cache is full."""
        with self._lock:
            while self._heap and self._heap[0][0] < now:
                until, old = heapq.heappop(self._heap)
                if self._until.get(old) == until:
                    del self._until[old]
            if nonce in self._until:
                raise CommandRefused("replay", "this command's nonce was already used")
            if len(self._until) >= self.max_entries:
                raise CommandRefused("replay", "too many recent commands to track; try again later")
            until = exp + self.skew
            self._until[nonce] = until
            heapq.heappush(self._heap, (until, nonce))


def new_command(job: str, cmd: str, args: dict | None = None, lifetime: float = 60.0) -> dict:
    """A command object with a fresh 144-bit nonce, valid from now for `lifetime` seconds."""
    if not 0 < lifetime <= MAX_LIFETIME:
        raise ValueError(f"lifetime must be in (0, {MAX_LIFETIME:.0f}] seconds")
    now = round(time.time(), 3)
    return {
        "job": job, "cmd": cmd, "args": dict(args or {}),
        "nonce": secrets.token_urlsafe(18), "iat": now, "exp": round(now + lifetime, 3),
    }


def default_alg(key) -> str:
    """The JWS `alg` for a key: PS256 for RSA, ES256/ES384 by curve, EdDSA for Ed25519."""
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "PS256"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        by_curve = {"secp256r1": "ES256", "secp384r1": "ES384"}
        if key.curve.name in by_curve:
            return by_curve[key.curve.name]
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "EdDSA"
    raise ValueError("only RSA, EC P-256/P-384 and Ed25519 keys can sign commands")


def sign(command: dict, credential, alg: str | None = None) -> bytes:
    """The flattened JWS of `command`, signed with `credential` (`.key`, `.chain` signer first)."""
    alg = alg or default_alg(credential.key)
    if alg not in ALLOWED_ALGS:
        raise ValueError(f"alg {alg!r} is not one of {', '.join(ALLOWED_ALGS)}")
    header = {
        "alg": alg, "typ": TYP,
        "x5c": [base64.b64encode(c.public_bytes(Encoding.DER)).decode() for c in credential.chain],
    }
    token = jws.JWS(json.dumps(command, separators=(",", ":")).encode())
    key = _jwks.get(credential.key, lambda: credential.key)
    token.add_signature(key, alg, protected=json.dumps(header))
    return token.serialize().encode()


# -- verification -----------------------------------------------------------


def _refuse_dupes(pairs):
    obj = {}
    for k, v in pairs:
        if k in obj:
            raise ValueError(f"duplicate member {k!r}")
        obj[k] = v
    return obj


def _no_constant(name):
    raise ValueError(f"{name} is not a JSON number")


def _json_object(raw: bytes, what: str) -> dict:
    try:
        obj = json.loads(
            raw.decode("utf-8"), object_pairs_hook=_refuse_dupes, parse_constant=_no_constant
        )
    except (ValueError, UnicodeDecodeError) as exc:
        raise CommandRefused("malformed", f"the {what} is not valid JSON ({exc})") from None
    except RecursionError:
        raise CommandRefused("malformed", f"the {what} is nested too deeply") from None
    if not isinstance(obj, dict):
        raise CommandRefused("malformed", f"the {what} is not a JSON object")
    return obj


def _b64url(value, what: str) -> bytes:
    """Strict base64url without padding; non-canonical encodings are refused too."""
    if not isinstance(value, str) or not value:
        raise CommandRefused("malformed", f"{what} is missing or not a string")
    raw = value.encode("ascii", "replace")
    if not _B64URL.fullmatch(raw) or len(raw) % 4 == 1:
        raise CommandRefused("malformed", f"{what} is not base64url")
    data = base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
    if base64.urlsafe_b64encode(data).rstrip(b"=") != raw:
        raise CommandRefused("malformed", f"{what} is not canonical base64url")
    return data


def _number(cmd: dict, name: str) -> float:
    value = cmd.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CommandRefused("malformed", f"the command's {name!r} is missing or not a number")
    return float(value)


def _parse(body: bytes):
    """Check the structure (code `malformed`); return the parts verification needs."""
    if len(body) > MAX_MESSAGE_BYTES:
        raise CommandRefused("malformed", f"the message is larger than {MAX_MESSAGE_BYTES} bytes")
    outer = _json_object(body, "message")
    if set(outer) != {"protected", "payload", "signature"}:
        raise CommandRefused(
            "malformed", "a command is a flattened JWS with exactly protected, payload and signature"
        )
    protected_raw = _b64url(outer["protected"], "protected")
    header = _json_object(protected_raw, "protected header")
    payload_raw = _b64url(outer["payload"], "payload")
    signature = _b64url(outer["signature"], "signature")
    alg, x5c = header.get("alg"), header.get("x5c")
    if not isinstance(alg, str):
        raise CommandRefused("malformed", "the header has no alg")
    if header.get("typ") != TYP:
        raise CommandRefused("malformed", f"the header's typ is not {TYP!r}")
    for name in _REFUSED_HEADERS:
        if name in header:
            raise CommandRefused("malformed", f"the header may not carry {name!r}")
    if not isinstance(x5c, list) or not 1 <= len(x5c) <= MAX_X5C:
        raise CommandRefused("malformed", f"the header's x5c is not a list of 1 to {MAX_X5C} certificates")
    try:
        ders = [base64.b64decode(c, validate=True) for c in x5c]
    except (TypeError, binascii.Error):
        raise CommandRefused("malformed", "an x5c certificate is not base64") from None
    command = _json_object(payload_raw, "payload")
    for name in ("job", "cmd", "nonce"):
        if not isinstance(command.get(name), str):
            raise CommandRefused("malformed", f"the command's {name!r} is missing or not a string")
    if not isinstance(command.setdefault("args", {}), dict):
        raise CommandRefused("malformed", "the command's args is not a JSON object")
    _number(command, "iat")
    _number(command, "exp")
    nonce = command["nonce"]
    if len(nonce) > MAX_NONCE_CHARS or len(_b64url(nonce, "the nonce")) < MIN_NONCE_BYTES:
        raise CommandRefused("malformed", f"the nonce is not {MIN_NONCE_BYTES * 8} to "
                             f"{MAX_NONCE_CHARS * 6} random bits in base64url")
    return protected_raw, payload_raw, signature, alg, ders, command


class _JWKCache:
    """JWKs by the object they come from (a verified certificate, a signing key).

    Building one costs more than a verification, and jwcrypto checks an RSA
    private key (tens of ms) the first time each JWK signs.
    """

    def __init__(self, size: int = 256):
        self._keys: OrderedDict[object, jwk.JWK] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, source, pyca_key: Callable[[], object]) -> jwk.JWK:
        with self._lock:
            key = self._keys.get(source)
            if key is not None:
                self._keys.move_to_end(source)
                return key
        key = jwk.JWK.from_pyca(pyca_key())
        with self._lock:
            self._keys[source] = key
            while len(self._keys) > self._size:
                self._keys.popitem(last=False)
        return key


_jwks = _JWKCache()


def verify(
    body: bytes | str, job_id: str, trust: TrustStore, replay_cache: ReplayCache,
    now: float | None = None,
) -> Verified:
    """Check a command as spec section 6 orders; return it or raise `CommandRefused`."""
    now = time.time() if now is None else now
    if isinstance(body, str):
        body = body.encode("utf-8")
    protected_raw, payload_raw, signature, alg, ders, command = _parse(body)
    if alg not in ALLOWED_ALGS:
        raise CommandRefused("bad-alg", f"alg {alg!r} is not one of {', '.join(ALLOWED_ALGS)}")
    try:
        chain = trust.verify_chain(ders, now)
    except Untrusted as exc:
        raise CommandRefused("untrusted", str(exc)) from None
    except (ValueError, UnsupportedAlgorithm) as exc:  # a damaged certificate loads, then fails
        # when its key, name or extensions are read
        detail = " ".join(str(exc).split())
        raise CommandRefused("untrusted", f"a certificate of the chain cannot be read: {detail}") from None
    try:
        key = _jwks.get(chain.signer, chain.signer.public_key)
        core = jws.JWSCore(alg, key, protected_raw.decode(), payload_raw, [alg])
        core.verify(signature)
    except Exception:  # jwcrypto raises several types for a key that does not fit the alg
        raise CommandRefused(
            "bad-signature", "the signature does not verify with the first certificate's key"
        ) from None
    cmd, sender = command["cmd"], chain.sender_dn
    if command["job"] != job_id:
        raise CommandRefused("wrong-job", f"the command is for job {command['job']!r}, this is job "
                             f"{job_id!r}", cmd, sender)
    iat, exp = float(command["iat"]), float(command["exp"])
    if now > exp:
        raise CommandRefused("expired", f"the command expired {now - exp:.1f} s ago", cmd, sender)
    if iat > now + CLOCK_SKEW:
        raise CommandRefused("expired", f"the command is dated {iat - now:.1f} s in the future",
                             cmd, sender)
    if not 0 <= exp - iat <= MAX_LIFETIME:
        raise CommandRefused("expired", f"the command's lifetime exp - iat is {exp - iat:.1f} s, "
                             f"not 0 to {MAX_LIFETIME:.0f} s", cmd, sender)
    try:
        replay_cache.add(command["nonce"], exp, now)
    except CommandRefused as exc:
        exc.cmd, exc.sender = cmd, sender
        raise
    return Verified(command, sender, chain.identity_dn, chain.path)
