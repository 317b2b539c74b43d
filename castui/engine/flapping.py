"""Flapping: a node that keeps changing state raises one `node_flapping` alert, not a storm.

Each state change of a node (out of the pool, back, degraded, recovered) is counted; the state
found at start-up (`at_start`) is not a change, and the changes of one round (`node_up` with
`node_degraded`, at the same instant) count as one. `changes` of them within `window_s` seconds
mark the node flapping. While it flaps its changes are still recorded and shown, flagged
`flapping`, but raise no alert of their own. It clears once the node has kept one state for
`quiet_s` seconds (`node_flapping_cleared`). Pure: the caller brings the time.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from castui.model.events import NODE_CHANGES, Event, Kind
from castui.model.times import duration


@dataclass(slots=True)
class _Node:
    times: deque[datetime] = field(default_factory=deque)
    flapping_since: datetime | None = None


class FlapWatch:
    """Counts state changes per node; says when one starts and stops flapping."""

    def __init__(self, changes: int, window_s: float, quiet_s: float) -> None:
        self.changes = changes
        self.window = timedelta(seconds=window_s)
        self.quiet = timedelta(seconds=quiet_s)
        self._nodes: dict[tuple[str, str], _Node] = {}

    def reset(self) -> None:
        """Forget every node's changes (a scripted lab loop starting again: not flapping)."""
        self._nodes.clear()

    def flapping(self, site: str, node: str) -> bool:
        found = self._nodes.get((site, node))
        return found is not None and found.flapping_since is not None

    def observe(self, event: Event) -> Event | None:
        """Count `event` if it is a state change; `node_flapping` when this one tips it over."""
        if event.kind not in NODE_CHANGES or event.data.get("at_start"):
            return None
        node = self._nodes.setdefault((event.site, event.subject), _Node())
        if node.times and node.times[-1] == event.time:
            return None  # the same round's change, seen already
        node.times.append(event.time)
        while node.times and event.time - node.times[0] > self.window:
            node.times.popleft()
        if node.flapping_since is not None or len(node.times) < self.changes:
            return None
        node.flapping_since = node.times[0]
        within = duration((event.time - node.times[0]).total_seconds(), style="words")
        quiet = duration(self.quiet.total_seconds(), style="words")
        return Event(event.time, event.site, event.subject, Kind.NODE_FLAPPING,
                     f"{len(node.times)} state changes in {within}; further changes "
                     f"raise no alert until it is stable for {quiet}",
                     data={"changes": len(node.times),
                           "window_s": self.window.total_seconds()})

    def tick(self, site: str, node: str, now: datetime) -> Event | None:
        """`node_flapping_cleared` once a flapping node has been quiet long enough."""
        found = self._nodes.get((site, node))
        if found is None or found.flapping_since is None or not found.times:
            return None
        last = found.times[-1]
        if now - last < self.quiet:
            return None
        lasted = (last - found.flapping_since).total_seconds()
        found.flapping_since = None
        found.times.clear()
        return Event(now, site, node, Kind.NODE_FLAPPING_CLEARED,
                     f"stable for {duration(self.quiet.total_seconds(), style='words')}, "
                     "no longer flapping",
                     duration_s=lasted)
