"""Maintenance marks: the rules every front-end goes through, in one place.

The console's `M` (through the Monitor) and `castui maint` (with only a history file and,
perhaps, the config) both call this desk, so they cannot disagree on what a target is, how long
a mark may last, or which marks are in force. A mark set or cleared is recorded as a
`maint_set` / `maint_cleared` event through the caller's `record` (the Monitor's `emit`, or the
store's own `record` when no monitor runs).

Exchange's own maintenance (ServerWideOffline Inactive, HubTransport Draining), which a node's
agent reports, explains a node's drops the same way: `exchange_maintenance` is that rule, and
`left_inactive` the finding a failed CU leaves behind.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from castui.config.model import Config
from castui.engine.history_port import HistoryStore
from castui.model.events import Event, Kind
from castui.model.exchange import ALWAYS_INACTIVE, HUB_TRANSPORT, SERVER_WIDE_OFFLINE
from castui.model.marks import ExchangeMaintenance, MaintenanceMark
from castui.model.text import clean
from castui.model.times import iso

#: Longer than this is not maintenance but an outage somebody forgot.
MAX_MAINTENANCE = timedelta(days=7)
#: A mark's reason goes into the console, events and reports: one bounded line.
REASON_MAX = 200


class MaintenanceError(ValueError):
    """A request the rules refuse, in one line for the user."""


class TooLong(MaintenanceError):
    """A mark longer than MAX_MAINTENANCE."""


@dataclass(frozen=True, slots=True)
class MarksAt:
    """The marks in force or to come on one node (`node`) and on its whole site (`site`)."""

    node: tuple[MaintenanceMark, ...]
    site: tuple[MaintenanceMark, ...]


def parse_target(text: str) -> tuple[str, str | None]:
    """(site, node or None) from `SITE` or `SITE/NODE`."""
    site, _, node = text.partition("/")
    if not site or text.endswith("/") or "/" in node:
        raise MaintenanceError(f"{clean(text, 80)!r} is not SITE or SITE/NODE")
    return site, node or None


def check_span(span: timedelta) -> None:
    """MaintenanceError unless `span` is more than nothing and at most MAX_MAINTENANCE."""
    if span <= timedelta(0):
        raise MaintenanceError("the duration must be more than 0s")
    if span > MAX_MAINTENANCE:
        raise TooLong(f"at most {MAX_MAINTENANCE.days}d; clear and set it again if it really "
                      "lasts longer")


def resolve_target(config: Config | None, site: str,
                   node: str | None = None) -> tuple[str, str | None]:
    """The configured spelling of `site` (and `node`), names compared ignoring case as Active
    Directory's are; MaintenanceError when the config has no such site or node. Without a
    config any name is taken as given."""
    if config is None:
        return site, node
    found = next((s for s in config.sites if s.name.casefold() == site.casefold()), None)
    if found is None:
        where = str(config.path) if config.path else "the config"
        known = ", ".join(s.name for s in config.sites)
        raise MaintenanceError(f"no site {clean(site, 60)!r} in {where} (sites: {known})")
    if node is None:
        return found.name, None
    named = next((n.name for n in found.nodes if n.name.casefold() == node.casefold()), None)
    if named is None:
        nodes = ", ".join(n.name for n in found.nodes)
        raise MaintenanceError(f"no node {clean(node, 60)!r} in {found.name} (nodes: {nodes})")
    return found.name, named


class MaintenanceDesk:
    """Sets, clears and lists marks in `store` as `user`.

    With `config` (the estate) targets are checked against its sites and nodes and take its
    spelling (names compare ignoring case, as Active Directory's do); without, any name is
    taken as given, which is all `castui maint` can do without `--config`.
    """

    def __init__(self, store: HistoryStore, config: Config | None, *, user: str,
                 clock: Callable[[], datetime],
                 record: Callable[[Event], object] | None = None) -> None:
        self.store = store
        self.config = config
        self.user = user
        self._clock = clock
        self._record = record if record is not None else store.record

    def target(self, site: str, node: str | None = None) -> tuple[str, str | None]:
        """The configured spelling of `site` (and `node`); MaintenanceError if there is none."""
        return resolve_target(self.config, site, node)

    def set(self, site: str, node: str | None, span: timedelta,
            reason: str = "") -> MaintenanceMark:
        """Mark a node (or, with `node` None, a whole site) in maintenance from now."""
        check_span(span)
        site, node = self.target(site, node)
        now = self._clock()
        mark = self.store.set_maintenance(site, node, now, now + span, by=self.user,
                                          reason=clean(reason, REASON_MAX))
        self._record(maintenance_event(mark, now, set_=True))
        return mark

    def clear(self, site: str | None = None, node: str | None = None) -> list[MaintenanceMark]:
        """End the marks in force or to come now: all, a site's (its nodes' too) or a node's."""
        if site is not None:
            site, node = self.target(site, node)
        now = self._clock()
        cleared = self.store.clear_maintenance(now, site, node)
        for mark in cleared:
            self._record(maintenance_event(mark, now, set_=False, by=self.user))
        return cleared

    def in_force(self) -> list[MaintenanceMark]:
        """Marks in force now or to come, oldest first."""
        return self.store.maintenance(since=self._clock())

    def at(self, site: str, node: str) -> MarksAt:
        """The marks in force or to come on `node` of `site`, and on the whole site."""
        marks = [m for m in self.in_force() if m.site.casefold() == site.casefold()]
        return MarksAt(
            tuple(m for m in marks if m.node is not None
                  and m.node.casefold() == node.casefold()),
            tuple(m for m in marks if m.node is None))


