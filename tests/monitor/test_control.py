"""The handles the live link uses: set_verbosity reaches every traced process within 1 s
(and Python processes started later), snapshot shows every thread's stack and locals."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from jemgui.monitor.runner import Monitor, MonitorError
from tests.monitor.tracing import PYTHONS

JOBS = Path(__file__).resolve().parent / "jobs"


def records(monitor: Monitor, pid: int) -> list[dict]:
    path = monitor.events_dir / f"{pid}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def wait_for(condition, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("timed out")


@pytest.fixture(params=list(PYTHONS))
def running(request, tmp_path):
    """A job (waiting.py) running under a Monitor at verbosity 1, in a thread of this process."""
    flags = tmp_path / "flags"
    flags.mkdir()
    monitor = Monitor([PYTHONS[request.param], str(JOBS / "waiting.py"), str(flags)],
                      out=tmp_path / "archive", verbosity=1)
    monitor.prepare()
    thread = threading.Thread(target=monitor.run)
    thread.start()
    pid = wait_for(monitor._live_python)[0]
    wait_for(lambda: any(r["kind"] == "marker" for r in records(monitor, pid)))
    yield monitor, pid, flags, request.param
    (flags / "stop").touch()
    thread.join(30)
    assert not thread.is_alive()


def test_set_verbosity_reaches_the_job_within_one_second(running):
    monitor, pid, flags, version = running
    assert not any(r["kind"] == "line" for r in records(monitor, pid))
    monitor.set_verbosity(3)
    started = time.monotonic()
    # Python 3.12+ (sys.monitoring) reaches every thread; before, settrace reaches the
    # main thread and threads started later.
    want = 2 if int(version.split(".")[1]) >= 12 else 1
    tids = wait_for(lambda: len({r["tid"] for r in records(monitor, pid) if r["kind"] == "line"})
                    >= want, timeout=5)
    assert tids and time.monotonic() - started < 1.0
    stream = records(monitor, pid)
    marker = [r for r in stream if r["kind"] == "marker" and r.get("verbosity") == 3]
    assert len(marker) == 1
    assert all(r["seq"] > marker[0]["seq"] for r in stream if r["kind"] == "line")
    # A Python process started now runs at the new level from its start.
    (flags / "spawn").touch()
    later = wait_for(lambda: [p for p in (monitor.events_dir).glob("*.jsonl")
                              if p.stem not in (str(pid), str(monitor.pid))
                              and any(r["kind"] == "line" for r in records(monitor, int(p.stem)))])
    assert later
    # Lowering stops the records of frames in every process.
    monitor.set_verbosity(1)
    time.sleep(0.6)
    stream = records(monitor, pid)
    low = [r for r in stream if r["kind"] == "marker" and r.get("verbosity") == 1][-1]
    settle = low["ts"] + 0.3
    assert not [r for r in stream if r["kind"] in ("line", "call") and r["ts"] > settle]
    monitor_stream = records(monitor, monitor.pid)
    assert [r["verbosity"] for r in monitor_stream if r["kind"] == "marker"] == [3, 1]


def test_snapshot_shows_every_thread(running):
    monitor, pid, flags, version = running
    started = time.monotonic()
    snap = monitor.snapshot(timeout=2.0)
    assert time.monotonic() - started < 1.0
    threads = {t["tid"]: t for t in snap["threads"] if t["pid"] == pid}
    assert len(threads) == 2 and "missing" not in snap
    main = threads[pid]  # the main thread's id is the process id
    user = [f for f in main["stack"] if f["user"]]
    assert user[-1]["func"] == "<module>" and "counter" in user[-1]["locals"]
    worker = next(t for tid, t in threads.items() if tid != pid)
    spin = [f for f in worker["stack"] if f["func"] == "spin"]
    assert spin and spin[0]["locals"]["name"] == ["str", "'worker'"]
    assert all(f["locals"] == {} for f in worker["stack"] if not f["user"])


def test_bad_verbosity_is_refused(running):
    monitor = running[0]
    with pytest.raises(MonitorError):
        monitor.set_verbosity(5)
    assert monitor.verbosity == 1
