"""Start the inspector: the QApplication, the main window, and the offscreen screenshot mode."""

from __future__ import annotations

import os
import socket
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from jemgui.cli import ComponentError

SCREENSHOT_SIZE = (1600, 1000)
NO_DISPLAY_HINT = "use --screenshot FILE.png, or the headless commands summary/inspect/export"


def make_app(offscreen: bool = False):
    """The process's QApplication (created once), styled the same on every platform."""
    if offscreen:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        check_display()
        check_platform_plugin()
        from jemgui.resources import resource_path

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


def check_display(env=None) -> None:
    """ComponentError (one line) when Qt's platform cannot open a window here.

    Qt aborts the whole process when its platform fails to start, with a
    message about a missing xcb-cursor library even when there is simply no
    display; this says what to do instead, before Qt is asked.
    """
    env = os.environ if env is None else env
    asked = [p.split(":")[0].strip() for p in (env.get("QT_QPA_PLATFORM") or "").split(";") if p.strip()]
    if not sys.platform.startswith("linux") or any(p != "xcb" and not p.startswith("wayland") for p in asked):
        return  # offscreen, vnc, eglfs, ...: no display server needed
    use_x11 = not asked or "xcb" in asked
    use_wayland = not asked or any(p.startswith("wayland") for p in asked)
    if use_wayland and (env.get("WAYLAND_DISPLAY") or env.get("WAYLAND_SOCKET")):
        return
    x11 = env.get("DISPLAY", "") if use_x11 else ""
    if x11 and _x_server_answers(x11):
        missing = xcb_plugin_missing()
        if missing:
            packages = " ".join(_debian_package(lib) for lib in missing)
            raise ComponentError(f"Qt's X11 platform plugin cannot load: {', '.join(missing)} missing "
                                 f"(Debian/Ubuntu: apt install {packages}), or {NO_DISPLAY_HINT}")
        return
    why = f"no X server answers at DISPLAY={x11}" if x11 else " or ".join(
        name for name, used in (("DISPLAY", use_x11), ("WAYLAND_DISPLAY", use_wayland)) if used) + " not set"
    raise ComponentError(f"no display ({why}): {NO_DISPLAY_HINT}")


def check_platform_plugin(env=None) -> None:
    """ComponentError (one line) when QT_QPA_PLATFORM names no platform plugin Qt has: Qt would
    abort the process ("could not find the Qt platform plugin")."""
    env = os.environ if env is None else env
    asked = [p.split(":")[0].strip() for p in (env.get("QT_QPA_PLATFORM") or "").split(";") if p.strip()]
    if not asked or env.get("QT_QPA_PLATFORM_PLUGIN_PATH") or env.get("QT_PLUGIN_PATH"):
        return  # Qt's default, or plugins from folders of the user's: Qt knows best
    from PySide6.QtCore import QLibraryInfo

    folder = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms"
    stems = sorted(f.name.split(".")[0].removeprefix("libq") for f in folder.glob("*") if f.is_file())
    if stems and not any(name.startswith(stem) for name in asked for stem in stems):
        raise ComponentError(f"no Qt platform plugin {', '.join(map(repr, asked))} (this Qt has "
                             f"{', '.join(stems)}): set QT_QPA_PLATFORM to one of them, or {NO_DISPLAY_HINT}")


def xcb_plugin_missing() -> list[str]:
    """The shared libraries Qt's xcb platform plugin needs and cannot find here (Qt would abort
    with "xcb-cursor0 is needed" whichever one is missing). Empty when it loads."""
    import ctypes

    from PySide6.QtCore import QLibraryInfo

    plugin = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms" / "libqxcb.so"
    if not plugin.exists():
        return []  # a Qt built differently: let it speak for itself
    try:
        ctypes.CDLL(str(plugin))  # resolves the plugin's dependencies as Qt's own loading will
        return []
    except OSError as e:
        first = str(e).split(":")[0].strip()
    return _not_found_by_ldd(plugin) or [first]


