"""The report's timeline as data: one lane per node, VIP and DNS resolver, as spans of states.

Which lanes, and what is drawn over them (client-visible outages, maintenance, the balancer's
verdicts), is the report's; the states themselves come from the engine's timeline builder
(castui.engine.timeline), the one the console draws from too. Pure, so the picture's content
is tested without drawing it; `plot.py` only turns lanes into shapes. A lane's spans cover the
window end to end; long windows with thousands of changes are folded into a bounded number of
buckets, so neither the picture nor the time to draw it grows without bound.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from castui.engine.timeline import MAX_SPANS, Mark, Point, Span, event_spans, fold, to_spans
from castui.model.events import NODE_CHANGES, SUBJECT_DNS, SUBJECT_VIP, Event, Kind
from castui.model.marks import MaintenanceMark
from castui.model.text import clean
from castui.report.facts import Window, data_time


@dataclass(frozen=True, slots=True)
class Lane:
    """One row of the picture. `failing` (VIP lanes): client-visible outages drawn over the
    state; `maintenance`: when a mark covered the subject; `ticks`: the balancer's verdicts."""

    site: str
    subject: str
    kind: str  # "node", "vip" or "dns"
    spans: tuple[Span, ...]
    failing: tuple[tuple[datetime, datetime], ...] = ()
    maintenance: tuple[tuple[datetime, datetime], ...] = ()
    ticks: tuple[tuple[datetime, str], ...] = ()

    @property
    def label(self) -> str:
        if self.kind == "vip":
            return "VIP"
        if self.kind == "dns":
            return f"DNS {self.subject}"
        return self.subject


def build_lanes(window: Window, events: Sequence[Event], marks: Iterable[MaintenanceMark],
                vip_outages: Mapping[str, Sequence[tuple[datetime, datetime]]],
                roster: Mapping[str, Iterable[str]]) -> tuple[Lane, ...]:
    """Lanes grouped by site: its nodes, then the VIP, then each resolver whose answer changed.

    `events` are the window's, oldest first; `vip_outages` per site as measured; `roster` the
    nodes watched per site (a drill's start picture), which get a lane even when quiet, and so
    does the VIP of every site watched (a healthy VIP may be the one carrying the traffic).
    """
    marks = tuple(marks)
    lanes: list[Lane] = []
    grouped: dict[str, dict[str, list[Event]]] = {}
    for event in events:
        grouped.setdefault(event.site, {}).setdefault(event.subject, []).append(event)
    for site in sorted(set(grouped) - {"*"} | set(vip_outages) | set(roster)):
        subjects = grouped.get(site, {})
        mine = [e for subject in subjects.values() for e in subject]
        nodes = sorted({e.subject for e in mine if e.kind in NODE_CHANGES}
                       | {m.node for m in marks if m.site == site and m.node is not None}
                       | set(roster.get(site, ())))
        for node in nodes:
            node_events = subjects.get(node, [])
            lanes.append(Lane(
                clean(site, 80), clean(node, 80), "node",
                event_spans(node_events, start=window.start, end=window.end),
                maintenance=_covered(window, marks, site, node), ticks=_lb_ticks(node_events)))
        vip_events = subjects.get(SUBJECT_VIP, [])
        if vip_events or vip_outages.get(site) or site in roster:  # a healthy VIP too
            lanes.append(Lane(clean(site, 80), SUBJECT_VIP, "vip",
                              event_spans(vip_events, start=window.start, end=window.end),
                              failing=tuple(vip_outages.get(site, ())),
                              maintenance=_covered(window, marks, site, SUBJECT_VIP)))
        lanes.extend(_dns_lanes(window, site, subjects.get(SUBJECT_DNS, [])))
    return tuple(lanes)


def _dns_lanes(window: Window, site: str, events: Sequence[Event]) -> list[Lane]:
    """One lane per resolver whose answer changed: the answer it gave, span by span."""
    changes: dict[str, list[Event]] = {}
    for event in events:
        if event.kind == Kind.DNS_CHANGED and event.subject == SUBJECT_DNS:
            changes.setdefault(clean(str(event.data.get("server", "?")), 80), []).append(event)
    lanes = []
    for server in sorted(changes):
        first = changes[server][0]
        points: list[Point] = [(window.start, Mark.ANSWER)]
        labels = [_answer(first.data.get("old"), first.data.get("old_site"))]
        for event in changes[server]:
            points.append((max(event.time, window.start), Mark.ANSWER))
            labels.append(_answer(event.data.get("new"), event.data.get("new_site")))
        spans = to_spans(points, window.end, labels)
        lanes.append(Lane(clean(site, 80), server, "dns",
                          fold(spans, start=window.start, end=window.end)))
    return lanes


def _answer(value: object, site: object = None) -> str:
    """`Site-B VIP (127.43.2.50)` when the engine named whose VIP the answer is, else the
    addresses."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return "?"
    addresses = clean(", ".join(str(v) for v in value[:4]), 60) or "no answer"
    return f"{clean(site, 40)} VIP ({addresses})" if isinstance(site, str) else addresses


def _covered(window: Window, marks: Sequence[MaintenanceMark], site: str, subject: str
             ) -> tuple[tuple[datetime, datetime], ...]:
    """The parts of the window a maintenance mark covered this subject."""
    out = []
    for mark in marks:
        if mark.site != site or (mark.node is not None and mark.node != subject):
            continue
        start, end = max(mark.starts, window.start), min(mark.until(), window.end)
        if end > start:
            out.append((start, end))
    return tuple(out)


def _lb_ticks(events: Sequence[Event]) -> tuple[tuple[datetime, str], ...]:
    """The balancer's own verdicts on the node, at the time it changed them."""
    ticks = []
    for event in events:
        if event.kind in (Kind.LB_DOWN, Kind.LB_UP):
            when = data_time(event.data, "changed_at") or event.time
            ticks.append((when, "LB down" if event.kind == Kind.LB_DOWN else "LB up"))
    return tuple(ticks[:MAX_SPANS])
