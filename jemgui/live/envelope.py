"""The signed command envelope of spec section 6: an RFC 7515 flattened JSON JWS.

`verify` runs the spec's checks in the spec's order and raises `CommandRefused`
with the first failing code. The same parsing and signature checks serve what
the job signs (section 6a, `jemgui.live.jobsig`): `open_signed` and
`sign_object` take the `typ` to expect or write. The structure, the `alg` and the x5c chain are
checked here before the JOSE library (jwcrypto) sees anything; jwcrypto then
only verifies the signature, with the one key taken from the verified first
x5c certificate. No other header (jwk, jku, x5u, kid) ever names a key.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import json
import os
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

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
#: the reply queue an inspector names for itself: at least 128 random bits (spec section 6)
REPLY_QUEUE = re.compile(r"/queue/jem\.reply\.[A-Za-z0-9_-]{22,128}")
CID = re.compile(r"[\x21-\x7e]{1,128}")
#: nonces one sender may hold in the replay cache at once (its commands' lifetimes)
PER_SENDER = 5_000
#: signature length in bytes for the fixed-size algorithms (RSA: the modulus size)
SIG_BYTES = {"ES256": 64, "ES384": 96, "EdDSA": 64}
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
        self.ca: str | None = None  # the sender's issuing CA, once the signature verified


@dataclass(frozen=True)
class Verified:
    """A command that passed every check up to and including `replay`."""

    command: dict
    sender_dn: str  # subject of the first x5c certificate (spec)
    identity_dn: str  # the end-entity subject, proxy CNs removed: what the policy looks at
    chain: tuple[x509.Certificate, ...]
    ca_dn: str = ""  # the CA that issued the end-entity certificate: identity is DN + CA

    @property
    def identity(self) -> str:
        """DN and issuing CA in one line, as the audit and the panel show them."""
        return f"{self.identity_dn} (CA {self.ca_dn})"


class ReplayCache:
    """Nonces of authenticated commands, each kept until its `exp` plus the clock skew.

    Each sender (DN + CA) has its own budget of `per_sender` nonces: when it
    is spent, that sender's new commands are refused as `replay` (rather than
    forgetting a nonce early, which would let a captured command be replayed),
    and nobody else is affected. With a `path` (in the job's folder) every
    nonce is appended to that file before the command runs, and a monitor
    restarted on the same folder loads the unexpired ones back.
    """

    def __init__(self, max_entries: int = 1_000_000, skew: float = CLOCK_SKEW,
                 per_sender: int = PER_SENDER, path: str | Path | None = None):
        self.max_entries, self.skew, self.per_sender = max_entries, skew, per_sender
        self._until: dict[str, tuple[float, str]] = {}
        self._count: dict[str, int] = {}
        self._heap: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self.path = Path(path) if path is not None else None
        self._file = None
        if self.path is not None:
            self._load(time.time())

    def __len__(self) -> int:
        return len(self._until)

    def _load(self, now: float) -> None:
        try:
            lines = self.path.read_bytes().splitlines()
        except FileNotFoundError:
            lines = []
        for line in lines:
            try:
                nonce, until, sender = json.loads(line)
                until = float(until)
            except (ValueError, TypeError):
                continue  # a line cut by a crash
            if until >= now and isinstance(nonce, str) and isinstance(sender, str):
                self._keep(nonce, until, sender)
        # rewrite with the live ones only, then append
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.writelines(json.dumps([n, u, snd]) + "\n" for n, (u, snd) in self._until.items())
        os.replace(tmp, self.path)
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _keep(self, nonce: str, until: float, sender: str) -> None:
        self._until[nonce] = (until, sender)
        self._count[sender] = self._count.get(sender, 0) + 1
        heapq.heappush(self._heap, (until, nonce))

    def add(self, nonce: str, exp: float, now: float, sender: str = "") -> None:
        """Record `nonce` of an authenticated `sender`; `CommandRefused('replay')` if known or
        the sender's budget is spent."""
        with self._lock:
            while self._heap and self._heap[0][0] < now:
                until, old = heapq.heappop(self._heap)
                held = self._until.get(old)
                if held is not None and held[0] == until:
                    del self._until[old]
                    left = self._count[held[1]] - 1
                    if left:
                        self._count[held[1]] = left
                    else:
                        del self._count[held[1]]
            if nonce in self._until:
                raise CommandRefused("replay", "this command's nonce was already used")
            if self._count.get(sender, 0) >= self.per_sender or len(self._until) >= self.max_entries:
                raise CommandRefused("replay", "you sent too many commands recently; try again later")
            until = exp + self.skew
            self._keep(nonce, until, sender)
            if self._file is not None:
                self._file.write(json.dumps([nonce, until, sender]) + "\n")
                self._file.flush()


def new_reply_queue() -> str:
    """A reply queue name of 144 random bits (spec section 6)."""
    return f"/queue/jem.reply.{secrets.token_urlsafe(18)}"


def new_command(job: str, cmd: str, args: dict | None = None, lifetime: float = 60.0,
                reply_to: str | None = None, cid: str | None = None) -> dict:
    """A command object with a fresh 144-bit nonce, valid from now for `lifetime` seconds.

    `reply_to` and `cid` are signed with it; fresh ones are made when not given.
    """
    if not 0 < lifetime <= MAX_LIFETIME:
        raise ValueError(f"lifetime must be in (0, {MAX_LIFETIME:.0f}] seconds")
    now = round(time.time(), 3)
    return {
        "job": job, "cmd": cmd, "args": dict(args or {}),
        "nonce": secrets.token_urlsafe(18), "iat": now, "exp": round(now + lifetime, 3),
        "reply_to": reply_to or new_reply_queue(), "cid": cid or secrets.token_hex(16),
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
    return sign_object(command, credential, TYP, alg)


def protected_header(credential, typ: str | None, alg: str | None = None) -> tuple[str, str, str]:
    """(alg, header JSON, its base64url) for `credential`: `alg`, `typ` (when given), `x5c`.

    Made once per credential and message kind: the x5c chain is most of it.
    """
    alg = alg or default_alg(credential.key)
    if alg not in ALLOWED_ALGS:
        raise ValueError(f"alg {alg!r} is not one of {', '.join(ALLOWED_ALGS)}")
    header = {"alg": alg, **({"typ": typ} if typ else {}),
              "x5c": [base64.b64encode(c.public_bytes(Encoding.DER)).decode()
                      for c in credential.chain]}
    text = json.dumps(header, separators=(",", ":"))
    return alg, text, _b64(text.encode())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sign_bytes(payload: bytes, credential, protected: tuple[str, str, str]) -> str:
    """The base64url signature of `payload` under the `protected_header` given."""
    alg, header, _ = protected
    key = _jwks.get(credential.key, lambda: credential.key)
    return jws.JWSCore(alg, key, header, payload, None).sign()["signature"]


def sign_object(obj: dict, credential, typ: str, alg: str | None = None,
                protected: tuple[str, str, str] | None = None) -> bytes:
    """The flattened JWS of the JSON object `obj` with header `typ`."""
    protected = protected or protected_header(credential, typ, alg)
    payload = json.dumps(obj, separators=(",", ":")).encode()
    sig = sign_bytes(payload, credential, protected)
    return json.dumps({"protected": protected[2], "payload": _b64(payload),
                       "signature": sig}).encode()


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


def parse_command(body: bytes, headers: dict | None = None):
    """Check a command's structure (code `malformed`); return the parts verification needs.

    With `headers` (the STOMP message's), `reply-to` and `correlation-id` must
    equal the signed `reply_to` and `cid`.
    """
    protected_raw, payload_raw, signature, alg, ders, command = parse_jws(body, TYP, "command")
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
    reply_to, cid = command.get("reply_to"), command.get("cid")
    if not isinstance(reply_to, str) or not REPLY_QUEUE.fullmatch(reply_to):
        raise CommandRefused("malformed", "the command's reply_to is not a /queue/jem.reply.<at "
                             "least 128 random bits> queue")
    if not isinstance(cid, str) or not CID.fullmatch(cid):
        raise CommandRefused("malformed", "the command's cid is not 1 to 128 printable characters")
    if headers is not None and (headers.get("reply-to") != reply_to
                                or headers.get("correlation-id") != cid):
        raise CommandRefused("malformed", "the reply-to or correlation-id header differs from the "
                             "signed reply_to and cid")
    return protected_raw, payload_raw, signature, alg, ders, command


def parse_jws(body: bytes, typ: str, what: str):
    """Structure of a flattened JWS of `typ` (code `malformed`): its parts and payload object."""
    if len(body) > MAX_MESSAGE_BYTES:
        raise CommandRefused("malformed", f"the message is larger than {MAX_MESSAGE_BYTES} bytes")
    outer = _json_object(body, "message")
    if set(outer) != {"protected", "payload", "signature"}:
        raise CommandRefused(
            "malformed", f"a {what} is a flattened JWS with exactly protected, payload and signature"
        )
    protected_raw, alg, ders = _header(outer["protected"], typ)
    payload_raw = _b64url(outer["payload"], "payload")
    signature = _b64url(outer["signature"], "signature")
    return protected_raw, payload_raw, signature, alg, ders, _json_object(payload_raw, "payload")


def _header(protected: str, typ: str | None):
    """The protected header's raw bytes, `alg` and x5c certificates (code `malformed`)."""
    protected_raw = _b64url(protected, "protected")
    header = _json_object(protected_raw, "protected header")
    alg, x5c = header.get("alg"), header.get("x5c")
    if not isinstance(alg, str):
        raise CommandRefused("malformed", "the header has no alg")
    if typ is not None and header.get("typ") != typ:
        raise CommandRefused("malformed", f"the header's typ is not {typ!r}")
    for name in _REFUSED_HEADERS:
        if name in header:
            raise CommandRefused("malformed", f"the header may not carry {name!r}")
    if not isinstance(x5c, list) or not 1 <= len(x5c) <= MAX_X5C:
        raise CommandRefused("malformed", f"the header's x5c is not a list of 1 to {MAX_X5C} certificates")
    try:
        ders = [base64.b64decode(c, validate=True) for c in x5c]
    except (TypeError, binascii.Error):
        raise CommandRefused("malformed", "an x5c certificate is not base64") from None
    return protected_raw, alg, ders


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


def check_signature(protected_raw: bytes, payload_raw: bytes, signature: bytes, alg: str,
                    ders: list[bytes], trust: TrustStore, now: float):
    """`bad-alg`, `untrusted` and `bad-signature` checks; the verified chain."""
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
    key = chain.signer.public_key()
    want = SIG_BYTES.get(alg)
    if want is None and isinstance(key, rsa.RSAPublicKey):
        want = (key.key_size + 7) // 8
    if want is not None and len(signature) != want:
        raise CommandRefused("bad-signature", f"a {alg} signature is {want} bytes, not "
                             f"{len(signature)}")
    try:
        jwk_key = _jwks.get(chain.signer, chain.signer.public_key)
        core = jws.JWSCore(alg, jwk_key, protected_raw.decode(), payload_raw, [alg])
        core.verify(signature)
    except Exception:  # jwcrypto raises several types for a key that does not fit the alg
        raise CommandRefused(
            "bad-signature", "the signature does not verify with the first certificate's key"
        ) from None
    return chain


def open_signed(body: bytes, typ: str, trust: TrustStore, now: float | None = None):
    """(payload object, verified chain) of a flattened JWS of `typ`; `CommandRefused` otherwise."""
    now = time.time() if now is None else now
    protected_raw, payload_raw, signature, alg, ders, obj = parse_jws(body, typ, typ)
    return obj, check_signature(protected_raw, payload_raw, signature, alg, ders, trust, now)


def open_detached(compact: str, payload: bytes, trust: TrustStore, typ: str | None = None,
                  now: float | None = None):
    """The verified chain of a compact JWS with a detached `payload` (RFC 7515 appendix F)."""
    now = time.time() if now is None else now
    if not isinstance(compact, str) or len(compact) > MAX_MESSAGE_BYTES:
        raise CommandRefused("malformed", "the signature is missing or too large")
    parts = compact.split(".")
    if len(parts) != 3 or parts[1]:
        raise CommandRefused("malformed", "the signature is not a compact JWS with a detached "
                             "payload")
    protected_raw, alg, ders = _header(parts[0], typ)
    signature = _b64url(parts[2], "signature")
    return check_signature(protected_raw, payload, signature, alg, ders, trust, now)


def sign_detached(payload: bytes, credential, protected: tuple[str, str, str]) -> str:
    """A compact JWS of `payload` with the payload left out (RFC 7515 appendix F)."""
    return f"{protected[2]}..{sign_bytes(payload, credential, protected)}"


def verify(
    body: bytes | str, job_id: str, trust: TrustStore, replay_cache: ReplayCache,
    now: float | None = None, headers: dict | None = None,
) -> Verified:
    """Check a command as spec section 6 orders; return it or raise `CommandRefused`.

    `headers` are the message's STOMP headers, checked against the signed
    `reply_to` and `cid` (the monitor always passes them).
    """
    now = time.time() if now is None else now
    if isinstance(body, str):
        body = body.encode("utf-8")
    protected_raw, payload_raw, signature, alg, ders, command = parse_command(body, headers)
    chain = check_signature(protected_raw, payload_raw, signature, alg, ders, trust, now)
    try:
        return _check_claims(command, chain, job_id, replay_cache, now)
    except CommandRefused as exc:
        exc.ca = chain.ca_dn
        raise


def _check_claims(command: dict, chain, job_id: str, replay_cache: ReplayCache,
                  now: float) -> Verified:
    """`wrong-job`, `expired` and `replay`, for a command whose signature verified."""
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
        replay_cache.add(command["nonce"], exp, now, f"{chain.identity_dn}\n{chain.ca_dn}")
    except CommandRefused as exc:
        exc.cmd, exc.sender = cmd, sender
        raise
    return Verified(command, sender, chain.identity_dn, chain.path, chain.ca_dn)
