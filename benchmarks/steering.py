"""Steering speed: `python -m benchmarks.steering [--n 200]`.

Prints (issue 6 goals in brackets):

* the round trip from the steering panel's button (`SteeringPanel.send`) to
  the reply shown in its history, through a real ActiveMQ and a job under the
  Monitor with the live link, p50/p95/max over `--n` pings [p95 < 100 ms]:
  once while the job is quiet (verbosity 1) and once while it writes about
  2-3 k line records/s that the window follows (index generations swapped in
  on the same GUI thread);
* the verification time of a signed command, per algorithm, from
  `benchmarks.verify` [p99 < 1 ms].

The job runs under `jemgui run --broker` in its own process, as on a worker
node; the window runs offscreen in its real event loop, and each ping is sent
20-40 ms after the previous reply was shown, as clicks would be. Broker, job,
monitor and window share this machine's cores.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

JOB = """\
import os, time
here = os.path.dirname(os.path.abspath(__file__))
def work(i):
    x = i * 2
    return x % 1000 + 1
n = 0
while not os.path.exists(os.path.join(here, "stop")):
    for _ in range(5):
        n = work(n)
    time.sleep(0.01)
"""


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


class Job:
    """`jemgui run --broker` in its own process, as on a worker node: the job publishes and answers."""

    def __init__(self, folder: Path, broker_url: str, owner_dn: str, ca_dir: Path):
        self.folder = folder
        (folder / "job.py").write_text(JOB)
        self.cmd = [sys.executable, "-m", "jemgui", "run", "--job-id", "bench-steering",
                    "--out", str(folder / "archive"), "--verbosity", "1", "--broker", broker_url,
                    "--owner", owner_dn, "--ca-dir", str(ca_dir), "--", sys.executable,
                    str(folder / "job.py")]
        self.process: subprocess.Popen | None = None

    def start(self) -> Job:
        self.process = subprocess.Popen(self.cmd, cwd=self.folder, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL)
        return self

    def stop(self) -> None:
        (self.folder / "stop").touch()
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def pings(app, controller, n: int) -> list[float]:
    """Round trips in ms of `n` pings sent from the panel, each shown before the next goes."""
    from PySide6.QtCore import QEventLoop, QTimer

    panel = controller.panel
    shown_at: dict[int, float] = {}
    original = panel.show_request

    def show_request(req) -> None:
        original(req)
        if req.state != "waiting":
            shown_at.setdefault(req.number, time.perf_counter())
            QTimer.singleShot(random.randint(20, 40), send)

    panel.show_request = show_request
    sent_at: dict[int, float] = {}
    results: list = []
    loop = QEventLoop()

    def send() -> None:
        if len(sent_at) >= n:
            loop.quit()
            return
        t0 = time.perf_counter()
        req = panel.send("ping")
        sent_at[req.number] = t0
        results.append(req)

    QTimer.singleShot(0, send)
    QTimer.singleShot(int(n * 2000), loop.quit)  # a safety net: no reply must not hang the run
    loop.exec()
    panel.show_request = original
    bad = [r for r in results if r.state != "ok"]
    if bad:
        print(f"  {len(bad)} of {len(results)} pings not answered: {bad[0].words}")
    return [(shown_at[r.number] - sent_at[r.number]) * 1000 for r in results
            if r.number in shown_at and r.state == "ok"]


def report(label: str, rt: list[float], rate: float, swaps: int) -> None:
    print(f"{label:34} {statistics.median(rt):7.1f} {percentile(rt, 0.95):7.1f} "
          f"{max(rt):7.1f}   {rate:8,.0f}   {swaps:5}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="pings per phase")
    parser.add_argument("--verify-n", type=int, default=1000, help="commands per algorithm (verify)")
    args = parser.parse_args(argv)
    os.environ["QT_QPA_PLATFORM"] = "offscreen"

    from jemgui.app import make_app, settle
    from jemgui.live.credentials import load_pem
    from jemgui.live.local_broker import LocalBroker
    from jemgui.views.live_app import wait_until
    from tests.live.pki import TestPKI

    app = make_app(offscreen=True)
    from PySide6.QtCore import QSettings

    from jemgui.views.live_controller import start
    from jemgui.views.live_dialogs import ConnectSettings
    from jemgui.views.main_window import MainWindow

    with tempfile.TemporaryDirectory() as tmp, LocalBroker(heap_mb=256) as broker:
        tmp = Path(tmp)
        os.environ.setdefault("JEMGUI_CACHE_DIR", str(tmp / "cache"))
        pki = TestPKI(tmp / "pki")
        job = Job(tmp, broker.url, pki.owner.dn, pki.ca_dir).start()
        window = MainWindow(QSettings(str(tmp / "bench.ini"), QSettings.Format.IniFormat))
        window.resize(1600, 1000)
        window.show()
        settle(app)
        try:
            owner = load_pem(*pki.owner.write_pem(tmp / "owner"))
            link = start(window, ConnectSettings(broker=broker.url, job="bench-steering"), owner)
            c = link.controller
            if not wait_until(app, lambda: c.swaps >= 1, 60):
                print(f"no records from the job: {link.connection.status}")
                return 1
            print(f"round trip, button to reply shown (ms, n={args.n})"
                  f"    p50     p95     max   records/s   swaps")
            for label, level in (("job quiet (verbosity 1)", None),
                                 ("job writing lines (verbosity 3)", 3)):
                if level is not None:
                    c.panel.level.setValue(level)
                    req = c.panel.send_verbosity()
                    wait_until(app, lambda req=req: req.state != "waiting", 15)
                    received = c.session.store.received
                    wait_until(app, lambda r=received: c.session.store.received > r + 2000, 30)
                swaps, received, t0 = c.swaps, c.session.store.received, time.monotonic()
                rt = pings(app, c, args.n)
                rate = (c.session.store.received - received) / (time.monotonic() - t0)
                report(label, rt, rate, c.swaps - swaps)
            link.close()
            window.live = None
        finally:
            window.close()
            job.stop()
    print()
    from benchmarks import verify

    return verify.main(["--n", str(args.verify_n)])


if __name__ == "__main__":
    raise SystemExit(main())
