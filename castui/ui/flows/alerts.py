"""`a` / `A`: acknowledge the selected alert, or all of them, through the engine (stored
first, so an acknowledgement survives a restart)."""

from __future__ import annotations

from castui.ui.flows.base import Flow
from castui.ui.widgets.alert_list import AlertList


class AcknowledgeFlow(Flow):
    def one(self, alerts: AlertList) -> None:
        """The alert under the cursor; then the cursor moves to the next unacknowledged."""
        alert_id = alerts.selected_id()
        if alert_id is None or not self.monitor.acknowledge([alert_id]):
            self.app.notify("no unacknowledged alert selected", severity="warning")
            return
        self.changed()
        alerts.select_next_unacked()

    def all(self) -> None:
        count = self.monitor.acknowledge(None)
        self.app.notify(f"{count} alert{'s' if count != 1 else ''} acknowledged")
        self.changed()
