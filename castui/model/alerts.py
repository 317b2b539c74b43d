"""Alerts as values: an event that paged someone, and its acknowledgement.

Which events raise alerts is the engine's rule (castui.engine.alerts); this is only the record
every layer passes around, the history stores and the front-ends show.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from castui.model.events import Event, Kind

Severity = Literal["critical", "warning"]
#: Alerts about something clients lose now (a node out of the pool, the VIP down, DNS
#: failing); every other alert is a warning (the console's red or yellow toast).
CRITICAL_KINDS = frozenset({Kind.NODE_DOWN, Kind.VIP_DOWN, Kind.DNS_FAILED})


@dataclass(slots=True)
class Alert:
    """`id` is the alert's event row id in the history (a counter without one)."""

    id: int
    event: Event
    acked_at: datetime | None = None
    acked_by: str | None = None
    #: When the condition it reported ended (a node back in pool, the VIP up again); None
    #: while it goes on. The engine's rule (castui.engine.alerts), not stored: replayed.
    resolved_at: datetime | None = None

    @property
    def acknowledged(self) -> bool:
        return self.acked_at is not None

    @property
    def severity(self) -> Severity:
        return "critical" if self.event.kind in CRITICAL_KINDS else "warning"
