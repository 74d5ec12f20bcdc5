"""Fixtures for the window tests: a hand-written failing job, an isolated QSettings, a loaded window;
for the live ones a broker and a PKI per module, monitored jobs and a window whose link is closed."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings

from jemgui.app import open_now
from jemgui.views.main_window import MainWindow
from tests.live.conftest import LiveJob, start_broker
from tests.live.pki import TestPKI
from tests.models.jobs import write_archive
from tests.views.live_support import SteerableJob


@pytest.fixture(scope="session")
def archive(tmp_path_factory):
    return write_archive(tmp_path_factory.mktemp("job") / "job4711")


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "jemgui.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def empty_window(qtbot, settings):
    w = MainWindow(settings)
    qtbot.addWidget(w)
    w.resize(1400, 900)
    w.show()
    qtbot.waitExposed(w)
    w.activateWindow()
    yield w
    w.opener.cancel()
    w.opener.wait(5)


@pytest.fixture
def window(empty_window, archive):
    open_now(empty_window, archive, where="start")
    return empty_window




@pytest.fixture(scope="module")
def broker():
    b = start_broker()
    yield b
    b.close()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return TestPKI(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def job(broker, pki, tmp_path):
    """`job(job_id, **kw)` starts a SteerableJob; every job is stopped at the end."""
    jobs = []

    def start_job(job_id: str, **kw) -> SteerableJob:
        jobs.append(SteerableJob(tmp_path / job_id, broker.url, pki, job_id, **kw).start())
        return jobs[-1]

    yield start_job
    for j in jobs:
        j.stop()
    for j in jobs:
        j.wait()


@pytest.fixture
def live(empty_window):
    """The window; its live link is closed at the end (as closing the window does)."""
    yield empty_window
    if empty_window.live is not None:
        empty_window.live.close()
        empty_window.live = None


@pytest.fixture
def jobs(broker, pki, tmp_path):
    """`jobs(job_id, signed)`: a running job, signed with its owner's credential or unsigned."""
    started: list = []

    def start_job(job_id: str, signed: bool = True):
        folder = tmp_path / job_id
        if signed:
            job = SteerableJob(folder, broker.url, pki, job_id)
        else:
            folder.mkdir()
            job = LiveJob(folder, broker.url, pki, job_id, turns=200, pause=0.05,
                          hold=folder / "stop", sign=False)
            job.stop = (folder / "stop").touch
        started.append(job.start())
        return job

    yield start_job
    for job in started:
        job.stop()
    for job in started:
        job.wait()
