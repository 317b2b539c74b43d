"""A load balancer's words for its servers, shared by the adapters, the engine and the console.

HAProxy's vocabulary (UP, DOWN, NOLB, MAINT, DRAIN and the transitional `UP 2/3` / `DOWN 1/2`),
which operators already know; an adapter for another balancer maps its states onto these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: Admin states castui may ask a balancer for (HAProxy's `set server ... state` words).
AdminState = Literal["ready", "drain", "maint"]
ADMIN_STATES: tuple[AdminState, ...] = ("ready", "drain", "maint")


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
    #: The HTTP status the last layer-7 health check got (HAProxy's `check_code`).
    check_code: int | None = None

    @property
    def loose_check(self) -> str | None:
        """What is wrong with a health check that passes on a redirect, or None: a server UP
        on a 3xx is checked on a page that redirects (`/` answers 302 on Exchange 2013+),
        with a check that does not pin the status to 200."""
        if self.word != "UP" or self.check_code is None or not 300 <= self.check_code < 400:
            return None
        return (f"server {self.server} passes its health check on HTTP {self.check_code}: the "
                "check follows no healthcheck page (`/` redirects) and does not pin `http-check "
                "expect status 200`, so it would pass a node Exchange took out of service")

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
