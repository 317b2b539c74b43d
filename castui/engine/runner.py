"""Run one round of a target's checks, within the estate-wide concurrency bound.

The runner owns the HTTP clients and the semaphore; the probes stay pure functions. A round's
certificate and directory checks on one HTTPS port are one unit (castui.probes.https: one
connection for all of them); every other check is a unit of its own.

The checks that still go through httpx (VIP samples, the agent) use a client per target. It is
replaced after any round in which one of those checks timed out, and the old one closed once
its last exchange has had time to end. A timeout is the one thing that can leave httpcore's
pool holding a connection nobody will use (a timeout landing just after a handshake,
encode/httpcore#1093); with as many slots as the target has such checks, a few of those made
every later check of a healthy node fail. Closing the pool closes them.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

import httpx

from castui.engine.pool import answer_of
from castui.engine.targets import CheckSpec, Target
from castui.model.results import Code, Error, ProbeResult
from castui.model.text import listing
from castui.probes import dns_probe, http_probe, tcp_probe
from castui.probes.agent import agent_probe
from castui.probes.epm import epm_probe
from castui.probes.https import HttpsRound
from castui.probes.tls import reader_context

#: Extra time a probe may take past its own timeout before the runner gives up on it. Probes
#: bound themselves; this only guards the schedule against a probe that fails to.
_GUARD_S = 1.0
#: A replaced HTTP client is closed this many timeouts later: by then the exchanges it still
#: carried have ended by their own timeouts (each phase at most one timeout).
_RETIRE_TIMEOUTS = 6
#: The checks that go through a target's httpx client (its HTTPS checks have their own
#: connection, castui.probes.https).
HTTPX_KINDS = frozenset({"sample", "agent"})

#: In a sweep, the longest an HTTPS round holds up the next one, and the longest the other
#: checks wait for the HTTPS rounds (see Runner.sweep).
SWEEP_SPREAD_S = 0.025
SWEEP_WINDOW_S = 1.0
#: In a target's round, the longest its HTTPS round runs alone (see Runner.run_round).
ROUND_LEAD_S = 0.025

#: What runs as one: a check alone, or the checks of one HTTPS round.
Unit = tuple[CheckSpec, ...]

T = TypeVar("T")
R = TypeVar("R")


async def led(first: Coroutine[Any, Any, T], wait_s: float,
              rest: Iterable[Awaitable[R]]) -> tuple[T, list[R]]:
    """Run `first` alone until it is done or `wait_s` has passed, then `rest` beside it (made
    only then); both results. `first` is cancelled if this is."""
    lead = asyncio.ensure_future(first)
    try:
        await asyncio.wait({lead}, timeout=wait_s)
        return await asyncio.gather(lead, asyncio.gather(*rest))
    finally:
        lead.cancel()


def units(target: Target) -> list[Unit]:
    """`target`'s checks as units: the tls and http checks of each port together (the
    certificate check first), every other check alone."""
    shared: dict[int, list[CheckSpec]] = {}
    alone: list[Unit] = []
    for spec in target.checks:
        if spec.kind in ("tls", "http") and spec.port is not None:
            shared.setdefault(spec.port, []).append(spec)
        else:
            alone.append((spec,))
    https = [tuple(sorted(specs, key=lambda spec: spec.kind != "tls"))
             for specs in shared.values()]
    return [*https, *alone]


class Runner:
    """Runs checks with a global bound on probes in flight."""

    def __init__(self, *, timeout: float, max_concurrency: int,
                 cert_warn_days: int = 30,
                 agent_tokens: Mapping[str, str] | None = None,
                 http_client: Callable[[Target], httpx.AsyncClient] | None = None,
                 verify: ssl.SSLContext | bool = True) -> None:
        """`http_client`: makes a target's httpx client (for HTTPX_KINDS checks), called when
        the target first needs one and again after a round in which one of them timed out.
        `verify`: how HTTPS rounds verify certificates (castui.probes.http.tls_context's
        answer; True: the system's CAs, False: no verification)."""
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
        if verify is True:
            verify = ssl.create_default_context()
        self._verify = verify or reader_context()
        #: A target's HTTPS round ends within connect + 2 x timeout (castui.probes.https);
        #: this guard only stops one that fails to.
        self.https_budget = 3 * timeout + _GUARD_S
        self._units: dict[str, list[Unit]] = {}

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

    async def run_unit(self, target: Target, unit: Unit) -> dict[str, ProbeResult]:
        """One unit of `target`'s round (see `units`), keyed by check name."""
        if len(unit) == 1 and unit[0].kind not in ("tls", "http"):
            return {unit[0].name: await self.run_check(target, unit[0])}
        async with self._limit:
            return await self._https(target, unit)

    async def run_round(self, target: Target) -> dict[str, ProbeResult]:
        """All checks of one target, keyed by check name.

        The HTTPS round leads, alone until it is done or ROUND_LEAD_S in at the latest; the
        other units then run together. Alone, its handshake and requests time the node, not
        the node's (or castui's) work on castui's other connections of the same instant: run
        together, they read 1.6x as long on the lab. A node whose HTTPS round hangs delays its
        other checks by ROUND_LEAD_S, no more.
        """
        mine = self._units.get(target.key)
        if mine is None:
            mine = self._units[target.key] = units(target)
        found: dict[str, ProbeResult] = {}
        if len(mine) > 1 and mine[0][0].kind in ("tls", "http"):
            lead, parts = await led(self.run_unit(target, mine[0]), ROUND_LEAD_S,
                                    (self.run_unit(target, unit) for unit in mine[1:]))
            found.update(lead)
        else:
            parts = await asyncio.gather(*(self.run_unit(target, unit) for unit in mine))
        for part in parts:
            found.update(part)
        self._renew_after(target, found)
        return {spec.name: found[spec.name] for spec in target.checks}

    def _renew_after(self, target: Target, results: Mapping[str, ProbeResult]) -> None:
        """A fresh httpx client for `target` if one of its httpx checks (or one request of a
        VIP sample) timed out this round (`results` keyed by check name)."""
        timed_out = any(spec.kind in HTTPX_KINDS and _timed_out(results[spec.name])
                        for spec in target.checks)
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
        """One round of every target: what `castui check` does each round.

        The targets' HTTPS rounds go first, one after another: each starts when the one before
        it is done, or SWEEP_SPREAD_S after it started if it is not (a dead node holds up
        nobody), so no round is timed while castui works on all the others. The other checks
        follow (once the HTTPS rounds are done, or SWEEP_WINDOW_S in at the latest), drained
        by a pool of at most `max_concurrency` workers rather than a task per check queueing on
        the semaphore: a sweep of thousands of checks then costs about one timeout of wall time
        and little CPU per probe.
        """
        todo = [(i, unit) for i, target in enumerate(targets) for unit in units(target)]
        https = [(i, unit) for i, unit in todo if unit[0].kind in ("tls", "http")]
        jobs = iter([(i, unit) for i, unit in todo if unit[0].kind not in ("tls", "http")])
        found: list[dict[str, ProbeResult]] = [{} for _ in targets]

        async def run(i: int, unit: Unit) -> None:
            found[i].update(await self.run_unit(targets[i], unit))

        async def chain() -> None:
            started: list[asyncio.Future[None]] = []
            try:
                for i, unit in https:
                    started.append(asyncio.ensure_future(run(i, unit)))
                    await asyncio.wait({started[-1]}, timeout=SWEEP_SPREAD_S)
                await asyncio.gather(*started)
            finally:
                for task in started:
                    task.cancel()

        async def worker() -> None:
            for i, unit in jobs:  # the shared iterator hands each unit to one worker
                await run(i, unit)

        count = min(self.max_concurrency, len(todo) - len(https))
        await led(chain(), SWEEP_WINDOW_S, (worker() for _ in range(count)))
        for target, done in zip(targets, found, strict=True):
            self._renew_after(target, done)
        return [{spec.name: done[spec.name] for spec in target.checks}
                for target, done in zip(targets, found, strict=True)]

    async def _https(self, target: Target, unit: Unit) -> dict[str, ProbeResult]:
        """One HTTPS round of `target` (its certificate check and directory checks on one
        port), bounded like any check should a probe fail to bound itself."""
        port = unit[0].port
        assert port is not None
        tls = next((spec for spec in unit if spec.kind == "tls"), None)
        vdirs = [(spec.name, spec.expect) for spec in unit
                 if spec.kind == "http" and spec.expect is not None]
        session = HttpsRound(address=target.address, port=port, host=target.host,
                             verify=self._verify, timeout=self.timeout)
        started = time.time()
        try:
            async with asyncio.timeout(self.https_budget):
                return await session.run(tls=None if tls is None else tls.name,
                                         names=() if tls is None else tls.names,
                                         warn_days=self.cert_warn_days, vdirs=vdirs)
        except TimeoutError:
            late = ProbeResult(False, Code.L7TOUT, f"no result in {self.https_budget:g} s",
                               error=Error.TIMEOUT, started_at=started)
            return {spec.name: late for spec in unit}

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
        timed_out = sum(result.error == Error.TIMEOUT for result in results)
        shown = ", ".join(f"{name} {n}" for name, n in sorted(answered.items())) or "nobody"
        detail = f"answered by {shown}" + (f" ({failed} of {spec.count} failed)" if failed else "")
        return ProbeResult(bool(answered), Code.L7OK if answered else Code.L7RSP, detail,
                           facts={"answered_by": answered, "samples": spec.count,
                                  "failed": failed, "timed_out": timed_out},
                           started_at=started)

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
        # tls and http checks run as a unit, over the round's connection (run_unit)
        raise ValueError(f"a {spec.kind} check runs in its unit (Runner.run_unit)")


def _timed_out(result: ProbeResult) -> bool:
    """Did an httpx check time out (a VIP sample: any of its requests)?"""
    return result.error == Error.TIMEOUT or bool(result.facts.get("timed_out"))


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
