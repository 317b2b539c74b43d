"""Alert rules: which events page a person, and their acknowledgement.

They live in the engine so every front-end agrees: `watch --format jsonl` marks the same events
`"alert": true` that the console toasts.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from castui.engine.events import Event, Kind

#: A node leaving the pool, a VIP down, the DNS answer changing, failing or splitting between
#: resolvers, a node degrading, the balancer disagreeing with castui about a node.
ALERTING_KINDS = frozenset({Kind.NODE_DOWN, Kind.VIP_DOWN, Kind.DNS_CHANGED, Kind.DNS_FAILED,
                            Kind.DNS_SPLIT, Kind.NODE_DEGRADED, Kind.LB_DISAGREES})


def is_alert(event: Event) -> bool:
    return event.kind in ALERTING_KINDS


@dataclass(slots=True)
class Alert:
    id: int
    event: Event
    acked_at: datetime | None = None

    @property
    def acknowledged(self) -> bool:
        return self.acked_at is not None


class AlertBook:
    """The alerts raised so far (bounded), newest first, with their acknowledgement."""

    def __init__(self, limit: int = 1000) -> None:
        self._alerts: deque[Alert] = deque(maxlen=limit)
        self._next_id = 1

    def consider(self, event: Event) -> Alert | None:
        """Raise an alert for `event` if a rule says so."""
        if not is_alert(event):
            return None
        alert = Alert(self._next_id, event)
        self._next_id += 1
        self._alerts.appendleft(alert)
        return alert

    def ack(self, alert_id: int, now: datetime) -> bool:
        """Acknowledge one alert; False if unknown or already acknowledged."""
        for alert in self._alerts:
            if alert.id == alert_id and alert.acked_at is None:
                alert.acked_at = now
                return True
        return False

    def ack_all(self, now: datetime) -> int:
        count = 0
        for alert in self._alerts:
            if alert.acked_at is None:
                alert.acked_at = now
                count += 1
        return count

    @property
    def unacknowledged(self) -> int:
        return sum(1 for alert in self._alerts if alert.acked_at is None)

    def __iter__(self) -> Iterator[Alert]:
        return iter(self._alerts)

    def __len__(self) -> int:
        return len(self._alerts)
