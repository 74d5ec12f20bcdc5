"""A STOMP 1.2 connection to the broker that stays up on its own.

A supervising thread connects, re-subscribes after every reconnect and
backs off between attempts; stomp.py's listener callbacks only record what
happened and put messages into an `Inbox`. Consumers (the GUI on a timer,
the follower in a loop, the command server in its thread) drain the inbox;
nothing here ever touches Qt.
"""

from __future__ import annotations

import itertools
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import stomp

from jemgui.live.url import BrokerURL, parse_broker_url


class _ConnectFailures(logging.Handler):
    """Keeps the last warning stomp.py logged in each thread: the reason a connect attempt failed.

    stomp.py reports why it could not connect (refused, TLS verification...)
    only in its log, then raises a bare ConnectFailedException. The attempt
    runs in our supervising thread, so the thread tells whose reason it is.
    The handler also keeps Python's last-resort handler from printing them.
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.last: dict[int, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.last[record.thread] = record.getMessage()
        except Exception:
            pass

    def pop(self) -> str | None:
        return self.last.pop(threading.get_ident(), None)


_failures = _ConnectFailures()
logging.getLogger("stomp.py").addHandler(_failures)


@dataclass(frozen=True)
class TLSFiles:
    """Files for a stomp+ssl connection: the CA to check the broker, our certificate and key."""

    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    password: str | None = None


@dataclass(frozen=True, slots=True)
class Message:
    """One MESSAGE frame as received: body bytes, headers, when (wall clock) it arrived.

    `link` tells which connection delivered it: an acknowledgement only means
    something on the connection the message came over.
    """

    destination: str
    headers: dict
    body: bytes
    received: float
    link: int = 0


class Inbox:
    """Thread-safe hand-over from the broker thread to one consumer (lock + deque)."""

    def __init__(self) -> None:
        self._items: deque = deque()
        self._ready = threading.Condition(threading.Lock())

    def put(self, item) -> None:
        with self._ready:
            self._items.append(item)
            self._ready.notify()

    def drain(self, limit: int | None = None) -> list:
        """Everything waiting (or the oldest `limit` items), without blocking."""
        with self._ready:
            if limit is None or limit >= len(self._items):
                items = list(self._items)
                self._items.clear()
            else:
                items = [self._items.popleft() for _ in range(limit)]
        return items

    def wait(self, timeout: float | None = None) -> bool:
        """Block until something is waiting or `timeout` passes; True when something is."""
        with self._ready:
            if not self._items:
                self._ready.wait(timeout)
            return bool(self._items)

    def __len__(self) -> int:
        return len(self._items)


@dataclass
class _Subscription:
    destination: str
    headers: dict
    inbox: Inbox
    ack: str = "auto"


class Connection:
    """A broker connection that reconnects with back-off and keeps its subscriptions.

    `send()` never blocks for long and never raises on a broken link: it
    returns False, and the supervisor reconnects. `generation` counts the
    connections made so far, so a consumer sees a reconnect as a change of it.
    """

    def __init__(
        self,
        url: str | BrokerURL,
        *,
        user: str | None = None,
        password: str | None = None,
        tls: TLSFiles | None = None,
        heartbeats: tuple[int, int] = (5000, 5000),
        inbox: Inbox | None = None,
        backoff: tuple[float, float] = (0.2, 5.0),
        connect_timeout: float = 10.0,
        name: str = "jemgui",
        max_body: int = 9 << 20,
    ):
        self.url = parse_broker_url(url) if isinstance(url, str) else url
        self.user = user if user is not None else self.url.user
        self.password = password if password is not None else self.url.password
        self.tls = tls
        self.heartbeats = heartbeats
        self.inbox = inbox if inbox is not None else Inbox()
        self.backoff = backoff
        self.connect_timeout = connect_timeout
        self.name = name
        self.max_body = max_body  #: larger messages are dropped on arrival (counted in `oversized`)
        self.oversized = 0
        self.generation = 0
        self.last_error = ""
        self._conn: stomp.Connection12 | None = None
        self._up = threading.Event()
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._lock = threading.RLock()
        self._subs: dict[str, _Subscription] = {}
        self._ids = itertools.count(1)
        self._callbacks: list[Callable[[Connection], None]] = []
        self._thread: threading.Thread | None = None

    # -- life cycle ----------------------------------------------------------

    def start(self) -> Connection:
        """Start connecting in the background; returns at once."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._supervise, name=f"{self.name}-broker",
                                            daemon=True)
            self._thread.start()
        return self

    def close(self, timeout: float = 5.0) -> None:
        """Disconnect and stop reconnecting."""
        self._closing.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._teardown(graceful=True)

    def __enter__(self) -> Connection:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def connected(self) -> bool:
        return self._up.is_set()

    def wait_connected(self, timeout: float | None = None) -> bool:
        return self._up.wait(timeout)

    @property
    def status(self) -> str:
        """One line for a status bar: connected, or why not."""
        if self.connected:
            return f"connected to {self.url}"
        return f"not connected to {self.url}" + (f": {self.last_error}" if self.last_error else "")

    def on_connect(self, callback: Callable[[Connection], None]) -> None:
        """Call `callback(self)` from the supervising thread after each (re)connect."""
        self._callbacks.append(callback)
        if self.connected:
            callback(self)

    # -- messaging -----------------------------------------------------------

    def subscribe(self, destination: str, headers: dict | None = None,
                  inbox: Inbox | None = None, ack: str = "auto") -> str:
        """Subscribe now (if connected) and after every reconnect; messages go to `inbox`.

        With `ack="client"` the broker counts what was delivered but not yet
        acknowledged (`ack()`, after the consumer took it): a consumer that
        falls behind fills its prefetch, and the broker's slow-consumer policy
        applies to it, instead of the backlog piling up in this process.
        """
        sub_id = f"{self.name}-{next(self._ids)}"
        sub = _Subscription(destination, dict(headers or {}),
                            inbox if inbox is not None else self.inbox, ack)
        with self._lock:
            self._subs[sub_id] = sub
            conn = self._conn
            if conn is not None and self.connected:
                try:
                    conn.subscribe(destination, sub_id, ack=ack, headers=sub.headers)
                except Exception as exc:  # the supervisor reconnects and subscribes again
                    self._lost(exc)
        return sub_id

    def ack(self, messages: list[Message]) -> None:
        """Acknowledge taken messages of `ack="client"` subscriptions (cumulatively, one frame each)."""
        conn = self._conn
        if conn is None or not messages:
            return
        last: dict[str, str] = {}
        for msg in messages:
            sub = self._subs.get(msg.headers.get("subscription", ""))
            if sub is not None and sub.ack == "client" and msg.link == id(conn) \
                    and "ack" in msg.headers:
                last[msg.headers["subscription"]] = msg.headers["ack"]
        for ack_id in last.values():
            try:
                conn.ack(ack_id)
            except Exception as exc:
                self._lost(exc)
                return

    def unsubscribe(self, sub_id: str) -> None:
        with self._lock:
            if self._subs.pop(sub_id, None) is not None and self._conn is not None:
                try:
                    self._conn.unsubscribe(sub_id)
                except Exception:
                    pass

    def send(self, destination: str, body: bytes | str, headers: dict | None = None) -> bool:
        """Send one message; False (at once) when the link is down or breaks meanwhile."""
        conn = self._conn
        if conn is None or not self.connected:
            return False
        try:
            conn.send(destination, body, headers=headers or {})
            return True
        except Exception as exc:
            self._lost(exc)
            return False

    # -- the supervising thread ----------------------------------------------

    def _supervise(self) -> None:
        delay = self.backoff[0]
        while not self._closing.is_set():
            if not self.connected:
                self._teardown(graceful=False)
                if self._connect_once():
                    delay = self.backoff[0]
                    self._after_connect()
                else:
                    # full jitter keeps a crowd of clients from reconnecting in step
                    self._closing.wait(delay * (0.5 + random.random() / 2))
                    delay = min(delay * 2, self.backoff[1])
                    continue
            self._wake.wait(1.0)
            self._wake.clear()

    def _connect_once(self) -> bool:
        url = self.url
        conn = stomp.Connection12(
            list(url.hosts), heartbeats=self.heartbeats, reconnect_attempts_max=1,
            reconnect_sleep_initial=0.0, timeout=max(self.connect_timeout, 3 * max(self.heartbeats) / 1000),
            auto_decode=False, heart_beat_receive_scale=2.0,
        )
        if url.tls:
            t = self.tls or TLSFiles()
            conn.set_ssl(for_hosts=list(url.hosts), ca_certs=t.ca, cert_file=t.cert,
                         key_file=t.key, password=t.password)
        ready = threading.Event()
        conn.set_listener("jemgui", _Listener(self, conn, ready))
        _failures.pop()
        try:
            conn.connect(self.user, self.password, wait=False)
            if not ready.wait(self.connect_timeout) or not conn.is_connected():
                raise ConnectionError(self.last_error or "the broker did not answer CONNECT")
        except Exception as exc:
            logged = _failures.pop()
            if isinstance(exc, ConnectionError):
                self.last_error = str(exc)
            elif isinstance(exc, stomp.exception.ConnectFailedException) and logged:
                self.last_error = logged
            else:
                self.last_error = _describe(exc)
            _quietly_close(conn)
            return False
        with self._lock:
            self._conn = conn
            self.last_error = ""
            for sub_id, sub in self._subs.items():
                conn.subscribe(sub.destination, sub_id, ack=sub.ack, headers=sub.headers)
            self.generation += 1
            self._up.set()
        if not conn.is_connected():  # dropped before we took it over
            self._lost("connection lost")
        return True

    def _after_connect(self) -> None:
        for callback in list(self._callbacks):
            try:
                callback(self)
            except Exception as exc:  # a consumer's bug must not stop reconnecting
                self.last_error = f"on-connect callback failed: {exc!r}"

    def _lost(self, exc: BaseException | str) -> None:
        """The link broke (called from any thread): mark it down and wake the supervisor."""
        if isinstance(exc, BaseException):
            self.last_error = _describe(exc)
        elif exc:
            self.last_error = exc
        self._up.clear()
        self._wake.set()

    def _teardown(self, graceful: bool) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
            self._up.clear()
        if conn is not None:
            if graceful and conn.is_connected():
                try:
                    conn.disconnect()
                except Exception:
                    pass
            _quietly_close(conn)


