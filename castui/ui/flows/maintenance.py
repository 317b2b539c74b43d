"""`M`: mark the selected node or its site in maintenance, or clear a mark.

The screen gathers the request; the engine's maintenance desk (the one `castui maint` uses)
says which marks are in force, checks the request against its rules and records it.
"""

from __future__ import annotations

from castui.engine.maintenance import MaintenanceError
from castui.model.errors import HistoryError
from castui.model.marks import mark_target
from castui.ui.flows.base import Flow
from castui.ui.screens.maintenance import MaintRequest, MaintScreen
from castui.ui.words import safe, until_text


class MaintenanceFlow(Flow):
    def ask(self, site: str, node: str) -> None:
        """The screen for `node` of `site`, showing the marks in force or to come on either."""
        if self.monitor.store is None:
            self.app.notify("maintenance marks need the history database", severity="warning")
            return
        try:
            marks = self.monitor.maintenance_at(site, node)
        except HistoryError as err:
            self.refused("maintenance", err)
            return

        def answered(request: MaintRequest | None) -> None:
            if request is not None:
                self._apply(site, request)

        self.app.push_screen(MaintScreen(site, node, marks, self.monitor.now()), answered)

    def _apply(self, site: str, request: MaintRequest) -> None:
        target = safe(mark_target(site, request.node), 80)
        try:
            if request.action == "clear":
                cleared = self.monitor.clear_maintenance(site, request.node)
                said = (f"maintenance of {target} cleared" if cleared
                        else f"{target} had no maintenance mark to clear")
            else:
                mark = self.monitor.set_maintenance(site, request.node, request.seconds,
                                                    request.reason)
                until = until_text(mark.until(), self.monitor.now(), short=False)
                said = f"{target} in maintenance until {until} UTC"
        except (HistoryError, MaintenanceError) as err:
            self.refused("maintenance", err)
            return
        self.app.notify(said, markup=False)
        self.changed()
