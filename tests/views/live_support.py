"""A real monitored job for the live window tests: it works until told to stop, publishing to the broker."""

from __future__ import annotations

from pathlib import Path

from tests.live.conftest import LiveJob

#: a job that works until a file `stop` appears beside it, logging each step to job.log
STEERABLE = """\
import os, time
here = os.path.dirname(os.path.abspath(__file__))
def work(i, log):
    x = i * 2
    log.write(f"step {x}\\n")
    log.flush()
    return x % 1000 + 1
n = 0
with open(os.path.join(here, "job.log"), "a") as log:
    while not os.path.exists(os.path.join(here, "stop")):
        n = work(n, log)
        time.sleep(0.004)
"""


class SteerableJob(LiveJob):
    """A monitored job running STEERABLE, publishing to the broker, in its own working directory."""

    def __init__(self, folder: Path, broker_url: str, pki, job_id: str, verbosity: int = 2,
                 extra: tuple = (), linger: float = 0.3):
        folder.mkdir(parents=True)
        super().__init__(folder, broker_url, pki, job_id, turns=0, verbosity=verbosity, extra=extra)
        (folder / "job.py").write_text(STEERABLE)
        self.folder = folder
        self.monitor.job["cwd"] = str(folder)
        for service in self.services:  # at its end, serve history only this long after the last ask
            service.quiet = linger

    def stop(self) -> None:
        (self.folder / "stop").touch()
