"""The report's figures as typed values: what `measure` computes and every format renders.

Kept apart from the arithmetic (measure.py) so a renderer reads what a figure means without
wading through how it is computed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from castui.model.marks import MaintenanceMark
from castui.report.facts import Window
from castui.report.gaps import Gap
from castui.report.lanes import Lane


class LoadStatus(StrEnum):
    """Whether clients spread back onto a node after it returned."""

    BALANCED_AT_RETURN = "balanced at return"
    BACK_IN_BALANCE = "back in balance"
    STILL_SKEWED = "still skewed at end"
    NO_COUNTS = "no connection counts"
    NOT_BACK = "not back in pool"


@dataclass(frozen=True, slots=True)
class NodeDrop:
    """A node castui took out of the pool during the window (not one already out at start)."""

    site: str
    node: str
    first_failed: datetime | None
    declared_out: datetime
    detection_s: float | None
    lb_marked_down: datetime | None
    lb_detection_s: float | None
    back_in_pool: datetime | None
    out_of_pool_s: float
    expected: bool
    flapping: bool
    load: LoadStatus
    load_back_s: float | None
    detail: str
    #: Found out of the pool when castui resumed after a gap: it went out while nobody
    #: observed, so when (and its detection time) is unknown.
    unobserved: bool = False

    @property
    def ongoing(self) -> bool:
        """Still out of the pool when the window ended."""
        return self.back_in_pool is None


@dataclass(frozen=True, slots=True)
class OutAtStart:
    """A node already out of the pool when watching began: not a drop, so no detection time.

    `since` is when it went out if an event says so (an `at_start` node_down's `out_since` or
    its time, or a `node_up`'s time minus its `duration_s`), else None. A drill's start
    picture (at_start.py) adds the nodes already out when the drill began.
    """

    site: str
    node: str
    since: datetime | None
    back_in_pool: datetime | None


@dataclass(frozen=True, slots=True)
class Outage:
    """An interval in the window; `ongoing` when it had not ended by the window's end."""

    start: datetime
    end: datetime
    duration_s: float
    ongoing: bool


@dataclass(frozen=True, slots=True)
class VipFigures:
    """Client-visible outages (any failed VIP probe) and castui's own vip_down verdicts."""

    outages: tuple[Outage, ...]
    down_spells: tuple[Outage, ...]

    @property
    def total_s(self) -> float:
        return sum(o.duration_s for o in self.outages)

    @property
    def longest_s(self) -> float:
        return max((o.duration_s for o in self.outages), default=0.0)


@dataclass(frozen=True, slots=True)
class DnsChange:
    """One resolver's answer for the array FQDN changing; `after_s` from the window's start."""

    server: str
    time: datetime
    old: tuple[str, ...]
    new: tuple[str, ...]
    after_s: float


@dataclass(frozen=True, slots=True)
class FlapSpell:
    """A `node_flapping` alert until its `node_flapping_cleared` (or the window's end)."""

    site: str
    node: str
    start: datetime
    end: datetime
    ongoing: bool
    changes: int | None
    window_s: float | None


@dataclass(frozen=True, slots=True)
class AlertEntry:
    """An alert raised in the window and who acknowledged it, when."""

    id: int
    time: datetime
    site: str
    subject: str
    kind: str
    detail: str
    acked_at: datetime | None
    acked_by: str | None


@dataclass(frozen=True, slots=True)
class SiteFigures:
    name: str
    drops: tuple[NodeDrop, ...]
    out_at_start: tuple[OutAtStart, ...]
    vip: VipFigures
    dns_changes: tuple[DnsChange, ...]
    flapping: tuple[FlapSpell, ...]
    maintenance: tuple[MaintenanceMark, ...]

    @property
    def worst_detection_s(self) -> float | None:
        return max((d.detection_s for d in self.drops if d.detection_s is not None),
                   default=None)

    @property
    def resolvers_changed(self) -> tuple[str, ...]:
        return tuple(sorted({c.server for c in self.dns_changes}))


@dataclass(frozen=True, slots=True)
class Report:
    window: Window
    generated: datetime
    sites: tuple[SiteFigures, ...]
    alerts: tuple[AlertEntry, ...]
    lanes: tuple[Lane, ...]
    #: Alerts beyond the report's bound, not listed.
    alerts_left_out: int = 0
    #: The window held more events than the report reads; figures cover the first ones.
    events_truncated: bool = False
    #: Stretches nobody observed (a drill's recorder was gone): no figure covers them.
    gaps: tuple[Gap, ...] = ()

    @property
    def not_observed_s(self) -> float:
        return sum(gap.duration_s for gap in self.gaps)
