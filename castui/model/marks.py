"""Drills and maintenance marks: plain values the engine applies, the history keeps and the
front-ends show. `covers` is the one rule for which events a mark explains."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from castui.model.events import SUBJECT_DNS, SUBJECT_VIP


@dataclass(frozen=True, slots=True)
class Recorder:
    """The castui process keeping a drill's record: who to ask whether it still observes.

    `started` is the process's own start time, so a pid reused by a later process is not
    taken for it; `seen` is its last heartbeat.
    """

    pid: int
    host: str
    started: datetime
    seen: datetime

    def describe(self) -> str:
        """`pid 4242 on cas-admin01`: how a one-line message names it."""
        return f"pid {self.pid} on {self.host}"


@dataclass(frozen=True, slots=True)
class Drill:
    """A named failover drill: its figures are measured from the events between its ends.

    `recorder` is None for a drill from before recorders were kept (a version 2 history).
    """

    id: int
    name: str
    started: datetime
    ended: datetime | None = None
    started_by: str = ""
    recorder: Recorder | None = None
    ended_by: str = ""


def mark_target(site: str, node: str | None) -> str:
    """`Site-A/CAS2`, or `Site-A` for a whole site: how a maintenance mark's target is named
    (`castui maint` reads it back the same way)."""
    return site if node is None else f"{site}/{node}"


@dataclass(frozen=True, slots=True)
class MaintenanceMark:
    """A node (or, with `node` None, a whole site) expected to drop until `ends`."""

    id: int
    site: str
    node: str | None
    starts: datetime
    ends: datetime
    set_by: str = ""
    reason: str = ""
    cleared: datetime | None = None

    @property
    def target(self) -> str:
        """`Site-A/CAS2`, or `Site-A` for the whole site: the form `castui maint` takes."""
        return mark_target(self.site, self.node)

    def until(self) -> datetime:
        """When the mark stops applying: its end, or when it was cleared if earlier."""
        return self.ends if self.cleared is None else min(self.ends, self.cleared)

    def active(self, when: datetime) -> bool:
        return self.starts <= when < self.until()

    def covers(self, site: str, subject: str, when: datetime) -> bool:
        """Whether an event about `subject` of `site` at `when` falls inside this mark.

        A site mark covers its nodes, its VIP and its DNS answer; a node mark only the node.
        Names compare ignoring case, as Active Directory's do.
        """
        if site.casefold() != self.site.casefold() or not self.active(when):
            return False
        if self.node is None:
            return True
        return (subject.casefold() == self.node.casefold()
                and subject not in (SUBJECT_VIP, SUBJECT_DNS))


@dataclass(frozen=True, slots=True)
class ExchangeMaintenance:
    """Exchange's own maintenance state on a node, as its agent reads it: ServerWideOffline
    Inactive or HubTransport Draining/Inactive, and the requesters who asked for it. Like a
    castui mark, it explains the node's drops."""

    component: str
    state: str
    requesters: tuple[str, ...]

    def describe(self) -> str:
        """`Exchange says ServerWideOffline Inactive (Maintenance)`: why a drop is expected."""
        by = f" ({', '.join(self.requesters)})" if self.requesters else ""
        return f"Exchange says {self.component} {self.state}{by}"
