"""`r`: start a named drill, or end the running one (perhaps one a previous run left open)
once the user said yes. The engine records both ends; the report measures between them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import tzinfo

from textual.app import App

from castui.engine.monitor import Monitor
from castui.model.errors import HistoryError
from castui.model.times import duration
from castui.ui.flows.base import Flow
from castui.ui.screens.confirm import ConfirmScreen
from castui.ui.screens.drill import DrillScreen, default_name
from castui.ui.words import safe


class DrillFlow(Flow):
    def __init__(self, app: App[int], monitor: Monitor, changed: Callable[[], None],
                 local_tz: tzinfo | None) -> None:
        super().__init__(app, monitor, changed)
        self.local_tz = local_tz

    def ask(self) -> None:
        if self.monitor.store is None:
            self.app.notify("drills need the history database", severity="warning")
            return
        drill = self.monitor.drill
        if drill is None:
            name = default_name(self.monitor.now(), self.local_tz)
            self.app.push_screen(DrillScreen(name), self._start)
            return
        ran = duration((self.monitor.now() - drill.started).total_seconds(), style="compact")
        who = f", started by {safe(drill.started_by, 40)}" if drill.started_by else ""
        question = (f"End drill '{safe(drill.name, 60)}' (running {ran}{who})? Its figures "
                    "stop here.")

        def answered(yes: bool | None) -> None:
            if yes:
                self._end()

        self.app.push_screen(ConfirmScreen(question), answered)

    def _start(self, name: str | None) -> None:
        if name is None:
            return
        try:
            self.monitor.start_drill(name)
        except HistoryError as err:
            self.refused("drill", err)
            return
        self.app.notify(f"drill '{safe(name, 60)}' started", markup=False)
        self.changed()

    def _end(self) -> None:
        try:
            drill = self.monitor.end_drill()
        except HistoryError as err:
            self.refused("drill", err)
            return
        if drill is not None:
            lasted = duration((self.monitor.now() - drill.started).total_seconds(),
                              style="compact")
            self.app.notify(f"drill '{safe(drill.name, 60)}' ended after {lasted}",
                            markup=False)
        self.changed()
