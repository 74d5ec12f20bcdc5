"""The live jobs a broker announces on `/topic/jem.jobs`, each announcement checked (spec 5, 6a).

Used by `jemgui jobs` and the window's jobs dialog. Every job has its own
`JobVerifier`, so one job's signer is pinned apart from another's; what does
not verify, or does not name a valid job id, is dropped and counted in
`dropped`. At most `MAX_JOBS` jobs are kept.
"""

from __future__ import annotations

from collections import Counter

from jemgui.live.connection import Connection, Inbox
from jemgui.live.jobsig import JobVerifier, Rejected, claimed_job, default_trust
from jemgui.live.protocol import JOB_ID, JOBS_TOPIC
from jemgui.live.trust import TrustStore

MAX_JOBS = 10_000
_DEFAULT = object()


class JobList:
    """The newest announcement of each job heard, with `seal` (verified, and by whom)."""

    def __init__(self, connection: Connection, trust: TrustStore | None | object = _DEFAULT,
                 require_signed: bool = False):
        self.connection = connection
        self.trust = default_trust() if trust is _DEFAULT else trust
        self.require_signed = require_signed
        self.inbox = Inbox()
        self.jobs: dict[str, dict] = {}
        self.dropped: Counter[str] = Counter()
        self._verifiers: dict[str, JobVerifier] = {}
        self._sub = connection.subscribe(JOBS_TOPIC, {"activemq.retroactive": "true"},
                                         inbox=self.inbox)

    def poll(self) -> bool:
        """Take what arrived; True when the list changed."""
        changed = False
        for msg in self.inbox.drain():
            job_id = claimed_job(msg.body)
            if job_id is None or not JOB_ID.fullmatch(job_id):
                self.dropped["not an announcement of a valid job id"] += 1
                continue
            verifier = self._verifiers.get(job_id)
            if verifier is None:
                if len(self._verifiers) >= MAX_JOBS:
                    self.dropped["too many jobs"] += 1
                    continue
                verifier = self._verifiers[job_id] = JobVerifier(
                    job_id, self.trust, None, self.require_signed)
            try:
                ann, seal = verifier.announcement(msg.body)
            except Rejected as exc:
                self.dropped[str(exc)] += 1
                continue
            self.jobs[job_id] = {**ann, "heard": msg.received, "seal": seal}
            changed = True
        return changed

    def close(self) -> None:
        self.connection.unsubscribe(self._sub)
