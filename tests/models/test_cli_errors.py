"""Every error of the `jemgui` command is one line on stderr and a documented exit code, never a traceback.

Codes: 2 bad usage, 3 unreadable input, 4 a part the command needs is missing
or failed (no broker, no display). Each test runs the installed entry point
as a user would.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QLibraryInfo

from tests.models.jobs import write_archive
from tests.waiting import wait_for

JEMGUI = str(Path(sys.executable).with_name("jemgui"))
HINT = "use --screenshot FILE.png, or the headless commands summary/inspect/export"


def jemgui(*args, env: dict | None = None, unset=(), cwd=None, timeout: float = 120):
    environ = {k: v for k, v in os.environ.items() if k not in unset}
    environ.update(env or {})
    return subprocess.run([JEMGUI, *map(str, args)], capture_output=True, text=True, env=environ,
                          cwd=cwd, timeout=timeout, stdin=subprocess.DEVNULL)


def one_error(r, code: int) -> str:
    """The single stderr line of a run that ended with `code`."""
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.splitlines()
    assert (r.returncode, len(lines)) == (code, 1), r.stderr
    return lines[0]


def dead_port() -> int:
    """A port on 127.0.0.1 where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    return write_archive(tmp_path_factory.mktemp("errors") / "job.d")


# -- usage ---------------------------------------------------------------------------------------

def test_a_typoed_command_names_the_closest_one_but_an_existing_path_is_opened(tmp_path):
    r = jemgui("sumary", "A", cwd=tmp_path)
    assert one_error(r, 2) == "jemgui: no such command 'sumary' (did you mean 'summary'?)"
    assert one_error(jemgui("nonsensical", cwd=tmp_path), 2).startswith("jemgui: no such command or file")

    (tmp_path / "sumary").mkdir()  # now a folder of that name exists: `jemgui ARCHIVE` opens it
    r = jemgui("sumary", "--record", "nonsense", "--screenshot", "x.png", cwd=tmp_path)
    assert one_error(r, 2).startswith("jemgui open: --record wants PID:SEQ")
    r = jemgui("missing.tgz", cwd=tmp_path)  # shaped like an archive: opened, and not found
    assert one_error(r, 3) == "jemgui open: missing.tgz: no such file or folder"


@pytest.mark.parametrize("args,line", [
    (["summary"], "jemgui summary: error: the following arguments are required: ARCHIVE "
                  "(see jemgui summary --help)"),
    (["export", "{archive}"], "jemgui export: error: the following arguments are required: -o/--output "
                              "(see jemgui export --help)"),
    (["inspect", "{archive}", "--at", "x"], "jemgui inspect: error: argument --at: invalid int value: 'x' "
                                            "(see jemgui inspect --help)"),
    (["--frobnicate"], "jemgui: error: unrecognized arguments: --frobnicate (see jemgui --help)"),
    (["jobs"], "jemgui jobs: error: the following arguments are required: --broker (see jemgui jobs --help)"),
])
def test_usage_errors_are_one_line_pointing_to_help(archive, args, line):
    r = jemgui(*[a.format(archive=archive) for a in args])
    assert one_error(r, 2) == line
    assert r.stdout == ""


# -- the broker ----------------------------------------------------------------------------------

def test_jobs_without_a_broker(tmp_path):
    r = jemgui("jobs", "--broker", f"stomp://127.0.0.1:{dead_port()}", "--wait", "0.5")
    assert one_error(r, 4).startswith("jemgui jobs: cannot reach the broker: not connected to stomp://127.0.0.1:")


def test_follow_without_a_broker_writes_nothing_and_says_one_thing(tmp_path):
    out = tmp_path / "capture"
    r = jemgui("follow", "--broker", f"stomp://127.0.0.1:{dead_port()}", "--job", "j1", "--out", out,
               "--connect-timeout", "1", env={"HOME": str(tmp_path), "X509_USER_PROXY": ""})
    assert one_error(r, 4).startswith("jemgui follow: cannot reach the broker")
    assert not out.exists()


def test_send_without_a_broker(tmp_path):
    from jemgui.live.demo_pki import ensure

    pki = ensure(tmp_path / "pki")  # a real credential, so only the broker is missing
    r = jemgui("send", "--broker", f"stomp://127.0.0.1:{dead_port()}", "--job", "j1",
               "--cert", pki.cert, "--key", pki.key, "--timeout", "1", "ping")
    assert one_error(r, 4).startswith("jemgui send: cannot reach the broker")
    assert r.stdout == ""


def test_connect_screenshot_without_a_broker(tmp_path):
    r = jemgui("connect", "--broker", f"stomp://127.0.0.1:{dead_port()}", "--job", "j1",
               "--screenshot", tmp_path / "x.png", "--wait", "1", env={"HOME": str(tmp_path)})
    assert "not connected to stomp://127.0.0.1:" in one_error(r, 4)
    assert not (tmp_path / "x.png").exists()


def test_run_without_a_broker_keeps_the_jobs_exit_status_and_says_so_once(tmp_path):
    from jemgui.live.demo_pki import ensure

    pki = ensure(tmp_path / "pki")  # an owner and a CA folder, so nothing else is warned of
    out = tmp_path / "archive"
    r = jemgui("run", "--broker", f"stomp://127.0.0.1:{dead_port()}", "--owner", pki.dn,
               "--ca-dir", pki.ca_dir, "--out", out, "--", "sh", "-c", "exit 3")
    line = one_error(r, 3)  # a worker node's job is not failed by the broker being away
    assert line.startswith("jemgui run: the broker was never reached (not connected to stomp://127.0.0.1:")
    assert line.endswith(f"the job's records are only in {out}") and (out / "manifest.json").exists()


