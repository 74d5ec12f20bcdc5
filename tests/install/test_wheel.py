"""The wheel holds every file of the package and of resources/, the license, and SPDX metadata:
what the program reads at run time must be inside the installed package (pyproject.toml lists the
packages by hand, so a new folder would otherwise be left out without a word)."""

import email
import subprocess
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_carries_every_file(tmp_path):
    before = {p.name for p in ROOT.iterdir()}
    r = subprocess.run(["bash", str(ROOT / "scripts" / "build_wheel.sh"), str(tmp_path)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    wheel = Path(r.stdout.strip())
    assert wheel.parent == tmp_path
    assert {"build", "dist"} & ({p.name for p in ROOT.iterdir()} - before) == set()  # nothing in the clone
    names = set(zipfile.ZipFile(wheel).namelist())
    tracked = subprocess.run(["git", "ls-files", "jemgui", "resources"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.split()
    expected = {f"jemgui/resources/{f.removeprefix('resources/')}" if f.startswith("resources/") else f
                for f in tracked if (ROOT / f).is_file()}
    assert len(expected) > 100 and "jemgui/monitor/inject/jem_bash_env.sh" in expected
    assert sorted(expected - names) == []
    meta = email.message_from_string(
        zipfile.ZipFile(wheel).read("jemgui-0.1.0.dist-info/METADATA").decode())
    assert meta["License-Expression"] == "Apache-2.0"
    assert "jemgui-0.1.0.dist-info/licenses/LICENSE" in names
