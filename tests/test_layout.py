"""The package's layering rules hold: Qt never reaches models, monitor or live."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QT_FREE = ["jemgui.models", "jemgui.monitor", "jemgui.live"]


def _modules(package: str) -> list[str]:
    folder = ROOT.joinpath(*package.split("."))
    return [
        package + ("" if p.stem == "__init__" else "." + p.stem)
        for p in sorted(folder.glob("*.py"))
    ]


def test_qt_free_packages_import_without_qt():
    """Importing every module of the Qt-free packages loads no Qt module at all."""
    mods = [m for pkg in QT_FREE for m in _modules(pkg)]
    code = (
        "import importlib, sys\n"
        f"for m in {mods!r}: importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6'))\n"
        "print(' '.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"Qt imported by a Qt-free package: {out.stdout}"


def test_cli_help_and_unknown_command():
    ok = subprocess.run([sys.executable, "-m", "jemgui", "--help"], capture_output=True, text=True)
    assert ok.returncode == 0 and "summary" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "jemgui", "--frobnicate"], capture_output=True, text=True)
    assert bad.returncode == 2
