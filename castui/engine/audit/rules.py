"""The audit's rules on what Exchange says, against castui's config; `run_rules` runs them all
(the live ones, judging what the resolvers and agents say, are in live_rules).

Each rule says something about every subject it applies to, passing ones included (severity
ok), so a clean run shows what was checked. Messages say what to do; `fix` is the PowerShell,
where there is one. No I/O here: the export, the config and what the live part observed in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from castui.config.model import Config, Node, Site
from castui.engine.audit.export import Array, Export, Server, url_host
from castui.engine.audit.findings import Finding, Severity, listed, ordered, ps_quote
from castui.engine.audit.live_rules import (
    array_internal_only,
    array_resolves_to_vip,
    array_ttl_low,
    clients_bypass_array,
)
from castui.engine.audit.observed import SiteObservation

OK, INFO, WARNING, ERROR = Severity.OK, Severity.INFO, Severity.WARNING, Severity.ERROR


def run_rules(export: Export, config: Config,
              observed: Mapping[str, SiteObservation] | None = None) -> list[Finding]:
    """Every finding, site by site. `observed` (config site name -> what the live part saw)
    None means the live rules are skipped (`--no-live`, the console)."""
    found: list[Finding] = []
    found += config_matches_exchange(export, config)
    found += one_array_per_site(export)
    found += site_has_array(export)
    found += db_points_at_array(export)
    found += array_name_distinct(export)
    found += members_match_pool(export, config, observed)
    found += cert_covers_services(export)
    if observed is not None:
        for site in config.sites:
            seen = observed.get(site.name)
            if seen is not None:
                found += array_resolves_to_vip(site, seen)
                found += array_ttl_low(site, seen, config.defaults.dns_ttl_max)
                found += array_internal_only(site, seen)
                found += clients_bypass_array(site, seen)
    # One spelling per site (AD names ignore case): castui's where it watches the site.
    spelling = {name.casefold(): name for name in export.sites()}
    spelling.update({site.name.casefold(): site.name for site in config.sites})
    found = [f if spelling.get(f.site.casefold(), f.site) == f.site
             else dataclasses.replace(f, site=spelling[f.site.casefold()]) for f in found]
    return ordered(found, [*export.sites(), *(s.name for s in config.sites)])


# --- what the export says, per site ------------------------------------------------------------


def _same(a: str | None, b: str | None) -> bool:
    """AD and DNS names compare without case."""
    return a is not None and b is not None and a.casefold() == b.casefold()


def _in_site(site: str, items: Iterable[Array]) -> list[Array]:
    return [item for item in items if _same(item.site, site)]


def _site_servers(export: Export, site: str) -> list[Server]:
    return [s for s in export.servers if _same(s.site, site) and s.client_access]


def _export_site(export: Export, name: str) -> str | None:
    return next((site for site in export.sites() if _same(site, name)), None)


def _domain(export: Export, site: str) -> str:
    """The DNS domain of a site's servers, for the FQDN a fix suggests."""
    for server in export.servers:
        if _same(server.site, site) and server.fqdn and "." in server.fqdn:
            return server.fqdn.split(".", 1)[1].lower()
    return "corp.local"


def one_array_per_site(export: Export) -> list[Finding]:
    """Exchange allows one Client Access array per AD site; a second one confuses which FQDN
    a database's profiles get."""
    out = []
    for site in export.sites():
        arrays = _in_site(site, export.arrays)
        if len(arrays) <= 1:
            said = f"one array ({arrays[0].name})" if arrays else "no array"
            out.append(Finding("one_array_per_site", OK, site, site, f"{said}"))
            continue
        keep, *extra = arrays
        listed = ", ".join(f"{a.name} ({a.fqdn})" for a in arrays)
        out.append(Finding(
            "one_array_per_site", ERROR, site, site,
            f"{len(arrays)} Client Access arrays in {site}: {listed}; Exchange allows one per "
            f"AD site: keep {keep.name}, point every database at {keep.fqdn}, then remove the "
            "others",
            "; ".join(f'Remove-ClientAccessArray "{a.name}"' for a in extra)))
    return out


