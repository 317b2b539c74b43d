"""`d` / `D`: drain / ready the selected node on its site's balancer, once the user said yes.

A drain comes with an offer (enter takes it) to mark the node in maintenance for the usual
span, so what follows (the node emptied, perhaps patched and rebooted) is expected: no alert.
Whether castui may (a balancer configured, `lb_admin = true`) is the engine's rule; the engine
talks to the balancer and records the change as an `lb_admin` event.
"""

from __future__ import annotations

from castui.config.model import Balancer
from castui.model.balancer import AdminState
from castui.model.errors import LbError
from castui.ui.cells import lb_question
from castui.ui.flows.base import Flow
from castui.ui.screens.confirm import ConfirmScreen
from castui.ui.screens.maintenance import DEFAULT_SPAN, read_span
from castui.ui.words import safe

#: The worker group of balancer changes: a failure there is a bug, reported, never fatal.
LB_GROUP = "lb"


class BalancerFlow(Flow):
    def ask(self, site: str, node: str, lb: Balancer | None, state: AdminState) -> None:
        if (why := self.monitor.lb_refusal(site)) is not None:
            self.warn(safe(why, 300), title=f"{state} {safe(node, 40)}")
            return
        assert lb is not None  # the engine refuses a site without one

        def answered(yes: bool | None) -> None:
            if yes:
                self.app.run_worker(self._set(site, node, state), group=LB_GROUP,
                                    exit_on_error=False)

        self.app.push_screen(ConfirmScreen(lb_question(state, node, lb)), answered)

    def _offer_mark(self, site: str, node: str) -> None:
        """After a drain the balancer accepted: mark the node in maintenance too? (enter: yes)
        Not offered without a history to keep marks in, nor when a mark covers it already."""
        if self.monitor.store is None or \
                self.monitor.maintenance_for(site, node, self.monitor.now()) is not None:
            return

        def mark(yes: bool | None) -> None:
            if yes:
                self._mark(site, node)

        self.app.push_screen(ConfirmScreen(
            f"{safe(node, 40)} is draining. Also mark it in maintenance for {DEFAULT_SPAN} "
            "(its drops are then expected: no alert)?", default_yes=True), mark)

    def _mark(self, site: str, node: str) -> None:
        seconds, _ = read_span(DEFAULT_SPAN)
        assert seconds is not None  # the default span is within the desk's limits
        try:
            self.monitor.set_maintenance(site, node, seconds, "drained from castui")
        except ValueError as err:  # the desk's refusal
            self.warn(safe(err, 300), title=f"maintenance {safe(node, 40)}")
            return
        self.changed()

    async def _set(self, site: str, node: str, state: AdminState) -> None:
        try:
            await self.monitor.set_lb_state(site, node, state)
        except LbError as err:
            self.app.notify(safe(err, 300), title=f"{state} {safe(node, 40)} failed",
                            severity="error", markup=False)
            return
        self.app.notify(f"{safe(node, 40)}: {state} accepted by the balancer", markup=False)
        if state == "drain":
            self._offer_mark(site, node)
