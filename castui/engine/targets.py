"""Turn a config into targets: what to probe for each node, VIP and DNS name, and how it counts.

A check is a *pool* check (a load balancer bases membership on it: by default epm, https and the
OWA check) or a *service* check (shown, and a failing one makes the node DEGRADED, but it never
takes a node out of the pool).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from castui.config.model import Config, DnsServer, Ports, Site
from castui.model.exchange import (
    HTTP_CHECKS,
    NAMES_FRONTEND,
    PROFILE_POOL_CHECKS,
    HttpExpectation,
)

CheckKind = Literal["tcp", "http", "dns", "epm", "tls", "agent", "sample"]
#: info checks (the node agent, VIP sampling) are shown but never change a node's state.
Role = Literal["pool", "service", "info"]
TargetKind = Literal["node", "vip", "dns"]


@dataclass(frozen=True, slots=True)
class CheckSpec:
    """One check of a target.

    tcp: `port`; http: `port` and `expect`; epm: `port` and the `pinned` RPC ports; tls: `port`
    and the `names` the certificate must cover; dns: `dns_server` (`external` for a resolver
    outside the organisation, which must NOT resolve the name); agent: the agent's `url`;
    sample: `count` requests for `expect` through a VIP, noting who answered. An agent check
    with `via` (the site's balancer addresses) also asks for the clients on `direct_ports`
    that bypass the balancer.
    """

    name: str
    kind: CheckKind
    role: Role
    port: int | None = None
    expect: HttpExpectation | None = None
    dns_server: DnsServer | None = None
    external: bool = False
    names: tuple[str, ...] = ()
    pinned: tuple[tuple[str, int], ...] = ()
    url: str | None = None
    count: int = 0
    via: tuple[str, ...] = ()
    direct_ports: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class DnsRules:
    """The site's DNS hygiene rules, judged on each round of its DNS target."""

    ttl_max: int
    array_fqdn: str
    service_names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Target:
    """Something probed as a unit every interval: a CAS node, a site's VIP, or a site's DNS name.

    For a DNS target `address` is the VIP the answers must contain and `host` the array FQDN.
    """

    site: str
    subject: str
    kind: TargetKind
    address: str
    host: str | None
    checks: tuple[CheckSpec, ...]
    dns_rules: DnsRules | None = None
    #: For a node: `vdir` when its site's balancer keeps one pool per vdir (then some pool
    #: checks out while others pass is `partial`, not DOWN); `server` otherwise.
    lb_scope: str = "server"

    @property
    def key(self) -> str:
        return target_key(self.site, self.subject)


def target_key(site: str, subject: str) -> str:
    """`Site-A/CAS2`, `Site-A/vip`, `Site-A/dns`: how the engine names a target (its states,
    its timeline lane). The one place this spelling is made."""
    return f"{site}/{subject}"


def _endpoint_checks(site: Site, ports: Ports, pool_checks: tuple[str, ...],
                     cert_names: tuple[str, ...], *, map_rpc: bool) -> tuple[CheckSpec, ...]:
    def role(name: str) -> Role:
        return "pool" if name in pool_checks else "service"

    # HTTPS-only estates (2016+) have no endpoint mapper or RPC ports to check, unless the
    # site says it still has RPC clients (`rpc_checks = true`, a mixed estate).
    rpc = site.checks_rpc
    tcp = [CheckSpec(name, "tcp", role(name), port=port) for name, port in ports.tcp_checks()
           if rpc or name in ("https", "http")]
    map_rpc = map_rpc and rpc
    pinned = tuple((name, port) for name, port in (("EMSMDB", ports.mapi), ("NSPI", ports.ab))
                   if port is not None)
    deep = [CheckSpec("epmap", "epm", role("epmap"), port=ports.epm, pinned=pinned)] \
        if map_rpc else []
    tls = [CheckSpec("tls", "tls", role("tls"), port=ports.https, names=cert_names)]
    http = [CheckSpec(expect.name, "http", role(expect.name), port=ports.https, expect=expect)
            for expect in HTTP_CHECKS[site.profile]]
    return (*tcp, *deep, *tls, *http)


def direct_ports(ports: Ports) -> tuple[int, ...]:
    """Where Outlook reaches a node: the endpoint mapper, the static RPC ports, HTTPS."""
    return tuple(port for port in (ports.epm, ports.mapi, ports.ab, ports.https)
                 if port is not None)


def build_targets(config: Config) -> list[Target]:
    """Every target of the estate, site by site: nodes first, then the VIP, then DNS."""
    targets: list[Target] = []
    for site in config.sites:
        pool_checks = config.defaults.pool_checks or PROFILE_POOL_CHECKS[site.profile]
        for node in site.nodes:
            names = tuple(dict.fromkeys((*((node.fqdn,) if node.fqdn else ()),
                                         *site.service_names)))
            agent = (CheckSpec("agent", "agent", "info", url=node.agent,
                               via=site.balancer_addresses,
                               direct_ports=direct_ports(node.ports)),) if node.agent else ()
            targets.append(Target(site.name, node.name, "node", node.address, node.fqdn,
                                  (*_endpoint_checks(site, node.ports, pool_checks, names,
                                                     map_rpc=True), *agent),
                                  lb_scope=site.lb_scope))
        # Through a VIP the mapper's answers only work when the RPC ports are pinned (and so
        # balanced); dynamic ports are node-local.
        pinned = site.ports.mapi is not None and site.ports.ab is not None
        names = tuple(dict.fromkeys((site.array_fqdn, *site.service_names)))
        # Exchange 2013+ names the answering node in X-FEServer: sample who answers clients.
        samples = config.defaults.vip_samples if site.profile in NAMES_FRONTEND else 0
        sample = (CheckSpec("vip_sample", "sample", "info", port=site.ports.https,
                            expect=HTTP_CHECKS[site.profile][0], count=samples),) if samples else ()
        targets.append(Target(site.name, "vip", "vip", site.vip, site.array_fqdn,
                              (*_endpoint_checks(site, site.ports, pool_checks, names,
                                                 map_rpc=pinned), *sample)))
        if site.dns_servers or site.external_dns_servers:
            dns = tuple(CheckSpec(str(server), "dns", "pool", dns_server=server)
                        for server in site.dns_servers)
            external = tuple(CheckSpec(f"external {server}", "dns", "service",
                                       dns_server=server, external=True)
                             for server in site.external_dns_servers)
            rules = DnsRules(config.defaults.dns_ttl_max, site.array_fqdn, site.service_names)
            targets.append(Target(site.name, "dns", "dns", site.vip, site.array_fqdn,
                                  (*dns, *external), rules))
    return targets
