"""The files jemgui reads at run time: demo jobs and archive, icons, the ActiveMQ config.

This folder is the package `jemgui.resources` once built (pyproject.toml maps it with
`package-dir`; jemgui.spec does the same for the standalone app), so a wheel, pipx
and the bundle carry it, and `importlib.resources` finds it wherever jemgui is
installed. A file that is not there is a broken installation, said in one line:
nothing falls back to a lesser behaviour.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


class MissingPart(FileNotFoundError):
    """A file jemgui ships is not where it should be (the message is one line)."""


def part_path(package: str, *parts: str) -> Path:
    """Path on disk of a file shipped in `package`; MissingPart when it is not there.

    A real path, because the files go to other programs (bash's BASH_ENV, Qt, Java).
    """
    root = files(package)
    if not isinstance(root, Path):
        raise MissingPart(f"{package} is not installed as files on disk ({root}); reinstall jemgui")
    path = root.joinpath(*parts)
    if not path.exists():
        raise MissingPart(f"{path} is missing: this installation of jemgui is incomplete; reinstall it")
    return path


def resource_path(*parts: str) -> Path:
    """Path of a shipped resource, e.g. `resource_path("icons", "play.svg")`."""
    return part_path(__name__, *parts)
