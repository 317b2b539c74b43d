"""Where the metrics listen and who may read them: `--metrics-listen` and the security rule.

The rule: loopback needs nothing (only this machine can connect); any other address needs a
Bearer token or TLS, unless the operator says `--metrics-insecure`. The metrics name every node,
VIP and resolver of the estate and say which are down: a map of the estate worth keeping from
anyone else on the network.
"""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from castui.config.addresses import listen_address
from castui.model.text import clean

DEFAULT_HOST = "127.0.0.1"


class MetricsError(Exception):
    """The metrics endpoint cannot be set up as asked; one line that names no secret."""


@dataclass(frozen=True, slots=True)
class MetricsOptions:
    host: str
    port: int
    token_file: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    insecure: bool = False


def parse_listen(text: str) -> tuple[str, int]:
    """`HOST:PORT`, `[V6]:PORT` or `PORT` (on 127.0.0.1); MetricsError otherwise. Port 0
    picks a free one."""
    found = listen_address(f"{DEFAULT_HOST}:{text}" if text.isascii() and text.isdigit()
                           else text)
    if found is None:
        raise MetricsError(f"bad --metrics-listen {clean(text, 60)!r}: expected HOST:PORT, "
                           f"[V6]:PORT or PORT, e.g. {DEFAULT_HOST}:9781")
    return found


def is_loopback(host: str) -> bool:
    """An address only this machine can reach: 127.0.0.0/8, ::1 or `localhost`."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(options: MetricsOptions) -> None:
    """MetricsError when the metrics would be open to the network without token or TLS."""
    if (options.tls_cert is None) != (options.tls_key is None):
        raise MetricsError("--metrics-tls-cert and --metrics-tls-key go together")
    guarded = options.token_file is not None or options.tls_cert is not None
    if is_loopback(options.host) or guarded or options.insecure:
        return
    raise MetricsError(f"--metrics-listen {clean(options.host, 60)} is not a loopback address: "
                       "give --metrics-token-file or --metrics-tls-cert/--metrics-tls-key, or "
                       "--metrics-insecure to let anyone who can reach it read the estate")


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server context from PEM files; MetricsError (one line) if they cannot be used."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        reason = clean(getattr(exc, "reason", None) or exc.strerror or str(exc), 80)
        raise MetricsError(f"cannot load TLS certificate {clean(str(cert), 80)} and key "
                           f"{clean(str(key), 80)}: {reason.lower()}") from None
    return context
