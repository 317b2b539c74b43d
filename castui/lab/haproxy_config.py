"""An HAProxy configuration for an estate, so a real balancer can stand in front of the lab.

One TCP frontend per site and port on the site's VIP, balanced over the site's nodes. Every
server is checked the way Exchange load balancers usually are: an HTTPS GET of the OWA page
(the 2013+ `healthcheck.htm`, or the 2010 logon page) that must answer 200, so a node whose
OWA fails leaves every service at once, as with the lab's own VIP.
"""

from __future__ import annotations

import re
from pathlib import Path

from castui.config.model import Config, Node

_UNSAFE = re.compile(r"[^A-Za-z0-9_.:-]")

_OWA_CHECK = {
    "exchange2010": "/owa/auth/logon.aspx",
    "exchange2013": "/owa/healthcheck.htm",
    "exchange2016": "/owa/healthcheck.htm",
}


def endpoint(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def proxy_name(name: str) -> str:
    """An HAProxy proxy or server name (letters, digits, `-_.:` only)."""
    return _UNSAFE.sub("_", name)


def _server(node: Node, service: str) -> str:
    """A server line: traffic to the node's port for `service`, checks to its HTTPS port."""
    port = dict(node.ports.tcp_checks())[service]
    return (f"    server {proxy_name(node.name)} {endpoint(node.address, port)} check "
            f"port {node.ports.https}")


def render_haproxy_config(config: Config, *, inter: float, rise: int, fall: int,
                          connect_timeout: float, stats_socket: Path | None = None) -> str:
    """The HAProxy configuration text for every site of `config` (HAProxy 2.2 or later)."""
    lines = ["# HAProxy configuration for the castui lab (written by castui lab).",
             "# Start the lab with --no-balancer so HAProxy can bind the VIPs, then:",
             "#   haproxy -f THIS_FILE",
             "global",
             "    maxconn 4096"]
    if stats_socket is not None:
        lines.append(f"    stats socket {stats_socket} mode 600 level admin")
    lines += ["",
              "defaults",
              "    mode tcp",
              f"    timeout connect {max(round(connect_timeout * 1000), 1)}ms",
              "    timeout client 1h",
              "    timeout server 1h",
              ""]
    inter_ms = max(round(inter * 1000), 1)
    for site in config.sites:
        check = _OWA_CHECK[site.profile]
        for service, port in site.ports.tcp_checks():
            name = f"{proxy_name(site.name.lower())}_{service}"
            lines += [
                f"frontend {name}",
                f"    bind {endpoint(site.vip, port)}",
                f"    default_backend {name}",
                "",
                f"backend {name}",
                "    balance leastconn",
                "    option httpchk",
                f"    http-check send meth GET uri {check} ver HTTP/1.1 "
                f"hdr Host {site.array_fqdn}",
                "    http-check expect status 200",
                f"    default-server inter {inter_ms}ms rise {rise} fall {fall} "
                f"check-ssl verify none check-sni {site.array_fqdn}",
                *(_server(node, service) for node in site.nodes),
                "",
            ]
    return "\n".join(lines)
