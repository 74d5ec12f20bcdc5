"""`jemgui demo [--shipped | --live] [--screenshot FILE.png]`: the failing demo job in the window.

The job (`resources/demo/reco_job.sh` and its files, copied to the cache
folder to run from there) runs under the monitor in a child process
(`jemgui run`), so the window's process never hosts the tracer. The
recording must reach the job's known failure (the transform's CalibrationError,
exit code 1); when it does not (no bash, a part of the installation missing,
a job that died early), the command says why in one line and exits 4, never
showing an empty window. `--shipped` opens the archive recorded once and
shipped in `resources/demo/archive`.

With `--live` the window watches the job while it runs instead: a private
ActiveMQ broker starts on 127.0.0.1 (`jemgui.live.local_broker`), the job
(good reconstruction passes, then the failing one, about a minute) publishes
to it, and the window follows it. The broker runs the configuration the README
tells sites to run: no anonymous access, per-destination authorization, and
accounts made for this run only, one for the job's monitor and one for the
window. A throw-away demo CA and user made in the cache folder
(`jemgui.live.demo_pki`) sign the steering panel's commands and, as the job's
credential, what the job sends; the job trusts that CA only and takes its user
as the owner, and the window requires the job's signature by that user. So
raising the verbosity, reading `job.log` and taking snapshots work, and the
status bar says "verified". The job is stopped and the broker ends when the
window closes.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

from jemgui.cli import EXIT_COMPONENT
from jemgui.commands.common import CommandFailed, run_guarded
from jemgui.monitor.parts import check_inject
from jemgui.resources import MissingPart, resource_path

HELP = "record the demo job and open it at its failure"
JOB = "reco_job.sh"
JOB_ID = "reco_task_17"
TIMEOUT = 120
#: how the demo job ends: the transform raises this, and the job exits with its code
EXPECTED_FAILURE, EXPECTED_EXIT = "__main__.CalibrationError", 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--shipped", action="store_true",
                        help="open the shipped demo archive instead of recording the job now")
    parser.add_argument("--live", action="store_true",
                        help="watch and steer the job live, through a local ActiveMQ broker")
    parser.add_argument("--screenshot", metavar="FILE.png",
                        help="render the window offscreen after loading, save it, and exit "
                             "(with --live: once records arrived)")


def check_monitor() -> None:
    """RuntimeError (one line) when the monitor cannot run the demo job here."""
    if importlib.util.find_spec("jemgui.monitor.runner") is None:
        raise RuntimeError("this build has no monitor")
    try:
        check_inject()
    except MissingPart as exc:
        raise RuntimeError(str(exc)) from None
    if shutil.which("bash") is None:
        raise RuntimeError("bash is not installed")


def jemgui_command(*args: str) -> list[str]:
    """This jemgui as a command line: the frozen app is its own executable."""
    if getattr(sys, "frozen", False):
        return [sys.executable, *args]
    return [sys.executable, "-m", "jemgui", *args]


def stage_job(folder: Path) -> Path:
    """Copy the demo job's files (not the shipped archive) into `folder`, which it returns.

    The job runs from there, as a user's job runs from its own folder: installed in
    site-packages, its Python would count as a library, which the tracer skips.
    """
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for part in resource_path("demo").iterdir():
        if part.is_file():
            shutil.copy(part, folder / part.name)
    return folder


def record(out: Path) -> Path:
    """Run the demo job under the monitor into `out`; the archive at its failure, or RuntimeError."""
    check_monitor()
    job = stage_job(out.parent / "job")
    shutil.rmtree(out, ignore_errors=True)
    # every value: the demo shows all the inspector can (jemgui run's default records less)
    cmd = jemgui_command("run", "--job-id", JOB_ID, "--verbosity", "4", "--out", str(out), "--", "bash", JOB)
    try:
        done = subprocess.run(cmd, cwd=job, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(f"the recording did not finish ({exc})") from exc
    log = out.parent / f"{JOB_ID}.log"
    log.write_bytes(done.stdout + done.stderr)
    failure = reached_failure(out)
    if failure is not None:
        said = [line for stream in (done.stdout, done.stderr)
                for line in stream.decode(errors="replace").splitlines() if line.strip()]
        raise RuntimeError(f"the demo job did not reach its expected failure: {failure}"
                           + (f" (its last words: {said[-1].strip()})" if said else "")
                           + f"; its output is in {log}")
    return out


def reached_failure(archive: Path) -> str | None:
    """None when the recording ends in the demo's failure; else what it shows instead."""
    if not (archive / "manifest.json").exists() or not any((archive / "events").glob("*.jsonl*")):
        return "the recording wrote no archive"
    from jemgui.models.index import open_index
    from jemgui.models.inputs import UnreadableInput

    try:
        ix = open_index(archive)
    except UnreadableInput as exc:
        return f"its archive cannot be read ({exc})"
    code = ix.job.get("exit_code")
    raised = {ix.record(int(p)).get("type") for p in ix.find(kinds=["exception"], text=EXPECTED_FAILURE)}
    ix.close()
    if code != EXPECTED_EXIT or EXPECTED_FAILURE not in raised:
        return f"exit code {code}, " + ("but" if code == EXPECTED_EXIT else "and") \
            + f" no {EXPECTED_FAILURE} recorded"
    return None


