"""The live rules: what the site's resolvers and node agents say, judged. No I/O here either:
castui.engine.audit.live gathers the facts (castui's DNS probe folded by the engine's DNS
hygiene rules, the agents' bypass counts)."""

from __future__ import annotations

import ipaddress

from castui.config.model import Site
from castui.engine.audit.findings import Finding, Severity, listed
from castui.engine.audit.observed import SiteObservation

OK, INFO, WARNING, ERROR = Severity.OK, Severity.INFO, Severity.WARNING, Severity.ERROR


def array_resolves_to_vip(site: Site, seen: SiteObservation) -> list[Finding]:
    """Every resolver must answer the array FQDN with the VIP: a node's address there sends
    every client to that one node, and no answer means no Outlook at all."""
    if not seen.resolvers:
        return [Finding("array_resolves_to_vip", INFO, site.name, seen.fqdn,
                        "skipped: no dns_servers in castui's config for this site")]
    nodes = {_ip(n.address): n.name for n in site.nodes}
    out = []
    for answer in seen.resolvers:
        subject = f"{seen.fqdn} @ {answer.server}"
        on_node = [f"{a} ({nodes[_ip(a)]})" for a in answer.addresses if _ip(a) in nodes]
        if not answer.answered:
            out.append(Finding("array_resolves_to_vip", ERROR, site.name, subject,
                               f"{answer.server} does not resolve {seen.fqdn}: {answer.detail}"))
        elif on_node:
            out.append(Finding("array_resolves_to_vip", ERROR, site.name, subject,
                               f"{answer.server} answers {listed(on_node)}: a node's own "
                               f"address, so clients bypass the balancer; point the record "
                               f"at the VIP {site.vip}",
                               _dns_fix(seen.fqdn, site.vip)))
        elif not any(_ip(a) == _ip(site.vip) for a in answer.addresses):
            out.append(Finding("array_resolves_to_vip", ERROR, site.name, subject,
                               f"{answer.server} answers {listed(answer.addresses)}, not the "
                               f"VIP {site.vip}", _dns_fix(seen.fqdn, site.vip)))
        else:
            out.append(Finding("array_resolves_to_vip", OK, site.name, subject,
                               f"{answer.server} answers the VIP {site.vip}"))
    return out


def _dns_fix(fqdn: str, vip: str) -> str:
    host, _, zone = fqdn.partition(".")
    return (f"Get-DnsServerResourceRecord -ZoneName {zone} -Name {host} -RRType A | "
            f"Remove-DnsServerResourceRecord -ZoneName {zone} -Force; "
            f"Add-DnsServerResourceRecordA -ZoneName {zone} -Name {host} -IPv4Address {vip}")


def _ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text


def array_ttl_low(site: Site, seen: SiteObservation, ttl_max: int) -> list[Finding]:
    """A DNS failover (repointing the array FQDN) reaches clients only as their cached answer
    expires: a long TTL is a long outage."""
    ttls = [a.ttl for a in seen.resolvers if a.answered and a.ttl is not None]
    if not ttls:
        return [Finding("array_ttl_low", INFO, site.name, seen.fqdn,
                        "skipped: no resolver answered with a TTL")]
    if "ttl" in seen.hygiene:
        host, _, zone = seen.fqdn.partition(".")
        return [Finding("array_ttl_low", WARNING, site.name, seen.fqdn,
                        f"{seen.hygiene['ttl']}; lower it to at most {ttl_max} s "
                        "(dns_ttl_max) well before the drill",
                        f"$r = Get-DnsServerResourceRecord -ZoneName {zone} -Name {host} "
                        "-RRType A; $n = $r.Clone(); $n.TimeToLive = "
                        f"[TimeSpan]::FromSeconds({ttl_max}); Set-DnsServerResourceRecord "
                        f"-ZoneName {zone} -OldInputObject $r -NewInputObject $n")]
    return [Finding("array_ttl_low", OK, site.name, seen.fqdn,
                    f"TTL {max(ttls)} s, within {ttl_max} s")]


def array_internal_only(site: Site, seen: SiteObservation) -> list[Finding]:
    """Outside resolvers must not know the array FQDN: Outlook Anywhere clients on the
    internet that resolve it try RPC to it and hang before falling back to HTTPS."""
    if not seen.outside:
        return [Finding("array_internal_only", INFO, site.name, seen.fqdn,
                        "skipped: no external_dns_servers in castui's config for this site "
                        "(add a resolver outside the organisation, e.g. your ISP's)")]
    if "external" in seen.hygiene:
        return [Finding("array_internal_only", WARNING, site.name, seen.fqdn,
                        f"resolvable from outside: {seen.hygiene['external']}; remove the "
                        "record from the public zone (the array FQDN is internal only)")]
    silent = [a.server for a in seen.outside if a.detail.startswith("no answer")]
    if silent and len(silent) == len(seen.outside):
        return [Finding("array_internal_only", INFO, site.name, seen.fqdn,
                        f"no outside resolver answered ({listed(silent)}): nothing proven")]
    return [Finding("array_internal_only", OK, site.name, seen.fqdn,
                    f"not resolvable through {listed(a.server for a in seen.outside)}")]


def clients_bypass_array(site: Site, seen: SiteObservation) -> list[Finding]:
    """Clients connected to a node's own address, not through the balancer, lose Outlook
    when that node goes down: the number to know before a drill."""
    out = []
    for node in site.nodes:
        if node.agent is None:
            out.append(Finding("clients_bypass_array", INFO, site.name, node.name,
                               "skipped: no agent on this node (castui agent counts clients)"))
            continue
        if not site.balancer_addresses:
            out.append(Finding("clients_bypass_array", INFO, site.name, node.name,
                               "skipped: set balancer_addresses for this site (the balancer's "
                               "source addresses, or the VIP under Windows NLB)"))
            continue
        direct = seen.direct.get(node.name)
        if direct is None or direct.clients is None:
            why = direct.error if direct is not None and direct.error else "no answer"
            out.append(Finding("clients_bypass_array", INFO, site.name, node.name,
                               f"unknown: the agent says {why}"))
        elif direct.clients:
            out.append(Finding(
                "clients_bypass_array", WARNING, site.name, node.name,
                f"{direct.clients} clients connect to {node.name} directly, not through the "
                f"array: they lose Outlook when {node.name} goes down; point the databases "
                f"that name {node.name} at {site.array_fqdn} and repair those Outlook profiles",
                f'Get-MailboxDatabase | Where-Object {{ "$($_.RpcClientAccessServer)" -like '
                f'"{node.name}*" }} | Set-MailboxDatabase -RpcClientAccessServer '
                f"{site.array_fqdn}"))
        else:
            out.append(Finding("clients_bypass_array", OK, site.name, node.name,
                               f"no client connects to {node.name} directly"))
    return out