def site_has_array(export: Export) -> list[Finding]:
    """A site with Exchange 2010 CAS needs an array object even with one CAS, so a second CAS
    or a replacement needs no Outlook profile changes."""
    out = []
    for site in export.sites():
        servers = _site_servers(export, site)
        arrays = _in_site(site, export.arrays)
        old = [s.name for s in servers if s.is_2010]
        if arrays:
            out.append(Finding("site_has_array", OK, site, site,
                               f"array {arrays[0].name} ({arrays[0].fqdn})"))
        elif old:
            fqdn = f"outlook.{site.lower()}.{_domain(export, site)}"
            out.append(Finding(
                "site_has_array", ERROR, site, site,
                f"{site} has Exchange 2010 Client Access servers ({listed(old)}) but no array: "
                "Outlook profiles name a single server and do not move when it fails; create "
                "the array (even for one CAS), then point the databases at its FQDN",
                f'New-ClientAccessArray -Name "CASArray-{site}" -Fqdn {fqdn} -Site "{site}"'))
        elif servers:
            out.append(Finding("site_has_array", INFO, site, site,
                               "skipped: only Exchange 2013 or later here, which has no CAS "
                               "array object (Outlook connects over HTTPS to the namespace)"))
        else:
            out.append(Finding("site_has_array", INFO, site, site,
                               "skipped: no Client Access servers in this site"))
    return out


def db_points_at_array(export: Export) -> list[Finding]:
    """A 2010 database's RpcClientAccessServer is what new Outlook profiles connect to: a
    server name there pins every such profile to that one server."""
    out = []
    for db in export.databases:
        server = export.server(db.server)
        if server is not None and not server.is_2010:
            continue  # Exchange 2013+ ignores RpcClientAccessServer
        if server is None and not any(s.is_2010 for s in export.servers if _same(s.site, db.site)):
            continue
        arrays = _in_site(db.site, export.arrays)
        value = db.rpc_client_access_server
        target = arrays[0].fqdn if arrays else None
        fix = f"Set-MailboxDatabase {ps_quote(db.name)} -RpcClientAccessServer {target}" \
            if target else None
        if target is not None and _same(value, target):
            out.append(Finding("db_points_at_array", OK, db.site, db.name,
                               f"{db.name} points at the array {target}"))
            continue
        named = export.server(value) if value else None
        other = next((a for a in export.arrays if _same(a.fqdn, value)), None)
        if value is None:
            problem = f"{db.name} has no RpcClientAccessServer"
            severity = ERROR
        elif named is not None:
            problem = (f"{db.name}'s RpcClientAccessServer is {named.name}, a single server: "
                       f"every Outlook profile made against {db.name} connects to {named.name} "
                       f"and loses Outlook when it goes down; profiles made before the fix "
                       "keep that server until they are repaired")
            severity = ERROR
        elif other is not None:
            problem = (f"{db.name} points at {other.site}'s array {other.fqdn}: right only while "
                       f"{db.site} is switched over to {other.site}")
            severity = WARNING
        elif target is None:
            out.append(Finding("db_points_at_array", INFO, db.site, db.name,
                               f"{db.name} names {value}; {db.site} has no array object to "
                               "compare it with (see site_has_array)"))
            continue
        else:
            problem = (f"{db.name}'s RpcClientAccessServer is {value}, which is neither the "
                       "array nor a server in the export")
            severity = ERROR
        if target is None:
            problem += f"; {db.site} has no array yet (see site_has_array)"
        else:
            problem += f"; set it to the array {target}"
        out.append(Finding("db_points_at_array", severity, db.site, db.name, problem, fix))
    return out


def _servicelisted(export: Export) -> dict[str, list[str]]:
    """HTTP service host name -> where it is used (`owa internal on CAS1`...)."""
    uses: dict[str, list[str]] = {}
    for vdir in export.virtual_directories:
        for which, url in (("internal", vdir.internal_url), ("external", vdir.external_url)):
            host = url_host(url) if url else None
            if host:
                uses.setdefault(host, []).append(f"{vdir.kind} {which} on {vdir.server}")
    for oa in export.outlook_anywhere:
        for which, host in (("internal", oa.internal_hostname),
                            ("external", oa.external_hostname)):
            if host:
                uses.setdefault(host, []).append(f"Outlook Anywhere {which} on {oa.server}")
    return uses


