"""The standalone app builds with PyInstaller (jemgui.spec) and renders the demo window offscreen."""

import os
import subprocess
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_pyinstaller_app_builds_and_renders_the_demo(tmp_path):
    env = dict(os.environ, JEMGUI_CACHE_DIR=str(tmp_path / "cache"))
    r = subprocess.run(["bash", "scripts/build_app.sh"], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    shot = QImage(str(ROOT / "dist" / "jemgui-demo.png"))
    assert (shot.width(), shot.height()) == (1600, 1000)
    assert "shipped demo archive" in r.stderr      # the packaged app opens the archive it carries
