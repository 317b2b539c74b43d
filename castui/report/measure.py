"""Drill figures from recorded events: pure functions, events and a window in, typed figures
(figures.py) out.

Why from the probe timestamps in `data` rather than the events' own times: an event is stamped
when the engine folds a round, a probe's start is when the fault became visible. Detection time
is the gap between the two. Every figure tolerates missing or odd data (a `node_up` whose
`node_down` came before the window, a field the engine did not fill): it is then left out or
marked unknown, never guessed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from castui.model.alerts import Alert
from castui.model.events import SUBJECT_DNS, SUBJECT_VIP, Event, Kind
from castui.model.marks import MaintenanceMark
from castui.model.text import clean
from castui.report.at_start import picture_at_start
from castui.report.facts import Window, data_time
from castui.report.figures import (
    AlertEntry,
    DnsChange,
    FlapSpell,
    LoadStatus,
    NodeDrop,
    Outage,
    OutAtStart,
    Report,
    SiteFigures,
    VipFigures,
)
from castui.report.gaps import Gap, find_gaps
from castui.report.lanes import build_lanes

NAME_LIMIT = 80
#: A duration_s further back than this is nonsense, not a fact to compute with.
_MAX_BACK_S = 3650 * 86400.0


def measure(window: Window, events: Sequence[Event], alerts: Iterable[Alert] = (),
            marks: Iterable[MaintenanceMark] = (), *, generated: datetime | None = None,
            alerts_left_out: int = 0, events_truncated: bool = False) -> Report:
    """Every figure of the report for `window`, from its events (oldest first)."""
    inside = sorted((e for e in events if window.start <= e.time <= window.end),
                    key=lambda e: e.time)
    start = picture_at_start(window, inside)
    inside = sorted([*start.events, *inside], key=lambda e: e.time)  # the picture first at a tie
    gaps = find_gaps(window, inside)
    inside = _after_gaps(inside, gaps)
    marks = tuple(marks)
    alert_rows = tuple(sorted((_alert(a) for a in alerts), key=lambda a: (a.time, a.id)))
    sites = sorted({e.site for e in inside if e.site != "*"} | {m.site for m in marks}
                   | {a.site for a in alert_rows if a.site != "*"} | set(start.roster))
    by_site: dict[str, list[Event]] = {}
    for event in inside:
        by_site.setdefault(event.site, []).append(event)
    figures = tuple(_site(window, name, by_site.get(name, []),
                          tuple(m for m in marks if m.site == name)) for name in sites)
    outages = {name: [(o.start, o.end) for o in f.vip.outages]
               for name, f in zip(sites, figures, strict=True)}
    return Report(window=window, generated=generated or window.end, sites=figures,
                  alerts=alert_rows,
                  lanes=build_lanes(window, inside, marks, outages, start.roster),
                  alerts_left_out=alerts_left_out, events_truncated=events_truncated,
                  gaps=gaps)


def _site(window: Window, name: str, events: list[Event],
          marks: tuple[MaintenanceMark, ...]) -> SiteFigures:
    drops, at_start = _drops(window, events, marks)
    return SiteFigures(
        name=clean(name, NAME_LIMIT), drops=drops, out_at_start=at_start,
        vip=VipFigures(_vip_outages(window, events), _vip_spells(window, events)),
        dns_changes=_dns_changes(window, events), flapping=_flapping(window, events),
        maintenance=marks)


# --- nodes ----------------------------------------------------------------------------------

def _after_gaps(events: list[Event], gaps: tuple[Gap, ...]) -> list[Event]:
    """A node castui found out (or degraded) when it resumed after a gap went so while nobody
    observed, not before the drill: its `at_start` becomes `after_gap`, so it counts as a drop
    of unknown start instead of a node out when watching began."""
    resumed = [gap.end for gap in gaps if not gap.ongoing]
    if not resumed:
        return events
    first = min(resumed)
    return [replace(e, data={**{k: v for k, v in e.data.items() if k != "at_start"},
                             "after_gap": True})
            if e.data.get("at_start") is True and e.time >= first else e for e in events]


@dataclass(slots=True)
class _Open:
    event: Event
    first_failed: datetime | None


def _drops(window: Window, events: list[Event], marks: tuple[MaintenanceMark, ...]
           ) -> tuple[tuple[NodeDrop, ...], tuple[OutAtStart, ...]]:
    """Pair node_down with node_up per node, in time order."""
    drops: list[NodeDrop] = []
    at_start: list[OutAtStart] = []
    balanced = [e.time for e in events if e.kind == Kind.POOL_BALANCED]
    by_subject: dict[str, list[Event]] = {}
    for event in events:
        by_subject.setdefault(event.subject, []).append(event)
    nodes = sorted({e.subject for e in events if e.kind in (Kind.NODE_DOWN, Kind.NODE_UP)})
    for node in nodes:
        mine = by_subject[node]
        lb_downs = [_data_time(e, "changed_at") or e.time for e in mine if e.kind == Kind.LB_DOWN]
        name = (clean(mine[0].site, NAME_LIMIT), clean(node, NAME_LIMIT))
        seen = False
        out_at_start: datetime | None = None  # with `starting`: out when watching began
        starting = False
        current: _Open | None = None
        since_back = window.start
        for event in mine:
            if event.kind == Kind.NODE_DOWN:
                if event.data.get("at_start") is True and not seen:
                    starting = True
                    out_at_start = _data_time(event, "out_since") or event.time
                elif current is None and not starting:
                    unseen = event.data.get("after_gap") is True
                    first = None if unseen else _data_time(event, "first_failed")
                    current = _Open(event, first)
                seen = True
            elif event.kind == Kind.NODE_UP:
                if current is not None:
                    drops.append(_drop(current, event, window, lb_downs, since_back, balanced,
                                       marks))
                    current = None
                elif starting or not seen:
                    since = out_at_start if starting else _went_out(event)
                    at_start.append(OutAtStart(*name, since, event.time))
                    starting = False
                since_back = event.time
                seen = True
        if current is not None:
            drops.append(_drop(current, None, window, lb_downs, since_back, balanced, marks))
        if starting:
            at_start.append(OutAtStart(*name, out_at_start, None))
    drops.sort(key=lambda d: (d.declared_out, d.node))
    return tuple(drops), tuple(at_start)


def _drop(down: _Open, up: Event | None, window: Window, lb_downs: list[datetime],
          since_back: datetime, balanced: list[datetime],
          marks: tuple[MaintenanceMark, ...]) -> NodeDrop:
    event = down.event
    declared = event.time
    back = None if up is None else up.time
    until = back or window.end
    # The balancer's verdict belongs to this drop if it came after the node's previous return.
    lb = next((t for t in lb_downs if since_back < t <= until), None)
    first = down.first_failed
    load, load_back = _load(up, balanced)
    expected = bool(event.data.get("maintenance")) or any(
        m.covers(event.site, event.subject, declared) for m in marks)
    return NodeDrop(
        site=clean(event.site, NAME_LIMIT), node=clean(event.subject, NAME_LIMIT),
        first_failed=first, declared_out=declared, detection_s=_gap(first, declared),
        lb_marked_down=lb, lb_detection_s=_gap(first, lb), back_in_pool=back,
        out_of_pool_s=max((until - declared).total_seconds(), 0.0), expected=expected,
        flapping=event.data.get("flapping") is True, load=load, load_back_s=load_back,
        detail=clean(event.detail), unobserved=event.data.get("after_gap") is True)


def _load(up: Event | None, balanced: list[datetime]) -> tuple[LoadStatus, float | None]:
    """How long after the node's return the pool's connection counts were even again."""
    if up is None:
        return LoadStatus.NOT_BACK, None
    verdict = up.data.get("load")
    if verdict == "balanced":
        return LoadStatus.BALANCED_AT_RETURN, 0.0
    if verdict != "skewed":
        return LoadStatus.NO_COUNTS, None
    after = next((t for t in balanced if t >= up.time), None)
    if after is None:
        return LoadStatus.STILL_SKEWED, None
    return LoadStatus.BACK_IN_BALANCE, (after - up.time).total_seconds()


def _went_out(up: Event) -> datetime | None:
    """For a node_up (vip_up) whose down event is not in the window: when it went out."""
    if isinstance(up.duration_s, int | float) and 0 <= up.duration_s <= _MAX_BACK_S:
        return up.time - timedelta(seconds=float(up.duration_s))
    return None


# --- VIP ------------------------------------------------------------------------------------

def _vip_outages(window: Window, events: list[Event]) -> tuple[Outage, ...]:
    """Client-visible outages: first failed VIP probe to the first passing one after it."""
    out: list[Outage] = []
    start: datetime | None = None
    for event in events:
        if event.subject != SUBJECT_VIP:
            continue
        if event.kind == Kind.VIP_PROBE_FAILED and start is None:
            start = _data_time(event, "probe_at") or event.time
        elif event.kind == Kind.VIP_PROBE_OK:
            began = _data_time(event, "failed_at") or start or window.start
            out.append(_interval(max(began, window.start),
                                 _data_time(event, "probe_at") or event.time, False))
            start = None
    if start is not None:
        out.append(_interval(start, window.end, True))
    return tuple(out)


def _vip_spells(window: Window, events: list[Event]) -> tuple[Outage, ...]:
    """castui's own verdict: vip_down to vip_up."""
    out: list[Outage] = []
    start: datetime | None = None
    for event in events:
        if event.subject != SUBJECT_VIP:
            continue
        if event.kind == Kind.VIP_DOWN and start is None:
            start = event.time
        elif event.kind == Kind.VIP_UP:
            began = start or _went_out(event) or window.start
            out.append(_interval(max(began, window.start), event.time, False))
            start = None
    if start is not None:
        out.append(_interval(start, window.end, True))
    return tuple(out)


