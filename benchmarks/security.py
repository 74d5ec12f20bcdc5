"""What the job's signatures cost (issue 16): `python -m benchmarks.security [--n 200]`.

Prints (issue 16 goals in brackets), each beside a baseline measured in the same run:

* signing: the publisher's CPU time to publish 10 k records/s in 1000-record
  batches (spec section 5) with each batch signed (`jem-sig`), as a share of
  one core, with an RSA-2048 and an ES256 credential, against the same
  batches unsigned [signing adds <= 2 % of a core at 10 k records/s];
  the broker is left out (a null connection) so only our own work counts;
* steering: the round trip of a `ping` through a real ActiveMQ to a monitor
  serving commands, reply signed by the job and verified by the client
  (chain to the CA, signer = owner), p50/p95/max over `--n` pings, against
  an unsigned job and an unverifying client [p95 < 100 ms].

CPU figures are the thread's own time (`time.thread_time`), which other load
on this shared machine does not inflate; the round trip is wall-clock time.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import orjson

from jemgui.live.command_client import CommandClient
from jemgui.live.connection import Connection
from jemgui.live.envelope import sign
from jemgui.live.jobsig import JobVerifier
from jemgui.live.local_broker import LocalBroker
from jemgui.live.publisher import Publisher, StreamTail
from jemgui.live.trust import TrustStore
from tests.live.pki import TestPKI

RATE = 10_000  # records per second
SECONDS = 20  # of job time published per case


class NullConnection:
    """Takes every message at once: what is measured is the publisher's own work."""

    connected = True

    def send(self, destination, body, headers=None) -> bool:
        return True


def _stream(folder: Path, pid: int = 4242) -> Path:
    path = folder / f"{pid}.jsonl"
    with open(path, "wb") as f:
        for seq in range(RATE * SECONDS):
            f.write(orjson.dumps({"seq": seq, "ts": 1.7e9 + seq / RATE, "pid": pid, "tid": 1,
                                  "kind": "line", "file": "/scratch/job/reco.py",
                                  "line": 40 + seq % 30, "func": "process_event"}) + b"\n")
    return path


class TimedSigner:
    """A JobSigner that adds up the CPU time of its batch signatures (hash included)."""

    def __init__(self, credential):
        from jemgui.live.jobsig import JobSigner

        self.signer, self.cpu, self.count = JobSigner(credential, "bench"), 0.0, 0

    def batch(self, pid, first, last, body):
        c0 = time.thread_time()
        try:
            return self.signer.batch(pid, first, last, body)
        finally:
            self.cpu += time.thread_time() - c0
            self.count += 1


def publish_cpu(path: Path, credential) -> tuple[float, float, int]:
    """CPU seconds the publisher spends reading, batching and signing the whole stream; of it
    the signatures' own; and how many batches went out signed."""
    publisher = Publisher(NullConnection(), credential=credential)
    publisher.job_id = "bench"
    publisher.topic = "/topic/jem.job.bench.events"
    timed = publisher.signer = TimedSigner(credential) if credential is not None else None
    tail = StreamTail(path, 4242)
    c0 = time.thread_time()
    while tail.read():
        while len(tail.pending) >= 1000:
            publisher._flush(tail, 1000)
    while tail.pending:
        publisher._flush(tail, 1000)
    total = time.thread_time() - c0
    return total, (timed.cpu if timed else 0.0), (timed.count if timed else 0)


def signing(pki: TestPKI, folder: Path) -> None:
    path = _stream(folder)
    print(f"signing: publishing {RATE * SECONDS:,} records ({SECONDS} s at {RATE:,}/s), "
          "CPU of the publisher thread")
    base = min(publish_cpu(path, None)[0] for _ in range(3))
    print(f"  unsigned          publisher {base:6.3f} s = {100 * base / SECONDS:5.2f} % of a core")
    for label, who in (("RSA-2048 (PS256)", pki.owner), ("P-256 (ES256)", pki.shifter)):
        cpu, signing_cpu, batches = min(publish_cpu(path, who) for _ in range(3))
        print(f"  {label:17} publisher {cpu:6.3f} s = {100 * cpu / SECONDS:5.2f} % of a core "
              f"(x{cpu / base:.2f} unsigned); its {batches} signatures "
              f"{1000 * signing_cpu / batches:.2f} ms each = {100 * signing_cpu / SECONDS:4.2f} % "
              f"of a core [<= 2 %]")


def _served(broker: LocalBroker, pki: TestPKI, folder: Path, signed: bool):
    import argparse as ap

    from jemgui.live.options import add_broker_arguments, services_from_args
    from jemgui.monitor.runner import Monitor

    monitor = Monitor(["true"], out=folder / ("signed" if signed else "plain"),
                      job_id="bench-steer", verbosity=1)
    monitor.prepare()
    parser = ap.ArgumentParser()
    add_broker_arguments(parser)
    argv = ["--broker", broker.url, "--owner", pki.owner.dn, "--ca-dir", str(pki.ca_dir)]
    if signed:
        cert, key = pki.owner.write_pem(folder / "job")
        argv += ["--job-cert", str(cert), "--job-key", str(key)]
    [link] = services_from_args(parser.parse_args(argv), monitor, warn=lambda text: None)
    link.quiet = 0.1
    link.start(monitor)
    link.connection.wait_connected(10)
    return link


def steering(pki: TestPKI, folder: Path, n: int) -> None:
    print(f"steering: ping round trip through ActiveMQ, {n} pings (wall clock, ms)")
    with LocalBroker(heap_mb=256) as broker:
        for label, signed in (("unsigned, not verified", False), ("signed and verified", True)):
            link = _served(broker, pki, folder, signed)
            conn = Connection(broker.url, name="bench-inspector").start()
            conn.wait_connected(10)
            verifier = JobVerifier("bench-steer", TrustStore.from_dir(pki.ca_dir) if signed else None,
                                   pki.owner.dn if signed else None, require_signed=signed)
            client = CommandClient(conn, "bench-steer", lambda c: sign(c, pki.owner),
                                   verifier=verifier)
            client.call("ping")  # warm: chain caches, JWKs, the reply queue
            times = []
            for _ in range(n):
                t0 = time.perf_counter()
                reply = client.call("ping")
                times.append((time.perf_counter() - t0) * 1000)
                assert reply["ok"] and reply.seal.verified == signed
                time.sleep(0.02)
            conn.close()
            link.stop()
            times.sort()
            p95 = times[int(0.95 * len(times))]
            print(f"  {label:23} p50 {statistics.median(times):6.1f}  p95 {p95:6.1f}  "
                  f"max {times[-1]:6.1f}  [p95 < 100]")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="pings per case")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        pki = TestPKI(Path(tmp) / "pki")
        signing(pki, Path(tmp))
        steering(pki, Path(tmp), args.n)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
