"""Run a real job twice, plain and under `jemgui run`, with the standard streams a batch
system or a terminal would give it, and read what the monitor recorded.

The plain run is the oracle: whatever the job sees and writes alone, it must see and
write under the monitor too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYENV = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"


def monitor_cmd(out: Path, *options: str) -> list[str]:
    """`python -m jemgui.monitor`; -E keeps the job's PYTHONPATH from reaching the monitor."""
    return [sys.executable, "-E", "-m", "jemgui.monitor", "--out", str(out), *options, "--"]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a job started outside any monitor."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JEM_")}
    for name in ("PYTHONPATH", "BASH_ENV"):
        env.pop(name, None)
    env.update(extra)
    return env


def python(version: str) -> str:
    """The real interpreter of pyenv's CPython `version` (not the shim, a bash script)."""
    major = version.split(".")[0]
    found = sorted(PYENV.glob(f"{version}.*/bin/python{major}"))
    return str(found[-1]) if found else sys.executable


def load_records(archive: Path) -> list[dict]:
    """Every record of every stream of an archive."""
    records = []
    for path in sorted((archive / "events").glob("*.jsonl")):
        records.extend(json.loads(line) for line in path.read_text().splitlines())
    return records


def summary(archive: Path) -> dict:
    """`jemgui summary --json` of an archive, as a shifter would ask for it."""
    out = subprocess.run([sys.executable, "-m", "jemgui", "summary", "--json", str(archive)],
                         capture_output=True, text=True, timeout=120, env=clean_env())
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)