def array_name_distinct(export: Export) -> list[Finding]:
    """The array FQDN must be a name of its own, internal only: if OWA, EWS, Autodiscover or
    Outlook Anywhere use it too, clients outside resolve it, and it cannot move on its own."""
    uses = _servicelisted(export)
    out = []
    for array in export.arrays:
        used = uses.get(array.fqdn, [])
        if not used:
            out.append(Finding("array_name_distinct", OK, array.site, array.name,
                               f"{array.fqdn} is no HTTP service name"))
            continue
        shown = "; ".join(used[:4]) + (f" (+{len(used) - 4} more)" if len(used) > 4 else "")
        out.append(Finding(
            "array_name_distinct", ERROR, array.site, array.name,
            f"{array.fqdn} is also an HTTP service name ({shown}): give the array its own "
            "internal-only name (e.g. outlook-rpc.<site>.<domain>), then point the databases "
            "at it",
            f"Set-ClientAccessArray {ps_quote(array.name)} -Fqdn <new internal-only name>"))
    return out


def _node_matches(node: Node, server: Server) -> bool:
    return _same(node.name, server.name) or (
        node.fqdn is not None and (_same(node.fqdn, server.fqdn)
                                   or _same(node.fqdn.split(".", 1)[0], server.name)))


def _config_site(config: Config, name: str) -> Site | None:
    return next((site for site in config.sites if _same(site.name, name)), None)


def members_match_pool(export: Export, config: Config,
                       observed: Mapping[str, SiteObservation] | None) -> list[Finding]:
    """The array's members, the nodes castui watches and the balancer's pool must be the same
    servers: a CAS outside the pool takes no clients; one castui does not watch fails unseen."""
    out = []
    for array in export.arrays:
        site = _config_site(config, array.site)
        if site is None:
            continue  # config_matches_exchange says castui does not watch this site
        members = list(array.members) or [s.name for s in _site_servers(export, array.site)]
        servers = [export.server(m) or Server(m, None, array.site, "", None, ()) for m in members]
        unwatched = [s.name for s in servers if not any(_node_matches(n, s) for n in site.nodes)]
        extra = [n.name for n in site.nodes if not any(_node_matches(n, s) for s in servers)]
        problems = []
        if unwatched:
            problems.append(f"array members castui does not watch: {listed(unwatched)} (add a "
                            "[[sites.nodes]] for each)")
        if extra:
            problems.append(f"nodes castui watches that are not array members: {listed(extra)}")
        seen = observed.get(site.name) if observed is not None else None
        note = ""
        if seen is not None and seen.pool is not None and site.lb is not None:
            pool = {name.casefold() for name in seen.pool}
            out_of_pool = [n.name for n in site.nodes if n.name.casefold() not in pool]
            if out_of_pool:
                problems.append(f"not in the balancer's pool (backend {site.lb.backend}): "
                                f"{listed(out_of_pool)}")
        elif seen is not None and seen.pool_error is not None:
            note = f"; balancer not read: {seen.pool_error}"
        elif site.lb is None:
            note = "; no [sites.lb], balancer pool not compared"
        elif observed is None:
            note = "; balancer pool not compared (--no-live)"
        if problems:
            out.append(Finding("members_match_pool", ERROR, array.site, array.name,
                               "; ".join(problems) + note))
        else:
            out.append(Finding("members_match_pool", OK, array.site, array.name,
                               f"members {listed(members)} are the nodes castui watches"
                               + (" and the balancer's pool" if not note else "") + note))
    return out


def _covers(names: Sequence[str], host: str) -> bool:
    """A certificate name covers `host` exactly or as a one-label wildcard."""
    host = host.lower()
    for name in names:
        if name == host:
            return True
        if name.startswith("*.") and host.split(".", 1)[-1] == name[2:] and "." in host:
            return True
    return False


