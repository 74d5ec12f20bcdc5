"""`jemgui ARCHIVE --screenshot` and `jemgui demo`, run as a user runs them: a real process, a real PNG."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from PySide6.QtGui import QImage

from jemgui.resources import resource_path


def jemgui(*args, cwd=None, timeout=120):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    return subprocess.run([sys.executable, "-m", "jemgui", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=timeout)


def looks_like_the_window(png) -> QImage:
    img = QImage(str(png))
    assert not img.isNull() and (img.width(), img.height()) == (1600, 1000)
    colours = {img.pixel(x, y) for x in range(0, 1600, 40) for y in range(0, 1000, 40)}
    assert len(colours) > 12, "the screenshot is nearly blank"
    return img


def test_screenshot_of_an_archive_at_its_failure(archive, tmp_path):
    out = tmp_path / "shot.png"
    r = jemgui(archive, "--failure", "--screenshot", out)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(out)
    looks_like_the_window(out)


def test_screenshot_at_a_record(archive, tmp_path):
    """The picture is the window placed at 200:9 (what `open_now(record=...)` shows, checked in
    test_opening), pixel for pixel, and not the window where it opens without `--record`."""
    out, default, ref = tmp_path / "rec.png", tmp_path / "default.png", tmp_path / "ref.png"
    r = jemgui("open", archive, "--record", "200:9", "--screenshot", out)
    assert r.returncode == 0, r.stderr
    assert jemgui("open", archive, "--screenshot", default).returncode == 0
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    subprocess.run([sys.executable, "-c", "import sys; from jemgui.app import screenshot; "
                    "screenshot(sys.argv[1], sys.argv[2], record=(200, 9))", str(archive), str(ref)],
                   env=env, check=True, timeout=120)
    shot = looks_like_the_window(out)
    assert shot == QImage(str(ref)), "the screenshot is not the window at record 200:9"
    assert shot != QImage(str(default)), "--record changed nothing"


@pytest.mark.parametrize("args,code,words", [
    (["{tmp}/missing.tgz", "--screenshot", "{tmp}/x.png"], 3, "no such file"),
    (["{tmp}/garbage.zip", "--screenshot", "{tmp}/x.png"], 3, "garbage.zip"),
    (["{archive}", "--record", "nonsense", "--screenshot", "{tmp}/x.png"], 2, "PID:SEQ"),
])
def test_bad_input_is_one_line_and_an_exit_code(archive, tmp_path, args, code, words):
    (tmp_path / "garbage.zip").write_bytes(b"PK\x03\x04 not really a zip")
    r = jemgui(*[a.format(tmp=tmp_path, archive=archive) for a in args])
    assert r.returncode == code
    lines = [ln for ln in r.stderr.splitlines() if "propagateSizeHints" not in ln]
    assert len(lines) == 1 and lines[0].startswith("jemgui open: ") and words in lines[0]
    assert not (tmp_path / "x.png").exists()


def test_demo_with_the_shipped_archive(tmp_path):
    out = tmp_path / "demo.png"
    r = jemgui("demo", "--shipped", "--screenshot", out)
    assert r.returncode == 0, r.stderr
    looks_like_the_window(out)


@pytest.mark.slow
def test_demo_records_the_job_with_the_monitor(tmp_path):
    out = tmp_path / "demo.png"
    r = jemgui("demo", "--screenshot", out, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "recording the demo job" in r.stderr and "shipped" not in r.stderr
    looks_like_the_window(out)


def test_the_demo_archive_opens_at_its_failure(qtbot, empty_window):
    from jemgui.app import open_now
    from tests.views.agree import assert_views_agree

    open_now(empty_window, resource_path("demo", "archive"), where="failure")
    cur = empty_window.inspection.cursor
    assert cur.state.record["kind"] == "exception" and cur.state.record.get("traceback")
    s = assert_views_agree(empty_window)
    assert s["locals"] and len(s["stack"]) >= 3
    assert empty_window.source.stack.currentWidget() is empty_window.source.editor
