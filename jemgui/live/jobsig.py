"""What the job signs (spec section 6a): replies, announcements and batches, and their checks.

`JobSigner` is the monitor's side: it signs with the job's grid credential.
`JobVerifier` is the reader's side (`send`, `follow`, `jobs`, the window): it
takes a message and returns its content with a `Seal` saying whether it is
verified and by whom, or raises `Rejected` with a one-line reason, which
callers count and drop. The rules:

* A signed message must verify to a CA of the reader's trust store, name
  this job, and be signed by the job's owner: the DN given (`owner`), else
  the announced `job.user` when it is a DN, and in any case the same
  identity (DN + issuing CA) as the first verified message of the job.
* An unsigned message is taken, marked unverified, only while nothing of the
  job has verified and signatures are not required; once one message of a
  job verified, unsigned ones are forgeries.
* Without a trust store nothing can be verified: everything is unverified
  (and refused when signatures are required).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import Counter
from dataclasses import dataclass

import orjson

from .envelope import (
    CommandRefused,
    check_signature,
    open_detached,
    parse_jws,
    protected_header,
    sign_detached,
    sign_object,
)
from .trust import TrustStore

REPLY_TYP, ANNOUNCE_TYP, BATCH_TYP = "jem-reply", "jem-announce", "jem-batch"
#: largest announcement, reply or batch a reader looks at
MAX_BODY = 8 << 20
_DIGITS = re.compile(r"0|[1-9][0-9]{0,17}")


def batch_text(job: str, pid: int, first: int, last: int, body: bytes) -> bytes:
    """What a batch's `jem-sig` signs (spec section 6a)."""
    return f"{job}\n{pid}\n{first}\n{last}\n{hashlib.sha256(body).hexdigest()}".encode()


class JobSigner:
    """Signs a job's replies, announcements and batches with its credential (`.key`, `.chain`)."""

    def __init__(self, credential, job_id: str):
        self.credential, self.job_id = credential, job_id
        self._headers = {typ: protected_header(credential, typ)
                         for typ in (REPLY_TYP, ANNOUNCE_TYP, BATCH_TYP)}

    @property
    def identity(self) -> str:
        return self.credential.describe() if hasattr(self.credential, "describe") else ""

    def reply(self, reply: dict, cid: str) -> bytes:
        obj = {**reply, "job": self.job_id, "cid": cid, "iat": round(time.time(), 3)}
        return sign_object(obj, self.credential, REPLY_TYP, protected=self._headers[REPLY_TYP])

    def announcement(self, ann: dict) -> bytes:
        obj = {**ann, "iat": round(time.time(), 3)}
        return sign_object(obj, self.credential, ANNOUNCE_TYP,
                           protected=self._headers[ANNOUNCE_TYP])

    def batch(self, pid: int, first: int, last: int, body: bytes) -> str:
        text = batch_text(self.job_id, pid, first, last, body)
        return sign_detached(text, self.credential, self._headers[BATCH_TYP])


class Rejected(ValueError):
    """A message the reader drops; the text says why in one line."""


class OtherJob(Rejected):
    """An announcement of another job: not this reader's business, not counted."""


@dataclass(frozen=True)
class Seal:
    """Whether a message verified, and the identity (DN and CA) that signed it."""

    verified: bool
    signer: str | None = None

    def words(self) -> str:
        return f"verified: {self.signer}" if self.verified else "UNVERIFIED"


UNVERIFIED = Seal(False)


def seq_header(value) -> int:
    """A `jem-pid`/`jem-*-seq` header: decimal digits only, at most 18 of them."""
    if not isinstance(value, str) or not _DIGITS.fullmatch(value):
        raise Rejected(f"batch header {value!r} is not a decimal number")
    return int(value)


def _json(body: bytes, what: str):
    if len(body) > MAX_BODY:
        raise Rejected(f"the {what} is larger than {MAX_BODY} bytes")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise Rejected(f"the {what} is not JSON") from None


