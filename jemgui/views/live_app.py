"""The window on a live job, for `jemgui connect` and `jemgui demo --live`: on screen, or as a screenshot."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from jemgui.app import SCREENSHOT_SIZE, dispose, make_app, save_grab, settle


class LiveTimeout(RuntimeError):
    """What the screenshot waited for did not happen in time; the message says what is missing."""


def run_live(settings, credential=None, note: str = "", connection=None,
             on_shown: Callable | None = None, checks=None) -> int:
    """Show the window connected to the broker of `settings` and run until it closes."""
    from jemgui.views.live_controller import start
    from jemgui.views.main_window import MainWindow

    app = make_app()
    window = MainWindow()
    window.show()
    start(window, settings, credential, connection, note, checks)
    if on_shown is not None:
        on_shown(window)
    code = app.exec()
    dispose(app, window)
    return code


def wait_until(app, condition: Callable[[], bool], timeout: float) -> bool:
    """Run the event loop until `condition()` holds; False when `timeout` s passed first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        app.processEvents()
        time.sleep(0.01)
    return True


def live_screenshot(settings, out: str | Path, credential=None, note: str = "",
                    connection=None, records: int = 1, timeout: float = 60.0,
                    stage: Callable | None = None, checks=None) -> Path:
    """Render the window offscreen once `records` records of `settings.job` are shown; save a PNG.

    `stage(app, window, controller)` may drive the window before the picture
    is taken (send commands, raise a panel). LiveTimeout when no records came.
    """
    app = make_app(offscreen=True)
    from PySide6.QtCore import QSettings

    from jemgui.views.live_controller import start
    from jemgui.views.main_window import MainWindow

    with tempfile.TemporaryDirectory() as tmp:
        window = MainWindow(QSettings(str(Path(tmp) / "screenshot.ini"), QSettings.Format.IniFormat))
        window.resize(*SCREENSHOT_SIZE)
        window.show()
        settle(app)
        try:
            link = start(window, settings, credential, connection, note, checks)
            controller = link.controller

            def shown() -> bool:
                return controller.shown_count >= records

            if not wait_until(app, shown, timeout):
                got = controller.session.store.received
                dropped = sum(controller.session.follower.verifier.dropped.values())
                raise LiveTimeout(f"job {settings.job}: {got} records within {timeout:g} s "
                                  f"({link.connection.status})" + (
                                      f"; {dropped:,} messages dropped that did not verify"
                                      if dropped else ""))
            if stage is not None:
                stage(app, window, controller)
            out = save_grab(app, window, out)
        finally:
            dispose(app, window)
    return out
