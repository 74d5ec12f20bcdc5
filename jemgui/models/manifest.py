"""`manifest.json` (spec section 4): the one place that writes it, for the monitor, the follower and a live capture.

Written as a new file, then renamed over the old one, so a reader never sees
half a manifest (the monitor rewrites it at the end of the job, a live
capture whenever the job's announcement changes). Stdlib only: the monitor
imports it on the worker node.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from jemgui import __version__

FILE = "manifest.json"
FORMAT, VERSION = "jem-archive", 1


def manifest(job: dict, monitor_pid: int | None = None, capture: dict | None = None) -> dict:
    """The manifest object: the job, who wrote it, and (for a capture) how it was captured."""
    monitor: dict = {"name": "jemgui", "version": __version__}
    if monitor_pid is not None:
        monitor["pid"] = monitor_pid
    out = {"format": FORMAT, "version": VERSION, "job": job, "monitor": monitor}
    if capture is not None:
        out["capture"] = capture
    return out


def write(folder: str | os.PathLike, job: dict, monitor_pid: int | None = None, capture: dict | None = None,
          sync: bool = False) -> Path:
    """Write `folder/manifest.json` atomically; `sync` also flushes it to disk (the monitor's, at the end)."""
    path = Path(folder) / FILE
    tmp = path.with_name(FILE + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(manifest(job, monitor_pid, capture), f, indent=1)
        f.write("\n")
        if sync:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)
    return path
