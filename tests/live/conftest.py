"""The real ActiveMQ broker for the live tests, and a TCP relay that can cut or slow a link.

One broker serves the whole session (tests that restart a broker start
their own). When it cannot start the tests FAIL with the reason: the live
link is only tested against the real broker, never skipped.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import struct
import threading
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from jemgui.live.local_broker import BrokerError, BrokerTLS, LocalBroker
from tests.waiting import wait_for

#: a slow subscriber may hold this many batches beyond its prefetch (small, so tests lose some)
TEST_TOPIC_PENDING = 5
TEST_TOPIC_PREFETCH = 50


def start_broker(**kw) -> LocalBroker:
    """A started LocalBroker, or a test failure that says why ActiveMQ would not start."""
    kw.setdefault("topic_pending", TEST_TOPIC_PENDING)
    kw.setdefault("topic_prefetch", TEST_TOPIC_PREFETCH)
    kw.setdefault("heap_mb", 256)
    broker = LocalBroker(**kw)
    try:
        return broker.start()
    except BrokerError as exc:
        broker.close()
        pytest.fail(f"the ActiveMQ broker the live tests need did not start: {exc}", pytrace=False)


#: the CA folder of the session's PKI, once the `pki` fixture made it
_PKI_CA_DIR: list[Path] = []


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    from pki import TestPKI

    made = TestPKI(tmp_path_factory.mktemp("pki"))
    _PKI_CA_DIR[:] = [made.ca_dir]
    return made


def broker_tls(pki, folder: Path) -> BrokerTLS:
    """A server certificate for 127.0.0.1 from the test CA, and a truststore of the test CAs."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(pki.ca.cert.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .sign(pki.ca.key, hashes.SHA256())
    )
    password = "jemgui-test"
    enc = serialization.BestAvailableEncryption(password.encode())
    keystore = folder / "broker.p12"
    keystore.write_bytes(pkcs12.serialize_key_and_certificates(b"broker", key, cert, None, enc))
    truststore = folder / "trust.p12"
    truststore.write_bytes(pkcs12.serialize_java_truststore(
        [pkcs12.PKCS12Certificate(c.cert, c.label.encode()) for c in (pki.ca, pki.sub_ca)], enc))
    (folder / "ca.pem").write_bytes(pki.ca.cert.public_bytes(serialization.Encoding.PEM))
    return BrokerTLS(keystore, password, truststore, need_client_auth=True)


@pytest.fixture(scope="session")
def broker(pki, tmp_path_factory):
    """The session's broker: STOMP, and STOMP over TLS that wants a client certificate."""
    b = start_broker(tls=broker_tls(pki, tmp_path_factory.mktemp("broker-tls")))
    yield b
    b.close()


class TcpProxy:
    """Relays TCP connections to `port`; `cut()` breaks them, `throttle()` slows broker-to-client.

    This is how the tests cut a follower's network link or make it too slow
    for its topic, without touching the follower or the broker.
    """

    def __init__(self, port: int, host: str = "127.0.0.1"):
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.rate: float | None = None  # bytes/s from broker to client; None: unlimited
        self.refusing = False  # when True, new connections are closed at once (broker "down")
        self.cuts = 0
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"stomp://127.0.0.1:{self.port}"

    def throttle(self, rate: float | None) -> None:
        self.rate = rate

    def cut(self) -> None:
        """Break every relayed connection at once: both ends see their connection reset."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
            self.cuts += 1
        for pair in pairs:
            for s in pair:
                try:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    s.shutdown(socket.SHUT_RDWR)  # wakes the relay threads blocked on it
                except OSError:
                    pass
                s.close()

    def close(self) -> None:
        self._closed = True
        self.listener.close()
        self.cut()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.refusing:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            # small buffers, so a throttled link backs up into the broker quickly
            upstream.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
            client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32768)
            with self._lock:
                self._pairs.append((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, downstream: bool) -> None:
        try:
            while True:
                rate = self.rate if downstream else None
                data = src.recv(8192 if rate else 65536)
                if not data:
                    break
                if rate:
                    time.sleep(len(data) / rate)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@pytest.fixture
def proxy(broker):
    p = TcpProxy(broker.port)
    yield p
    p.close()


# -- jobs under the monitor, and `jemgui follow` ------------------------------------------

JOB_SCRIPT = """\
import os, sys, time
n, pause = int(sys.argv[1]), float(sys.argv[2])
hold = sys.argv[3] if len(sys.argv) > 3 else None
def step(i):
    x = i * 2
    return x
total = 0
for i in range(n):
    total += step(i)
    if i % 250 == 0:
        time.sleep(pause)
print(total)
while hold and not os.path.exists(hold):
    time.sleep(0.01)
