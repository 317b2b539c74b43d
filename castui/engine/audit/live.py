"""The live part of an audit: ask the site's resolvers, its balancer and its node agents.

Nothing new is probed here: the DNS target, the agent check and the balancer adapter are the
ones `check` and the console use, and the DNS answers are folded by the engine's own rules, so
the audit's TTL and outside-resolution verdicts are the DNS hygiene check's.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping

from castui.config.model import Config, Site
from castui.engine.audit.export import Export
from castui.engine.audit.observed import Answer, Direct, SiteObservation
from castui.engine.pool import TargetState, fold_round
from castui.engine.runner import Runner
from castui.engine.sitewatch import SetupError, make_adapter, read_secret
from castui.engine.targets import Target, build_targets
from castui.model.errors import LbError
from castui.model.results import Code
from castui.model.times import utcnow
from castui.probes import make_http_client
from castui.probes.http import tls_context


def probed_fqdn(site: Site, export: Export) -> str:
    """The name the live rules ask about: Exchange's array FQDN for the site when it has one
    (the name clients are given), else the one castui watches."""
    for array in export.arrays:
        if array.site.casefold() == site.name.casefold():
            return array.fqdn
    return site.array_fqdn


async def observe(config: Config, export: Export) -> dict[str, SiteObservation]:
    """One look at every site of `config`: DNS, balancer pool, bypass counts. Bounded by the
    config's timeout; trouble becomes a fact (an unreadable balancer, a silent agent)."""
    sites = tuple(dataclasses.replace(site, array_fqdn=probed_fqdn(site, export))
                  for site in config.sites)
    config = dataclasses.replace(config, sites=sites)
    d = config.defaults
    targets = build_targets(config)
    tokens = {}
    for site in sites:
        for node in site.nodes:
            if node.agent and node.agent_token_file:
                try:
                    tokens[node.agent] = read_secret(node.agent_token_file)
                except SetupError:
                    continue  # the agent answers 401: reported as the agent's error
    verify = tls_context(d.ca_file, d.tls_verify)
    runner = Runner(timeout=d.timeout, max_concurrency=d.max_concurrency,
                    agent_tokens=tokens, verify=verify,
                    http_client=lambda _: make_http_client(verify=verify, max_connections=1))
    try:
        looks = await asyncio.gather(*(_site(runner, config, site, targets) for site in sites))
    finally:
        await runner.aclose()
    return {seen.site: seen for seen in looks}


async def _site(runner: Runner, config: Config, site: Site,
                targets: list[Target]) -> SiteObservation:
    mine = [t for t in targets if t.site == site.name]
    dns = next((t for t in mine if t.kind == "dns"), None)
    agents = [t for t in mine if t.kind == "node" and any(c.kind == "agent" for c in t.checks)]
    dns_look, pool, direct = await asyncio.gather(
        _dns(runner, dns) if dns is not None else _nothing(),
        _pool(config, site),
        asyncio.gather(*(_direct(runner, t) for t in agents)))
    resolvers, outside, hygiene = dns_look
    return SiteObservation(site.name, site.array_fqdn, resolvers, outside, hygiene,
                           pool=pool[0], pool_error=pool[1],
                           direct={t.subject: found for t, found in zip(agents, direct,
                                                                        strict=True)})


async def _nothing() -> tuple[tuple[Answer, ...], tuple[Answer, ...], dict[str, str]]:
    return (), (), {}


async def _dns(runner: Runner, target: Target
               ) -> tuple[tuple[Answer, ...], tuple[Answer, ...], dict[str, str]]:
    """One round of the site's DNS target, folded by the engine: answers and hygiene."""
    state = TargetState.new(target, 1, 1)
    fold_round(state, await runner.run_round(target), utcnow())
    inside: list[Answer] = []
    outside: list[Answer] = []
    for check in state.checks.values():
        result = check.last
        assert result is not None
        answered = result.code == Code.DNSOK
        answer = Answer(check.spec.name.removeprefix("external "), answered,
                        tuple(result.facts.get("addresses", ())), result.facts.get("ttl"),
                        result.detail)
        (outside if check.spec.external else inside).append(answer)
    return tuple(inside), tuple(outside), dict(state.hygiene)


async def _pool(config: Config, site: Site) -> tuple[tuple[str, ...] | None, str | None]:
    """The nodes in the balancer's backend (by castui's node names), or why it is unknown."""
    if site.lb is None:
        return None, None
    try:
        adapter = make_adapter(site, config)
        assert adapter is not None
        views = await adapter.servers()
    except (LbError, SetupError) as err:
        return None, str(err)
    names = {site.lb.server_for(node.name).casefold(): node.name for node in site.nodes}
    backend = site.lb.backend.casefold()
    return tuple(names.get(v.server.casefold(), v.server) for v in views
                 if v.backend.casefold() == backend), None


async def _direct(runner: Runner, target: Target) -> Direct:
    spec = next(c for c in target.checks if c.kind == "agent")
    result = await runner.run_check(target, spec)
    if not result.ok:
        return Direct(None, error=result.detail)
    found = result.facts.get("direct")
    if not isinstance(found, Mapping):
        return Direct(None, error="no bypass count (an older agent, or no balancer_addresses)")
    return Direct(found.get("clients"), found.get("connections"))
