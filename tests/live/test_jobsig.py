"""What the job signs (spec 6a): replies, announcements and batches, checked by readers.

The job's signatures are also verified by a second, independent JOSE library
(joserfc), so a bug shared by our signer and our verifier cannot hide.
"""

from __future__ import annotations

import base64
import hashlib
import json

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jws as rfc_jws
from joserfc.jwk import ECKey, OKPKey, RSAKey

from jemgui.live.jobsig import JobSigner, JobVerifier, Rejected, batch_text, claimed_job
from jemgui.live.publisher import batch_message
from jemgui.live.trust import TrustStore

JOB = "job-6a"
CA = "/DC=org/DC=example/CN=Example Grid CA"


@pytest.fixture(scope="module")
def trust(pki):
    return TrustStore.from_dir(pki.ca_dir)


@pytest.fixture(scope="module")
def signer(pki):
    return JobSigner(pki.owner, JOB)


def records(pid: int, first: int, last: int) -> list[bytes]:
    return [orjson.dumps({"seq": s, "ts": 1.0 + s, "pid": pid, "kind": "marker", "text": "x"})
            for s in range(first, last + 1)]


def verifier(trust, **kw) -> JobVerifier:
    return JobVerifier(JOB, trust, **kw)


def _public_jwk(ident):
    pem = ident.cert.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    kind = type(ident.key).__name__
    return (RSAKey if "RSA" in kind else ECKey if "EC" in kind else OKPKey).import_key(pem)


def _registry(alg: str):
    registry = rfc_jws.JWSRegistry(algorithms=[alg])
    registry.max_header_length = 16 * 1024  # x5c makes headers bigger than its default
    return registry


@pytest.mark.filterwarnings("ignore:EdDSA is deprecated")
@pytest.mark.parametrize("who,alg", [("owner", "PS256"), ("shifter", "ES256"),
                                     ("sub_user", "ES384"), ("admin", "EdDSA")])
def test_what_the_job_signs_verifies_with_an_independent_jose_library(pki, who, alg):
    ident = getattr(pki, who)
    job = JobSigner(ident, JOB)
    key, registry = _public_jwk(ident), _registry(alg)
    reply = rfc_jws.deserialize_json(json.loads(job.reply({"ok": True, "cmd": "ping"}, "c1")),
                                     key, registry=registry)
    assert reply.headers()["typ"] == "jem-reply"
    assert {k: v for k, v in json.loads(reply.payload).items() if k != "iat"} == \
        {"ok": True, "cmd": "ping", "job": JOB, "cid": "c1"}
    ann = rfc_jws.deserialize_json(json.loads(job.announcement({"job": {"id": JOB}})), key,
                                   registry=registry)
    assert ann.headers()["typ"] == "jem-announce" and json.loads(ann.payload)["job"] == {"id": JOB}
    body, headers = batch_message(7, records(7, 3, 5), 3, 5, job)
    text = f"{JOB}\n7\n3\n5\n{hashlib.sha256(body).hexdigest()}".encode()  # spec 6a, by hand
    sig = rfc_jws.deserialize_compact(headers["jem-sig"], key, registry=registry, payload=text)
    assert sig.headers()["typ"] == "jem-batch" and sig.payload == text
    assert headers["jem-sig"].split(".")[1] == ""  # detached: the payload is not in the header
    with pytest.raises(Exception):  # noqa: B017 - joserfc's own error types
        rfc_jws.deserialize_compact(headers["jem-sig"], key, registry=registry,
                                    payload=batch_text(JOB, 7, 3, 5, body + b" "))


def test_signed_messages_verify_as_the_owner_with_its_ca(pki, trust, signer):
    v = verifier(trust, owner=pki.owner.dn)
    ann, seal = v.announcement(signer.announcement({"job": {"id": JOB}, "status": "running"}))
    assert seal.verified and seal.signer == f"{pki.owner.dn} (CA {CA})" and ann["status"] == "running"
    reply, seal = v.reply(signer.reply({"ok": True, "cmd": "ping", "result": {}}, "cid-1"), "cid-1")
    assert reply == {"ok": True, "cmd": "ping", "result": {}} and seal.verified
    body, headers = batch_message(9, records(9, 0, 2), 0, 2, signer)
    pid, recs, seal = v.batch(headers, body)
    assert pid == 9 and [r["seq"] for r in recs] == [0, 1, 2] and seal.verified


