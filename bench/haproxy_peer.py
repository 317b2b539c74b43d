"""The peer for bench/tui_cost.py: HAProxy running the same health checks castui runs.

HAProxy is what operators trust to health-check CAS nodes, written in C around OpenSSL. Given
one `server` line per castui check (same addresses, ports, SNI names, paths, expected statuses,
CA file, interval and timeout), its CPU is what those checks cost in a mature checker, so the
benchmark can print castui's figure beside it and the ratio.

What HAProxy cannot do the same way is said where it is built: its EPM check sends a DCE/RPC
bind and expects a bind_ack (castui then also asks the mapper for two interfaces), HTTP checks
judge the status only (castui also reads the body and WWW-Authenticate), DNS is not checked,
and HAProxy resumes TLS sessions between checks (castui does a full handshake every time).
"""

from __future__ import annotations

import contextlib
import csv
import io
import shutil
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

from bench.children import stop
from castui.config.model import Config
from castui.engine.targets import CheckSpec, Target, build_targets
from castui.lab.haproxy_config import endpoint, proxy_name
from castui.probes.dcerpc import EPM_SYNTAX, NDR_SYNTAX, PresentationContext, encode_bind

#: The first three bytes of a DCE/RPC bind_ack: version 5.0, packet type 12.
_BIND_ACK = "05000c"
READY_S = 10.0


def _ms(seconds: float) -> str:
    return f"{max(round(seconds * 1000), 1)}ms"


def _server(target: Target, spec: CheckSpec, ca_file: Path | None) -> str:
    name = proxy_name(f"{target.key}/{spec.name}")
    assert spec.port is not None
    line = f"    server {name} {endpoint(target.address, spec.port)} check"
    if spec.kind in ("http", "tls"):
        verify = f"verify required ca-file {ca_file}" if ca_file else "verify none"
        line += f" check-ssl {verify}"
        if target.host:
            line += f" check-sni {target.host}"
    return line


def _rules(target: Target, spec: CheckSpec) -> list[str]:
    """The backend lines that make HAProxy's check of `spec` do what castui's does."""
    if spec.kind == "http" and spec.expect is not None:
        host = f" hdr Host {target.host}" if target.host else ""
        return ["    mode http", "    option httpchk",
                f"    http-check send meth GET uri {spec.expect.path} ver HTTP/1.1{host}",
                f"    http-check expect status {spec.expect.status}"]
    if spec.kind == "epm":
        bind = encode_bind(1, [PresentationContext(0, EPM_SYNTAX, (NDR_SYNTAX,))]).hex()
        return ["    option tcp-check", "    tcp-check connect",
                f"    tcp-check send-binary {bind}", f"    tcp-check expect binary {_BIND_ACK}"]
    return []  # tcp: a connect; tls: a connect and a verified handshake


def checks_config(config: Config, stats_socket: Path) -> tuple[str, int]:
    """HAProxy's configuration with one checked server per castui check, and how many."""
    d = config.defaults
    lines = ["global", "    maxconn 4096", f"    stats socket {stats_socket} mode 600",
             "", "defaults", "    mode tcp", f"    timeout connect {_ms(d.timeout)}",
             f"    timeout check {_ms(d.timeout)}", "    timeout client 5s",
             "    timeout server 5s",
             f"    default-server inter {_ms(d.interval)} rise {d.rise} fall {d.fall}", ""]
    count = 0
    for target in build_targets(config):
        for spec in target.checks:
            if spec.kind not in ("tcp", "http", "tls", "epm") or spec.port is None:
                continue
            count += 1
            lines += [f"backend check{count}", *_rules(target, spec),
                      _server(target, spec, d.ca_file), ""]
    return "\n".join(lines), count


def check_statuses(stats_socket: Path) -> Counter[str]:
    """How many servers HAProxy's last checks left in each check status (L7OK, L4CON...)."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(2.0)
        sock.connect(str(stats_socket))
        sock.sendall(b"show stat\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    rows = csv.DictReader(io.StringIO(data.decode(errors="replace").lstrip("# ")))
    return Counter(row.get("check_status") or "-" for row in rows
                   if row.get("svname") not in ("FRONTEND", "BACKEND"))


@contextlib.contextmanager
def haproxy_checking(config: Config, tmp: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """HAProxy checking the estate of `config` in a child process, and its number of checks."""
    binary = shutil.which("haproxy")
    if binary is None:
        raise RuntimeError("haproxy is not installed")
    stats = tmp / "haproxy-peer.sock"
    text, count = checks_config(config, stats)
    path = tmp / "haproxy-peer.cfg"
    path.write_text(text)
    argv: Sequence[str] = [binary, "-f", str(path), "-db"]
    log = tmp / "haproxy-peer.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + READY_S
        while not stats.exists():
            if proc.poll() is not None:
                error = log.read_text(errors="replace").strip()[-400:]
                raise RuntimeError(f"haproxy exited: {error}")
            if time.monotonic() > deadline:
                raise RuntimeError("haproxy did not start in time")
            time.sleep(0.05)
        yield proc, count
    finally:
        stop(proc, 10)
