"""pyproject.toml lists the packages by hand (resources/ ships as jemgui.resources, which discovery
cannot map): every folder of jemgui/ with Python files, and every folder of resources/, is in it."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_folder_is_a_listed_package():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    code = {".".join(d.relative_to(ROOT).parts) for d in (ROOT / "jemgui").rglob("*")
            if d.is_dir() and any(d.glob("*.py"))} | {"jemgui"}
    data = {".".join(("jemgui", *d.relative_to(ROOT).parts)) for d in (ROOT / "resources").rglob("*")
            if d.is_dir() and d.name != "__pycache__"} | {"jemgui.resources"}
    assert config["package-dir"] == {"jemgui.resources": "resources"}
    assert sorted(set(config["packages"]) ^ (code | data)) == []
    assert set(config["package-data"]) == data | {"jemgui.monitor.inject"}