def test_forgeries_are_rejected(pki, trust, signer):
    v = verifier(trust)
    v.announcement(signer.announcement({"job": {"id": JOB}}))  # the job signs: pinned
    cases = {
        "unsigned announcement": lambda: v.announcement(orjson.dumps(
            {"job": {"id": JOB}, "status": "ended", "last_seq": {"1": 10**9}})),
        "unsigned reply": lambda: v.reply(orjson.dumps({"ok": True, "cmd": "get_file"}), "c"),
        "unsigned batch": lambda: v.batch(*reversed(batch_message(1, records(1, 0, 1), 0, 1))),
        "signed by a stranger's CA": lambda: v.announcement(
            JobSigner(pki.stranger, JOB).announcement({"job": {"id": JOB}})),
        "signed by a trusted non-owner": lambda: v.reply(
            JobSigner(pki.shifter, JOB).reply({"ok": True}, "c"), "c"),
        "reply to another command": lambda: v.reply(signer.reply({"ok": True}, "other"), "c"),
        "reply of another job": lambda: v.reply(JobSigner(pki.owner, "x").reply({"ok": True}, "c"),
                                               "c"),
    }
    body, headers = batch_message(1, records(1, 0, 1), 0, 1, signer)
    cases["batch body changed"] = lambda: v.batch(headers, body.replace(b'"x"', b'"y"'))
    cases["batch pid changed"] = lambda: v.batch({**headers, "jem-pid": "2"}, body)
    cases["batch range changed"] = lambda: v.batch({**headers, "jem-last-seq": "5"}, body)
    cases["non-numeric pid"] = lambda: v.batch({**headers, "jem-pid": "1 "}, body)
    cases["a record of another pid"] = lambda: v.batch(*reversed(batch_message(
        1, [records(1, 0, 0)[0], records(2, 1, 1)[0]], 0, 1, signer)))
    for name, case in cases.items():
        with pytest.raises(Rejected):
            case()
            pytest.fail(name)
    assert v.identity == (pki.owner.dn, CA)


def test_a_job_without_credential_is_unverified_and_refused_when_signatures_are_required(trust):
    plain = orjson.dumps({"job": {"id": JOB}, "status": "running", "last_seq": {}})
    ann, seal = verifier(trust).announcement(plain)
    assert not seal.verified and seal.words() == "UNVERIFIED" and ann["status"] == "running"
    with pytest.raises(Rejected, match="signatures are required"):
        verifier(trust, require_signed=True).announcement(plain)
    with pytest.raises(Rejected, match="no CA folder"):  # signed, but nothing to check it with
        JobVerifier(JOB, None, require_signed=True).batch(
            {"jem-pid": "1", "jem-first-seq": "0", "jem-last-seq": "0", "jem-sig": "a..b"}, b"[]")


def test_the_owner_named_by_the_reader_or_the_announcement_is_required(pki, trust):
    shifter_job = JobSigner(pki.shifter, JOB)
    with pytest.raises(Rejected, match="not the job's owner"):
        verifier(trust, owner=pki.owner.dn).announcement(shifter_job.announcement({"job": {"id": JOB}}))
    with pytest.raises(Rejected, match="not the job's owner"):  # the job names its user's DN
        verifier(trust).announcement(shifter_job.announcement(
            {"job": {"id": JOB, "user": pki.owner.dn}}))


def test_claimed_job_peeks_without_trusting(signer):
    assert claimed_job(signer.announcement({"job": {"id": JOB}})) == JOB
    assert claimed_job(orjson.dumps({"job": {"id": 5}})) is None
    assert claimed_job(b"\x1b]0;title\x07") is None


_headers = st.dictionaries(
    st.sampled_from(["jem-pid", "jem-first-seq", "jem-last-seq", "jem-sig", "x"]),
    st.one_of(st.text(max_size=30), st.sampled_from(["0", "1", "-1", "99999999999999999999",
                                                     "a..b", "1e3", "٣"])), max_size=5)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(headers=_headers, body=st.one_of(st.binary(max_size=200), st.builds(
    lambda recs: json.dumps(recs).encode(), st.lists(st.dictionaries(
        st.sampled_from(["seq", "pid", "ts", "kind"]),
        st.one_of(st.integers(), st.floats(), st.text(max_size=5), st.none())), max_size=4))))
def test_any_batch_header_and_body_is_taken_or_rejected_never_a_crash(trust, headers, body):
    v = verifier(trust)
    try:
        pid, recs, seal = v.batch(headers, body)
    except Rejected as exc:
        assert "\n" not in str(exc)
        return
    assert not seal.verified and all(r["pid"] == pid for r in recs)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(st.binary(max_size=300), st.builds(lambda o: json.dumps(o).encode(), st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.sampled_from(["job", "id", "status", "last_seq",
                                                             "protected", "payload", "signature"]),
                                            inner, max_size=4)), max_leaves=12)),
    st.builds(lambda p: json.dumps({"protected": p, "payload": p, "signature": p}).encode(),
              st.text(alphabet="AZaz09-_.=", max_size=40))))
def test_any_announcement_is_taken_or_rejected_never_a_crash(trust, body):
    v = verifier(trust)
    try:
        ann, seal = v.announcement(body)
    except Rejected as exc:
        assert "\n" not in str(exc)
        return
    assert isinstance(ann["job"], dict) and str(ann["job"].get("id")) == JOB and not seal.verified


def test_a_tampered_announcement_signature_is_bad_signature(pki, trust, signer):
    obj = json.loads(signer.announcement({"job": {"id": JOB}}))
    payload = base64.urlsafe_b64encode(json.dumps({"job": {"id": JOB}, "status": "ended"}).encode())
    obj["payload"] = payload.rstrip(b"=").decode()
    with pytest.raises(Rejected, match="bad-signature"):
        verifier(trust).announcement(json.dumps(obj).encode())
