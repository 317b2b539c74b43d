"""What every part of the report shares: the window it covers and how events carry facts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from castui.model.marks import Drill


@dataclass(frozen=True, slots=True)
class Window:
    """What the report covers: a drill's span, or `--since`/`--until`."""

    start: datetime
    end: datetime
    drill: Drill | None = None
    #: The drill has not ended: figures run up to `end` (the time of the report).
    running: bool = False
    #: A running drill whose recorder is gone was last observed then (see gaps.py).
    unobserved_since: datetime | None = None

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def data_time(data: Mapping[str, Any], key: str) -> datetime | None:
    """An ISO-8601 instant from an event's `data`, or None when absent or unreadable."""
    value = data.get(key)
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
