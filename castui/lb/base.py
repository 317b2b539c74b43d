"""The boundary between castui and a load balancer: what it says about each server, and drain.

The engine only ever sees `ServerView`s and calls `LoadBalancerAdapter` methods, so a KEMP
LoadMaster or F5 adapter is one new module here that maps its own states onto HAProxy's words
(UP, DOWN, NOLB, MAINT, DRAIN and the transitional `UP 2/3` / `DOWN 1/2`), which operators
already know.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

#: Admin states castui may ask a balancer for (HAProxy's `set server ... state` words).
AdminState = Literal["ready", "drain", "maint"]
ADMIN_STATES: tuple[AdminState, ...] = ("ready", "drain", "maint")


class LbError(Exception):
    """The balancer could not be read or did not accept a command; the message is one line."""


@dataclass(frozen=True, slots=True)
class ServerView:
    """One server of one backend as the balancer sees it.

    `status` uses HAProxy's words: UP, `UP 2/3` (up, failing checks), DOWN, `DOWN 1/2` (down,
    passing checks), NOLB, DRAIN, MAINT (possibly with a suffix such as `MAINT (via x/y)`), or
    `no check`. The numbers are None when the balancer does not report them.
    """

    backend: str
    server: str
    status: str
    check_status: str | None = None
    current_sessions: int | None = None
    last_change_s: int | None = None
    downtime_s: int | None = None

    @property
    def word(self) -> str:
        """The state without its transitional counter or suffix: UP, DOWN, NOLB, DRAIN, MAINT."""
        return self.status.split(" ", 1)[0].upper() if self.status else ""

    @property
    def in_rotation(self) -> bool:
        """Would the balancer send a new connection there? (`UP 2/3` still gets them.)"""
        return self.word == "UP" or self.status.lower() == "no check"

    @property
    def admin(self) -> bool:
        """Held out on purpose by an operator (MAINT or DRAIN), not by its health checks, an
        agent (`DRAIN (agent)`) or a failed DNS resolution (`MAINT (resolution)`)."""
        return self.word in ("MAINT", "DRAIN") and not self.status.endswith(
            ("(agent)", "(resolution)"))


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
