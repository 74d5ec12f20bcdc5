"""The live link's speed through a real ActiveMQ: `python -m benchmarks.live [--quick]`.

Prints (issue 5 goals in brackets):

* link throughput: records/s from stream files through the publisher, ActiveMQ
  and a follower's store, with a writer appending as fast as it can
  (the monitor's own `JsonlStream`, flushed every 0.1 s as the monitor does)
  [>= 50 k/s]; and the same for a real traced job under the Monitor, which is
  bounded by the tracer;
* end-to-end latency p50/p95, from a record's `ts` (the tracer's clock, in the
  job) to the moment the follower's store has it, for a traced job paced at
  1 k and 10 k records/s [p95 < 250 ms at 10 k/s];
* the job's slowdown from publishing: the same traced job timed from inside,
  under the Monitor without and with the live link (and a follower) [< 2 %].

Publisher and follower run in separate processes, as on a worker node and a
desktop; everything shares this machine's cores, so figures on a 2-core
machine are conservative.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

JOB = '''
import sys, time
turns, rate = int(sys.argv[1]), float(sys.argv[2])

def step(i):
    x = i * 2
    return x

t0 = time.perf_counter()
total = 0
if rate:  # about 7 records a turn; paced in slices of 10 ms
    per_slice = max(1, int(rate / 7 / 100))
    for i in range(turns):
        total += step(i)
        if i % per_slice == 0:
            time.sleep(max(0.0, t0 + i / (rate / 7) - time.perf_counter()))
else:
    for i in range(turns):
        total += step(i)
print("ELAPSED %.6f" % (time.perf_counter() - t0))
'''


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


# -- the follower process ----------------------------------------------------------------------


def follower_main(broker: str, job_id: str, expect: int) -> None:
    """Follow `job_id` until `expect` records are whole (or the job ended); print stats as JSON."""
    from jemgui.live.connection import Connection
    from jemgui.live.follower import Follower

    latencies: list[float] = []
    arrivals: list[float] = []

    def sink(pid: int, records: list[dict]) -> None:
        now = time.time()
        latencies.extend(now - r["ts"] for r in records)
        arrivals.append(now)

    conn = Connection(broker, name="bench-follow").start()
    conn.wait_connected(30)
    follower = Follower(conn, job_id, None, sink=sink, prefetch=100)
    time.sleep(0.3)
    print("ready", flush=True)
    deadline = time.monotonic() + 600
    quiet_since = time.monotonic()
    while len(latencies) < expect and time.monotonic() < deadline:
        if follower.store.status == "ended" and (
                not follower.store.holes() or time.monotonic() - quiet_since > 2):
            break
        if follower.poll():
            quiet_since = time.monotonic()
        follower.inbox.wait(0.01)
    conn.close()
    print(json.dumps({"records": len(latencies), "first": arrivals[0] if arrivals else 0,
                      "last": arrivals[-1] if arrivals else 0,
                      "p50": percentile(latencies, 0.5), "p95": percentile(latencies, 0.95)}))


def start_follower(broker: str, job_id: str, expect: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.live", "--follower", broker, job_id,
                             str(expect)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def follower_result(proc: subprocess.Popen) -> dict:
    out, _ = proc.communicate(timeout=600)
    return json.loads(out.strip().splitlines()[-1])


# -- 1. the link alone ---------------------------------------------------------------------------


def writer_main(folder: str, n: int) -> None:
    """Append `n` line records to events/<pid>.jsonl as fast as it can, whole lines every 0.1 s.

    The lines are formatted here rather than by the monitor's writer, so the
    writer is not what limits the link.
    """
    pid = os.getpid()
    fd = os.open(Path(folder) / "events" / f"{pid}.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    start = time.time()
    next_flush = time.monotonic() + 0.1
    lines = []
    for i in range(n):
        lines.append(f'{{"seq":{i},"pid":{pid},"ts":{time.time():.6f},"kind":"line","tid":1,'
                     f'"fid":7,"file":"/scratch/job/transform.py","line":{10 + i % 40},'
                     f'"func":"process_event","depth":3,"changed":{{"i":["int","{i}"]}}}}\n')
        if time.monotonic() >= next_flush or i == n - 1:
            os.write(fd, "".join(lines).encode())
            lines.clear()
            next_flush += 0.1
    os.close(fd)
    print(json.dumps({"start": start, "end": time.time()}))


def link_throughput(broker_url: str, n: int) -> dict:
    from jemgui.live.connection import Connection
    from jemgui.live.publisher import Publisher

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "events").mkdir()
        follower = start_follower(broker_url, "bench-link", n)
        conn = Connection(broker_url, name="bench-pub").start()
        conn.wait_connected(30)
        publisher = Publisher(conn)
        publisher.start(SimpleNamespace(archive_dir=tmp, job={"id": "bench-link"}))
        writer = subprocess.run([sys.executable, "-m", "benchmarks.live", "--writer", tmp, str(n)],
                                capture_output=True, text=True, check=True)
        w = json.loads(writer.stdout)
        got = follower_result(follower)
        publisher.stop()
        conn.close()
    return {"written_per_s": n / (w["end"] - w["start"]),
            "end_to_end_per_s": got["records"] / (got["last"] - w["start"]),
            "received": got["records"], "p50": got["p50"], "p95": got["p95"]}


# -- 2. a traced job under the Monitor -----------------------------------------------------------


def run_job(folder: Path, broker_url: str | None, turns: int, rate: float, job_id: str,
            follow_expect: int | None = None, job_cpus: set[int] | None = None) -> dict:
    """Run the traced job under the Monitor (with the live link when `broker_url`).

    `job_cpus` pins the job's process to those cores (the monitor stays where it is).
    """
    import argparse as ap

    from jemgui.live.options import add_broker_arguments, services_from_args
    from jemgui.monitor.runner import Monitor

    folder.mkdir(parents=True)
    script = folder / "job.py"
    script.write_text(JOB)
    command = [sys.executable, str(script), str(turns), str(rate)]
    if job_cpus:
        command = ["taskset", "-c", ",".join(map(str, sorted(job_cpus))), *command]
    monitor = Monitor(command, out=folder / "archive", job_id=job_id, verbosity=3)
    follower = None
    if broker_url:
        parser = ap.ArgumentParser()
        add_broker_arguments(parser)
        args = parser.parse_args(["--broker", broker_url, "--owner", "/CN=bench"])
        for service in services_from_args(args, monitor, warn=lambda text: None):
            monitor.add_service(service)
        if follow_expect is not None:
            follower = start_follower(broker_url, job_id, follow_expect)
    out = folder / "stdout"
    saved = os.dup(1)
    with open(out, "wb") as f:  # the job's output goes to the monitor's stdout: catch it
        os.dup2(f.fileno(), 1)
        try:
            t0, cpu0 = time.time(), time.process_time()
            monitor.run()
            wall, cpu = time.time() - t0, time.process_time() - cpu0
        finally:
            os.dup2(saved, 1)
            os.close(saved)
    elapsed = float(out.read_text().split("ELAPSED")[-1].split()[0])
    records = sum(s + 1 for s in monitor.last_seq().values())
    result = {"elapsed": elapsed, "wall": wall, "records": records, "start": t0,
              "monitor_cpu": cpu}
    if follower is not None:
        result["follow"] = follower_result(follower)
    return result


def slowdown(tmp: Path, broker, turns: int, repeat: int) -> tuple[list, list]:
    """The same CPU-bound traced job, alternately without and with the live link.

    With more than one core, the job gets core 0 to itself and the monitor, the
    broker and the follower share the others, as on a worker node where the
    broker and the inspector are elsewhere and the monitor takes its own share.
    """
    cores = sorted(os.sched_getaffinity(0))
    job_cpus = {cores[0]} if len(cores) > 1 else None
    if job_cpus:
        rest = set(cores[1:])
        os.sched_setaffinity(0, rest)
        for task in os.listdir(f"/proc/{broker.process.pid}/task"):
            try:
                os.sched_setaffinity(int(task), rest)
            except OSError:
                pass
    try:
        run_job(tmp / "warm", None, turns, 0, "warm-up", job_cpus=job_cpus)
        plain, live = [], []
        for i in range(repeat):
            plain.append(run_job(tmp / f"plain{i}", None, turns, 0, f"plain-{i}",
                                 job_cpus=job_cpus))
            live.append(run_job(tmp / f"live{i}", broker.url, turns, 0, f"live-{i}",
                                follow_expect=7 * turns, job_cpus=job_cpus))
    finally:
        os.sched_setaffinity(0, set(cores))
    return plain, live


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs")
    parser.add_argument("--follower", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--writer", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.follower:
        follower_main(args.follower[0], args.follower[1], int(args.follower[2]))
        return 0
    if args.writer:
        writer_main(args.writer[0], int(args.writer[1]))
        return 0

    from jemgui.live.local_broker import LocalBroker

    n = 100_000 if args.quick else 400_000
    seconds = 4 if args.quick else 10
    repeat = 3 if args.quick else 5
    print(f"machine: {os.cpu_count()} cores; ActiveMQ from the system package, one broker")
    with LocalBroker() as broker, tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        link = link_throughput(broker.url, n)
        print(f"link throughput ({n} records): writer {link['written_per_s']:,.0f}/s, "
              f"end to end {link['end_to_end_per_s']:,.0f}/s "
              f"(received {link['received']}; latency under load p50 {link['p50'] * 1000:.0f} ms, "
              f"p95 {link['p95'] * 1000:.0f} ms)  [goal >= 50,000/s]")

        turns = 60_000 if args.quick else 200_000
        job = run_job(tmp / "max", broker.url, turns, 0, "bench-max", follow_expect=7 * turns)
        f = job["follow"]
        print(f"traced job at full speed: {job['records']} records, job wrote "
              f"{job['records'] / job['elapsed']:,.0f}/s, follower had them at "
              f"{f['records'] / (f['last'] - job['start']):,.0f}/s")

        for rate in (1_000, 10_000):
            turns = int(rate * seconds / 7)
            job = run_job(tmp / f"rate{rate}", broker.url, turns, rate, f"bench-{rate}",
                          follow_expect=7 * turns)
            f = job["follow"]
            print(f"latency at {rate:,} records/s ({f['records']} records): p50 "
                  f"{f['p50'] * 1000:.0f} ms, p95 {f['p95'] * 1000:.0f} ms  [goal p95 < 250 ms]")

        turns = 40_000 if args.quick else 150_000
        plain, live = slowdown(tmp, broker, turns, repeat)
        p, q = (statistics.median(r["elapsed"] for r in runs) for runs in (plain, live))
        cp, cq = (statistics.median(r["monitor_cpu"] for r in runs) for runs in (plain, live))
        records = statistics.median(r["records"] for r in live)
        print(f"job slowdown from publishing ({records:,.0f} records, median of {repeat}, "
              f"the job on its own core): {p:.2f} s without, {q:.2f} s with the live link and a "
              f"follower: {(q / p - 1) * 100:+.1f} %  [goal < 2 %]")
        print(f"  the monitor process's CPU: {cp:.2f} s without, {cq:.2f} s with publishing "
              f"(+{(cq - cp) / records * 1e6:.1f} us a record)")
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    sys.exit(main())
