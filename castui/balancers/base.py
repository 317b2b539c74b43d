"""The boundary between castui and a load balancer: what it says about each server, and drain.

The engine only ever sees `ServerView`s and calls `LoadBalancerAdapter` methods, so a KEMP
LoadMaster or F5 adapter is one new module here that maps its own states onto HAProxy's words
(UP, DOWN, NOLB, MAINT, DRAIN and the transitional `UP 2/3` / `DOWN 1/2`), which operators
already know.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from castui.model.balancer import AdminState, ServerView


class LoadBalancerAdapter(Protocol):
    """What the engine needs from a balancer. Implementations never hang (they time out)."""

    name: str

    async def servers(self) -> list[ServerView]:
        """Every server of every backend; LbError (one line) when the balancer cannot be read."""
        ...

    async def set_state(self, backend: str, server: str, state: AdminState) -> None:
        """Put one server in `state`; LbError with the balancer's words if it refuses."""
        ...


def find_server(views: Iterable[ServerView], backend: str, server: str) -> ServerView | None:
    """The view of `backend/server`: an exact match first, then ignoring case (AD names are
    case-insensitive, so a node `cas1` may be configured as `CAS1` in the balancer)."""
    views = list(views)
    for view in views:
        if view.backend == backend and view.server == server:
            return view
    folded = (backend.casefold(), server.casefold())
    for view in views:
        if (view.backend.casefold(), view.server.casefold()) == folded:
            return view
    return None
