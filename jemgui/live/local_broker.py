"""A private Apache ActiveMQ broker on 127.0.0.1, for the tests and `jemgui demo --live`.

It runs the ActiveMQ that a system package installed (Debian's `activemq`,
or an unpacked release named by `ACTIVEMQ_HOME`) with the config from
`resources/activemq/`, its data in a temporary folder, STOMP on a free port.
Start-up is kept short: no JMX, no web console, no persistence, a small
serial-GC JVM. `start()` returns once the broker answers a STOMP CONNECT.
"""

from __future__ import annotations

import atexit
import ctypes
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from jemgui.resources import resource_path

#: where Debian's activemq package puts the broker
DEBIAN_HOME = Path("/usr/share/activemq")
INSTALL_HINT = (
    "install Debian's activemq and default-jre-headless packages "
    "(apt-get install activemq default-jre-headless) or set ACTIVEMQ_HOME"
)

#: Java 17 needs these for ActiveMQ 5.17 (the same list as the package's start script)
_JAVA_MODULE_FLAGS = [
    "--add-reads=java.xml=java.logging",
    "--add-opens=java.base/java.security=ALL-UNNAMED",
    "--add-opens=java.base/java.net=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "--add-opens=java.naming/javax.naming.spi=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED",
]


PR_SET_PDEATHSIG = 1


class BrokerError(RuntimeError):
    """The local broker could not be found, started or reached."""


@dataclass(frozen=True)
class BrokerAccounts:
    """Broker logins by group (see resources/activemq/activemq.xml): with them the broker
    authenticates every client and authorizes each destination."""

    monitor: tuple[str, str]  #: (login, password) of the jobs' monitors
    inspector: tuple[str, str]  #: of the people who follow and command jobs
    admin: tuple[str, str] | None = None

    @classmethod
    def generate(cls) -> BrokerAccounts:
        """Fresh random passwords for a private broker (the demo's, the tests')."""
        import secrets

        return cls(("jem-monitor", secrets.token_urlsafe(18)),
                   ("jem-inspector", secrets.token_urlsafe(18)),
                   ("jem-admin", secrets.token_urlsafe(18)))


_GROUPS = (("monitor", "monitors"), ("inspector", "inspectors"), ("admin", "admins"))
#: ActiveMQ destination -> (read, write) groups; admin (creating it) for all who use it
_AUTHORIZATION = (
    ('queue="jem.job.&gt;"', "monitors", "inspectors,admins"),
    ('topic="jem.jobs"', "monitors,inspectors,admins", "monitors"),
    ('topic="jem.job.&gt;"', "inspectors,admins", "monitors"),
    ('queue="jem.reply.&gt;"', "inspectors,admins", "monitors"),
    ('topic="ActiveMQ.Advisory.&gt;"', "monitors,inspectors,admins", "monitors,inspectors,admins"),
)


def _xml_attr(value: str) -> str:
    from xml.sax.saxutils import quoteattr

    return quoteattr(value)


def auth_plugins(accounts: BrokerAccounts) -> str:
    """The <plugins> element for `accounts`: authentication, then per-destination authorization."""
    users = "".join(
        f"<authenticationUser username={_xml_attr(login[0])} password={_xml_attr(login[1])}"
        f' groups="{group}"/>'
        for attr, group in _GROUPS if (login := getattr(accounts, attr)) is not None)
    everyone = "monitors,inspectors,admins"
    entries = "".join(
        f'<authorizationEntry {dest} read="{read}" write="{write}" admin="{everyone}"/>'
        for dest, read, write in _AUTHORIZATION)
    return (
        '<plugins><simpleAuthenticationPlugin anonymousAccessAllowed="false"><users>'
        f"{users}</users></simpleAuthenticationPlugin>"
        "<authorizationPlugin><map><authorizationMap><authorizationEntries>"
        f"{entries}</authorizationEntries>"
        '<tempDestinationAuthorizationEntry><tempDestinationAuthorizationEntry read="admins" '
        'write="admins" admin="admins"/></tempDestinationAuthorizationEntry>'
        "</authorizationMap></map></authorizationPlugin></plugins>"
    )


@dataclass(frozen=True)
class BrokerTLS:
    """TLS material for a stomp+ssl connector (PKCS#12 files, as Java reads them)."""

    keystore: Path  #: the broker's key and certificate chain
    password: str
    truststore: Path | None = None  #: CA certificates for client certificates
    need_client_auth: bool = False


#: brokers this process started and has not stopped: stopped at exit
_running: set[LocalBroker] = set()


@atexit.register
def _stop_all() -> None:
    for broker in list(_running):
        broker.kill()


