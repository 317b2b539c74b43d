"""A whole simulated Exchange estate: CAS nodes per site, a VIP per site, a CA and a DNS zone.

This is what `castui lab` and `castui demo` run (the layout is castui.lab.layout's). The
estate writes the castui config that describes it (castui.lab.config_file), so `castui check`
and `watch` run against it unchanged, and it applies the actions of the lab grammar
(castui.lab.actions), one at a time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from castui.config import Config, load_config
from castui.lab.actions import COMPONENT_VERBS, Action, ActionError
from castui.lab.balancer import LabBalancer
from castui.lab.certs import LabCA
from castui.lab.config_file import ca_path_for, config_text
from castui.lab.dns import LabDNS
from castui.lab.epm import for_node
from castui.lab.layout import DNS_TTL, LabError, LabLayout, LabTiming, require_privileges
from castui.lab.node import LabNode
from castui.lab.site import LabSite
from castui.model.exchange import NAMES_FRONTEND
from castui.model.text import clean

log = logging.getLogger(__name__)

#: Profiles whose lab VIP checks at layer 7, as Microsoft's guidance for them says.
L7_CHECK = {"exchange2016": "/owa/healthcheck.htm"}

#: Where the lab reports what happens by itself (the VIP balancers' own verdicts).
LogCallback = Callable[[str], None]


class LabEstate:
    """The running lab: start it, apply actions, read its status, write its castui config."""

    def __init__(self, layout: LabLayout | None = None, *, timing: LabTiming | None = None,
                 ca: LabCA | None = None, on_log: LogCallback | None = None) -> None:
        self.layout = layout or LabLayout()
        self.timing = timing or LabTiming()
        self.on_log = on_log
        self.ca = ca or LabCA()
        self.ports = self.layout.ports
        zone = self.layout.zone
        arrays = [f"outlook.{plan.name.lower()}.{zone}" for plan in self.layout.sites]
        self.sites: dict[str, LabSite] = {}
        number = 0
        for index, plan in enumerate(self.layout.sites):
            nodes: dict[str, LabNode] = {}
            site = LabSite(plan.name, arrays[index], self.layout.vip(index), nodes)
            for n in range(1, plan.nodes + 1):
                number += 1
                name = f"CAS{number}"
                fqdn = f"{name.lower()}.{plan.name.lower()}.{zone}"
                # Every array name too: in a site switchover the DR nodes answer for it.
                context = self.ca.issue(fqdn, *dict.fromkeys([arrays[index], *arrays]))
                site.contexts[name] = context
                node = LabNode(name, self.layout.node_address(index, n), self.ports,
                               profile=self.layout.profile, ssl_context=context, fqdn=fqdn)
                node.set_handler("epm", for_node(node))  # a real endpoint mapper on epm
                nodes[name] = node
            self.sites[plan.name] = site
        self.dns = LabDNS(self.layout.dns_address, self.layout.dns_port, zone=zone,
                          ttl=DNS_TTL)
        self._drained: set[tuple[str, str]] = set()
        self._mismatched: set[tuple[str, str]] = set()
        self._lock = asyncio.Lock()
        self._started = False

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Start DNS, every node, then every VIP; LabError (everything stopped) if one fails."""
        if self._started:
            return
        require_privileges(self.layout)
        self._started = True
        try:
            await self._start_dns()
            await self._start_nodes()
            for site in self.sites.values():
                if self.layout.balancers:
                    await self._start_balancer(site)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop everything; nothing stays bound. Safe to repeat."""
        for site in self.sites.values():
            if site.balancer is not None:
                await site.balancer.stop()
        for site in self.sites.values():
            for node in site.nodes.values():
                await node.stop()
        await self.dns.stop()
        self._started = False

    async def __aenter__(self) -> LabEstate:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    async def _start_dns(self) -> None:
        for site in self.sites.values():
            self.dns.set_a(site.array_fqdn, [site.vip])
            for node in site.nodes.values():
                assert node.fqdn is not None
                self.dns.set_a(node.fqdn, [node.address])
        try:
            await self.dns.start()
        except OSError as exc:
            raise LabError(f"cannot start the lab DNS on {self.dns.address}:"
                           f"{self.dns.port}: {_reason(exc)}") from None

    async def _start_nodes(self) -> None:
        """The first node picks free ports if asked; every other node and VIP uses the same."""
        for site in self.sites.values():
            for node in site.nodes.values():
                node.ports = self.ports
                try:
                    await node.start()
                except OSError as exc:
                    raise LabError(_reason(exc)) from None
                self.ports = node.ports

    async def _start_balancer(self, site: LabSite) -> None:
        t = self.timing
        balancer = LabBalancer(
            site.name, site.vip, dict(self.ports.tcp_checks()),
            [(name, node.address) for name, node in site.nodes.items()],
            inter=t.lb_inter, rise=t.lb_rise, fall=t.lb_fall, connect_timeout=t.lb_timeout,
            check_path=L7_CHECK.get(self.layout.profile))
        balancer.on_change = lambda node, before, after: self._balancer_changed(
            site.name, node, before, after)
        site.balancer = balancer
        try:
            await balancer.start()
        except OSError as exc:
            raise LabError(f"cannot start the VIP of {site.name} on {site.vip}: "
                           f"{_reason(exc)}") from None

    def _balancer_changed(self, site: str, node: str, before: str, after: str) -> None:
        """Report the balancer's own verdicts (not the transitional UP 2/3 texts)."""
        if after in ("UP", "DOWN") and before.split()[0] != after:
            self._log(f"VIP {site} marks {node} {after}")

    def _log(self, text: str) -> None:
        if self.on_log is not None:
            try:
                self.on_log(text)
            except Exception:
                log.exception("lab log callback failed")

    # -- the castui config --------------------------------------------------------------

    def config_text(self, ca_file: str) -> str:
        """The castui TOML describing this estate (the ports as bound, once started)."""
        return config_text(self.sites.values(), timing=self.timing, ports=self.ports,
                           profile=self.layout.profile,
                           dns=f"{self.dns.address}:{self.dns.port}", ca_file=ca_file)

    def write_config(self, path: Path) -> Path:
        """Write the castui config to `path` and the lab CA next to it (`NAME.ca.pem`)."""
        ca_file = self.ca.write_ca(ca_path_for(path))
        path.write_text(self.config_text(ca_file.name), encoding="utf-8")
        return path

    def config(self, path: Path) -> Config:
        """Write the config to `path` and load it back, as castui itself would read it."""
        return load_config(self.write_config(path))

    # -- actions ------------------------------------------------------------------------

    def _site(self, name: str) -> LabSite:
        for site in self.sites.values():
            if site.name.lower() == name.lower():
                return site
        known = ", ".join(self.sites)
        raise ActionError(f"no site {clean(name, 60)!r} in the lab (sites: {known})")

    def _node(self, site: LabSite, name: str) -> LabNode:
        for node in site.nodes.values():
            if node.name.lower() == name.lower():
                return node
        known = ", ".join(site.nodes)
        raise ActionError(f"no node {clean(name, 60)!r} in {site.name} (nodes: {known})")

    def resolve(self, action: Action) -> Action:
        """The action with the lab's spelling of its names; ActionError if one is unknown.

        Changes nothing, so a scenario is checked before it runs.
        """
        site = node = arg = ""
        if action.scope != "estate":
            found = self._site(action.site)
            site = found.name
            if action.scope == "node":
                node = self._node(found, action.node).name
            needs_vip = action.verb in ("drain", "ready", "vip-down", "vip-up")
            if needs_vip and not self.layout.balancers:
                raise ActionError(f"{action.verb}: the lab runs without its VIP balancers "
                                  "(--no-balancer)")
        arg = action.arg
        if action.verb in COMPONENT_VERBS and self.layout.profile not in NAMES_FRONTEND:
            raise ActionError(f"{action.verb}: {self.layout.profile} has no server component "
                              "states (Exchange 2013 and later do: --profile exchange2016)")
        if action.verb == "switchover":
            target = self._site(action.arg)
            if target.name == site:
                raise ActionError(f"switchover {site} {target.name}: pick another site "
                                  f"(switchback {site} points it home)")
            arg = target.name
        return dataclasses.replace(action, site=site, node=node, arg=arg)

    async def apply(self, action: Action) -> Action:
        """Apply one action (one at a time); the resolved action, or ActionError."""
        async with self._lock:
            resolved = self.resolve(action)
            try:
                await self._apply(resolved)
            except (OSError, RuntimeError, ValueError) as exc:
                raise ActionError(f"{resolved}: {_reason(exc)}") from None
        return resolved

    async def _apply(self, action: Action) -> None:
        verb = action.verb
        if verb == "reset":
            for site in self.sites.values():
                for node in site.nodes.values():
                    await self._restore(site, node)
                    node.set_component(None, "Active")
                await self._vip(site, up=True)
                self.dns.set_a(site.array_fqdn, [site.vip])
            return
        site = self.sites[action.site]
        if action.scope == "site":
            if verb in ("vip-down", "vip-up"):
                await self._vip(site, up=verb == "vip-up")
            elif verb == "switchover":
                self.dns.set_a(site.array_fqdn, [self.sites[action.arg].vip])
            else:  # switchback
                self.dns.set_a(site.array_fqdn, [site.vip])
            return
        node = site.nodes[action.node]
        key = (site.name, node.name)
        if verb == "crash":
            await node.crash()
        elif verb == "blackhole":
            await node.blackhole()
        elif verb == "fail":
            await node.fail(action.arg)
        elif verb == "slow":
            await node.slow(int(action.arg))
        elif verb == "cert-mismatch":
            assert node.fqdn is not None
            node.set_ssl_context(self.ca.issue_mismatched(node.fqdn, site.array_fqdn))
            self._mismatched.add(key)
        elif verb in ("drain", "ready"):
            assert site.balancer is not None
            if verb == "drain":
                site.balancer.drain(node.name)
                self._drained.add(key)
            else:
                site.balancer.ready(node.name)
                self._drained.discard(key)
        elif verb in ("offline", "draining", "online"):
            state = {"offline": "Inactive", "draining": "Draining", "online": "Active"}[verb]
            node.set_component(action.arg or None, state)
        else:  # restore
            await self._restore(site, node)

    async def _restore(self, site: LabSite, node: LabNode) -> None:
        key = (site.name, node.name)
        node.set_ssl_context(site.contexts[node.name])
        self._mismatched.discard(key)
        if site.balancer is not None:
            site.balancer.ready(node.name)
        self._drained.discard(key)
        await node.restore()

    @staticmethod
    async def _vip(site: LabSite, *, up: bool) -> None:
        if site.balancer is None:
            return
        if up:
            await site.balancer.restore_vip()
        else:
            await site.balancer.fail_vip()

    # -- status -------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The estate as JSON-ready data: nodes and their faults, VIPs, DNS answers."""
        records = self.dns.records
        sites = []
        for site in self.sites.values():
            balancer = site.balancer
            lb_status = balancer.status() if balancer is not None else {}
            lb_active = balancer.active() if balancer is not None else {}
            nodes = []
            for node in site.nodes.values():
                key = (site.name, node.name)
                nodes.append({
                    "name": node.name, "address": node.address, "fqdn": node.fqdn,
                    "state": node.state, "faults": self._faults(key, node),
                    "drained": key in self._drained,
                    "balancer": lb_status.get(node.name),
                    "connections": lb_active.get(node.name)})
            answer = records.get(site.array_fqdn, [])
            pointed = [name for name, other in self.sites.items() if other.vip in answer]
            sites.append({
                "name": site.name, "array_fqdn": site.array_fqdn, "vip": site.vip,
                "vip_up": balancer.vip_up if balancer is not None else None,
                "dns_answer": answer, "points_to": pointed[0] if pointed else None,
                "nodes": nodes})
        return {
            "profile": self.layout.profile, "zone": self.dns.zone,
            "dns": f"{self.dns.address}:{self.dns.port}",
            "ports": dict(self.ports.tcp_checks()), "sites": sites}

    def _faults(self, key: tuple[str, str], node: LabNode) -> list[str]:
        faults: list[str] = []
        if node.state in ("crashed", "blackholed", "stopped"):
            faults.append(node.state)
        faults += [f"fail {vdir}" for vdir in sorted(node.http.failed_vdirs)]
        if node.http.delay_ms:
            faults.append(f"slow {node.http.delay_ms}")
        if key in self._mismatched:
            faults.append("cert-mismatch")
        faults += [f"{state.lower()} {component}"
                   for component, state in sorted(node.http.components.items())]
        return faults

    def describe(self) -> list[str]:
        """One line per site and one for DNS, for a start-up banner."""
        lines = []
        for site in self.sites.values():
            nodes = ", ".join(f"{node.name} {node.address}" for node in site.nodes.values())
            vip = f"VIP {site.vip}" if self.layout.balancers else f"VIP {site.vip} (no balancer)"
            lines.append(f"{site.name}: {site.array_fqdn} -> {vip}; nodes {nodes}")
        ports = ", ".join(f"{name} {port}" for name, port in self.ports.tcp_checks())
        lines.append(f"ports: {ports}; profile {self.layout.profile}")
        lines.append(f"DNS: {self.dns.address}:{self.dns.port} (zone {self.dns.zone}, "
                     f"TTL {DNS_TTL})")
        return lines


def _reason(exc: BaseException) -> str:
    """A one-line reason from an exception (asyncio's bind errors carry it in strerror)."""
    if isinstance(exc, OSError) and exc.strerror:
        return clean(exc.strerror)
    return clean(str(exc)) or type(exc).__name__
