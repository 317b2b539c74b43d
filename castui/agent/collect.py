"""What the agent reports, read through psutil: connections per service port, Windows services
(or processes elsewhere), CPU and memory.

Every part is collected on its own: one that fails (no privilege to read connections, a
service that vanished) is reported as such and never hides the others. A snapshot is reused for
`max_age` seconds, so a burst of requests costs one scan of the connection table, not many.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import psutil

from castui import __version__
from castui.agent.components import RegistryReader, platform_registry, read_components
from castui.model.text import clean
from castui.model.times import iso, utcnow

#: EPM, HTTPS, HTTP, the static RPC and address-book ports usual on CAS arrays, IMAP(S), POP(S).
DEFAULT_PORTS: tuple[int, ...] = (135, 443, 80, 59531, 59532, 143, 993, 110, 995)
#: Exchange CAS and IIS services whose state matters during a drill.
DEFAULT_SERVICES: tuple[str, ...] = (
    "MSExchangeRPC", "MSExchangeAB", "MSExchangeFBA", "MSExchangeADTopology",
    "MSExchangeServiceHost", "MSExchangeIMAP4", "MSExchangePOP3", "W3SVC", "IISADMIN",
)
#: Bounds that keep the status document small whatever the command line says.
MAX_PORTS = 64
MAX_NAMES = 64
MAX_NAME_LENGTH = 256
_TEXT_LIMIT = 120


class ServiceLike(Protocol):
    """The part of psutil's WindowsService the agent reads."""

    def name(self) -> str: ...
    def display_name(self) -> str: ...
    def status(self) -> str: ...
    def start_type(self) -> str: ...


ServiceGetter = Callable[[str], ServiceLike]


def platform_service_getter() -> ServiceGetter | None:
    """psutil.win_service_get on Windows; None elsewhere (no service manager to ask)."""
    getter: ServiceGetter | None = getattr(psutil, "win_service_get", None)
    return getter


def _remote_ip(ip: str) -> str:
    """One spelling per client: IPv4-mapped IPv6 as IPv4, no zone index."""
    ip = ip.split("%", 1)[0]
    return ip[7:] if ip.lower().startswith("::ffff:") and "." in ip else ip


#: (local address, local port, remote address) of one established TCP connection.
Row = tuple[str, int, str]


def count_connections(ports: Sequence[int], addresses: Sequence[str] = (),
                      rows: list[Row] | None = None) -> dict[str, dict[str, Any]]:
    """{"443": {"established": n, "remotes": distinct client IPs, "listening": bool}, ...}.

    With `addresses`, only connections to those local addresses count: a node's own address
    and, under Windows NLB, the VIP that every node carries. `rows`, when given, receives
    every established connection to those addresses (on any port), for `count_direct`.
    """
    wanted = set(ports)
    local = {_remote_ip(a) for a in addresses}
    established = dict.fromkeys(ports, 0)
    remotes: dict[int, set[str]] = {port: set() for port in ports}
    listening: set[int] = set()
    for conn in psutil.net_connections(kind="tcp"):
        if not conn.laddr:
            continue
        if local and _remote_ip(str(conn.laddr.ip)) not in local:
            continue
        port = int(conn.laddr.port)
        if conn.status == psutil.CONN_ESTABLISHED and conn.raddr and rows is not None:
            rows.append((_remote_ip(str(conn.laddr.ip)), port, _remote_ip(str(conn.raddr.ip))))
        if port not in wanted:
            continue
        if conn.status == psutil.CONN_LISTEN:
            listening.add(port)
        elif conn.status == psutil.CONN_ESTABLISHED and conn.raddr:
            established[port] += 1
            remotes[port].add(_remote_ip(str(conn.raddr.ip)))
    return {str(port): {"established": established[port], "remotes": len(remotes[port]),
                        "listening": port in listening} for port in ports}


def count_direct(rows: Sequence[Row], ports: Sequence[int],
                 via: Sequence[str]) -> dict[str, int]:
    """Clients on `ports` that did not come through the balancer: neither from one of its
    addresses `via` (a proxy's source address) nor to one (the VIP under Windows NLB).

    {"clients": distinct client addresses, "connections": n}: the clients are the users who
    lose Outlook when this node goes down.
    """
    wanted = set(ports)
    balanced = {_remote_ip(a) for a in via}
    clients: set[str] = set()
    connections = 0
    for local, port, remote in rows:
        if port in wanted and local not in balanced and remote not in balanced:
            connections += 1
            clients.add(remote)
    return {"clients": len(clients), "connections": connections}


def query_service(get: ServiceGetter, name: str) -> dict[str, Any]:
    """{"status", "start_type", "display_name"} of one service; a missing service is
    `missing`, one we may not query (or that fails oddly) is `unknown` with an `error`."""
    try:
        service = get(name)
        return {"status": clean(service.status(), 40),
                "start_type": clean(service.start_type(), 40),
                "display_name": clean(service.display_name() or "", _TEXT_LIMIT)}
    except psutil.NoSuchProcess:
        return {"status": "missing", "start_type": None, "display_name": None}
    except psutil.AccessDenied:
        return {"status": "unknown", "start_type": None, "display_name": None,
                "error": "access denied"}
    except Exception as exc:  # a service manager hiccup must not cost the whole report
        return {"status": "unknown", "start_type": None, "display_name": None,
                "error": clean(f"{type(exc).__name__}: {exc}", _TEXT_LIMIT)}


