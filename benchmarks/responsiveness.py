"""How soon the parts act: `python -m benchmarks.responsiveness [--n 10] [--no-broker]`.

The tests check what happens and wait for it; a time limit there would only fail on
a loaded machine. The figures they used to bound are measured here instead and
printed beside their goals (in brackets):

* `Monitor.set_verbosity`: from the call to the job's first line record, and
  `Monitor.snapshot`: the call's duration, for a job with two busy threads, on one
  CPython of each tracer back-end (settrace, sys.monitoring) [< 1 s];
* `Connection.send` while no broker can be reached: how soon it gives up [< 50 ms];
* a traced job whose live link points at no broker, beside the same job without
  the live link [the job's own time no slower; the run ends at most the publisher's
  final wait for the broker, 1 s, later];
* the publisher's lone record, through ActiveMQ (the system package): a fresh one
  goes out after waiting for company, one that already waited 0.5 s in the job at
  once [fresh 80-600 ms, aged < 80 ms].
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

JOB = '''
import os, sys, threading, time
flags = sys.argv[1]
def step(i):
    x = i * 2
    return x % 1000 + 1
def spin():
    i = 0
    while not os.path.exists(os.path.join(flags, "stop")):
        i = step(i)
        time.sleep(0.001)
threading.Thread(target=spin, daemon=True).start()
open(os.path.join(flags, "ready"), "w").close()
spin()
'''


def until(condition, timeout: float = 30.0, step: float = 0.002):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise RuntimeError("timed out")
        time.sleep(step)
    return value


def spread(values: list[float]) -> str:
    """p50 and max, in ms."""
    return f"p50 {statistics.median(values) * 1000:6.1f} ms, max {max(values) * 1000:6.1f} ms"


class Tail:
    """The records appended to one stream file since the last look."""

    def __init__(self, path: Path):
        self.path, self.offset, self.partial = path, 0, b""

    def new(self) -> list[dict]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        return [json.loads(line) for line in lines if line.strip()]


def handles(python: str, n: int) -> tuple[list[float], list[float]]:
    """(set_verbosity reach times, snapshot durations) for a two-thread job under the Monitor."""
    from jemgui.monitor.runner import Monitor

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "job.py").write_text(JOB)
        flags = tmp / "flags"
        flags.mkdir()
        monitor = Monitor([python, str(tmp / "job.py"), str(flags)], out=tmp / "archive", verbosity=1)
        monitor.prepare()
        thread = threading.Thread(target=monitor.run)
        thread.start()
        try:
            until((flags / "ready").exists)
            pid = until(monitor._live_python)[0]
            tail = Tail(monitor.events_dir / f"{pid}.jsonl")
            reach, snap = [], []
            for _ in range(n):
                tail.new()
                t0 = time.monotonic()
                monitor.set_verbosity(3)
                until(lambda: any(r["kind"] == "line" for r in tail.new()))
                reach.append(time.monotonic() - t0)
                monitor.set_verbosity(1)
                t0 = time.monotonic()
                answer = monitor.snapshot(timeout=5.0)
                snap.append(time.monotonic() - t0)
                assert "missing" not in answer, answer.get("missing")
        finally:
            (flags / "stop").touch()
            thread.join(60)
    return reach, snap


def failed_sends(n: int) -> list[float]:
    from jemgui.live.connection import Connection
    from jemgui.live.local_broker import free_port

    conn = Connection(f"stomp://127.0.0.1:{free_port()}", backoff=(0.05, 0.2)).start()
    try:
        assert not conn.wait_connected(0.5)
        times = []
        for _ in range(n):
            t0 = time.monotonic()
            assert conn.send("/topic/x", b"lost") is False
            times.append(time.monotonic() - t0)
    finally:
        conn.close()
    return times


def dead_broker(repeat: int) -> dict[str, list[dict]]:
    """The same traced job under the Monitor, without and with a live link to no broker:
    `run_job`'s results (the job's own time, the wall time of the whole run)."""
    from benchmarks.live import run_job
    from jemgui.live.local_broker import free_port

    runs: dict[str, list[dict]] = {"without": [], "dead": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeat):
            runs["without"].append(run_job(Path(tmp) / f"plain{i}", None, 2000, 0, f"plain-{i}"))
            runs["dead"].append(run_job(Path(tmp) / f"dead{i}", f"stomp://127.0.0.1:{free_port()}",
                                        2000, 0, f"dead-{i}"))
    return runs


def lone_records(n: int) -> tuple[list[float], list[float]]:
    """Delays from writing a lone record to its arrival at a subscriber: fresh ones, aged ones."""
    import orjson

    from jemgui.live.connection import Connection
    from jemgui.live.local_broker import LocalBroker
    from jemgui.live.publisher import Publisher, events_topic

    fresh, aged = [], []
    with LocalBroker() as broker, tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "events").mkdir()
        sub = Connection(broker.url, name="sub").start()
        pub = Connection(broker.url, name="pub").start()
        publisher = Publisher(pub)
        try:
            assert sub.wait_connected(30) and pub.wait_connected(30)
            topic = events_topic("lone")
            sub.subscribe(topic)

            def probe_back() -> bool:  # the subscription is live at the broker
                pub.send(topic, b"probe", {"jem-probe": "1"})
                return sub.inbox.wait(0.1) and bool(sub.inbox.drain())

            until(probe_back)
            publisher.start(SimpleNamespace(archive_dir=tmp, job={"id": "lone"}))
            time.sleep(0.5)  # publisher started; probes still in flight arrive and are dropped
            sub.inbox.drain()
            for seq in range(2 * n):
                age = 0.5 if seq % 2 else 0.0
                rec = {"seq": seq, "pid": 5, "ts": time.time() - age, "kind": "marker", "text": "lone"}
                with open(tmp / "events" / "5.jsonl", "ab") as f:
                    f.write(orjson.dumps(rec) + b"\n")
                t0 = time.monotonic()
                until(lambda: sub.inbox.wait(0.01) and any("jem-pid" in m.headers for m in sub.inbox.drain()))
                (aged if age else fresh).append(time.monotonic() - t0)
                time.sleep(0.2)  # the next record starts a batch of its own
        finally:
            publisher.stop()
            sub.close()
            pub.close()
    return fresh, aged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.responsiveness", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10, help="measurements of each kind")
    parser.add_argument("--no-broker", action="store_true", help="skip the part that needs ActiveMQ")
    args = parser.parse_args(argv)
    from benchmarks.monitor import pythons

    found = pythons()
    chosen = {}
    for version, python in found.items():
        backend = "sys.monitoring" if int(version.split(".")[1]) >= 12 else "settrace"
        chosen.setdefault(backend, (version, python))
    for backend, (version, python) in chosen.items():
        reach, snap = handles(python, args.n)
        print(f"CPython {version} ({backend}): set_verbosity reaches the job: {spread(reach)}  [< 1 s]")
        print(f"CPython {version} ({backend}): snapshot of two threads: {spread(snap)}  [< 1 s]",
              flush=True)
    print(f"send with no broker reachable fails in: {spread(failed_sends(20 * args.n))}  [< 50 ms]",
          flush=True)
    runs = dead_broker(3)
    own, wall = ({k: statistics.median(r[f] for r in v) for k, v in runs.items()} for f in ("elapsed", "wall"))
    print(f"traced job (2000 turns), median of 3, without the live link / with it pointed at no broker: "
          f"the job's own time {own['without']:.2f} / {own['dead']:.2f} s, the whole run "
          f"{wall['without']:.2f} / {wall['dead']:.2f} s  [job no slower; run <= 1 s longer]", flush=True)
    if not args.no_broker:
        fresh, aged = lone_records(args.n)
        print(f"lone record to subscriber: fresh {spread(fresh)}  [80-600 ms]; "
              f"aged 0.5 s {spread(aged)}  [< 80 ms]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