def _die_with_parent():
    """A pre-exec hook that ends the broker when the process that started it dies (Linux).

    Only when started from the main thread: the kernel signals the child when
    the starting thread ends, and only the main thread lives as long as the process.
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None

    def hook() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)

    return hook


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_activemq() -> tuple[str, Path]:
    """(java executable, ActiveMQ home), or BrokerError saying what to install."""
    home = Path(os.environ.get("ACTIVEMQ_HOME") or DEBIAN_HOME)
    if not (home / "bin" / "activemq.jar").is_file():
        raise BrokerError(f"ActiveMQ not found in {home}: {INSTALL_HINT}")
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java or not os.access(java, os.X_OK):
        raise BrokerError(f"no Java runtime found: {INSTALL_HINT}")
    return java, home


def stomp_ready(host: str, port: int, timeout: float = 1.0,
                login: tuple[str, str] | None = None) -> bool:
    """True when a STOMP 1.2 CONNECT at host:port (with `login`) is answered with CONNECTED."""
    creds = f"login:{login[0]}\npasscode:{login[1]}\n".encode() if login else b""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(b"CONNECT\naccept-version:1.2\nhost:localhost\n" + creds + b"\n\x00")
            answer = s.recv(64)
            s.sendall(b"DISCONNECT\n\n\x00")
            return answer.startswith(b"CONNECTED")
    except OSError:
        return False


class LocalBroker:
    """One private ActiveMQ process; `with LocalBroker() as b:` gives `b.url`.

    `topic_pending` is how many batches a slow topic subscriber may have
    waiting beyond its prefetch before the broker drops the oldest.
    """

    def __init__(
        self,
        workdir: str | Path | None = None,
        port: int = 0,
        tls: BrokerTLS | None = None,
        tls_port: int = 0,
        memory: str = "512 mb",
        heap_mb: int = 384,
        topic_prefetch: int = 1000,
        topic_pending: int = 200,
        accounts: BrokerAccounts | None = None,
        max_frame: int = 8 << 20,
        queue_memory: str = "16 mb",
        topic_memory: str = "64 mb",
    ):
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="jemgui-activemq-"))
        self.port = port or free_port()
        self.tls = tls
        self.tls_port = (tls_port or free_port()) if tls else 0
        self.memory = memory
        self.heap_mb = heap_mb
        self.topic_prefetch = topic_prefetch
        self.topic_pending = topic_pending
        self.accounts = accounts  #: None: anyone may connect and use every destination
        self.max_frame = max_frame
        self.queue_memory, self.topic_memory = queue_memory, topic_memory
        self.process: subprocess.Popen | None = None
        self._output = None
        self._cds_pending: tuple[Path, Path] | None = None

    # -- addresses ---------------------------------------------------------

    @property
    def url(self) -> str:
        return f"stomp://127.0.0.1:{self.port}"

    @property
    def ssl_url(self) -> str:
        if not self.tls:
            raise BrokerError("this broker has no TLS connector")
        return f"stomp+ssl://127.0.0.1:{self.tls_port}"

    # -- life cycle ----------------------------------------------------------

    def start(self, timeout: float = 60.0) -> LocalBroker:
        """Start the broker and wait until it answers STOMP; BrokerError if it cannot."""
        if self.running:
            return self
        java, home = find_activemq()
        conf, data = self.workdir / "conf", self.workdir / "data"
        conf.mkdir(parents=True, exist_ok=True)
        data.mkdir(parents=True, exist_ok=True)
        (conf / "activemq.xml").write_text(self._config())
        shutil.copy(resource_path("activemq", "log4j.properties"), conf / "log4j.properties")
        props = {
            "activemq.home": home,
            "activemq.base": self.workdir,
            "activemq.conf": conf,
            "activemq.data": data,
            "activemq.classpath": conf,
            "log4j.configuration": (conf / "log4j.properties").as_uri(),
        }
        cmd = [
            java,
            "-Xms64m", f"-Xmx{self.heap_mb}m", "-XX:+UseSerialGC", "-Xss512k",
            "-Djava.awt.headless=true",
            *_JAVA_MODULE_FLAGS,
            *(f"-D{k}={v}" for k, v in props.items()),
            "-jar", str(home / "bin" / "activemq.jar"),
            "start", f"xbean:{(conf / 'activemq.xml').as_uri()}",
        ]
        cmd[1:1] = self._class_data_sharing(java, home)
        self._output = open(data / "console.log", "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            cmd, cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=self._output,
            stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent(),
        )
        _running.add(self)
        deadline = time.monotonic() + timeout
        while not stomp_ready("127.0.0.1", self.port, 0.5, self.accounts and self.accounts.inspector):
            if self.process.poll() is not None:
                code = self.process.returncode
                self.process = None
                self._reaped()
                self._close_output()
                raise BrokerError(f"ActiveMQ exited with code {code} at start: {self.log_tail()}")
            if time.monotonic() > deadline:
                self.kill()
                raise BrokerError(f"ActiveMQ did not answer STOMP within {timeout:g} s: {self.log_tail()}")
            time.sleep(0.05)
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the broker cleanly (SIGTERM runs its shutdown hook), killing it if it hangs."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        self._reaped()
        self._close_output()

    def _reaped(self) -> None:
        _running.discard(self)

    def kill(self) -> None:
        """End the broker at once, as a crash would: clients see their sockets die."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()
            self.process = None
        self._reaped()
        self._close_output()

    def restart(self, down_for: float = 0.0, crash: bool = False) -> None:
        """Stop (or kill) the broker, stay down `down_for` seconds, start it on the same port."""
        self.kill() if crash else self.stop()
        time.sleep(down_for)
        self.start()

    def close(self) -> None:
        """Stop the broker and remove its temporary folder."""
        self.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- helpers -------------------------------------------------------------

    def log_tail(self) -> str:
        """Why the broker failed, on one line: its last error, or its last output line."""
        lines: list[str] = []
        for name in ("console.log", "activemq.log"):
            path = self.workdir / "data" / name
            if path.is_file():
                lines += [t.strip() for t in path.read_text(errors="replace").splitlines()]
        lines = [t for t in lines if t and not t.startswith(("at ", "..."))]
        errors = [t for t in lines if t.startswith(("Caused by:", "ERROR")) or "Exception" in t]
        return (errors or lines or ["(no output)"])[-1][:500]

    def _class_data_sharing(self, java: str, home: Path) -> list[str]:
        """JVM flags that reuse (or, the first time, write) a class-data archive: ~0.3 s faster start.

        The archive is keyed to the Java and ActiveMQ installed, and written
        under a per-process name then renamed, so concurrent brokers never
        read a half-written one.
        """
        jar = home / "bin" / "activemq.jar"
        key = f"{os.path.realpath(java)}|{os.path.realpath(jar)}|{jar.stat().st_mtime_ns}"
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        folder = Path(os.environ.get("JEMGUI_CACHE_DIR") or platformdirs.user_cache_dir("jemgui"))
        archive = folder / f"activemq-{digest}.jsa"
        if archive.is_file():
            return [f"-XX:SharedArchiveFile={archive}", "-Xshare:auto"]
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            return []
        self._cds_pending = (folder / f".activemq-{digest}.{os.getpid()}.jsa", archive)
        return [f"-XX:ArchiveClassesAtExit={self._cds_pending[0]}"]

    def _close_output(self) -> None:
        """Close the console log; keep a class-data archive a clean stop wrote, drop a partial one."""
        if self._cds_pending:
            written, archive = self._cds_pending
            self._cds_pending = None
            if self.process is None and written.is_file() and written.stat().st_size:
                os.replace(written, archive)
            else:
                written.unlink(missing_ok=True)
        if self._output is not None:
            self._output.close()
            self._output = None

    def _config(self) -> str:
        xml = resource_path("activemq", "activemq.xml").read_text()
        values = {"stomp_port": self.port, "memory": self.memory,
                  "topic_prefetch": self.topic_prefetch, "topic_pending": self.topic_pending,
                  "max_frame": self.max_frame, "queue_memory": self.queue_memory,
                  "topic_memory": self.topic_memory}
        for name, value in values.items():
            xml = xml.replace("{{" + name + "}}", str(value))
        if self.accounts is not None:
            xml = xml.replace("<!-- JEM-AUTH -->", auth_plugins(self.accounts))
        if not self.tls:
            return xml
        t = self.tls
        trust = ""
        if t.truststore:
            trust = (f' trustStore="{Path(t.truststore).as_uri()}" trustStoreType="pkcs12"'
                     f' trustStorePassword="{t.password}"')
        context = (
            f'<sslContext><sslContext keyStore="{Path(t.keystore).as_uri()}" keyStoreType="pkcs12"'
            f' keyStorePassword="{t.password}"{trust}/></sslContext>'
        )
        auth = "true" if t.need_client_auth else "false"
        connector = (
            f'<transportConnector name="stomp+ssl" uri="stomp+ssl://127.0.0.1:{self.tls_port}'
            f'?needClientAuth={auth}&amp;transport.hbGracePeriodMultiplier=1.5'
            f'&amp;wireFormat.maxFrameSize={self.max_frame}"/>'
        )
        return (xml.replace("<!-- JEM-TLS-CONTEXT -->", context)
                   .replace("<!-- JEM-TLS-CONNECTOR -->", connector))


def main() -> None:
    """Run a broker in the foreground: `python -m jemgui.live.local_broker` (Ctrl-C stops it)."""
    with LocalBroker() as broker:
        print(broker.url, flush=True)
        try:
            broker.process.wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