def _process_key(name: str) -> str:
    """Case-insensitive, `.exe` optional: `w3wp` and `W3WP.EXE` are the same process."""
    lower = name.lower()
    return lower[:-4] if lower.endswith(".exe") else lower


def count_processes(names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """{"haproxy": {"running": bool, "pids": n}, ...} for each name asked for."""
    counts = {_process_key(name): 0 for name in names}
    for proc in psutil.process_iter(["name"]):
        found = proc.info.get("name")
        if found:
            key = _process_key(str(found))
            if key in counts:
                counts[key] += 1
    return {name: {"running": counts[_process_key(name)] > 0,
                   "pids": counts[_process_key(name)]} for name in names}


class Collector:
    """Builds the agent's status document.

    `win_service_get` stands in for psutil.win_service_get (default: the real one on Windows,
    none elsewhere, where `services` is then reported as {}). `registry` stands in for the
    Windows registry Exchange's server component states are read from (default: the real one
    on Windows; elsewhere there is none and `components` is absent from the document).
    """

    def __init__(self, *, ports: Sequence[int] = DEFAULT_PORTS,
                 services: Sequence[str] = DEFAULT_SERVICES, processes: Sequence[str] = (),
                 win_service_get: ServiceGetter | None = None, max_age: float = 1.0,
                 addresses: Sequence[str] = (),
                 registry: RegistryReader | None = None) -> None:
        self.ports = tuple(dict.fromkeys(ports))
        self.addresses = tuple(addresses)
        self.services = tuple(dict.fromkeys(services))
        self.processes = tuple(dict.fromkeys(processes))
        if len(self.ports) > MAX_PORTS:
            raise ValueError(f"at most {MAX_PORTS} ports")
        for kind, names in (("services", self.services), ("processes", self.processes)):
            if len(names) > MAX_NAMES:
                raise ValueError(f"at most {MAX_NAMES} {kind}")
            if any(not name or len(name) > MAX_NAME_LENGTH for name in names):
                raise ValueError(f"{kind} names must be 1-{MAX_NAME_LENGTH} characters")
        self.win_service_get = win_service_get or platform_service_getter()
        self.registry = registry or platform_registry()
        self.max_age = max_age
        self._host = clean(socket.gethostname(), _TEXT_LIMIT)
        self._cached: tuple[float, dict[str, Any], list[Row]] | None = None
        self._lock = asyncio.Lock()
        psutil.cpu_percent(interval=None)  # the first reading is meaningless: take it now

    def collect(self, rows: list[Row] | None = None) -> dict[str, Any]:
        """A fresh status document (blocking: psutil reads /proc or the Windows APIs); `rows`
        receives the established connections seen, for `count_direct`."""
        errors: dict[str, str] = {}
        doc: dict[str, Any] = {
            "agent": "castui", "version": __version__, "host": self._host,
            "platform": sys.platform,
            "time": iso(utcnow(), "seconds"),
        }
        doc["connections"] = _guard(errors, "connections",
                                    lambda: count_connections(self.ports, self.addresses, rows))
        get = self.win_service_get
        doc["services"] = {} if get is None else {
            name: query_service(get, name) for name in self.services}
        doc["processes"] = _guard(errors, "processes",
                                  lambda: count_processes(self.processes)) or {}
        if self.registry is not None:
            registry = self.registry
            doc["components"] = _guard(errors, "components", lambda: read_components(registry))
        doc["cpu_percent"] = _guard(errors, "cpu", lambda: float(psutil.cpu_percent(None)))
        doc["memory_percent"] = _guard(errors, "memory",
                                       lambda: float(psutil.virtual_memory().percent))
        doc["errors"] = errors
        return doc

    async def snapshot(self, direct: DirectQuery | None = None) -> dict[str, Any]:
        """The status document, at most `max_age` seconds old; concurrent callers share one
        collection, which runs in a worker thread so the event loop keeps answering.

        With `direct` (ports, balancer addresses), the document also says how many clients
        reach this node without the balancer (`direct`), from the same reading.
        """
        async with self._lock:
            if self._cached is None or time.monotonic() - self._cached[0] >= self.max_age:
                rows: list[Row] = []
                doc = await asyncio.to_thread(self.collect, rows)
                self._cached = (time.monotonic(), doc, rows)
            _, doc, rows = self._cached
        if direct is None or doc["connections"] is None:
            return doc
        return {**doc, "direct": count_direct(rows, *direct)}


#: What `GET /v1/status?direct_ports=...&via=...` asks: (ports, balancer addresses).
DirectQuery = tuple[tuple[int, ...], tuple[str, ...]]


def _guard(errors: dict[str, str], part: str, read: Callable[[], Any]) -> Any:
    """read(), or None with the reason recorded under errors[part]."""
    try:
        return read()
    except psutil.AccessDenied:
        errors[part] = "access denied (run the agent with more privileges)"
    except Exception as exc:  # one unreadable part must not cost the others
        errors[part] = clean(f"{type(exc).__name__}: {exc}", _TEXT_LIMIT)
    return None
