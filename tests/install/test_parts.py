"""A missing part of the monitor stops `jemgui run` with one line and exit 4, before the job runs."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jemgui.monitor.parts import INJECT_FILES, check_inject
from jemgui.monitor.runner import INJECT
from jemgui.resources import MissingPart

ROOT = Path(__file__).resolve().parents[2]


def test_this_installation_has_every_part():
    assert check_inject() == INJECT
    assert sorted(p.name for p in INJECT.iterdir() if p.is_file() and p.name in INJECT_FILES) \
        == sorted(INJECT_FILES)


@pytest.mark.parametrize("name", INJECT_FILES)
def test_each_missing_file_is_named(tmp_path, name):
    folder = tmp_path / "inject"
    shutil.copytree(INJECT, folder)
    (folder / name).unlink()
    with pytest.raises(MissingPart, match=f"{folder / name} is missing"):
        check_inject(folder)


def test_run_refuses_in_an_installation_without_the_bash_env(tmp_path):
    """A copy of the package laid out as installed, minus jem_bash_env.sh: bash would trace nothing."""
    site = tmp_path / "site"
    shutil.copytree(ROOT / "jemgui", site / "jemgui", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "resources", site / "jemgui" / "resources",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (site / "jemgui" / "monitor" / "inject" / "jem_bash_env.sh").unlink()
    ran = tmp_path / "ran"
    r = subprocess.run([sys.executable, "-m", "jemgui", "run", "--out", str(tmp_path / "a"),
                        "--", "bash", "-c", f"touch {ran}"],
                       cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(site)},
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 4, r.stderr
    assert r.stderr.count("\n") == 1 and "jem_bash_env.sh is missing" in r.stderr, r.stderr
    assert not ran.exists() and not (tmp_path / "a").exists()
