"""The status bar says whether a live job's messages verified, by whom, and what was dropped."""

from __future__ import annotations

from types import SimpleNamespace

import orjson
import pytest

from jemgui.live.follower import LiveStore
from jemgui.live.jobsig import JobSigner, JobVerifier, Rejected
from jemgui.live.trust import TrustStore
from jemgui.views.live_status import trust_text


@pytest.fixture
def pki(tmp_path):
    from tests.live.pki import TestPKI

    return TestPKI(tmp_path / "pki")


def test_verified_unverified_and_dropped_are_shown(pki):
    verifier = JobVerifier("j1", TrustStore.from_dir(pki.ca_dir))
    store = LiveStore("j1")
    session = SimpleNamespace(store=store, follower=SimpleNamespace(verifier=verifier))
    store.announce(*verifier.announcement(orjson.dumps({"job": {"id": "j1"}, "status": "running"})))
    assert trust_text(session) == (" · UNVERIFIED",
                                   "\nThe job's messages carry no signature this window can check")
    store.announce(*verifier.announcement(JobSigner(pki.owner, "j1").announcement(
        {"job": {"id": "j1"}, "status": "running"})))
    text, tip = trust_text(session)
    assert text == " · verified" and pki.owner.dn in tip and "dropped" not in tip
    with pytest.raises(Rejected) as forged:  # the job signs now: an unsigned one is a forgery
        verifier.announcement(orjson.dumps({"job": {"id": "j1"}, "status": "ended"}))
    verifier.drop(str(forged.value))
    assert trust_text(session)[1].endswith("\n1 messages dropped that did not verify")
