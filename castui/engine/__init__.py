"""The engine: scheduling, pool state, events and status rules. No UI, no printing."""

from castui.engine.monitor import Monitor
from castui.engine.snapshot import EstateSnapshot, SiteView, TargetView
from castui.model.events import Event, Kind
from castui.model.status import Status

__all__ = ["EstateSnapshot", "Event", "Kind", "Monitor", "SiteView", "Status", "TargetView"]
