"""Run one round of a target's checks, within the estate-wide concurrency bound.

The runner owns the HTTP clients and the semaphore; the probes stay pure functions.

A target's HTTP client is replaced after any round in which one of its HTTP checks timed out,
and the old one closed once its last exchange has had time to end. A timeout is the one thing
that can leave httpcore's pool holding a connection nobody will use (a timeout landing just
after a handshake, encode/httpcore#1093); with as many slots as the target has HTTP checks, a
few of those made every later check of a healthy node fail. Closing the pool closes them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

import httpx

from castui.engine.pool import answer_of
from castui.engine.targets import CheckSpec, Target
from castui.model.results import Code, Error, ProbeResult
from castui.model.text import listing
from castui.probes import dns_probe, http_probe, tcp_probe
from castui.probes.agent import agent_probe
from castui.probes.epm import epm_probe
from castui.probes.tls import tls_probe

#: Extra time a probe may take past its own timeout before the runner gives up on it. Probes
#: bound themselves; this only guards the schedule against a probe that fails to.
_GUARD_S = 1.0
#: A replaced HTTP client is closed this many timeouts later: by then the exchanges it still
#: carried have ended by their own timeouts (each phase at most one timeout).
_RETIRE_TIMEOUTS = 6
#: The checks that go through a target's HTTP client.
_HTTP_KINDS = frozenset({"http", "sample", "agent"})


class Runner:
    """Runs checks with a global bound on probes in flight."""

    def __init__(self, *, timeout: float, max_concurrency: int,
                 cert_warn_days: int = 30,
                 agent_tokens: Mapping[str, str] | None = None,
                 http_client: Callable[[Target], httpx.AsyncClient] | None = None) -> None:
        self.timeout = timeout
        self.cert_warn_days = cert_warn_days
        self._agent_tokens = dict(agent_tokens or {})
        self.max_concurrency = max_concurrency
        self._limit = asyncio.Semaphore(max_concurrency)
        # One small client per target keeps httpcore's pool scans short: with one shared
        # client every request rescans every connection in flight across the estate.
        self._new_client = http_client
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._retiring: set[asyncio.Task[None]] = set()

    async def aclose(self) -> None:
        """Close every HTTP client, the replaced ones too."""
        for task in list(self._retiring):
            task.cancel()
        await asyncio.gather(*self._retiring, return_exceptions=True)
        clients, self._clients = list(self._clients.values()), {}
        await asyncio.gather(*(client.aclose() for client in clients), return_exceptions=True)

    async def run_check(self, target: Target, spec: CheckSpec) -> ProbeResult:
        async with self._limit:
            return await self._guarded(target, spec)

    async def run_round(self, target: Target) -> dict[str, ProbeResult]:
        """All checks of one target, concurrently; keyed by check name."""
        results = await asyncio.gather(*(self.run_check(target, spec) for spec in target.checks))
        self._renew_after(target, results)
        return {spec.name: result for spec, result in zip(target.checks, results, strict=True)}

    def _renew_after(self, target: Target, results: Sequence[ProbeResult]) -> None:
        """A fresh HTTP client for `target` if one of its HTTP checks timed out this round."""
        timed_out = any(spec.kind in _HTTP_KINDS and result.error == Error.TIMEOUT
                        for spec, result in zip(target.checks, results, strict=True))
        old = self._clients.pop(target.key, None) if timed_out else None
        if old is not None:
            task = asyncio.create_task(self._retire(old), name="castui:retire-client")
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    async def _retire(self, client: httpx.AsyncClient) -> None:
        try:
            await asyncio.sleep(self.timeout * _RETIRE_TIMEOUTS)
        finally:
            await client.aclose()

    async def sweep(self, targets: Sequence[Target]) -> list[dict[str, ProbeResult]]:
        """One round of every target at once: what `castui check` does each round.

        A pool of at most `max_concurrency` workers drains the checks, rather than a task per
        check queueing on the semaphore: a sweep of thousands of checks then costs about one
        timeout of wall time and little CPU per probe.
        """
        jobs = iter([(i, spec) for i, target in enumerate(targets) for spec in target.checks])
        results: list[dict[str, ProbeResult]] = [{} for _ in targets]

        async def worker() -> None:
            for i, spec in jobs:  # the shared iterator hands each check to one worker
                results[i][spec.name] = await self.run_check(targets[i], spec)

        count = sum(len(target.checks) for target in targets)
        await asyncio.gather(*(worker() for _ in range(min(self.max_concurrency, count))))
        for target, found in zip(targets, results, strict=True):
            self._renew_after(target, [found[spec.name] for spec in target.checks])
        return results

    async def _guarded(self, target: Target, spec: CheckSpec) -> ProbeResult:
        if spec.kind == "tcp":  # bounds itself, and is the hot path of a sweep
            assert spec.port is not None
            return await tcp_probe(target.address, spec.port, self.timeout)
        started = time.time()
        try:
            async with asyncio.timeout(self.timeout + _GUARD_S):
                return await self._probe(target, spec)
        except TimeoutError:
            return ProbeResult(False, Code.L7TOUT, f"no result in {self.timeout:g} s",
                               error=Error.TIMEOUT, started_at=started)

    def _client(self, target: Target) -> httpx.AsyncClient:
        client = self._clients.get(target.key)
        if client is None:
            if self._new_client is None:
                raise RuntimeError("this runner was given no HTTP client factory")
            client = self._clients[target.key] = self._new_client(target)
        return client

    async def _sample(self, target: Target, spec: CheckSpec) -> ProbeResult:
        """`count` fresh requests through the VIP, tallying the X-FEServer of each answer."""
        assert spec.port is not None and spec.expect is not None
        started = time.time()
        client = self._client(target)
        results = await asyncio.gather(*(
            http_probe(client, scheme="https", address=target.address, port=spec.port,
                       expect=spec.expect, host=target.host, timeout=self.timeout)
            for _ in range(spec.count)))
        answered: dict[str, int] = {}
        for result in results:
            server = result.facts.get("headers", {}).get("x-feserver") if result.ok else None
            if server:
                answered[server] = answered.get(server, 0) + 1
        failed = sum(not result.ok for result in results)
        shown = ", ".join(f"{name} {n}" for name, n in sorted(answered.items())) or "nobody"
        detail = f"answered by {shown}" + (f" ({failed} of {spec.count} failed)" if failed else "")
        return ProbeResult(bool(answered), Code.L7OK if answered else Code.L7RSP, detail,
                           facts={"answered_by": answered, "samples": spec.count,
                                  "failed": failed}, started_at=started)

    async def _probe(self, target: Target, spec: CheckSpec) -> ProbeResult:
        if spec.kind == "dns":
            assert spec.dns_server is not None
            if spec.external:
                return outside_verdict(await dns_probe(spec.dns_server, target.host or "",
                                                       self.timeout))
            return await dns_probe(spec.dns_server, target.host or "", self.timeout,
                                   expect=target.address)
        if spec.kind == "agent":
            assert spec.url is not None
            token = self._agent_tokens.get(spec.url, "")
            direct = (spec.direct_ports, spec.via) if spec.via else None
            return await agent_probe(self._client(target), spec.url, token, self.timeout,
                                     direct=direct)
        assert spec.port is not None
        if spec.kind == "sample":
            return await self._sample(target, spec)
        if spec.kind == "epm":
            return await epm_probe(target.address, spec.port, self.timeout,
                                   pinned=dict(spec.pinned))
        if spec.kind == "tls":
            return await tls_probe(target.address, spec.port, self.timeout,
                                   server_name=target.host, names=spec.names,
                                   warn_days=self.cert_warn_days)
        assert spec.expect is not None
        return await http_probe(self._client(target), scheme="https", address=target.address,
                                port=spec.port, expect=spec.expect, host=target.host,
                                timeout=self.timeout)


def outside_verdict(result: ProbeResult) -> ProbeResult:
    """An outside resolver passes when it cannot resolve the internal array name.

    Answering it would make Outlook Anywhere clients on the internet try the internal RPC name
    and hang before falling back to HTTPS.
    """
    if result.code == Code.DNSOK:
        said = listing(*answer_of(result.facts)) or "an answer"
        return replace(result, ok=False, error=Error.MISMATCH,
                       detail=f"resolves the internal name from outside: {said}")
    if result.code == Code.DNSTOUT:
        return result  # a silent resolver proves nothing either way
    return replace(result, ok=True, error=None, detail=f"does not resolve it ({result.detail})")
