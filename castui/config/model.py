"""Typed, validated configuration. Everything downstream reads these objects, never raw TOML."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from castui.model.exchange import HTTPS_ONLY
from castui.model.exchange import PROFILES as PROFILES
from castui.model.exchange import Profile as Profile

#: Port names a site or node may set in its `ports` table.
PORT_NAMES: tuple[str, ...] = ("epm", "https", "http", "mapi", "ab")
#: How a site's balancer takes a node out: whole servers, or one pool per virtual directory.
LbScope = Literal["server", "vdir"]
LB_SCOPES: tuple[LbScope, ...] = ("server", "vdir")



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
    #: Checks whose failure takes a node out of the pool; None: the site profile's default
    #: (castui.model.exchange.PROFILE_POOL_CHECKS).
    pool_checks: tuple[str, ...] | None = None
    retention_days: int = 30
    cert_warn_days: int = 30
    dns_ttl_max: int = 300
    #: Allow drain/ready of balancer servers from the console (after a confirmation).
    lb_admin: bool = False
    #: Seconds castui and the balancer may disagree before `lb_disagrees`; None: 2 x inter x fall.
    lb_grace: float | None = None
    #: `pool_skewed` when the busiest in-pool node holds more than skew_max x an even share...
    skew_max: float = 1.5
    #: ...of at least this many connections in all (a quiet site is never skewed).
    skew_min_connections: int = 20
    #: Requests to the VIP per round whose X-FEServer header names the node that answered.
    vip_samples: int = 6
    #: `node_flapping` when one node changes state this many times...
    flap_changes: int = 4
    #: ...within this many seconds; its further changes then raise no alert of their own...
    flap_window: float = 120.0
    #: ...until it has been stable this long (`node_flapping_cleared`).
    flap_quiet: float = 300.0
    #: A passing check slower than this many milliseconds is slow (the warning colour), and a
    #: node whose pool checks stay slow for `fall` rounds gets `node_slow`; None: half the
    #: timeout.
    slow_ms: float | None = None

    @property
    def slow_threshold_ms(self) -> float:
        """`slow_ms`, or half the timeout when it is not set."""
        return self.slow_ms if self.slow_ms is not None else self.timeout * 500


@dataclass(frozen=True, slots=True)
class Node:
    """One CAS server. `ports` is already merged with the site's ports.

    `agent` is the URL of the node's `castui agent`; its token file comes from the node or the
    site (already resolved here).
    """

    name: str
    address: str
    ports: Ports
    fqdn: str | None = None
    agent: str | None = None
    agent_token_file: Path | None = None


@dataclass(frozen=True, slots=True)
class Balancer:
    """How to read a site's load balancer (`[sites.lb]`): today HAProxy's stats or runtime API."""

    type: Literal["haproxy"]
    stats_url: str | None = None
    socket: str | None = None
    stats_user: str | None = None
    stats_password_file: Path | None = None
    backend: str = "https"
    timeout: float | None = None
    #: node name -> balancer server name, where they differ.
    servers: tuple[tuple[str, str], ...] = ()

    def server_for(self, node: str) -> str:
        return dict(self.servers).get(node, node)


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
    lb: Balancer | None = None
    #: Addresses a client connection through the array arrives from (the balancer's own
    #: source addresses) or to (the VIP under Windows NLB): any other is a client that
    #: bypasses the array and loses Outlook when its node goes down.
    balancer_addresses: tuple[str, ...] = ()
    #: Endpoint-mapper and RPC port checks: None means the profile's default (none on an
    #: HTTPS-only profile); True switches them on for a mixed estate, False off.
    rpc_checks: bool | None = None
    #: `vdir`: a layer-7 balancer with one pool per vdir, so a node whose pool vdirs are only
    #: partly out is `partial`, not DOWN.
    lb_scope: LbScope = "server"

    @property
    def checks_rpc(self) -> bool:
        """Whether the site's nodes and VIP get endpoint-mapper and RPC port checks."""
        return self.rpc_checks if self.rpc_checks is not None else self.profile not in HTTPS_ONLY


NotifierType = Literal["bell", "command", "webhook"]
NOTIFIER_TYPES: tuple[NotifierType, ...] = ("bell", "command", "webhook")


@dataclass(frozen=True, slots=True)
class Notifier:
    """`[[notifiers]]`: where alerts go for people not watching the screen.

    Every alert the engine raises goes to every notifier. A webhook `url` may embed a secret
    token, so it is never logged or stored: messages name the notifier by `name`.
    """

    type: NotifierType
    name: str
    command: tuple[str, ...] = ()
    url: str | None = None
    timeout: float = 5.0
    retries: int = 2
    #: PEM CA bundle a webhook's certificate is verified with (an internal chat server);
    #: None means httpx's default (SSL_CERT_FILE / SSL_CERT_DIR, else the public CAs).
    ca_file: Path | None = None


@dataclass(frozen=True, slots=True)
class Config:
    """A whole estate, as loaded from one TOML file."""

    sites: tuple[Site, ...]
    defaults: Defaults = field(default_factory=Defaults)
    path: Path | None = None
    notifiers: tuple[Notifier, ...] = ()
    #: The `castui-exchange/1` export `castui audit` reads and the console summarises.
    exchange_export: Path | None = None
