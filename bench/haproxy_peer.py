"""The peer for bench/tui_cost.py: HAProxy running the same health checks castui runs.

HAProxy is what operators trust to health-check CAS nodes, written in C around OpenSSL. It is
given the work castui does each round (same addresses, ports, SNI names, paths, expected
statuses, CA file, interval and timeout): a checked server per TCP port and endpoint mapper,
and per target one checked server for its HTTPS port whose check sends every directory's
request in turn (`http-check connect`/`send`/`expect`), as castui's HTTPS round does. HAProxy
cannot keep a check's connection alive for a second request, so it opens a verified TLS
connection per request (resuming the TLS session), where castui opens one per round. Its CPU
is what that work costs in a mature checker, so the benchmark prints castui's figure beside it.

What HAProxy cannot do the same way is said where it is built: its EPM check sends a DCE/RPC
bind and expects a bind_ack (castui then also asks the mapper for two interfaces), HTTP checks
judge the status only (castui also reads the body and WWW-Authenticate, and the certificate's
names and expiry), DNS is not checked, and HAProxy resumes TLS sessions between checks
(castui does a full handshake every round).

`latency_config` is a second, small HAProxy for the latency figures: one server per URL, each
check a fresh connection, a full TLS handshake (`no-ssl-reuse`) and one request, whose
`check_duration` (stats) is an independent measure of what one check of that URL takes.
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
from castui.engine.runner import units
from castui.engine.targets import CheckSpec, Target, build_targets
from castui.lab.haproxy_config import endpoint, proxy_name
from castui.model.exchange import HttpExpectation
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


def _requests(target: Target, expects: Sequence[HttpExpectation]) -> list[str]:
    """`http-check` lines sending each of `expects` in turn, in one check.

    HAProxy cannot send a second request over a check's connection (each `http-check send`
    after the first needs a `connect` of its own), so each request has its own connection.
    """
    host = f" hdr Host {target.host}" if target.host else ""
    sni = f" sni {target.host}" if target.host else ""
    lines = ["    mode http", "    option httpchk"]
    for expect in expects:
        if len(expects) > 1:
            lines.append(f"    http-check connect ssl{sni}")
        lines += [f"    http-check send meth GET uri {expect.path} ver HTTP/1.1{host}",
                  f"    http-check expect status {expect.status}"]
    return lines


def _rules(target: Target, spec: CheckSpec) -> list[str]:
    """The backend lines that make HAProxy's check of `spec` do what castui's does."""
    if spec.kind == "http" and spec.expect is not None:
        return _requests(target, [spec.expect])
    if spec.kind == "epm":
        bind = encode_bind(1, [PresentationContext(0, EPM_SYNTAX, (NDR_SYNTAX,))]).hex()
        return ["    option tcp-check", "    tcp-check connect",
                f"    tcp-check send-binary {bind}", f"    tcp-check expect binary {_BIND_ACK}"]
    return []  # tcp: a connect; tls: a connect and a verified handshake


def checks_config(config: Config, stats_socket: Path) -> tuple[str, int]:
    """HAProxy's configuration doing castui's checks, and how many castui checks it covers."""
    d = config.defaults
    lines = ["global", "    maxconn 4096", f"    stats socket {stats_socket} mode 600",
             "", "defaults", "    mode tcp", f"    timeout connect {_ms(d.timeout)}",
             f"    timeout check {_ms(d.timeout)}", "    timeout client 5s",
             "    timeout server 5s",
             f"    default-server inter {_ms(d.interval)} rise {d.rise} fall {d.fall}", ""]
    count = 0
    for target in build_targets(config):
        for unit in units(target):
            spec = unit[0]
            if spec.kind not in ("tcp", "http", "tls", "epm") or spec.port is None:
                continue
            count += len(unit)
            expects = [s.expect for s in unit if s.kind == "http" and s.expect is not None]
            rules = _requests(target, expects) if expects else _rules(target, spec)
            https = CheckSpec("https-round", "http", spec.role, port=spec.port)
            lines += [f"backend {proxy_name(f'check{count}_{spec.name}')}", *rules,
                      _server(target, https if spec.kind in ("tls", "http") else spec,
                              d.ca_file), ""]
    return "\n".join(lines), count


def latency_config(config: Config, stats_socket: Path,
                   urls: Sequence[tuple[Target, HttpExpectation]]) -> str:
    """HAProxy checking each of `urls` alone (fresh connection, one request) every interval,
    each with a full TLS handshake (`no-ssl-reuse`) as castui's and curl's: a resumed session
    skips the server's signature and would time a cheaper check than castui makes."""
    d = config.defaults
    lines = ["global", "    maxconn 256", f"    stats socket {stats_socket} mode 600", "",
             "defaults", "    mode tcp", f"    timeout connect {_ms(d.timeout)}",
             f"    timeout check {_ms(d.timeout)}", "    timeout client 5s",
             "    timeout server 5s", f"    default-server inter {_ms(d.interval)}", ""]
    for number, (target, expect) in enumerate(urls, 1):
        spec = CheckSpec(expect.name, "http", "pool", port=_https_port(target), expect=expect)
        lines += [f"backend url{number}", *_requests(target, [expect]),
                  _server(target, spec, d.ca_file) + " no-ssl-reuse", ""]
    return "\n".join(lines)


def _https_port(target: Target) -> int:
    port = next(spec.port for spec in target.checks if spec.kind == "http")
    assert port is not None
    return port


def server_rows(stats_socket: Path) -> list[dict[str, str]]:
    """HAProxy's `show stat` rows of its servers."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(2.0)
        sock.connect(str(stats_socket))
        sock.sendall(b"show stat\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    rows = csv.DictReader(io.StringIO(data.decode(errors="replace").lstrip("# ")))
    return [row for row in rows if row.get("svname") not in ("FRONTEND", "BACKEND")]


def check_statuses(stats_socket: Path) -> Counter[str]:
    """How many servers HAProxy's last checks left in each check status (L7OK, L4CON...)."""
    return Counter(row.get("check_status") or "-" for row in server_rows(stats_socket))


@contextlib.contextmanager
def haproxy_checking(config: Config, tmp: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """HAProxy checking the estate of `config` in a child process, and its number of checks."""
    stats = tmp / "haproxy-peer.sock"
    text, count = checks_config(config, stats)
    with haproxy_running(text, tmp, "haproxy-peer") as proc:
        yield proc, count


@contextlib.contextmanager
def haproxy_running(text: str, tmp: Path, name: str) -> Iterator[subprocess.Popen[bytes]]:
    """HAProxy with configuration `text` (its stats socket `tmp/NAME.sock`) until exit."""
    binary = shutil.which("haproxy")
    if binary is None:
        raise RuntimeError("haproxy is not installed")
    stats = tmp / f"{name}.sock"
    path = tmp / f"{name}.cfg"
    path.write_text(text)
    argv: Sequence[str] = [binary, "-f", str(path), "-db"]
    log = tmp / f"{name}.log"
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
        yield proc
    finally:
        stop(proc, 10)
