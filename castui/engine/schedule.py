"""When rounds run: each target on its own loop, or the whole estate in sweeps for `check`.

Each target has its own loop, so a black-holed node never delays another's round, and a target
is never probed twice at once: its next round is scheduled only when the last one is done
(Dolphie's rule). The rounds are spread over the interval like HAProxy's `spread-checks`: target
i of n starts its rounds at its own fixed offset, i/n of the interval, so castui's own CPU
bursts do not land on its measurements. A round that overruns its slot is followed by the next
at once (never a burst, never a wait that slows detection); a `wake` runs every target's next
round at once, and the one after returns to the target's offset. What a round means is the
monitor's: the schedule only hands each one over.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from castui.config.model import Config
from castui.engine.pool import TargetState
from castui.engine.runner import HTTPX_KINDS, Runner
from castui.engine.sitewatch import SiteWatch
from castui.engine.targets import Target
from castui.model.events import Event
from castui.model.results import ProbeResult
from castui.notify import Dispatcher
from castui.probes import make_http_client
from castui.probes.http import tls_context

#: The monitor's step: fold target `key`'s results in (with how long the round took).
Complete = Callable[[str, dict[str, ProbeResult], float | None], None]


class Schedule:
    """Runs the rounds of `targets` and each site's balancer reads, handing results over."""

    def __init__(self, config: Config, targets: Sequence[Target],
                 states: Mapping[str, TargetState], sites: Mapping[str, SiteWatch], *,
                 rng: random.Random, clock: Callable[[], datetime],
                 agent_tokens: Mapping[str, str], complete: Complete,
                 emit: Callable[[Event], None]) -> None:
        self.config = config
        self.targets = targets
        self.states = states
        self.sites = sites
        self._rng = rng
        self._clock = clock
        self._agent_tokens = dict(agent_tokens)
        self._complete = complete
        self._emit = emit
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Start the next round of every target at once instead of at its slot."""
        self._wake.set()

    @property
    def waking(self) -> bool:
        """Whether a `wake` is asked and the loops have not started their rounds yet."""
        return self._wake.is_set()

    async def run(self, *, rounds: int | None, duration: float | None,
                  stop: asyncio.Event | None, started: Callable[[], None],
                  dispatcher: Dispatcher | None) -> None:
        """Rounds until every target did `rounds`, `duration` passed, or `stop` is set.

        `started` is called once the probes are ready; `dispatcher` runs alongside.
        """
        d = self.config.defaults
        verify = tls_context(d.ca_file, d.tls_verify)
        runner = Runner(timeout=d.timeout, max_concurrency=d.max_concurrency,
                        http_client=lambda target: make_http_client(
                            verify=verify, max_connections=_connections(target)),
                        cert_warn_days=d.cert_warn_days, agent_tokens=self._agent_tokens,
                        verify=verify)
        started()
        if dispatcher is not None:
            notifying = asyncio.create_task(dispatcher.run(), name="castui:notify")
        if rounds is not None:
            work = [asyncio.create_task(self._sweeps(runner, rounds), name="castui:sweeps")]
        else:
            spread = self.config.defaults.interval / max(len(self.targets), 1)
            work = [asyncio.create_task(self._loop(runner, self.states[t.key], i * spread),
                                        name=f"castui:{t.key}")
                    for i, t in enumerate(self.targets)]
            work += [asyncio.create_task(self._balancer_loop(site), name=f"castui:{name}/lb")
                     for name, site in self.sites.items() if site.adapter is not None]
        all_work = asyncio.ensure_future(asyncio.gather(*work))
        waiters: list[asyncio.Future[Any]] = [all_work]
        if stop is not None:
            waiters.append(asyncio.ensure_future(stop.wait()))
        try:
            await asyncio.wait(waiters, timeout=duration, return_when=asyncio.FIRST_COMPLETED)
            if all_work.done() and not all_work.cancelled():
                all_work.result()  # re-raise what stopped the work (e.g. the history failing)
        finally:
            for task in (*work, *waiters):
                task.cancel()
            await asyncio.gather(*work, *waiters, return_exceptions=True)
            if dispatcher is not None:
                notifying.cancel()
                await asyncio.gather(notifying, return_exceptions=True)
            await runner.aclose()

    async def _sweeps(self, runner: Runner, rounds: int) -> None:
        loop = asyncio.get_running_loop()
        for done in range(1, rounds + 1):
            started = loop.time()
            sweep = await runner.sweep(self.targets)
            took = loop.time() - started
            for target, results in zip(self.targets, sweep, strict=True):
                self._complete(target.key, results, took)
            await asyncio.gather(*(self._read_balancer(site) for site in self.sites.values()
                                   if site.adapter is not None))
            if done < rounds:
                await asyncio.sleep(max(0.0, started + self.config.defaults.interval
                                        - loop.time()))

    async def _balancer_loop(self, site: SiteWatch) -> None:
        interval = self.config.defaults.interval
        await asyncio.sleep(self._rng.uniform(0, interval))
        while True:
            await self._read_balancer(site)
            await asyncio.sleep(interval)

    async def _read_balancer(self, site: SiteWatch) -> None:
        """One read of `site`'s balancer (bounded by its adapter's timeout), compared with
        castui's verdicts; an unreadable balancer is an event, never a node failure."""
        for event in await site.poll_balancer(self.states, self._clock()):
            self._emit(event)

    async def _loop(self, runner: Runner, state: TargetState, offset: float) -> None:
        """Rounds of one target at `offset` seconds into each interval."""
        loop = asyncio.get_running_loop()
        interval = self.config.defaults.interval
        grid = loop.time() + offset  # the target's slots: grid + k * interval
        slot = grid
        await asyncio.sleep(offset)
        while True:
            started = loop.time()
            results = await runner.run_round(state.target)
            self._complete(state.target.key, results, loop.time() - started)
            slot += interval
            now = loop.time()
            if slot < now:  # the round overran its slot: start afresh, never burst
                slot = now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(slot - now, 0.0))
                self._wake.clear()
                now = loop.time()
                slot = grid + math.ceil((now - grid) / interval) * interval - interval


def _connections(target: Target) -> int:
    """httpx connections one round of `target` may open at once: its VIP samples and its agent
    (its HTTPS checks go over castui.probes.https's own connection)."""
    return max(1, sum(max(spec.count, 1) for spec in target.checks
                      if spec.kind in HTTPX_KINDS))
