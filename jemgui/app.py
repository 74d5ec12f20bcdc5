"""Start the inspector: the QApplication, the main window, and the offscreen screenshot mode."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

SCREENSHOT_SIZE = (1600, 1000)


def make_app(offscreen: bool = False):
    """The process's QApplication (created once), styled the same on every platform."""
    if offscreen:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from jemgui.resources import resource_path

    app = QApplication.instance()
    if app is None:
        _one_blas_thread()
        app = QApplication(sys.argv[:1])
        app.setOrganizationName("jemgui")
        app.setApplicationName("JEM Inspector")
        app.setStyle("Fusion")
        if app.platformName() == "offscreen":
            _quiet_offscreen_hints()
        icon = resource_path("icons", "jemgui.svg")
        if icon.exists():
            app.setWindowIcon(QIcon(str(icon)))
    return app


def _quiet_offscreen_hints() -> None:
    """The offscreen platform (screenshots, benchmarks, CI) warns on every window whose size
    limits change that it has no window manager to tell; Qt's other messages pass unchanged."""
    from PySide6.QtCore import qInstallMessageHandler

    def handler(_mode, context, message: str) -> None:
        if "does not support propagateSizeHints" in message:
            return
        category = context.category
        sys.stderr.write(f"{category}: {message}\n" if category and category != "default" else f"{message}\n")

    qInstallMessageHandler(handler)


def _one_blas_thread() -> None:
    """numpy's OpenBLAS keeps a worker thread per core spinning after each call; the window
    does no large linear algebra, and on a small machine those threads take the GUI thread's
    core (a cursor move repaints about 12 % faster without them)."""
    import numpy  # noqa: F401  (the views load it anyway; the limit applies to loaded libraries)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")


def open_now(window, path: str | Path, job: str | None = None, where: str | None = None,
             record: tuple[int, int] | None = None):
    """Index and show `path` in `window` before returning (screenshots, tests, benchmarks)."""
    from jemgui.models.index import open_index
    from jemgui.views.inspection import Inspection

    index = open_index(path, job)
    inspection = Inspection(index, str(path), window)
    window.show_inspection(inspection)
    note = inspection.place(where, record)
    if note:
        window.statusBar().showMessage(note)
    return inspection


def dispose(app, window) -> None:
    """Delete the window while Qt still runs, so its C++ parts go before Python's exit tears down."""
    window.close()
    window.deleteLater()
    settle(app, 3)


def wait_for_queries(app, window, timeout: float = 30.0) -> None:
    """Let the background queries of the shown job finish and deliver (plot marks, history)."""
    import time

    end = time.monotonic() + timeout
    while window.inspection is not None and not window.inspection.queries.idle() and time.monotonic() < end:
        app.processEvents()
        time.sleep(0.005)
    settle(app)


def settle(app, rounds: int = 5) -> None:
    """Let queued events, layouts and paints run."""
    for _ in range(rounds):
        app.processEvents()


def screenshot(path: str | Path, out: str | Path, job: str | None = None, where: str | None = None,
               record: tuple[int, int] | None = None) -> Path:
    """Render the window offscreen with `path` loaded and save it as a PNG."""
    app = make_app(offscreen=True)
    from PySide6.QtCore import QSettings

    from jemgui.views.main_window import MainWindow

    with tempfile.TemporaryDirectory() as tmp:
        settings = QSettings(str(Path(tmp) / "screenshot.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings)
        window.resize(*SCREENSHOT_SIZE)
        window.show()
        settle(app)
        open_now(window, path, job, where, record)
        out = save_grab(app, window, out)
        dispose(app, window)
    return out


def save_grab(app, window, out: str | Path) -> Path:
    """Once the background queries are answered and painted, save the window as a PNG."""
    wait_for_queries(app, window)
    settle(app, 20)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(out)):
        raise OSError(f"could not write {out}")
    return out


def run_window(path: str | Path | None = None, job: str | None = None, where: str | None = None,
               record: tuple[int, int] | None = None) -> int:
    """Show the window (opening `path` in the background) and run until it closes."""
    app = make_app()
    from jemgui.views.main_window import MainWindow

    window = MainWindow()
    window.show()
    if path is not None:
        window.open_path(path, job, where, record)
    code = app.exec()
    dispose(app, window)
    return code
