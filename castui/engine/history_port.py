"""What the engine needs of a history store, so the engine names no implementation.

castui.history.EventStore is the one implementation; front-ends open it and hand it to the
Monitor. Every method may raise castui.model.errors.HistoryError.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from castui.model.alerts import Alert
from castui.model.events import Event
from castui.model.marks import Drill, MaintenanceMark, Recorder


class HistoryStore(Protocol):
    """Events committed before anyone sees them; alerts, drills and maintenance marks."""

    def record(self, event: Event, *, alert: bool = False) -> int:
        """Commit `event`; the new row id (the alert id when `alert`)."""
        ...

    def events(self, *, since: datetime | None = None, until: datetime | None = None,
               site: str | None = None, limit: int | None = None,
               newest_first: bool = False) -> list[Event]: ...

    def alerts(self, *, since: datetime | None = None, until: datetime | None = None,
               limit: int | None = None) -> list[Alert]: ...

    def acknowledge(self, alert_ids: Iterable[int] | None, when: datetime,
                    by: str) -> list[int]: ...

    def start_drill(self, name: str, when: datetime, by: str,
                    recorder: Recorder | None = None) -> Drill: ...

    def resume_drill(self, drill: Drill, recorder: Recorder, when: datetime) -> Drill: ...

    def beat_drill(self, drill_id: int, recorder: Recorder, when: datetime) -> bool: ...

    def end_drill(self, when: datetime, *, by: str = "",
                  drill_id: int | None = None) -> Drill | None: ...

    def open_drill(self) -> Drill | None: ...

    def set_maintenance(self, site: str, node: str | None, starts: datetime, ends: datetime,
                        *, by: str, reason: str = "") -> MaintenanceMark: ...

    def clear_maintenance(self, when: datetime, site: str | None = None,
                          node: str | None = None) -> list[MaintenanceMark]: ...

    def maintenance(self, *, since: datetime | None = None,
                    until: datetime | None = None) -> list[MaintenanceMark]: ...
