"""A long live job followed by the window, through a real ActiveMQ (issue 14, "Live").

    python -m benchmarks.live_window [--rate 5000] [--seconds 300]

A writer process appends records to a job's stream at `rate` records/s
(each stamped with the time it was written, the job's clock), the monitor's
publisher sends them to a local ActiveMQ, and a window in another process
(offscreen) watches the job the way `jemgui connect` does. Each time the
window takes in new records, the lag of the oldest of them (the moment it is
on screen, header count and followed cursor included, minus its `ts`) is
noted. Printed: lag p50/p95 around 100 k, 1 M and 1.5 M captured records
(the 10 s after the window's count passed each), the GUI thread's busy
share (its CPU time over the wall time), and the window's peak RSS.
Goal: p95 under 1 s and not growing with the capture.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

MARKS = (100_000, 1_000_000, 1_500_000)


def writer_main(folder: str, rate: float, seconds: float) -> None:
    """Append paced records (two threads, calls, lines with a changed local, returns) every 20 ms."""
    pid = os.getpid()
    fd = os.open(Path(folder) / "events" / f"{pid}.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    start = time.time()
    seq, fid = 0, 0
    end = time.monotonic() + seconds
    lines = []
    while time.monotonic() < end:
        due = int((time.time() - start) * rate)
        while seq < due:
            tid = 1 + seq % 2
            now = time.time()
            phase = seq % 20
            if phase < 2:
                fid += 1
                lines.append(f'{{"seq":{seq},"pid":{pid},"ts":{now:.6f},"kind":"call","tid":{tid},"fid":{fid},'
                             f'"file":"/scratch/job/reco.py","line":10,"func":"fit_track","depth":0}}\n')
            elif phase >= 18:
                lines.append(f'{{"seq":{seq},"pid":{pid},"ts":{now:.6f},"kind":"return","tid":{tid},'
                             f'"fid":{fid - (phase - 18)},"file":"/scratch/job/reco.py","line":30,'
                             f'"func":"fit_track","depth":0}}\n')
            else:
                lines.append(f'{{"seq":{seq},"pid":{pid},"ts":{now:.6f},"kind":"line","tid":{tid},'
                             f'"fid":{fid - (seq % 2)},"file":"/scratch/job/reco.py","line":{10 + phase},'
                             f'"func":"fit_track","depth":0,"changed":{{"chi2":["float","{seq * 0.5}"]}}}}\n')
            seq += 1
        if lines:
            os.write(fd, "".join(lines).encode())
            lines.clear()
        time.sleep(0.02)
    os.close(fd)
    print(json.dumps({"records": seq, "start": start, "end": time.time()}), flush=True)


def window_main(broker: str, job_id: str, expect: int) -> None:
    """Watch `job_id` in an offscreen window until `expect` records are shown; print the lags."""
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import QSettings

    from jemgui.app import dispose, make_app
    from jemgui.views.live_controller import start
    from jemgui.views.live_dialogs import ConnectSettings
    from jemgui.views.main_window import MainWindow

    app = make_app()
    with tempfile.TemporaryDirectory() as tmp:
        window = MainWindow(QSettings(str(Path(tmp) / "bench.ini"), QSettings.Format.IniFormat))
        window.resize(1600, 1000)
        window.show()
        link = start(window, ConnectSettings(broker=broker, job=job_id, credential="none"))
        c = link.controller
        samples: list[tuple[int, float]] = []  # (records shown, lag of the oldest record just shown)
        shown = [0]

        def taken() -> None:
            ix = window.inspection.index
            first = shown[0]
            shown[0] = ix.count
            if ix.count > first:
                samples.append((ix.count, time.time() - ix.time_at(first)))

        c.swapped.connect(taken)
        t0, cpu0 = time.monotonic(), time.thread_time()
        last_change, last = t0, 0
        while shown[0] < expect and time.monotonic() - t0 < 3600:
            app.processEvents()
            time.sleep(0.002)
            if shown[0] != last:
                last_change, last = time.monotonic(), shown[0]
            elif last and time.monotonic() - last_change > 10:  # the writer ended a little short
                break
        wall, cpu = time.monotonic() - t0, time.thread_time() - cpu0
        print("RESULT " + json.dumps({"samples": samples, "busy": cpu / wall,
                                      "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                                      "grow_ms": c.grow_seconds * 1000}), flush=True)
        link.close()
        dispose(app, window)


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=float, default=5000)
    p.add_argument("--seconds", type=float, default=300)
    p.add_argument("--writer", nargs=3, help=argparse.SUPPRESS)
    p.add_argument("--window", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.writer:
        writer_main(args.writer[0], float(args.writer[1]), float(args.writer[2]))
        return 0
    if args.window:
        window_main(args.window[0], args.window[1], int(args.window[2]))
        return 0

    from jemgui.live.connection import Connection
    from jemgui.live.local_broker import LocalBroker
    from jemgui.live.publisher import Publisher

    expect = int(args.rate * args.seconds)
    job_id = "bench-live-window"
    with LocalBroker() as broker, tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "events").mkdir()
        errors = open(Path(tmp) / "window.err", "w+")  # noqa: SIM115 - read back below
        window = subprocess.Popen([sys.executable, "-m", "benchmarks.live_window", "--window", broker.url, job_id,
                                   str(expect)], stdout=subprocess.PIPE, stderr=errors, text=True)
        conn = Connection(broker.url, name="bench-pub").start()
        conn.wait_connected(30)
        publisher = Publisher(conn)
        publisher.start(SimpleNamespace(archive_dir=tmp, job={"id": job_id}))
        time.sleep(3)  # the window subscribed
        writer = subprocess.run([sys.executable, "-m", "benchmarks.live_window", "--writer", tmp, str(args.rate),
                                 str(args.seconds)], capture_output=True, text=True, check=True)
        w = json.loads(writer.stdout)
        out, _ = window.communicate(timeout=600)
        publisher.stop()
        conn.close()
        errors.seek(0)
        problems = errors.read().strip()
        if problems:
            print("the window said:\n" + "\n".join(problems.splitlines()[-30:]))
    result = json.loads(next(ln for ln in out.splitlines() if ln.startswith("RESULT"))[7:])
    samples = result["samples"]
    rate = w["records"] / (w["end"] - w["start"])
    print(f"wrote {w['records']:,} records at {rate:,.0f}/s; the window showed {samples[-1][0] if samples else 0:,}")
    lags = [lag for _, lag in samples]
    print(f"  all updates: lag p50 {_pct(lags, 0.5) * 1000:.0f} ms, p95 {_pct(lags, 0.95) * 1000:.0f} ms")
    for mark in (*MARKS[:-1], min(MARKS[-1], int(w["records"] * 0.99))):
        after = [s for s in samples if s[0] >= mark]
        if not after:
            print(f"  at {mark:>9,}: not reached")
            continue
        t_first = after[0]
        window_lags = [lag for n, lag in after if n - t_first[0] <= rate * 10]
        print(f"  at {mark:>9,} records: lag p50 {_pct(window_lags, 0.5) * 1000:.0f} ms, "
              f"p95 {_pct(window_lags, 0.95) * 1000:.0f} ms ({len(window_lags)} updates; goal p95 < 1000 ms)")
    print(f"  GUI thread busy {result['busy'] * 100:.0f} % of the wall time; window peak RSS {result['rss_mb']:.0f} MB; "
          f"last growth {result['grow_ms']:.1f} ms of CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
