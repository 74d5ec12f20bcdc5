"""`jemgui demo [--shipped] [--screenshot FILE.png]`: record the failing demo job and open it at its failure.

The job (`resources/demo/reco_job.sh`) runs under the monitor in a child
process (`jemgui run`), so the window's process never hosts the tracer. When
the monitor cannot run here (a frozen app, no bash, a failed recording), the
archive shipped in `resources/demo/archive` opens instead, and one line says so.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

from jemgui.commands.common import CommandFailed, run_guarded
from jemgui.resources import resource_path

HELP = "record the demo job and open it at its failure"
JOB = "reco_job.sh"
JOB_ID = "reco_task_17"
TIMEOUT = 120


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--shipped", action="store_true",
                        help="open the shipped demo archive instead of recording the job now")
    parser.add_argument("--screenshot", metavar="FILE.png",
                        help="render the window offscreen after loading, save it, and exit")


def record(out: Path) -> Path:
    """Run the demo job under the monitor into `out`; the archive, or a one-line reason."""
    if getattr(sys, "frozen", False):
        raise RuntimeError("the monitor does not run from the packaged app")
    if importlib.util.find_spec("jemgui.monitor.runner") is None:
        raise RuntimeError("this build has no monitor")
    if shutil.which("bash") is None:
        raise RuntimeError("bash is not installed")
    script = resource_path("demo", JOB)
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "jemgui", "run", "--job-id", JOB_ID, "--out", str(out), "--", "bash", str(script)]
    try:
        subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(f"the recording did not finish ({exc})") from exc
    if not (out / "manifest.json").exists() or not any((out / "events").glob("*.jsonl*")):
        raise RuntimeError("the recording wrote no archive")
    return out


def demo_archive(shipped: bool = False) -> Path:
    """A fresh recording of the demo job, or the shipped one (saying why on stderr)."""
    fallback = resource_path("demo", "archive")
    if shipped:
        return fallback
    from jemgui.models.cache import cache_dir

    print("jemgui demo: recording the demo job under the monitor…", file=sys.stderr)
    try:
        return record(cache_dir() / "demo" / JOB_ID)
    except RuntimeError as exc:
        print(f"jemgui demo: {exc}; opening the shipped demo archive", file=sys.stderr)
        return fallback


def run(args: argparse.Namespace) -> int:
    def body() -> int:
        path = demo_archive(args.shipped)
        if not path.exists():
            raise CommandFailed(f"{path}: the demo archive is missing from this installation")
        if args.screenshot:
            from jemgui.app import screenshot

            print(screenshot(path, args.screenshot, where="failure"))
            return 0
        from jemgui.app import run_window

        return run_window(path, where="failure")

    return run_guarded("demo", body)