def test_demo_live_without_activemq_is_one_line_not_a_traceback(tmp_path):
    r = jemgui("demo", "--live", env={"JEMGUI_CACHE_DIR": str(tmp_path / "cache"),
                                      "ACTIVEMQ_HOME": str(tmp_path / "no-activemq")})
    assert r.returncode == 4 and "Traceback" not in r.stderr, r.stderr
    errors = [ln for ln in r.stderr.splitlines() if "starting a local ActiveMQ" not in ln]
    assert len(errors) == 1 and errors[0].startswith("jemgui demo: cannot start the local broker: ActiveMQ not found")


@pytest.mark.parametrize("args", [["demo", "--live"], ["summary", "{archive}"], ["cache"],
                                  ["{archive}", "--screenshot", "{tmp}/x.png"]])
def test_an_unusable_cache_folder_is_a_missing_part_not_an_unreadable_input(archive, tmp_path, args):
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder should be")
    r = jemgui(*[a.format(archive=archive, tmp=tmp_path) for a in args], env={"JEMGUI_CACHE_DIR": str(blocker)})
    assert one_error(r, 4).endswith(f": the cache folder is not a folder (see JEMGUI_CACHE_DIR): {blocker}")


# -- the display ---------------------------------------------------------------------------------

NO_DISPLAY = ("DISPLAY", "WAYLAND_DISPLAY", "WAYLAND_SOCKET", "QT_QPA_PLATFORM")


def test_the_window_without_a_display_says_what_to_do_instead(archive, tmp_path):
    r = jemgui(archive, unset=NO_DISPLAY)
    assert one_error(r, 4) == f"jemgui open: no display (DISPLAY or WAYLAND_DISPLAY not set): {HINT}"
    r = jemgui(archive, "--screenshot", tmp_path / "x.png", unset=NO_DISPLAY)  # what it advises works
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "x.png").stat().st_size > 10_000


def test_a_display_where_no_x_server_answers(archive):
    number = next(n for n in range(87, 200) if not Path(f"/tmp/.X11-unix/X{n}").exists())
    r = jemgui(archive, unset=NO_DISPLAY, env={"DISPLAY": f":{number}"})
    assert one_error(r, 4) == f"jemgui open: no display (no X server answers at DISPLAY=:{number}): {HINT}"
    r = jemgui(archive, unset=NO_DISPLAY, env={"QT_QPA_PLATFORM": "xcb"})
    assert one_error(r, 4) == f"jemgui open: no display (DISPLAY not set): {HINT}"


def test_a_platform_qt_does_not_have(archive):
    r = jemgui(archive, unset=NO_DISPLAY, env={"QT_QPA_PLATFORM": "nosuch"})
    line = one_error(r, 4)
    assert line.startswith("jemgui open: no Qt platform plugin 'nosuch' (this Qt has ") and "offscreen" in line


def test_the_demo_without_a_display_says_so_before_it_records(tmp_path):
    cache = tmp_path / "cache"
    r = jemgui("demo", unset=NO_DISPLAY, env={"JEMGUI_CACHE_DIR": str(cache)})
    assert one_error(r, 4) == f"jemgui demo: no display (DISPLAY or WAYLAND_DISPLAY not set): {HINT}"
    assert not (cache / "demo").exists(), "the demo job was recorded before the display was checked"


def test_connect_without_a_display(tmp_path):
    r = jemgui("connect", "--broker", f"stomp://127.0.0.1:{dead_port()}", unset=NO_DISPLAY,
               env={"HOME": str(tmp_path)})
    assert one_error(r, 4).startswith("jemgui connect: no display")



@pytest.fixture
def x_server(tmp_path):
    """A real X server (Xvfb) on a free display number; CI installs it, so it must start."""
    number = next(n for n in range(90, 200) if not Path(f"/tmp/.X11-unix/X{n}").exists())
    xvfb = subprocess.Popen(["Xvfb", f":{number}", "-nolisten", "tcp"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: Path(f"/tmp/.X11-unix/X{number}").exists(), timeout=20, what="Xvfb's socket")
        yield f":{number}"
    finally:
        xvfb.terminate()  # lets it remove its socket and lock file
        xvfb.wait(10)


def test_an_x_server_without_the_libraries_qt_needs_is_one_line_not_an_abort(archive, x_server):
    """Qt aborts ("xcb-cursor0 is needed") when its xcb plugin lacks a library; the check names
    every missing one. Where the plugin loads, the window must come up on the X server instead."""
    plugin = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms" / "libqxcb.so"
    ldd = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, check=True).stdout
    missing = sorted({ln.split("=>")[0].strip() for ln in ldd.splitlines() if "not found" in ln})
    env = {"DISPLAY": x_server}
    if missing:
        line = one_error(jemgui(archive, unset=NO_DISPLAY, env=env), 4)
        assert line.startswith("jemgui open: Qt's X11 platform plugin cannot load: ") and line.endswith(HINT)
        named = line.split("cannot load: ")[1].split(" missing")[0].split(", ")
        assert sorted(named) == missing
    else:
        with pytest.raises(subprocess.TimeoutExpired) as still_open:  # the window is up and waits
            jemgui(archive, unset=NO_DISPLAY, env=env, timeout=15)
        assert b"platform plugin" not in (still_open.value.stderr or b"")