def _not_found_by_ldd(library: Path) -> list[str]:
    """Every dependency of `library` the dynamic loader cannot find, so one install fixes all."""
    import subprocess

    try:
        out = subprocess.run(["ldd", str(library)], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return list(dict.fromkeys(line.split("=>")[0].strip() for line in out.splitlines() if "not found" in line))


def _debian_package(soname: str) -> str:
    """The Debian package name for a library's soname (libxcb-icccm.so.4 -> libxcb-icccm4)."""
    name, _, version = soname.partition(".so.")
    return f"{name}-{version}" if name[-1:].isdigit() else f"{name}{version}"


def _x_server_answers(display: str) -> bool:
    """True when the X server named by a DISPLAY value accepts a connection (or its form is unknown)."""
    host, _, rest = display.rpartition(":")
    number = rest.split(".")[0]
    if not number.isdigit():
        return True
    if host in ("", "unix"):
        path = f"/tmp/.X11-unix/X{number}"
        addresses = [(socket.AF_UNIX, "\0" + path), (socket.AF_UNIX, path)]  # abstract first, as libxcb
    else:
        addresses = [(socket.AF_INET6 if ":" in host.rstrip(":") else socket.AF_INET,
                      (host.rstrip(":"), 6000 + int(number)))]
    for family, address in addresses:
        with socket.socket(family) as s:
            s.settimeout(2)
            try:
                s.connect(address)
                return True
            except OSError:
                continue
    return False


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
               record: tuple[int, int] | None = None, wait_indexed: bool = False) -> Path:
    """Render the window offscreen with `path` loaded and save it as a PNG.

    The picture is taken as soon as the window is usable (a big input's first records are in,
    with the progress bar), or once indexing ended with `wait_indexed`.
    """
    from jemgui.models.cache import cache_dir

    cache_dir()  # CacheUnusable (a missing part, exit 4) before the window's opener would call it unreadable
    app = make_app(offscreen=True)
    with offscreen_window(app) as window:
        open_and_wait(app, window, path, job, where, record, wait_indexed)
        try:
            return save_grab(app, window, out)
        finally:
            window.cancel_open()
            window.opener.wait(10)


def open_and_wait(app, window, path: str | Path, job: str | None = None, where: str | None = None,
                  record: tuple[int, int] | None = None, indexed: bool = True) -> None:
    """Open `path` the way a user does (in the background) and return once the window shows it:
    usable (its first records, while indexing goes on) or, with `indexed`, wholly indexed.
    UnreadableInput (one line) when it cannot be opened."""
    import time

    from jemgui.models.inputs import UnreadableInput

    state: dict = {}
    window.opener.failed.connect(lambda _p, reason: state.setdefault("failed", reason))
    window.opener.opened.connect(lambda *_: state.setdefault("indexed", True))
    window.opener.started.connect(lambda *_: state.setdefault("usable", True))
    window.opener.choose_job.connect(lambda _p, jobs: state.setdefault(
        "failed", f"it holds {len(jobs)} jobs: choose one with --job"))
    window.open_path(path, job, where, record)
    while not ("failed" in state or "indexed" in state or ("usable" in state and not indexed)):
        app.processEvents()
        time.sleep(0.005)
    if "failed" in state:
        raise UnreadableInput(state["failed"])
    settle(app)


@contextmanager
def offscreen_window(app):
    """A main window of the screenshot's size, shown offscreen with throw-away settings."""
    from PySide6.QtCore import QSettings

    from jemgui.views.main_window import MainWindow

    with tempfile.TemporaryDirectory() as tmp:
        window = MainWindow(QSettings(str(Path(tmp) / "offscreen.ini"), QSettings.Format.IniFormat))
        window.resize(*SCREENSHOT_SIZE)
        window.show()
        settle(app)
        try:
            yield window
        finally:
            dispose(app, window)


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
