"""Alert rules: which events page a person, and their acknowledgement.

They live in the engine so every front-end agrees: `watch --format jsonl` marks the same events
`"alert": true` that the console toasts. An event raises an alert when its kind is alerting and
nothing explains it: not a node or site in maintenance, not one more change of a flapping node
(that node raised one `node_flapping` instead).
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


def is_alert(event: Event) -> bool:
    """Whether `event` pages someone: an alerting kind, not expected, not part of a flap."""
    return (event.kind in ALERTING_KINDS and not event.data.get("maintenance")
            and not event.data.get("flapping"))


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

    def get(self, alert_id: int) -> Alert | None:
        return next((alert for alert in self._alerts if alert.id == alert_id), None)

    @property
    def unacknowledged(self) -> int:
        return sum(1 for alert in self._alerts if alert.acked_at is None)

    def __iter__(self) -> Iterator[Alert]:
        return iter(self._alerts)

    def __len__(self) -> int:
        return len(self._alerts)