def _interval(start: datetime, end: datetime, ongoing: bool) -> Outage:
    return Outage(start, end, max((end - start).total_seconds(), 0.0), ongoing)


# --- DNS, flapping, alerts ------------------------------------------------------------------

def _dns_changes(window: Window, events: list[Event]) -> tuple[DnsChange, ...]:
    out = []
    for event in events:
        if event.kind != Kind.DNS_CHANGED or event.subject != SUBJECT_DNS:
            continue
        when = _data_time(event, "probe_at") or event.time
        out.append(DnsChange(
            server=clean(str(event.data.get("server", "?")), NAME_LIMIT), time=when,
            old=_answers(event.data.get("old")), new=_answers(event.data.get("new")),
            after_s=(when - window.start).total_seconds()))
    return tuple(out)


def _answers(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return ()
    return tuple(clean(str(v), NAME_LIMIT) for v in value[:32])


def _flapping(window: Window, events: list[Event]) -> tuple[FlapSpell, ...]:
    out: list[FlapSpell] = []
    open_: dict[str, Event] = {}
    for event in events:
        if event.kind == Kind.NODE_FLAPPING:
            open_.setdefault(event.subject, event)
        elif event.kind == Kind.NODE_FLAPPING_CLEARED and event.subject in open_:
            out.append(_flap(open_.pop(event.subject), event.time, False))
    out.extend(_flap(start, window.end, True) for start in open_.values())
    return tuple(sorted(out, key=lambda f: (f.start, f.node)))


def _flap(start: Event, end: datetime, ongoing: bool) -> FlapSpell:
    changes = start.data.get("changes")
    window_s = start.data.get("window_s")
    return FlapSpell(clean(start.site, NAME_LIMIT), clean(start.subject, NAME_LIMIT),
                     start.time, end, ongoing,
                     changes if isinstance(changes, int) and not isinstance(changes, bool)
                     else None,
                     float(window_s) if isinstance(window_s, int | float)
                     and not isinstance(window_s, bool) else None)


def _alert(stored: Alert) -> AlertEntry:
    e = stored.event
    return AlertEntry(stored.id, e.time, clean(e.site, NAME_LIMIT), clean(e.subject, NAME_LIMIT),
                      clean(e.kind, NAME_LIMIT), clean(e.detail), stored.acked_at,
                      None if stored.acked_by is None else clean(stored.acked_by, NAME_LIMIT))


# --- small helpers --------------------------------------------------------------------------

def _data_time(event: Event, key: str) -> datetime | None:
    return data_time(event.data, key)


def _gap(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds()