def maintenance_event(mark: MaintenanceMark, now: datetime, *, set_: bool,
                      by: str | None = None) -> Event:
    """`maint_set` / `maint_cleared` for `mark`, as every front-end records it."""
    subject = mark.node or "site"
    until = iso(mark.ends, "seconds")
    who = by or mark.set_by
    if set_:
        detail = f"{mark.target} in maintenance until {until} (set by {who}"
        detail += f": {mark.reason})" if mark.reason else ")"
        kind = Kind.MAINT_SET
    else:
        detail = f"{mark.target} maintenance cleared by {who}"
        kind = Kind.MAINT_CLEARED
    return Event(now, mark.site, subject, kind, detail,
                 data={"until": until, "by": who, "reason": mark.reason})


def exchange_maintenance(components: Mapping[str, Any] | None) -> ExchangeMaintenance | None:
    """Exchange's own maintenance on a node, from its agent's component states: ServerWideOffline
    Inactive (the node is out for every protocol) or, before that, HubTransport Draining or
    Inactive (the first step of the documented procedure). None when neither, or unknown."""
    if not components:
        return None
    for component, states in ((SERVER_WIDE_OFFLINE, ("Inactive",)),
                              (HUB_TRANSPORT, ("Draining", "Inactive"))):
        entry = components.get(component)
        if isinstance(entry, dict) and entry.get("state") in states:
            state = str(entry["state"])
            requesters = entry.get("requesters") or {}
            said = tuple(sorted(name for name, value in requesters.items() if value == state))
            return ExchangeMaintenance(component, state, said)
    return None


def left_inactive(components: Mapping[str, Any] | None) -> list[str]:
    """Components Inactive on a node that is not in Exchange maintenance, with who holds them:
    `EwsProxy (HealthApi)`. A failed CU leaves some so, and their pages stay out of service.
    Components on-premises servers keep Inactive for good are not findings."""
    if not components or exchange_maintenance(components) is not None:
        return []
    found = []
    for component, entry in components.items():
        if (not isinstance(entry, dict) or entry.get("state") != "Inactive"
                or component in ALWAYS_INACTIVE):
            continue
        requesters = entry.get("requesters") or {}
        said = sorted(name for name, value in requesters.items() if value == "Inactive")
        found.append(f"{component} ({', '.join(said)})" if said else str(component))
    return found
