"""Fixtures for the window tests: a hand-written failing job, an isolated QSettings, a loaded window."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings

from jemgui.app import open_now
from jemgui.views.main_window import MainWindow
from tests.models.jobs import write_archive


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