"""


class LiveJob:
    """A job run by the real Monitor, publishing through the live link, in a background thread.

    At verbosity 3 each loop turn of the job script is about 7 records;
    `pause` every 250 turns sets its pace. With `hold`, the job ends only once
    that file exists.
    """

    def __init__(self, folder: Path, broker_url: str, pki, job_id: str, turns: int,
                 pause: float = 0.0, verbosity: int = 3, extra: tuple = (), hold: Path | None = None,
                 sign: bool = True):
        import argparse
        import getpass
        import sys

        from jemgui.live.options import add_broker_arguments, services_from_args
        from jemgui.monitor.runner import Monitor

        script = folder / "job.py"
        script.write_text(JOB_SCRIPT)
        self.archive = folder / "archive"
        self.monitor = Monitor([sys.executable, str(script), str(turns), str(pause),
                                *([str(hold)] if hold else [])],
                               out=self.archive, job_id=job_id, verbosity=verbosity)
        parser = argparse.ArgumentParser()
        add_broker_arguments(parser)
        signing = []
        if sign:  # the job signs with its owner's credential, as with a proxy on a worker node
            cert, key = pki.owner.write_pem(folder / "job-credential")
            signing = ["--job-cert", str(cert), "--job-key", str(key)]
        if "--policy" in extra:  # the tests' files belong to the user that plays the site
            signing += ["--site-account", getpass.getuser()]
        args = parser.parse_args(["--broker", broker_url, "--owner", pki.owner.dn,
                                  "--ca-dir", str(pki.ca_dir), *signing, *extra])
        self.services = services_from_args(args, self.monitor, warn=lambda text: None)
        for service in self.services:
            self.monitor.add_service(service)
        self.status: int | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> LiveJob:
        self.thread.start()
        return self

    def _run(self) -> None:
        try:
            self.status = self.monitor.run()
        except BaseException as exc:  # noqa: BLE001 - reported by wait()
            self.error = exc

    def records(self) -> int:
        return sum(s + 1 for s in self.monitor.last_seq().values())

    def wait_records(self, n: int, timeout: float = 30.0) -> None:
        def written() -> bool:
            assert self.thread.is_alive() or self.records() >= n, "the job ended early"
            return self.records() >= n

        wait_for(written, timeout, f"the job to write {n} records")

    def wait(self, timeout: float = 60.0) -> int:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the job did not end"
        if self.error:
            raise self.error
        return self.status


@pytest.fixture
def credential(pki, tmp_path):
    """The job owner's certificate and key as PEM files."""
    return pki.owner.write_pem(tmp_path / "owner")


def start_follow(url: str, job_id: str, out: Path, credential, *extra: str,
                 ca_dir: Path | None = None):
    """`jemgui follow` as its own process, as a user would run it; checking signatures against
    `ca_dir` (default: the test PKI's CA folder)."""
    if ca_dir is None and _PKI_CA_DIR:  # the session's PKI, made by the `pki` fixture
        ca_dir = _PKI_CA_DIR[0]
    import subprocess
    import sys

    cert, key = credential
    if ca_dir is not None and "--ca-dir" not in extra:
        extra = ("--ca-dir", str(ca_dir), *extra)
    return subprocess.Popen(
        [sys.executable, "-m", "jemgui", "follow", "--broker", url, "--job", job_id,
         "--out", str(out), "--cert", str(cert), "--key", str(key), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def follow_listening(proc, out: Path) -> None:
    """Wait until `jemgui follow` is connected: it makes its archive folder once connected, just
    before it subscribes, so a job started now is heard from its start."""
    def ready() -> bool:
        assert proc.poll() is None, f"follow ended early: {proc.stderr.read()}"
        return (out / "events").is_dir()

    wait_for(ready, 30, "jemgui follow to connect")


def subscribed(sub, via, *destinations: str, timeout: float = 10.0) -> None:
    """Wait until the broker delivers `destinations` to `sub` (STOMP confirms no SUBSCRIBE):
    probes sent through `via` until one of each comes back. Probes are taken out of the
    inbox, and carry a `jem-probe` header should a late one arrive."""
    for dest in destinations:
        def back(dest=dest) -> bool:
            via.send(dest, b"probe", {"jem-probe": "1"})
            sub.inbox.wait(0.1)
            kept, probes = [], 0
            for m in sub.inbox.drain():
                if "jem-probe" in m.headers:
                    probes += m.destination == dest
                else:
                    kept.append(m)
            for m in kept:
                sub.inbox.put(m)
            return probes > 0

        wait_for(back, timeout, f"{dest} to reach the subscriber")


def finish_follow(proc, timeout: float = 60.0) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def events(folder: Path) -> dict[str, list[dict]]:
    """Every record of an archive folder, per stream file (blank lines skipped)."""
    import json

    return {f.name: [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
            for f in sorted((folder / "events").glob("*.jsonl"))}


def assert_same_archive(captured: Path, original: Path) -> dict:
    """The capture holds the monitor's records, record for record; returns its capture info."""
    import json

    want, got = events(original), events(captured)
    assert sorted(got) == sorted(want), "the same streams"
    for name in want:
        assert len(got[name]) == len(want[name]), f"{name}: {len(got[name])} of {len(want[name])}"
        assert got[name] == want[name], f"{name} differs"
    manifest = json.loads((captured / "manifest.json").read_text())
    original_job = json.loads((original / "manifest.json").read_text())["job"]
    assert manifest["job"] == original_job
    return manifest["capture"]
