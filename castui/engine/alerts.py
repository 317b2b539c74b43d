"""Alert rules: which events page a person, when an alert is resolved, and acknowledgement.

They live in the engine so every front-end agrees: `watch --format jsonl` marks the same events
`"alert": true` that the console lists. An event raises an alert when its kind is alerting and
nothing explains it: not a node or site in maintenance, not one more change of a flapping node
(that node raised one `node_flapping` instead), not a balancer state an operator set, not a
recovery (a DNS answer moving back to the site's own VIP), and not a condition already alerted
and not resolved since, in this history: a console restarted during an outage says it again as
an event, never as a new alert (the monitor marks such an event `ongoing`).

Each alerting kind reports a condition (CAS2 out of pool, Site-A's VIP down, a resolver
failing); the event that ends it (`node_up`, `vip_up`, `dns_recovered`...) marks its alert
resolved. Resolution is not stored: it is replayed from the history at start.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from datetime import datetime

from castui.engine.history_port import HistoryStore
from castui.model.alerts import Alert
from castui.model.events import Event, Kind

#: A node leaving the pool or flapping, a VIP down, the DNS answer changing, failing or
#: splitting between resolvers, a node degrading, the balancer disagreeing with castui.
ALERTING_KINDS = frozenset({Kind.NODE_DOWN, Kind.VIP_DOWN, Kind.DNS_CHANGED, Kind.DNS_FAILED,
                            Kind.DNS_SPLIT, Kind.NODE_DEGRADED, Kind.LB_DISAGREES,
                            Kind.NODE_FLAPPING, Kind.NODE_PARTIAL})


#: The condition each alerting kind reports.
_RAISES = {Kind.NODE_DOWN: "out", Kind.NODE_DEGRADED: "degraded", Kind.VIP_DOWN: "vip_down",
           Kind.DNS_CHANGED: "dns_moved", Kind.DNS_FAILED: "dns_failed",
           Kind.DNS_SPLIT: "dns_split", Kind.LB_DISAGREES: "lb", Kind.NODE_FLAPPING: "flapping",
           Kind.NODE_PARTIAL: "partial"}
#: The conditions each recovery ends (a `dns_changed` back to the VIP ends `dns_moved`).
_ENDS = {Kind.NODE_UP: ("out", "degraded", "partial"), Kind.NODE_RECOVERED: ("degraded",),
         Kind.NODE_PARTIAL_CLEARED: ("partial",),
         Kind.VIP_UP: ("vip_down",), Kind.DNS_RECOVERED: ("dns_failed",),
         Kind.DNS_AGREED: ("dns_split",), Kind.LB_AGREES: ("lb",),
         Kind.NODE_FLAPPING_CLEARED: ("flapping",)}
#: Conditions told apart per resolver.
_PER_SERVER = frozenset({"dns_failed", "dns_moved"})

Condition = tuple[str, str, str, str]


def _key(event: Event, name: str) -> Condition:
    server = str(event.data.get("server", "")) if name in _PER_SERVER else ""
    return (event.site, event.subject, name, server)


def condition(event: Event) -> Condition | None:
    """(site, subject, condition, resolver) an alerting event reports; None for others."""
    name = _RAISES.get(event.kind)
    return None if name is None else _key(event, name)


def ends(event: Event) -> list[Condition]:
    """The conditions `event` ends (a recovery); empty for any other event."""
    names = _ENDS.get(event.kind, ())
    if event.kind == Kind.DNS_CHANGED and event.data.get("recovery"):
        names = ("dns_moved",)
    return [_key(event, name) for name in names]


def operator_set(event: Event) -> bool:
    """A balancer disagreement that is an operator's own DRAIN / MAINT: expected, not news."""
    return event.kind == Kind.LB_DISAGREES and bool(event.data.get("admin")) \
        and not event.data.get("in_rotation")


def is_alert(event: Event) -> bool:
    """Whether `event` pages someone: an alerting kind, not expected, not part of a flap, not
    a recovery, not an operator's own balancer state, not a condition already alerted."""
    return (event.kind in ALERTING_KINDS and not event.data.get("maintenance")
            and not event.data.get("flapping") and not event.data.get("recovery")
            and not event.data.get("ongoing") and not operator_set(event))


def acknowledge(book: AlertBook, store: HistoryStore | None, alert_ids: Iterable[int] | None,
                when: datetime, by: str) -> int:
    """Acknowledge alerts (None: all) as `by`, stored first so it survives a restart: the one
    way every front-end acknowledges. Returns how many were newly acknowledged."""
    ids = None if alert_ids is None else list(alert_ids)
    if store is not None:
        store.acknowledge(ids, when, by)
    return len(book.ack(ids, when, by))


class AlertBook:
    """The alerts raised so far (bounded), newest first, with their acknowledgement."""

    def __init__(self, limit: int = 1000) -> None:
        self._alerts: deque[Alert] = deque(maxlen=limit)

    def add(self, alert: Alert) -> None:
        """Put `alert` in as the newest (loading history oldest first keeps the order)."""
        self._alerts.appendleft(alert)

    def ack(self, alert_ids: Iterable[int] | None, now: datetime, by: str) -> list[int]:
        """Acknowledge the given alerts (None: all); the ids that were not acknowledged yet."""
        wanted = None if alert_ids is None else set(alert_ids)
        done = []
        for alert in self._alerts:
            if alert.acked_at is None and (wanted is None or alert.id in wanted):
                alert.acked_at, alert.acked_by = now, by
                done.append(alert.id)
        return done

    def ongoing(self, event: Event) -> Alert | None:
        """The unresolved alert reporting the condition `event` reports, if there is one."""
        key = condition(event)
        if key is None:
            return None
        return next((alert for alert in self._alerts if alert.resolved_at is None
                     and condition(alert.event) == key), None)

    def resolve(self, event: Event) -> list[Alert]:
        """Mark resolved, at the event's time, the alerts of the conditions `event` ends."""
        keys = ends(event)
        if not keys:
            return []
        done = [alert for alert in self._alerts if alert.resolved_at is None
                and alert.event.time <= event.time and condition(alert.event) in keys]
        for alert in done:
            alert.resolved_at = event.time
        return done

    def replay(self, events: Iterable[Event]) -> None:
        """Resolve the alerts read back from the history by the events since (oldest first)."""
        for event in events:
            self.resolve(event)

    def get(self, alert_id: int) -> Alert | None:
        return next((alert for alert in self._alerts if alert.id == alert_id), None)

    @property
    def unacknowledged(self) -> int:
        return sum(1 for alert in self._alerts if alert.acked_at is None)

    def __iter__(self) -> Iterator[Alert]:
        return iter(self._alerts)

    def __len__(self) -> int:
        return len(self._alerts)