def demo_archive(shipped: bool = False) -> Path:
    """A fresh recording of the demo job at its failure, or the shipped one; CommandFailed if neither."""
    if shipped:
        return resource_path("demo", "archive")
    from jemgui.models.cache import cache_dir

    print("jemgui demo: recording the demo job under the monitor…", file=sys.stderr)
    try:
        return record(cache_dir() / "demo" / JOB_ID)
    except RuntimeError as exc:
        raise CommandFailed(f"{exc} (`jemgui demo --shipped` opens the recording shipped with jemgui)",
                            code=EXIT_COMPONENT) from None


def run(args: argparse.Namespace) -> int:
    if args.live and args.shipped:
        from jemgui.cli import UsageError

        raise UsageError("--live records the job now: it does not go with --shipped")
    if args.live:
        return run_guarded("demo", lambda: run_live_demo(args.screenshot))

    def body() -> int:
        if not args.screenshot:  # no display: say so before the job is recorded, not after
            from jemgui.app import check_display

            check_display()
        path = demo_archive(args.shipped)  # a missing file is MissingPart: one line, exit 4 (jemgui.cli)
        if args.screenshot:
            from jemgui.app import screenshot

            print(screenshot(path, args.screenshot, where="failure"))
            return 0
        from jemgui.app import run_window

        return run_window(path, where="failure")

    return run_guarded("demo", body)


# -- the live demo -------------------------------------------------------------------------------

LIVE_JOB_ID = "reco_task_17-live"
LIVE_PASSES = 20
#: the live demo's job: good passes of the reconstruction, then the failing one; output also in job.log
LIVE_JOB = """\
#!/usr/bin/env bash
# JEM live demo: a shift of reconstruction passes that ends in the failing one.
# Each pass's output also goes to job.log (read it from the window's Steering panel).
#   bash live_job.sh DEMO_FOLDER [PASSES]
set -o pipefail
DEMO=$1
PASSES=${2:-20}
for pass in $(seq 1 "$PASSES"); do
  echo "pass $pass of $PASSES" | tee -a job.log
  bash "$DEMO/ok_job.sh" 2>&1 | tee -a job.log
done
echo "final pass" | tee -a job.log
bash "$DEMO/reco_job.sh" 2>&1 | tee -a job.log
"""


