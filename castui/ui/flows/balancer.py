"""`d` / `D`: drain / ready the selected node on its site's balancer, once the user said yes.

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

    async def _set(self, site: str, node: str, state: AdminState) -> None:
        try:
            await self.monitor.set_lb_state(site, node, state)
        except LbError as err:
            self.app.notify(safe(err, 300), title=f"{state} {safe(node, 40)} failed",
                            severity="error", markup=False)
            return
        self.app.notify(f"{safe(node, 40)}: {state} accepted by the balancer", markup=False)