def cert_covers_services(export: Export) -> list[Finding]:
    """Each CAS's IIS certificate must cover the HTTP names clients use on it; the array FQDN
    never needs to be there (Outlook's RPC does not use TLS), so it is only mentioned."""
    needed: dict[str, set[str]] = {}
    for vdir in export.virtual_directories:
        needed.setdefault(vdir.server.casefold(), set()).update(vdir.hosts())
    for oa in export.outlook_anywhere:
        needed.setdefault(oa.server.casefold(), set()).update(oa.hosts())
    arrays = {a.fqdn for a in export.arrays}
    out = []
    for key, hosts in needed.items():
        server = export.server(key)
        name = server.name if server else key
        site = server.site if server else "?"
        certs = [c for c in export.certificates if _same(c.server, name) and c.for_iis]
        if not hosts:
            continue
        if not certs:
            out.append(Finding("cert_covers_services", ERROR, site, name,
                               f"no certificate is bound to IIS on {name}; it serves "
                               f"{listed(sorted(hosts))}",
                               f"Enable-ExchangeCertificate -Server {ps_quote(name)} "
                               "-Thumbprint <thumbprint> -Services IIS"))
            continue
        names = sorted({n for cert in certs for n in cert.names})
        missing = sorted(h for h in hosts if not _covers(names, h))
        expired = [c for c in certs if c.not_after is not None
                   and c.not_after < export.collected]
        subject = certs[0].subject or "the IIS certificate"
        if missing or expired:
            problems = []
            if missing:
                problems.append(f"{subject} on {name} does not cover {listed(missing)}")
            if expired:
                problems.append(f"{expired[0].subject or 'an IIS certificate'} on {name} "
                                f"expired {_day(expired[0].not_after)}")
            out.append(Finding(
                "cert_covers_services", ERROR, site, name,
                "; ".join(problems) + ": clients get certificate warnings",
                (f"New-ExchangeCertificate -Server {ps_quote(name)} -GenerateRequest -DomainName "
                 + ",".join(sorted(set(missing) | (set(names) - (arrays - hosts))))) if missing
                else None))
        elif on_cert := sorted(arrays & set(names) - hosts):
            out.append(Finding("cert_covers_services", INFO, site, name,
                               f"{subject} covers {listed(sorted(hosts))}; it also names the "
                               f"array {listed(on_cert)}: not needed (no fault), leave it off "
                               "at the next renewal"))
        else:
            out.append(Finding("cert_covers_services", OK, site, name,
                               f"{subject} covers {listed(sorted(hosts))}"))
    return out


def _day(when: datetime | None) -> str:
    return when.date().isoformat() if when else "?"


def config_matches_exchange(export: Export, config: Config) -> list[Finding]:
    """The sites, array FQDNs and node names castui watches must be Exchange's own: a wrong
    name in the config makes castui watch the wrong thing."""
    out = []
    for site in config.sites:
        found = _export_site(export, site.name)
        if found is None:
            out.append(Finding("config_matches_exchange", ERROR, site.name, site.name,
                               f"castui watches site {site.name}, which the export does not "
                               f"know (its sites: {listed(export.sites())}): fix the site's "
                               "name in castui's config"))
            continue
        arrays = _in_site(found, export.arrays)
        if arrays and not any(_same(a.fqdn, site.array_fqdn) for a in arrays):
            out.append(Finding("config_matches_exchange", ERROR, site.name, site.name,
                               f"castui watches {site.array_fqdn}, but {found}'s array is "
                               f"{arrays[0].fqdn}: set array_fqdn = \"{arrays[0].fqdn}\""))
        else:
            said = "the array FQDN" if arrays else "a site without an array object"
            out.append(Finding("config_matches_exchange", OK, site.name, site.name,
                               f"{site.name} and {site.array_fqdn} match the export ({said})"))
        for node in site.nodes:
            out.append(_node_finding(export, site, found, node))
    return out


def _node_finding(export: Export, site: Site, found: str, node: Node) -> Finding:
    server = next((s for s in export.servers if _node_matches(node, s)), None)
    if server is None:
        return Finding("config_matches_exchange", ERROR, site.name, node.name,
                       f"castui watches {node.name}, which is no Exchange server in the "
                       "export: fix its name (or fqdn) in castui's config, or remove it")
    if not _same(server.site, found):
        return Finding("config_matches_exchange", ERROR, site.name, node.name,
                       f"{node.name} is in {server.site} per Exchange, not {site.name}: move "
                       "it to that site's [[sites]] in castui's config")
    if node.fqdn and server.fqdn and not _same(node.fqdn, server.fqdn):
        return Finding("config_matches_exchange", ERROR, site.name, node.name,
                       f"castui's fqdn for {node.name} is {node.fqdn}, Exchange's is "
                       f"{server.fqdn}: set fqdn = \"{server.fqdn.lower()}\"")
    known = "" if server.name == node.name else f" (Exchange calls it {server.name})"
    return Finding("config_matches_exchange", OK, site.name, node.name,
                   f"Exchange {server.version} in {server.site}{known}")