class _Listener(stomp.ConnectionListener):
    """stomp.py callbacks: record, hand over, wake the supervisor; nothing more."""

    def __init__(self, owner: Connection, conn: stomp.Connection12, ready: threading.Event):
        self.owner, self.conn, self.ready = owner, conn, ready

    def on_connected(self, frame) -> None:
        self.ready.set()

    def on_message(self, frame) -> None:
        headers = frame.headers
        sub = self.owner._subs.get(headers.get("subscription", ""))
        if sub is not None and len(frame.body or b"") > self.owner.max_body:
            self.owner.oversized += 1  # never handed on: no reader looks at it
            return
        if sub is not None:
            sub.inbox.put(Message(headers.get("destination", ""), headers, frame.body or b"",
                                  time.time(), id(self.conn)))

    def on_error(self, frame) -> None:
        text = frame.headers.get("message") or (frame.body or b"")[:200]
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        self.owner.last_error = f"broker error: {text.strip()}"
        if not self.ready.is_set():
            self.ready.set()  # CONNECT was refused: stop waiting

    def on_disconnected(self) -> None:
        self.ready.set()
        if self.owner._conn is self.conn:
            self.owner._lost("connection lost")

    def on_heartbeat_timeout(self) -> None:
        # stomp.py may report the disconnect first; the heart-beat is the better reason
        if self.owner._conn in (self.conn, None):
            self.owner._lost("no heart-beat from the broker")


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _quietly_close(conn: stomp.Connection12) -> None:
    """Close a stomp.py connection's socket and let its threads end, ignoring errors."""
    try:
        conn.transport.running = False
        conn.transport.set_connected(False)
        conn.transport.disconnect_socket()
    except Exception:
        pass
