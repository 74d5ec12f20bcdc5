"""`jemgui demo` shows the demo job at its failure or says why not: never an empty window and exit 0."""

import os
import subprocess
import sys


def demo(tmp_path, **env):
    shot = tmp_path / "demo.png"
    r = subprocess.run([sys.executable, "-m", "jemgui", "demo", "--screenshot", str(shot)],
                       cwd=tmp_path, capture_output=True, text=True, timeout=180,
                       env=dict(os.environ, JEMGUI_CACHE_DIR=str(tmp_path / "cache"),
                                QT_QPA_PLATFORM="offscreen", **env))
    return r, shot


def test_a_job_that_dies_early_is_an_error_with_its_reason(tmp_path):
    r, shot = demo(tmp_path, PYTHON="/nonexistent/python3")  # the node has no such python
    assert r.returncode == 4, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert "did not reach its expected failure: exit code 2, and no __main__.CalibrationError" in last, last
    assert "no /nonexistent/python3 on this node" in last and "--shipped" in last
    assert not shot.exists()


def test_the_recorded_job_reaches_its_failure(tmp_path):
    r, shot = demo(tmp_path)
    assert r.returncode == 0, r.stderr
    assert shot.stat().st_size > 10_000
    log = (tmp_path / "cache" / "demo" / "reco_task_17.log").read_text()
    assert "CalibrationError: no gain for channel" in log
