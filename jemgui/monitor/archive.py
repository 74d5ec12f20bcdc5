"""The archive folder a monitor writes (spec section 4): its manifest and its packed form."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

from jemgui.models import manifest as manifests

RUN_DIR = ".run"  # the monitor's working files while the job runs; removed at the end


def manifest(job: dict, monitor_pid: int) -> dict:
    """The manifest object of a job."""
    return manifests.manifest(job, monitor_pid)


def write_manifest(folder: Path, job: dict, monitor_pid: int) -> None:
    """Write `manifest.json` as a new file, then rename it over the old one (and sync it)."""
    manifests.write(folder, job, monitor_pid, sync=True)


def pack(folder: Path) -> Path:
    """`<folder>.tgz` holding the archive folder (its working files left out)."""
    target = folder.with_name(folder.name + ".tgz")
    tmp = target.with_name(target.name + ".tmp")

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        return None if RUN_DIR in Path(info.name).parts else info

    with tarfile.open(tmp, "w:gz") as tar:
        tar.add(folder, arcname=folder.name, filter=keep)
    os.replace(tmp, target)
    return target