class JobVerifier:
    """Checks one job's messages as the module docstring says; counts what it drops."""

    def __init__(self, job_id: str, trust: TrustStore | None, owner: str | None = None,
                 require_signed: bool = False):
        self.job_id, self.trust, self.owner = job_id, trust, owner
        self.require_signed = require_signed
        self.identity: tuple[str, str] | None = None  #: (DN, CA) of the job's verified signer
        self.dropped: Counter[str] = Counter()  #: reasons of dropped messages
        self.verified = 0

    @property
    def signed(self) -> bool:
        """Has a message of this job verified (so unsigned ones are forgeries)?"""
        return self.identity is not None

    def drop(self, reason: str) -> None:
        self.dropped[reason] += 1

    def _unsigned(self, what: str) -> Seal:
        if self.require_signed:
            raise Rejected(f"unsigned {what} (signatures are required)")
        if self.signed:
            raise Rejected(f"unsigned {what} from a job that signs its messages")
        return UNVERIFIED

    def _signed(self, chain, claimed_user=None) -> Seal:
        who = (chain.identity_dn, chain.ca_dn)
        want = self.owner or (claimed_user if isinstance(claimed_user, str)
                              and claimed_user.startswith("/") else None)
        if want is not None and chain.identity_dn != want:
            raise Rejected(f"signed by {chain.identity_dn!r}, not the job's owner {want!r}")
        if self.identity is not None and who != self.identity:
            raise Rejected(f"signed by {chain.identity}, not by {self.identity[0]} "
                           f"(CA {self.identity[1]}) who signs this job's messages")
        self.identity = who
        self.verified += 1
        return Seal(True, chain.identity)

    def _open(self, body: bytes, typ: str, what: str, first=None):
        """(payload, chain, signed) of a body: a JWS of `typ`, or plain JSON (signed False).

        Chain is None for plain JSON, and for a JWS when there is no trust store.
        `first(payload)` runs before the signature is checked (cheap refusals).
        """
        obj = _json(body, what)
        if not (isinstance(obj, dict) and set(obj) == {"protected", "payload", "signature"}):
            if first is not None:
                first(obj)
            return obj, None, False
        try:
            protected_raw, payload_raw, signature, alg, ders, obj = parse_jws(body, typ, what)
            if first is not None:
                first(obj)
            if self.trust is None:
                return obj, None, True
            chain = check_signature(protected_raw, payload_raw, signature, alg, ders, self.trust,
                                    time.time())
        except CommandRefused as exc:
            raise Rejected(f"{what} {exc.code}: {exc.detail}") from None
        return obj, chain, True

    def _seal(self, chain, signed: bool, what: str, claimed_user=None) -> Seal:
        if chain is not None:
            return self._signed(chain, claimed_user)
        if signed:  # no trust store
            if self.require_signed:
                raise Rejected(f"signed {what}, but no CA folder to verify it with")
            return UNVERIFIED
        return self._unsigned(what)

    # -- the three kinds ------------------------------------------------------------

    def announcement(self, body: bytes) -> tuple[dict, Seal]:
        """An announcement of this job (`Rejected` for other jobs' too: the caller filters)."""
        def ours(obj) -> None:
            if not isinstance(obj, dict) or not isinstance(obj.get("job"), dict):
                raise Rejected("not an announcement")
            if str(obj["job"].get("id")) != self.job_id:
                raise OtherJob("an announcement of another job")

        obj, chain, signed = self._open(body, ANNOUNCE_TYP, "announcement", ours)
        return obj, self._seal(chain, signed, "announcement", obj["job"].get("user"))

    def reply(self, body: bytes, cid: str) -> tuple[dict, Seal]:
        """A reply to the command `cid`; its `job`, `cid` and `iat` are checked and removed."""
        obj, chain, signed = self._open(body, REPLY_TYP, "reply")
        if signed:
            if not isinstance(obj, dict) or obj.get("job") != self.job_id or obj.get("cid") != cid:
                raise Rejected("a signed reply to another command or job")
            obj = {k: v for k, v in obj.items() if k not in ("job", "cid", "iat")}
        if not isinstance(obj, dict) or not isinstance(obj.get("ok"), bool):
            raise Rejected("the reply is not a JEM reply object")
        return obj, self._seal(chain, signed, "reply")

    def batch(self, headers: dict, body: bytes) -> tuple[int, list, Seal]:
        """(pid, records, seal) of a batch; every record must be of the signed pid and range."""
        pid = seq_header(headers.get("jem-pid"))
        first = seq_header(headers.get("jem-first-seq"))
        last = seq_header(headers.get("jem-last-seq"))
        if last < first:
            raise Rejected("a batch whose last seq is before its first")
        if len(body) > MAX_BODY:
            raise Rejected(f"a batch larger than {MAX_BODY} bytes")
        sig = headers.get("jem-sig")
        if sig is None:
            seal = self._unsigned("batch")
        elif self.trust is None:
            if self.require_signed:
                raise Rejected("signed batch, but no CA folder to verify it with")
            seal = UNVERIFIED
        else:
            try:
                chain = open_detached(sig, batch_text(self.job_id, pid, first, last, body),
                                      self.trust, BATCH_TYP)
            except CommandRefused as exc:
                raise Rejected(f"batch {exc.code}: {exc.detail}") from None
            seal = self._signed(chain)
        records = _json(body, "batch")
        if not isinstance(records, list):
            raise Rejected("a batch is not a JSON array")
        for rec in records:
            if not isinstance(rec, dict) or rec.get("pid") != pid or type(rec.get("seq")) is not int \
                    or not first <= rec["seq"] <= last:
                raise Rejected("a batch holds a record outside its signed pid and seq range")
        return pid, records, seal


def claimed_job(body: bytes) -> str | None:
    """The job id an announcement claims, NOT verified (to pick the job's verifier), or None."""
    try:
        obj = _json(body, "announcement")
        if isinstance(obj, dict) and "protected" in obj:
            obj = parse_jws(body, ANNOUNCE_TYP, "announcement")[5]
    except (Rejected, CommandRefused):
        return None
    job = obj.get("job") if isinstance(obj, dict) else None
    job_id = job.get("id") if isinstance(job, dict) else None
    return job_id if isinstance(job_id, str) else None


def default_trust() -> TrustStore | None:
    """The trust store of the grid's default CA folder (X509_CERT_DIR, then
    /etc/grid-security/certificates), or None when there is none: readers that are given no
    CA folder still verify what they can."""
    import os

    folder = os.environ.get("X509_CERT_DIR") or "/etc/grid-security/certificates"
    try:
        return TrustStore.from_dir(folder)
    except (OSError, ValueError):
        return None
