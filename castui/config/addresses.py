"""Addresses a config or a command line names: the balancer's runtime API socket and stats
page, and a listener's `HOST:PORT`.

Parsed here, with the standard library only, so reading a config needs no HTTP client; the
HAProxy adapter takes the parsed values.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from castui.model.text import clean


@dataclass(frozen=True, slots=True)
class UnixAddress:
    path: str

    def __str__(self) -> str:
        return self.path


@dataclass(frozen=True, slots=True)
class TcpAddress:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_socket_address(text: str) -> UnixAddress | TcpAddress:
    """A runtime API address: a Unix socket path, or `host:port` / `[v6]:port` for a TCP one
    (HAProxy's `unix@`, `ipv4@` and `ipv6@` prefixes are accepted). ValueError (one line) if
    it is neither."""
    for prefix in ("unix@", "ipv4@", "ipv6@"):
        if text.startswith(prefix):
            text = text[len(prefix):]
    if "/" in text:
        return UnixAddress(text)
    host, port_text = text, ""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    if not host or not (port_text.isascii() and port_text.isdigit()) or len(port_text) > 5 \
            or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"{clean(text)!r} is neither a socket path nor host:port")
    return TcpAddress(host, int(port_text))


def stats_url(text: str) -> str:
    """An HAProxy stats page URL as given, once it is known to be http(s) with a host and a
    valid port. ValueError (one line) if it is not."""
    try:
        parts = urlsplit(text)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname \
            or not port_ok:
        raise ValueError(f"{clean(text)!r} is not an http:// or https:// URL")
    return text


def listen_address(text: str) -> tuple[str, int] | None:
    """`HOST:PORT` or `[V6]:PORT` as (host, port), port 0-65535 (0 picks a free one); None
    when `text` is neither. The agent's `--listen` and `--metrics-listen` read it alike."""
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        port = rest[1:] if bracket and rest.startswith(":") else ""
    else:
        host, colon, port = text.rpartition(":")
        if not colon or ":" in host:
            host, port = "", ""
    if not host or not (port.isascii() and port.isdigit() and int(port) < 65536):
        return None
    return host, int(port)
