"""A real dnsmasq serving an internal zone from a hosts file, for DNS probe and drill tests."""

from __future__ import annotations

import ipaddress
import signal
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import dnslib

from tests.support.net import wait_for_sync
from tests.support.procs import ManagedProcess, require_binary

QUERY_TIMEOUT = 0.3
RELOAD_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class DnsAnswer:
    """One reply: its rcode name (NOERROR, NXDOMAIN, REFUSED...), addresses and lowest TTL."""

    rcode: str
    addresses: list[str]
    ttl: int | None


def query(address: str, port: int, name: str, qtype: str = "A",
          timeout: float = QUERY_TIMEOUT) -> DnsAnswer | None:
    """Ask `address`:`port` over UDP; None if no (matching) reply came in time."""
    request = dnslib.DNSRecord.question(name, qtype)
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(request.pack(), (address, port))
            reply = dnslib.DNSRecord.parse(sock.recv(4096))
        except (OSError, dnslib.DNSError):
            return None
    if reply.header.id != request.header.id:
        return None
    records = [rr for rr in reply.rr if rr.rtype == getattr(dnslib.QTYPE, qtype)]
    return DnsAnswer(rcode=str(dnslib.RCODE[reply.header.rcode]),
                     addresses=[str(rr.rdata) for rr in records],
                     ttl=min((rr.ttl for rr in records), default=None))


def _parent(name: str) -> str | None:
    labels = name.strip(".").split(".", 1)
    return labels[1] if len(labels) == 2 else None


class Dnsmasq:
    """dnsmasq on `address`:`port` answering `records` (name -> addresses) with `ttl`.

    A name mapped to [] (or absent) gets NXDOMAIN as long as its domain is local: every
    parent domain of a name in `records`, plus `local_domains`. Nothing is forwarded.
    """

    def __init__(self, address: str, port: int, records: Mapping[str, list[str]],
                 ttl: int = 300, *, tmpdir: Path, local_domains: Iterable[str] = ()) -> None:
        self.address = address
        self.port = port
        self.ttl = ttl
        self.records = {name: list(addrs) for name, addrs in records.items()}
        self._dir = tmpdir
        self._hosts = tmpdir / f"dnsmasq-{address}-{port}.hosts"
        domains = {_parent(name) for name in self.records} | set(local_domains)
        self.local_domains = sorted(domain for domain in domains if domain)
        self._write_hosts()
        argv = [
            require_binary("dnsmasq"),
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            f"--addn-hosts={self._hosts}",
            f"--local-ttl={ttl}",
            f"--listen-address={address}",
            "--bind-interfaces",
            f"--port={port}",
            f"--pid-file={tmpdir / f'dnsmasq-{address}-{port}.pid'}",
            "--user=root",
            "--group=root",
            "--log-queries",
            "--log-facility=-",
            *(f"--local=/{domain}/" for domain in self.local_domains),
        ]
        self.process = ManagedProcess(argv, log_path=tmpdir / f"dnsmasq-{address}-{port}.log",
                                      ready=self._answers)

    def _write_hosts(self) -> None:
        lines = [f"{addr} {name}" for name, addrs in self.records.items() for addr in addrs]
        staging = self._hosts.with_suffix(".new")
        staging.write_text("".join(line + "\n" for line in lines))
        staging.replace(self._hosts)

    def query(self, name: str, qtype: str = "A") -> DnsAnswer | None:
        """Ask this server; None if it did not answer in time."""
        return query(self.address, self.port, name, qtype)

    def _answers(self) -> bool:
        probe = next(iter(self.records), "ready.lab.invalid")
        return self.query(probe) is not None

    def _serves(self, records: Mapping[str, list[str]]) -> bool:
        for name, addrs in records.items():
            for qtype, version in (("A", 4), ("AAAA", 6)):
                want = sorted(a for a in addrs if ipaddress.ip_address(a).version == version)
                answer = self.query(name, qtype)
                if answer is None:
                    return False
                if not addrs:
                    if answer.rcode != "NXDOMAIN":
                        return False
                elif sorted(answer.addresses) != want:
                    return False
        return True

    def set_records(self, records: Mapping[str, list[str]]) -> None:
        """Replace every record, reload (SIGHUP), and return once the new answers are served.

        Names dropped from the records must then answer NXDOMAIN.
        """
        expected: dict[str, list[str]] = {name: [] for name in self.records} | dict(records)
        self.records = {name: list(addrs) for name, addrs in records.items()}
        self._write_hosts()
        self.process.send_signal(signal.SIGHUP)
        wait_for_sync(lambda: self._serves(expected), RELOAD_TIMEOUT,
                      what=f"dnsmasq on {self.address}:{self.port} to serve {expected}")

    def start(self) -> Dnsmasq:
        self.process.start()
        return self

    def stop(self) -> None:
        self.process.stop()

    def __enter__(self) -> Dnsmasq:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
