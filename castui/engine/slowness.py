"""Slow answers: a passing check slower than `slow_ms` is slow, and a node whose pool checks
stay slow for `fall` rounds in a row gets one `node_slow` event (not an alert: it still
answers). It may come again once a round was not slow."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from castui.model.events import Event, Kind
from castui.model.results import ProbeResult
from castui.model.times import latency


def is_slow(result: ProbeResult | None, threshold_ms: float) -> bool:
    """A passing check that took longer than `threshold_ms`."""
    return result is not None and result.ok and result.latency_ms is not None \
        and result.latency_ms > threshold_ms


@dataclass(slots=True)
class SlowWatch:
    """Rounds in a row each node's pool checks were slow, and whether it was said."""

    threshold_ms: float
    rounds: int
    _runs: dict[tuple[str, str], int] = field(default_factory=dict)
    _said: set[tuple[str, str]] = field(default_factory=set)

    def observe(self, site: str, node: str, pool: Iterable[tuple[str, ProbeResult | None]],
                now: datetime) -> Event | None:
        """One round of `node`'s pool checks (name, result); `node_slow` when it tips over."""
        key = (site, node)
        slow = [(name, result) for name, result in pool if is_slow(result, self.threshold_ms)]
        if not slow:
            self._runs.pop(key, None)
            self._said.discard(key)
            return None
        self._runs[key] = run = self._runs.get(key, 0) + 1
        if run < self.rounds or key in self._said:
            return None
        self._said.add(key)
        took = ", ".join(f"{name} {latency(result.latency_ms, style='compact')}"
                         for name, result in slow if result is not None)
        limit = latency(self.threshold_ms, style="compact")
        return Event(now, site, node, Kind.NODE_SLOW,
                     f"pool checks slower than {limit} for {run} rounds: {took}",
                     data={"slow_ms": self.threshold_ms, "rounds": run,
                           "checks": [name for name, _ in slow]})
