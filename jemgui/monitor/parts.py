"""The files the monitor hands to the job, checked before it starts.

The tracer reaches the job's Python through PYTHONPATH and the bash environment
file through BASH_ENV; when one is missing, Python and bash ignore it without a
word and a kind of record silently disappears. So `jemgui run` refuses to start
instead (exit code 4, the CLI's "a part is missing").
"""

from __future__ import annotations

import os
from pathlib import Path

from jemgui.resources import MissingPart

#: what the job loads from the inject folder: the tracer (sitecustomize and its modules) and bash's env
INJECT_FILES = ("sitecustomize.py", "_jem_trace.py", "_jem_raw.py", "_jem_values.py", "_jem_changes.py",
                "jem_bash_env.sh")


def check_inject(folder: Path | None = None) -> Path:
    """The inject folder, or MissingPart (one line) naming the first file the job could not load."""
    if folder is None:
        from jemgui.monitor.runner import INJECT as folder
    for name in INJECT_FILES:
        path = folder / name
        if not path.is_file():
            raise MissingPart(f"the monitor cannot trace jobs: {path} is missing (reinstall jemgui)")
        if not os.access(path, os.R_OK):
            raise MissingPart(f"the monitor cannot trace jobs: {path} is not readable")
    return folder
