"""Compare castui's verdict on a node with its load balancer's, and report lasting disagreement.

Windows NLB is not service-aware and keeps sending clients to a half-dead node; a balancer can
also drop a node castui sees healthy. Both sides need a few checks to notice a change, so a
disagreement is reported only once it outlasts a grace period (by default 2 x interval x fall),
and its end is reported as soon as the two agree again. Pure: no I/O, the caller brings the
time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from castui.model.balancer import ServerView
from castui.model.events import Event, Kind
from castui.model.times import duration

#: castui states a node should (not) receive new clients in; "unknown" is no verdict at all.
_SHOULD_ROUTE = frozenset({"up"})
_SHOULD_NOT_ROUTE = frozenset({"down", "degraded"})


def disagrees(castui_state: str, view: ServerView) -> bool:
    """Does the balancer route where castui would not, or not where castui would?

    Without castui's verdict (`unknown`, before the first rounds) there is nothing to disagree
    with.
    """
    if castui_state in _SHOULD_ROUTE:
        return not view.in_rotation
    return castui_state in _SHOULD_NOT_ROUTE and view.in_rotation


def default_grace(interval: float, fall: int) -> float:
    """Seconds a disagreement must last before it is reported: 2 x interval x fall."""
    return 2 * interval * fall


@dataclass(slots=True)
class LbComparison:
    """One node's comparison state, kept between observations."""

    site: str
    node: str
    grace_s: float
    #: When the current disagreement began (None while the two agree).
    since: datetime | None = None
    #: True once `lb_disagrees` was raised for the current disagreement.
    reported: bool = False

    def observe(self, castui_state: str, lb_view: ServerView | None,
                now: datetime) -> Event | None:
        """Fold one pair of verdicts in; `lb_disagrees` or `lb_agrees` when one is due.

        `castui_state` is the pool word (up, down, degraded, unknown); `lb_view` None means the
        balancer could not be read. Without a verdict from both sides nothing changes.
        """
        if lb_view is None or castui_state not in _SHOULD_ROUTE | _SHOULD_NOT_ROUTE:
            return None
        if not disagrees(castui_state, lb_view):
            event = self._agreed(castui_state, lb_view, now) if self.reported else None
            self.since, self.reported = None, False
            return event
        if self.since is None:
            self.since = now
        lasted = (now - self.since).total_seconds()
        if self.reported or lasted <= self.grace_s:
            return None
        self.reported = True
        return Event(now, self.site, self.node, Kind.LB_DISAGREES,
                     self._disagreement(castui_state, lb_view, lasted),
                     data=_data(castui_state, lb_view))

    def _disagreement(self, castui_state: str, view: ServerView, lasted: float) -> str:
        ours = f"castui sees it {castui_state.upper()} for {duration(lasted, style='whole')}"
        if view.in_rotation:
            return f"balancer still routes to {self.node} ({_verdict(view)}), {ours}"
        if view.admin:
            return f"balancer holds {self.node} out ({_verdict(view)}, set by an operator), {ours}"
        return f"balancer dropped {self.node} ({_verdict(view)}), {ours}"

    def _agreed(self, castui_state: str, view: ServerView, now: datetime) -> Event:
        lasted = (now - self.since).total_seconds() if self.since else None
        detail = (f"balancer and castui agree on {self.node} again: balancer {_verdict(view)}, "
                  f"castui {castui_state.upper()}")
        return Event(now, self.site, self.node, Kind.LB_AGREES, detail, duration_s=lasted,
                     data=_data(castui_state, view))


def _verdict(view: ServerView) -> str:
    return f"{view.status}, {view.check_status}" if view.check_status else view.status


def _data(castui_state: str, view: ServerView) -> dict[str, Any]:
    data: dict[str, Any] = {"castui": castui_state, "balancer": view.status,
                            "backend": view.backend, "server": view.server,
                            "in_rotation": view.in_rotation, "admin": view.admin}
    if view.check_status:
        data["check_status"] = view.check_status
    return data
