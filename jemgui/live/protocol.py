"""The live protocol's names (spec section 5): its destinations, batch headers and job ids, in one place."""

from __future__ import annotations

import re

#: announcements of every job
JOBS_TOPIC = "/topic/jem.jobs"
#: what a job id may be (spec section 1)
JOB_ID = re.compile(r"[A-Za-z0-9_.-]{1,128}")
#: a batch's headers: its stream, its first and last seq, the job's detached signature (section 6a)
PID_HEADER, FIRST_SEQ_HEADER, LAST_SEQ_HEADER, SIG_HEADER = "jem-pid", "jem-first-seq", "jem-last-seq", "jem-sig"


def events_topic(job_id: str) -> str:
    """Where a job's record batches go."""
    return f"/topic/jem.job.{job_id}.events"


def control_queue(job_id: str) -> str:
    """Where signed commands to a job go."""
    return f"/queue/jem.job.{job_id}.control"
