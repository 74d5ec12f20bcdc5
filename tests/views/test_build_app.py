"""The standalone app builds with PyInstaller (jemgui.spec) from the wheel, and works as the installed
package does: it summarizes the demo archive it carries, records the demo job to its failure and
renders it, and records a bash job calling Python with both shell commands and Python calls."""

import json
import os
import subprocess
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

ROOT = Path(__file__).resolve().parents[2]
# the build (a venv from the wheel, then PyInstaller) takes minutes: past the suite's 300 s per test
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900), pytest.mark.xdist_group("app")]  # one build


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """The built app's folder (built once, outside the clone) and the environment to run it in."""
    out = tmp_path_factory.mktemp("app")
    env = dict(os.environ, JEMGUI_CACHE_DIR=str(out / "cache"), QT_QPA_PLATFORM="offscreen")
    env.pop("PYTHONPATH", None)
    r = subprocess.run(["bash", str(ROOT / "scripts" / "build_app.sh"), str(out)], cwd=out, env=env,
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    assert "recording the demo job" in r.stderr and "shipped" not in r.stderr
    return out, env


def jemgui(app, *args, cwd=None):
    out, env = app
    return subprocess.run([str(out / "jemgui" / "jemgui"), *args], cwd=cwd or out, env=env,
                          capture_output=True, text=True, timeout=180)


def test_the_app_renders_the_demo_job_at_its_failure(app):
    out, _ = app
    shot = QImage(str(out / "jemgui-demo.png"))
    assert (shot.width(), shot.height()) == (1600, 1000)
    r = jemgui(app, "summary", str(out / "cache" / "demo" / "reco_task_17"))
    assert r.returncode == 0, r.stderr
    assert "Job reco_task_17" in r.stdout and "exit code 1" in r.stdout


def test_the_app_summarizes_the_archive_it_carries(app):
    out, _ = app
    shipped = out / "jemgui" / "_internal" / "jemgui" / "resources" / "demo" / "archive"
    r = jemgui(app, "summary", str(shipped))
    assert r.returncode == 0, r.stderr
    assert "Job reco_task_17" in r.stdout and "exit code 1" in r.stdout


def test_the_app_records_a_bash_job_calling_python(app, tmp_path):
    (tmp_path / "work.py").write_text("def square(x):\n    return x * x\n\n\nprint(square(3) + square(4))\n")
    (tmp_path / "wrapper.sh").write_text("set -e\necho start\npython3 work.py\necho done\n")
    r = jemgui(app, "run", "--out", str(tmp_path / "a"), "--", "bash", "wrapper.sh", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.split() == ["start", "25", "done"], r.stderr
    r = jemgui(app, "export", str(tmp_path / "a"), "--format", "jsonl", "-o", str(tmp_path / "a.jsonl"))
    assert r.returncode == 0, r.stderr
    recs = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert "python3 work.py" in [r.get("text") for r in recs if r["kind"] == "command"]
    assert [r["func"] for r in recs if r["kind"] == "call"].count("square") == 2
