"""A one-site Exchange estate on loopback for engine and CLI tests.

Real parts: the CAS nodes are castui's lab nodes (real TCP/TLS/HTTP servers answering like
Exchange; Windows services cannot run here, so the lab stands in for them), the VIP is a real
HAProxy in TCP mode health-checking them, and the array FQDN is served by a real dnsmasq.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from castui.config import Config, Ports, parse_config
from castui.config.model import Profile
from castui.lab.certs import LabCA
from castui.lab.epm import for_node
from castui.lab.node import LabNode
from tests.support.dnsmasq import Dnsmasq
from tests.support.haproxy import HAProxy
from tests.support.net import free_port, free_ports

_blocks = itertools.count(20)
ZONE = "lab.test"


@dataclass
class Estate:
    nodes: dict[str, LabNode]
    haproxy: HAProxy
    dns: Dnsmasq
    config: Config
    config_path: Path
    vip: str
    array_fqdn: str
    dns_address: str
    dns_port: int
    render: Callable[[str, Mapping[str, str]], str]

    def reconfigure(self, site_extra: str = "", node_extra: Mapping[str, str] | None = None
                    ) -> Config:
        """Rewrite the config with more site and per-node keys (known once servers run)."""
        text = self.render(site_extra, node_extra or {})
        self.config_path.write_text(text)
        self.config = parse_config(text, str(self.config_path))
        return self.config


def _toml(*, name: str, array_fqdn: str, vip: str, dns: list[str], ports: Ports,
          profile: Profile, nodes: dict[str, str], ca_file: Path, interval: float,
          timeout: float, rise: int, fall: int, site_extra: str,
          node_extra: Mapping[str, str]) -> str:
    lines = [
        "[defaults]",
        f"interval = {interval}", f"timeout = {timeout}", f"rise = {rise}", f"fall = {fall}",
        f'ca_file = "{ca_file}"',
        "", "[[sites]]", f'name = "{name}"', f'array_fqdn = "{array_fqdn}"', f'vip = "{vip}"',
        f"dns_servers = {dns!r}".replace("'", '"'), f'profile = "{profile}"', site_extra,
        "[sites.ports]",
        f"epm = {ports.epm}", f"https = {ports.https}", f"http = {ports.http}",
        f"mapi = {ports.mapi}", f"ab = {ports.ab}",
    ]
    for node, address in nodes.items():
        lines += ["", "[[sites.nodes]]", f'name = "{node}"', f'address = "{address}"',
                  f'fqdn = "{node.lower()}.{ZONE}"', node_extra.get(node, "")]
    return "\n".join(lines) + "\n"


@contextlib.asynccontextmanager
async def estate(tmp: Path, ca: LabCA, *, nodes: int = 3, profile: Profile = "exchange2010",
                 interval: float = 0.5, timeout: float = 0.4, rise: int = 2, fall: int = 3,
                 lb_inter_ms: int = 200, dns_ttl: int = 300, more_dns: tuple[str, ...] = (),
                 site_extra: str = "") -> AsyncIterator[Estate]:
    """Start nodes, HAProxy and dnsmasq on a fresh 127.0.N.0/24 block; stop them all after.

    `more_dns` adds resolvers ("addr:port") the caller runs; `site_extra` adds TOML lines to
    the site table (service_names, external_dns_servers...).
    """
    block = f"127.0.{next(_blocks)}"
    vip, dns_address = f"{block}.50", f"{block}.53"
    # Every node and the VIP use the same port numbers, as real CAS servers do. Chosen
    # together: five separate free_port calls could hand out one port twice.
    epm, https, http, mapi, ab = free_ports(vip, 5)
    ports = Ports(epm=epm, https=https, http=http, mapi=mapi, ab=ab)
    array_fqdn = f"outlook.site-a.{ZONE}"
    names = {f"CAS{i}": f"{block}.{20 + i}" for i in range(1, nodes + 1)}
    ca_file = ca.write_ca(tmp / "ca.pem")
    lab_nodes = {
        name: LabNode(name, address, ports, profile=profile,
                      ssl_context=ca.issue(f"{name.lower()}.{ZONE}", array_fqdn),
                      fqdn=f"{name.lower()}.{ZONE}")
        for name, address in names.items()}
    dns_port = free_port(dns_address)
    def render(extra: str, node_extra: Mapping[str, str]) -> str:
        return _toml(name="Site-A", array_fqdn=array_fqdn, vip=vip,
                     dns=[f"{dns_address}:{dns_port}", *more_dns], ports=ports,
                     profile=profile, nodes=names, ca_file=ca_file, interval=interval,
                     timeout=timeout, rise=rise, fall=fall, site_extra=extra,
                     node_extra=node_extra)

    text = render(site_extra, {})
    config_path = tmp / "estate.toml"
    config_path.write_text(text)
    config = parse_config(text, str(config_path))
    frontends = dict(ports.tcp_checks())
    backends = {service: [(name, address, port) for name, address in names.items()]
                for service, port in frontends.items()}
    async with contextlib.AsyncExitStack() as stack:
        for node in lab_nodes.values():
            node.set_handler("epm", for_node(node))
            await node.start()
            stack.push_async_callback(node.stop)
        haproxy = stack.enter_context(HAProxy(vip, backends, frontend_ports=frontends,
                                              inter_ms=lb_inter_ms, rise=2, fall=2,
                                              tmpdir=tmp))
        dns = stack.enter_context(Dnsmasq(dns_address, dns_port, {array_fqdn: [vip]},
                                          ttl=dns_ttl, tmpdir=tmp))
        yield Estate(lab_nodes, haproxy, dns, config, config_path, vip, array_fqdn,
                     dns_address, dns_port, render)
