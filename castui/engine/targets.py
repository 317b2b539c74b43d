"""Turn a config into targets: what to probe for each node, VIP and DNS name, and how it counts.

A check is a *pool* check (a load balancer bases membership on it: by default epm, https and the
OWA check) or a *service* check (shown, and a failing one makes the node DEGRADED, but it never
takes a node out of the pool).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from castui.config.model import Config, DnsServer, Ports, Site
from castui.probes.profiles import HTTP_CHECKS, HttpExpectation

CheckKind = Literal["tcp", "http", "dns"]
Role = Literal["pool", "service"]
TargetKind = Literal["node", "vip", "dns"]


@dataclass(frozen=True, slots=True)
class CheckSpec:
    """One check of a target. Exactly one of `port`+`expect` (http), `port` (tcp), `dns_server`."""

    name: str
    kind: CheckKind
    role: Role
    port: int | None = None
    expect: HttpExpectation | None = None
    dns_server: DnsServer | None = None


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

    @property
    def key(self) -> str:
        return f"{self.site}/{self.subject}"


def _endpoint_checks(site: Site, ports: Ports,
                     pool_checks: tuple[str, ...]) -> tuple[CheckSpec, ...]:
    def role(name: str) -> Role:
        return "pool" if name in pool_checks else "service"

    tcp = [CheckSpec(name, "tcp", role(name), port=port) for name, port in ports.tcp_checks()]
    http = [CheckSpec(expect.name, "http", role(expect.name), port=ports.https, expect=expect)
            for expect in HTTP_CHECKS[site.profile]]
    return (*tcp, *http)


def build_targets(config: Config) -> list[Target]:
    """Every target of the estate, site by site: nodes first, then the VIP, then DNS."""
    pool_checks = config.defaults.pool_checks
    targets: list[Target] = []
    for site in config.sites:
        for node in site.nodes:
            targets.append(Target(site.name, node.name, "node", node.address, node.fqdn,
                                  _endpoint_checks(site, node.ports, pool_checks)))
        targets.append(Target(site.name, "vip", "vip", site.vip, site.array_fqdn,
                              _endpoint_checks(site, site.ports, pool_checks)))
        if site.dns_servers:
            dns = tuple(CheckSpec(str(server), "dns", "pool", dns_server=server)
                        for server in site.dns_servers)
            targets.append(Target(site.name, "dns", "dns", site.vip, site.array_fqdn, dns))
    return targets
