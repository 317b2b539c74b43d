"""A real HAProxy in TCP mode in front of lab nodes: the load balancer castui watches."""

from __future__ import annotations

import csv
import io
import signal
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from tests.support.procs import ManagedProcess, require_binary

SOCKET_TIMEOUT = 2.0
#: A soft stop waits for open connections; tests do not need it to wait long.
SOFT_STOP_WAIT = 1.0
MAX_REPLY_BYTES = 4 * 1024 * 1024

#: (server name, address, port)
Backend = tuple[str, str, int]


def _endpoint(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


class HAProxy:
    """One VIP with a TCP frontend per service, each balancing over its backend servers.

    Backends are named after the services (`https`, `epm`...), so `show_stat` rows read
    `pxname=https, svname=cas1`. Checks are plain TCP connects (L4), every `inter_ms`, unless
    `check_lines` gives a backend its own (`option httpchk GET /`...); `check_ssl` backends
    check their servers over TLS (without verifying them: the lab's nodes).
    """

    def __init__(self, vip: str, backends: Mapping[str, Sequence[Backend]], *,
                 frontend_ports: Mapping[str, int], inter_ms: int, rise: int, fall: int,
                 tmpdir: Path, stats_port: int | None = None,
                 source: str | None = None,
                 check_lines: Mapping[str, Sequence[str]] | None = None,
                 check_ssl: Sequence[str] = ()) -> None:
        missing = set(backends) - set(frontend_ports)
        if missing:
            raise ValueError(f"no frontend port for {sorted(missing)}")
        self.vip = vip
        self.frontend_ports = dict(frontend_ports)
        self.stats_port = stats_port
        #: The address HAProxy connects to servers from (a one-armed balancer's SNAT address).
        self.source = source
        self.check_lines = dict(check_lines or {})
        self.check_ssl = frozenset(check_ssl)
        self.socket_path = tmpdir / f"haproxy-{vip}.sock"
        self.config_path = tmpdir / f"haproxy-{vip}.cfg"
        self.config_path.write_text(self._config(backends, inter_ms, rise, fall))
        argv = [require_binary("haproxy"), "-f", str(self.config_path), "-db"]
        self.process = ManagedProcess(
            argv, log_path=tmpdir / f"haproxy-{vip}.log", ready=self._answers,
            stop_signals=((signal.SIGUSR1, SOFT_STOP_WAIT), (signal.SIGTERM, 3.0)))

    def _config(self, backends: Mapping[str, Sequence[Backend]], inter_ms: int, rise: int,
                fall: int) -> str:
        lines = [
            "global",
            f"    stats socket {self.socket_path} mode 600 level admin",
            "    maxconn 512",
            "    hard-stop-after 500ms",
            "",
            "defaults",
            "    mode tcp",
            "    timeout connect 2s",
            "    timeout client 30s",
            "    timeout server 30s",
            "",
        ]
        for service, servers in backends.items():
            lines += [
                f"frontend {service}_fe",
                f"    bind {_endpoint(self.vip, self.frontend_ports[service])}",
                f"    default_backend {service}",
                "",
                f"backend {service}",
                "    balance roundrobin",
                *([f"    source {self.source}"] if self.source else []),
                f"    default-server inter {inter_ms}ms rise {rise} fall {fall}",
                *(f"    {line}" for line in self.check_lines.get(service, ())),
                *(f"    server {name} {_endpoint(address, port)} check"
                  + (" check-ssl verify none" if service in self.check_ssl else "")
                  for name, address, port in servers),
                "",
            ]
        if self.stats_port is not None:
            lines += [
                "listen stats",
                "    mode http",
                f"    bind {_endpoint(self.vip, self.stats_port)}",
                "    stats enable",
                "    stats uri /",
                "",
            ]
        return "\n".join(lines)

    def command(self, command: str) -> str:
        """Send one runtime API command over the admin socket and return the reply."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(SOCKET_TIMEOUT)
            sock.connect(str(self.socket_path))
            sock.sendall(command.encode() + b"\n")
            chunks: list[bytes] = []
            size = 0
            while size < MAX_REPLY_BYTES:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        return b"".join(chunks).decode(errors="replace")

    def _answers(self) -> bool:
        try:
            return "Name: HAProxy" in self.command("show info")
        except OSError:
            return False

    def show_stat(self) -> list[dict[str, str]]:
        """`show stat` as rows keyed by HAProxy's CSV header (pxname, svname, status...)."""
        text = self.command("show stat").lstrip("# ")
        return [dict(row) for row in csv.DictReader(io.StringIO(text)) if row.get("pxname")]

    def server_status(self, backend: str, server: str) -> str | None:
        """The `status` column for one server (UP, DOWN, UP 1/2...), None if unknown."""
        for row in self.show_stat():
            if row["pxname"] == backend and row["svname"] == server:
                return row["status"]
        return None

    def start(self) -> HAProxy:
        self.process.start()
        return self

    def stop(self) -> None:
        self.process.stop()

    def __enter__(self) -> HAProxy:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
