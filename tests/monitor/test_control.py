"""The handles the live link uses: set_verbosity reaches every traced process (and Python
processes started later), snapshot shows every thread's stack and locals.

How fast they act (goal: within 1 s) is measured by `python -m benchmarks.responsiveness`,
not bounded here, where a loaded machine would only make the tests flaky."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from jemgui.monitor.runner import Monitor, MonitorError
from tests.monitor.tracing import PYTHONS
from tests.waiting import wait_for

JOBS = Path(__file__).resolve().parent / "jobs"


def records(monitor: Monitor, pid: int) -> list[dict]:
    path = monitor.events_dir / f"{pid}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


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
    pid = wait_for(monitor._live_python, what="the traced job to start")[0]
    wait_for((flags / "ready").exists, what="the job's threads to be running")
    yield monitor, pid, flags, request.param
    (flags / "stop").touch()
    thread.join(30)
    assert not thread.is_alive()


def markers(monitor: Monitor, pid: int, verbosity: int) -> list[dict]:
    return [r for r in records(monitor, pid) if r["kind"] == "marker" and r.get("verbosity") == verbosity]


def test_set_verbosity_reaches_every_traced_process(running):
    monitor, pid, flags, version = running
    assert not any(r["kind"] == "line" for r in records(monitor, pid))
    monitor.set_verbosity(3)
    # Python 3.12+ (sys.monitoring) reaches every thread; before, settrace reaches the
    # main thread and threads started later.
    want = 2 if int(version.split(".")[1]) >= 12 else 1
    wait_for(lambda: len({r["tid"] for r in records(monitor, pid) if r["kind"] == "line"}) >= want,
             what=f"line records from {want} thread(s)")
    stream = records(monitor, pid)
    marker = [r for r in stream if r["kind"] == "marker" and r.get("verbosity") == 3]
    assert len(marker) == 1
    assert all(r["seq"] > marker[0]["seq"] for r in stream if r["kind"] == "line")
    # A Python process started now runs at the new level from its start.
    (flags / "spawn").touch()
    later = wait_for(lambda: [p for p in (monitor.events_dir).glob("*.jsonl")
                              if p.stem not in (str(pid), str(monitor.pid))
                              and any(r["kind"] == "line" for r in records(monitor, int(p.stem)))],
                     what="line records from the process started later")
    assert later
    # Lowering stops the records of frames in every process: from the job's marker of the
    # lower level (plus the moment its threads take to see it) until the level is raised
    # again, no thread records a line or call. Each thread's records reach the stream in
    # order, so once every traced thread has recorded a line after the raise, whatever it
    # recorded before is in the stream.
    traced = {r["tid"] for r in records(monitor, pid) if r["kind"] == "line"}
    monitor.set_verbosity(1)
    low = wait_for(lambda: markers(monitor, pid, 1)[1:], what="the job's second verbosity-1 marker")[0]
    settle = low["ts"] + 0.3
    wait_for(lambda: time.time() > settle + 0.5, what="the job to run a while at verbosity 1")
    raised = time.time()
    monitor.set_verbosity(3)
    wait_for(lambda: traced <= {r["tid"] for r in records(monitor, pid)
                                if r["kind"] == "line" and r["ts"] > raised},
             what="line records from every traced thread after the raise")
    quiet = [r for r in records(monitor, pid) if settle < r["ts"] < raised]
    assert not [r for r in quiet if r["kind"] in ("line", "call")]
    monitor_stream = records(monitor, monitor.pid)
    assert [r["verbosity"] for r in monitor_stream if r["kind"] == "marker"] == [3, 1, 3]


def test_snapshot_shows_every_thread(running):
    monitor, pid, flags, version = running
    snap = monitor.snapshot(timeout=10.0)
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
