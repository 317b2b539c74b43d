"""Typed, validated configuration. Everything downstream reads these objects, never raw TOML."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Profile = Literal["exchange2010", "exchange2013"]
PROFILES: tuple[Profile, ...] = ("exchange2010", "exchange2013")

#: Port names a site or node may set in its `ports` table.
PORT_NAMES: tuple[str, ...] = ("epm", "https", "http", "mapi", "ab")

#: Checks whose failure takes a node out of the pool unless `pool_checks` says otherwise.
DEFAULT_POOL_CHECKS: tuple[str, ...] = ("epm", "https", "owa")


@dataclass(frozen=True, slots=True)
class Ports:
    """TCP ports of a CAS node or VIP. `mapi`/`ab` are set only when pinned to static ports."""

    epm: int = 135
    https: int = 443
    http: int = 80
    mapi: int | None = None
    ab: int | None = None

    def tcp_checks(self) -> list[tuple[str, int]]:
        """(check name, port) for every configured port, in display order."""
        named = [("epm", self.epm), ("https", self.https), ("http", self.http),
                 ("mapi", self.mapi), ("ab", self.ab)]
        return [(name, port) for name, port in named if port is not None]


@dataclass(frozen=True, slots=True)
class DnsServer:
    """A resolver to ask, as an IP literal and a port."""

    host: str
    port: int = 53

    def __str__(self) -> str:
        if self.port == 53:
            return self.host
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Defaults:
    """Timing and TLS settings shared by every target (HAProxy's `inter`, `rise`, `fall`)."""

    interval: float = 2.0
    timeout: float = 1.5
    rise: int = 2
    fall: int = 3
    ca_file: Path | None = None
    tls_verify: bool = True
    max_concurrency: int = 256
    pool_checks: tuple[str, ...] = DEFAULT_POOL_CHECKS
    retention_days: int = 30
    cert_warn_days: int = 30
    dns_ttl_max: int = 300


@dataclass(frozen=True, slots=True)
class Node:
    """One CAS server. `ports` is already merged with the site's ports."""

    name: str
    address: str
    ports: Ports
    fqdn: str | None = None


@dataclass(frozen=True, slots=True)
class Site:
    """One Active Directory site: a CAS array behind one VIP, reached through `array_fqdn`."""

    name: str
    array_fqdn: str
    vip: str
    profile: Profile
    ports: Ports
    nodes: tuple[Node, ...]
    dns_servers: tuple[DnsServer, ...] = ()
    #: Names clients use for OWA, EWS, Autodiscover...: certificates must cover them.
    service_names: tuple[str, ...] = ()
    #: Resolvers outside the organisation: they must NOT resolve the array FQDN.
    external_dns_servers: tuple[DnsServer, ...] = ()


@dataclass(frozen=True, slots=True)
class Config:
    """A whole estate, as loaded from one TOML file."""

    sites: tuple[Site, ...]
    defaults: Defaults = field(default_factory=Defaults)
    path: Path | None = None