class LiveDemo:
    """The live demo's parts: broker, demo PKI, the job under `jemgui run --broker`; `close()` ends them.

    `accounts` are the broker's logins, made for this run: the job's monitor logs in as
    `accounts.monitor` (its password in its environment, not on its command line), the window
    as `accounts.inspector`.
    """

    def __init__(self, folder: Path, passes: int = LIVE_PASSES):
        self.folder = folder
        self.passes = passes
        self.broker = None
        self.accounts = None
        self.job: subprocess.Popen | None = None

    def start(self) -> LiveDemo:
        """Start the broker and the job; CommandFailed with one line when a part cannot start."""
        from jemgui.live.demo_pki import ensure
        from jemgui.live.local_broker import BrokerAccounts, BrokerError, LocalBroker
        from jemgui.live.options import PASSWORD_ENV

        try:
            check_monitor()
        except RuntimeError as exc:
            raise CommandFailed(f"the live demo needs the monitor: {exc}", code=EXIT_COMPONENT) from None
        self.pki = ensure(self.folder.parent / "pki")
        work = self.folder
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        (work / "live_job.sh").write_text(LIVE_JOB)
        job = stage_job(work / "job")
        self.accounts = BrokerAccounts.generate()
        try:
            self.broker = LocalBroker(heap_mb=256, accounts=self.accounts).start()
        except BrokerError as exc:
            raise CommandFailed(f"cannot start the local broker: {exc}", code=EXIT_COMPONENT) from None
        user, password = self.accounts.monitor
        cmd = jemgui_command("run", "--job-id", LIVE_JOB_ID,
                             "--out", str(work / "archive"), "--verbosity", "2",
                             "--broker", self.broker.url, "--broker-user", user,
                             "--owner", self.pki.dn, "--ca-dir", str(self.pki.ca_dir),
                             "--job-cert", str(self.pki.cert), "--job-key", str(self.pki.key),
                             "--", "bash", "live_job.sh", str(job), str(self.passes))
        env = {**os.environ, PASSWORD_ENV: password}
        with open(work / "monitor.log", "wb") as log:
            self.job = subprocess.Popen(cmd, cwd=work, stdin=subprocess.DEVNULL, env=env,
                                        stdout=subprocess.DEVNULL, stderr=log)
        return self

    def settings(self):
        """The window's connection to the demo broker (its own account), signing as the demo user."""
        from jemgui.views.live_dialogs import ConnectSettings

        user, password = self.accounts.inspector
        return ConnectSettings(broker=self.broker.url, user=user, password=password,
                               job=LIVE_JOB_ID, credential="pem",
                               cert=str(self.pki.cert), key=str(self.pki.key))

    def checks(self):
        """How the window checks the job: signed by the demo user, under the demo CA, or dropped."""
        from jemgui.live.options import Checks
        from jemgui.live.trust import TrustStore

        return Checks(TrustStore.from_dir(self.pki.ca_dir), self.pki.dn, require_signed=True)

    def credential(self):
        from jemgui.live.credentials import load_pem

        return load_pem(self.pki.cert, self.pki.key)

    def close(self) -> None:
        """Stop the job (the monitor passes SIGTERM on to it), then the broker."""
        if self.job is not None and self.job.poll() is None:
            self.job.terminate()
            try:
                self.job.wait(15)
            except subprocess.TimeoutExpired:
                self.job.kill()
                self.job.wait()
        if self.broker is not None:
            self.broker.close()


def stage_screenshot(app, window, controller, log: Path) -> None:
    """Show the steering panel at work: verbosity raised, the tail of job.log, a snapshot as NOW.

    `log` is the job's job.log on this machine: it tells when the reconstruction runs.
    """
    from jemgui.views.live_app import wait_until

    panel = controller.panel
    controller.dock.raise_()

    def answered(*requests) -> bool:
        return wait_until(app, lambda: all(r is None or r.state != "waiting" for r in requests), 15)

    panel.level.setValue(3)
    answered(panel.send_verbosity())
    def in_transform() -> bool:  # the reconstruction runs now (not the wrapper, not the check)
        lines = log.read_text(errors="replace").splitlines() if log.is_file() else []
        return bool(lines) and "starting transform" in lines[-1]

    for _ in range(3):
        wait_until(app, in_transform, 10)
        wait_until(app, lambda: False, 0.4)  # the monitor notices a new process on its next tick
        snap = panel.send("snapshot")
        if answered(snap) and snap.result.get("threads"):
            break
    panel.path.setText("job.log")
    panel.tail.setValue(4)
    answered(panel.send_get_file())
    panel.viewer.search.setText("transform")
    panel.viewer.find()
    swaps = controller.swaps
    wait_until(app, lambda: controller.swaps > swaps, 10)


def run_live_demo(screenshot: str | None) -> int:
    """`jemgui demo --live`: the job under the monitor, published through a local broker, watched."""
    from jemgui.models.cache import cache_dir

    folder = cache_dir() / "demo" / "live"
    print("jemgui demo: starting a local ActiveMQ broker and the demo job…", file=sys.stderr)
    demo = LiveDemo(folder)
    try:
        demo.start()
        if screenshot:
            from jemgui.views.live_app import LiveTimeout, live_screenshot

            try:
                out = live_screenshot(demo.settings(), screenshot, demo.credential(),
                                      records=300, checks=demo.checks(), stage=functools.partial(
                                          stage_screenshot, log=folder / "job.log"))
            except LiveTimeout as exc:
                raise CommandFailed(f"{exc}; see {folder / 'monitor.log'}", code=EXIT_COMPONENT) from None
            print(out)
            return 0
        from jemgui.views.live_app import run_live

        print(f"jemgui demo: the job runs in {folder}; its capture goes to the cache folder",
              file=sys.stderr)
        return run_live(demo.settings(), demo.credential(), checks=demo.checks())
    finally:
        demo.close()
