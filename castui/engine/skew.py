"""Where the clients are: connection skew across a pool, and which nodes answer through the VIP.

After a failover the survivors carry everyone and Outlook clients stick to them; when the node
comes back nothing moves unless something makes it. These rules say when the load is skewed and
when a node that castui sees UP never answers clients through the VIP. Pure functions and small
state objects: figures in, events out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from castui.model.events import SUBJECT_VIP, Event, Kind

#: VIP rounds with answers in which an in-pool node never answered before it is worth a warning.
SKIPPED_ROUNDS = 10


@dataclass(frozen=True, slots=True)
class Skew:
    busiest: str
    share: float
    even_share: float
    total: int

    @property
    def ratio(self) -> float:
        return self.share / self.even_share

    def describe(self) -> str:
        return (f"{self.busiest} holds {self.share:.0%} of {self.total} connections "
                f"(even share {self.even_share:.0%})")


def measure_skew(connections: Mapping[str, int]) -> Skew | None:
    """The busiest node's share against an even share, over the in-pool nodes given."""
    total = sum(connections.values())
    if len(connections) < 2 or total <= 0:
        return None
    busiest = max(connections, key=lambda node: (connections[node], node))
    return Skew(busiest, connections[busiest] / total, 1 / len(connections), total)


@dataclass(slots=True)
class SkewWatch:
    """`pool_skewed` when the busiest node holds more than `ratio_max` x an even share of at
    least `min_total` connections; `pool_balanced` when it no longer does."""

    site: str
    ratio_max: float
    min_total: int
    skewed: bool = False
    since: datetime | None = None
    last: Skew | None = None

    def observe(self, connections: Mapping[str, int], now: datetime) -> Event | None:
        skew = measure_skew(connections)
        self.last = skew
        now_skewed = (skew is not None and skew.total >= self.min_total
                      and skew.ratio > self.ratio_max)
        if now_skewed == self.skewed:
            return None
        self.skewed = now_skewed
        if now_skewed:
            assert skew is not None
            self.since = now
            return Event(now, self.site, "pool", Kind.POOL_SKEWED, skew.describe(),
                         data={"busiest": skew.busiest, "share": round(skew.share, 3),
                               "connections": dict(connections)})
        duration = (now - self.since).total_seconds() if self.since else None
        self.since = None
        detail = skew.describe() if skew else "no connections to compare"
        return Event(now, self.site, "pool", Kind.POOL_BALANCED, detail, duration_s=duration,
                     data={"connections": dict(connections)})


@dataclass(slots=True)
class VipSampling:
    """Which nodes answer through the VIP (X-FEServer), round after round."""

    site: str
    answered: dict[str, int] = field(default_factory=dict)
    unseen_rounds: dict[str, int] = field(default_factory=dict)
    warned: set[str] = field(default_factory=set)

    def observe(self, answered_by: Mapping[str, int], in_pool: set[str],
                now: datetime) -> list[Event]:
        """Fold one round of samples in; warn once per node that keeps never answering."""
        self.answered = dict(answered_by)
        if not answered_by:  # the VIP answered nobody: vip_down covers that
            return []
        events = []
        for node in sorted(in_pool):
            seen = answered_by.get(node, 0) > 0
            self.unseen_rounds[node] = 0 if seen else self.unseen_rounds.get(node, 0) + 1
            if seen and node in self.warned:
                self.warned.discard(node)
            elif self.unseen_rounds[node] >= SKIPPED_ROUNDS and node not in self.warned:
                self.warned.add(node)
                events.append(Event(
                    now, self.site, SUBJECT_VIP, Kind.VIP_SKIPS_NODE,
                    f"{node} is in the pool but answered none of the last "
                    f"{self.unseen_rounds[node]} rounds of requests through the VIP",
                    data={"node": node}))
        for node in set(self.unseen_rounds) - in_pool:
            del self.unseen_rounds[node]
            self.warned.discard(node)
        return events


def match_node(server: str, nodes: Mapping[str, str | None]) -> str | None:
    """The node an X-FEServer value names: its name, or its fqdn's first label, any case."""
    wanted = server.strip().lower().split(".")[0]
    for name, fqdn in nodes.items():
        if wanted in (name.lower(), (fqdn or "").lower().split(".")[0]):
            return name
    return None
