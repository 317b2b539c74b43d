"""`[[sites]]`: each AD site's array, VIP, resolvers, ports, nodes and balancer."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from castui.config.addresses import parse_socket_address, stats_url
from castui.config.files import secret_file
from castui.config.model import LB_SCOPES, PORT_NAMES, Balancer, LbScope, Node, Ports, Site
from castui.config.names import dns_name, dns_server, http_url, ip, profile
from castui.config.ranges import integer, number
from castui.config.reader import (
    Invalid,
    Reader,
    as_table,
    boolean,
    checked,
    join,
    name,
    string,
    unknown,
)

_SITE_KEYS = ("name", "array_fqdn", "vip", "dns_servers", "profile", "ports", "nodes",
              "service_names", "external_dns_servers", "agent_token_file", "lb",
              "balancer_addresses", "rpc_checks", "lb_scope")
_LB_KEYS = ("type", "stats_url", "socket", "stats_user", "stats_password_file", "backend",
            "timeout", "servers")
_NODE_KEYS = ("name", "address", "fqdn", "ports", "agent", "agent_token_file")


def read_sites(reader: Reader, raw: dict[str, object]) -> list[Site]:
    entries = reader.tables(raw, "", "sites", "[[sites]]")
    if "sites" not in raw or raw["sites"] == []:
        reader.report("sites", "no sites defined; add at least one [[sites]] table")
    sites: list[Site] = []
    seen: dict[str, str] = {}
    for path, table in entries or []:
        site = _read_site(reader, table, path)
        reader.claim(seen, table.get("name"), f"{path}.name", "site name")
        if site is not None:
            sites.append(site)
    return sites


def _read_site(reader: Reader, table: dict[str, object], path: str) -> Site | None:
    reader.check_keys(table, path, _SITE_KEYS)
    site_name = reader.get(table, path, "name", name, required=True)
    array_fqdn = reader.get(table, path, "array_fqdn", dns_name, required=True)
    vip = reader.get(table, path, "vip", ip, required=True)
    dns_servers = reader.items(table, path, "dns_servers", dns_server) or []
    service_names = reader.items(table, path, "service_names", dns_name) or []
    external = reader.items(table, path, "external_dns_servers", dns_server) or []
    kind = reader.get(table, path, "profile", profile) or "exchange2010"
    ports = _read_ports(reader, table, path, Ports(), "sites[].ports.*")
    token = reader.get(table, path, "agent_token_file", secret_file(reader.base_dir))
    nodes = _read_nodes(reader, table, path, ports, vip, token)
    lb = _read_balancer(reader, table, path, {node.name for node in nodes})
    balancer_addresses = _read_balancer_addresses(reader, table, path, nodes)
    # None: the profile's own choice (RPC checks unless it is HTTPS only).
    rpc_checks = reader.get(table, path, "rpc_checks", boolean)
    lb_scope: LbScope = reader.get(table, path, "lb_scope", _lb_scope) or "server"
    if site_name is None or array_fqdn is None or vip is None:
        return None
    return Site(name=site_name, array_fqdn=array_fqdn, vip=vip, profile=kind, ports=ports,
                nodes=tuple(nodes), dns_servers=tuple(dns_servers),
                service_names=tuple(dict.fromkeys(service_names)),
                external_dns_servers=tuple(external), lb=lb,
                balancer_addresses=balancer_addresses, rpc_checks=rpc_checks, lb_scope=lb_scope)


def _lb_scope(value: object) -> LbScope:
    """`server` (the balancer takes whole servers in and out) or `vdir` (one pool per vdir)."""
    text = string(value)
    for scope in LB_SCOPES:
        if text == scope:
            return scope
    raise Invalid(unknown("lb_scope", text, LB_SCOPES, "known"))


def _read_balancer_addresses(reader: Reader, table: dict[str, object], path: str,
                             nodes: list[Node]) -> tuple[str, ...]:
    """`balancer_addresses`: where connections through the array come from (the balancer's
    source addresses) or arrive at (the VIP under Windows NLB). A node's own address there
    would count every client that bypasses the array as balanced, so it is refused."""
    addresses = reader.items(table, path, "balancer_addresses", ip) or []
    own = {node.address: node.name for node in nodes}
    for address in addresses:
        if address in own:
            reader.report(join(path, "balancer_addresses"), f"{address!r} is node "
                          f"{own[address]}'s own address, not the balancer's")
    return tuple(dict.fromkeys(addresses))


def _read_ports(reader: Reader, table: dict[str, object], path: str, base: Ports,
                key: str) -> Ports:
    """`base` overridden by the `ports` table under `path`, if any (ranges as RANGES[key])."""
    raw = reader.get(table, path, "ports", as_table)
    if raw is None:
        return base
    ports_path = join(path, "ports")
    reader.check_keys(raw, ports_path, PORT_NAMES)
    port = integer(key)
    found = {port_name: reader.get(raw, ports_path, port_name, port) for port_name in PORT_NAMES}
    return dataclasses.replace(base, **{k: p for k, p in found.items() if p is not None})


def _read_nodes(reader: Reader, site: dict[str, object], path: str, ports: Ports,
                vip: str | None, token: Path | None) -> list[Node]:
    entries = reader.tables(site, path, "nodes", "[[sites.nodes]]")
    if "nodes" not in site or site["nodes"] == []:
        reader.report(join(path, "nodes"),
                      "a site needs at least one node; add a [[sites.nodes]] table")
    nodes: list[Node] = []
    seen: dict[str, str] = {}
    for node_path, table in entries or []:
        node = _read_node(reader, table, node_path, ports, vip, token)
        reader.claim(seen, table.get("name"), f"{node_path}.name", "node name")
        if node is not None:
            nodes.append(node)
    return nodes


def _read_node(reader: Reader, table: dict[str, object], path: str, site_ports: Ports,
               vip: str | None, site_token: Path | None) -> Node | None:
    reader.check_keys(table, path, _NODE_KEYS)
    node_name = reader.get(table, path, "name", name, required=True)
    address = reader.get(table, path, "address", ip, required=True)
    fqdn = reader.get(table, path, "fqdn", dns_name)
    ports = _read_ports(reader, table, path, site_ports, "sites[].nodes[].ports.*")
    if address is not None and address == vip:
        reader.report(f"{path}.address",
                      f"{address!r} is the site's VIP; a node needs its own address")
    agent = reader.get(table, path, "agent", http_url)
    token = reader.get(table, path, "agent_token_file", secret_file(reader.base_dir))
    token = token or site_token
    if agent is not None and token is None:
        reader.report(f"{path}.agent", "needs agent_token_file, on the node or its site")
    if node_name is None or address is None:
        return None
    return Node(name=node_name, address=address, ports=ports, fqdn=fqdn, agent=agent,
                agent_token_file=token if agent is not None else None)


def _read_balancer(reader: Reader, site: dict[str, object], path: str,
                   nodes: set[str]) -> Balancer | None:
    """`[sites.lb]`: where to read the balancer's own verdict on each node."""
    raw = reader.get(site, path, "lb", as_table)
    if raw is None:
        return None
    path = join(path, "lb")
    reader.check_keys(raw, path, _LB_KEYS)
    kind = reader.get(raw, path, "type", string, required=True)
    if kind is not None and kind != "haproxy":
        reader.report(f"{path}.type", unknown("balancer type", kind, ("haproxy",), "supported"))
    url = reader.get(raw, path, "stats_url", checked(stats_url))
    socket = reader.get(raw, path, "socket", checked(parse_socket_address))
    if "stats_url" not in raw and "socket" not in raw:
        reader.report(path, "give stats_url, socket, or both")
    servers_raw = reader.get(raw, path, "servers", as_table) or {}
    servers = []
    for node, server in servers_raw.items():
        if node not in nodes:
            reader.report(f"{path}.servers", unknown("node", node, sorted(nodes), "this site's"))
        elif (server_name := reader.convert(server, f"{path}.servers.{node}", name)) is not None:
            servers.append((node, server_name))
    timeout = reader.get(raw, path, "timeout", number("sites[].lb.timeout"))
    if kind != "haproxy":
        return None
    return Balancer(
        type="haproxy", stats_url=url, socket=socket,
        stats_user=reader.get(raw, path, "stats_user", name),
        stats_password_file=reader.get(raw, path, "stats_password_file",
                                       secret_file(reader.base_dir)),
        backend=reader.get_or(raw, path, "backend", name, "https"), timeout=timeout,
        servers=tuple(servers))
