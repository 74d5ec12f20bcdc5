"""Broker addresses: `stomp://host:port` and `stomp+ssl://host:port`.

Several brokers of one network may be given comma-separated
(`stomp://a:61613,b:61613`); the connection tries them in turn. A login may
be written in the URL (`stomp://user:password@host:port`), though the
command-line options are better: a URL ends up in shell histories.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

SCHEMES = {"stomp": False, "stomp+ssl": True, "stomp+tls": True}
DEFAULT_PORTS = {False: 61613, True: 61612}


class BrokerURLError(ValueError):
    """A broker URL that cannot be used; the message says why, in one line."""


@dataclass(frozen=True)
class BrokerURL:
    hosts: tuple[tuple[str, int], ...]
    tls: bool = False
    user: str | None = None
    password: str | None = None

    @property
    def host(self) -> str:
        return self.hosts[0][0]

    @property
    def port(self) -> int:
        return self.hosts[0][1]

    def __str__(self) -> str:
        scheme = "stomp+ssl" if self.tls else "stomp"
        return f"{scheme}://" + ",".join(f"{_host_text(h)}:{p}" for h, p in self.hosts)


def _host_text(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _split_host_port(text: str, tls: bool, url: str) -> tuple[str, int]:
    if text.startswith("["):  # [IPv6]:port
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            raise BrokerURLError(f"bad host in broker URL {url!r}")
    else:
        host, _, port_text = text.partition(":")
    if not host:
        raise BrokerURLError(f"no host in broker URL {url!r}")
    if not port_text:
        return host, DEFAULT_PORTS[tls]
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise BrokerURLError(f"bad port {port_text!r} in broker URL {url!r}")
    return host, int(port_text)


def parse_broker_url(url: str) -> BrokerURL:
    """The BrokerURL of `url`, or BrokerURLError saying what is wrong with it."""
    scheme, sep, rest = url.strip().partition("://")
    if not sep or scheme.lower() not in SCHEMES:
        raise BrokerURLError(
            f"broker URL {url!r} must start with stomp:// or stomp+ssl://"
        )
    tls = SCHEMES[scheme.lower()]
    rest = rest.split("/", 1)[0].split("?", 1)[0]
    user = password = None
    if "@" in rest:
        login, rest = rest.rsplit("@", 1)
        user, _, pw = login.partition(":")
        user, password = unquote(user) or None, (unquote(pw) if pw else None)
    parts = [p for p in rest.split(",") if p.strip()]
    if not parts:
        raise BrokerURLError(f"no host in broker URL {url!r}")
    hosts = tuple(_split_host_port(p.strip(), tls, url) for p in parts)
    return BrokerURL(hosts=hosts, tls=tls, user=user, password=password)
