"""The report's timeline as data: one lane per node, VIP and DNS resolver, as spans of states.

Pure, so the picture's content is tested without drawing it; `plot.py` only turns lanes into
shapes. A lane's spans cover the window end to end. Long windows with thousands of changes are
folded into a bounded number of buckets (the worst state wins, as on the console's timeline),
so neither the picture nor the time to draw it grows without bound.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from castui.model.events import SUBJECT_DNS, SUBJECT_VIP, Event, Kind
from castui.model.marks import MaintenanceMark
from castui.model.text import clean
from castui.report.facts import Window, data_time

#: Spans per lane before the lane is folded into buckets.
MAX_SPANS = 400
BUCKETS = 400


class State(StrEnum):
    IN_POOL = "in pool"
    DEGRADED = "degraded"
    OUT = "out of pool"
    ANSWER = "DNS answer"


#: Which state a bucket shows when several fall in it: the one nobody may miss.
_SEVERITY = {State.IN_POOL: 0, State.ANSWER: 0, State.DEGRADED: 1, State.OUT: 2}

_NODE_STATES = {Kind.NODE_DOWN: State.OUT, Kind.NODE_UP: State.IN_POOL,
                Kind.NODE_DEGRADED: State.DEGRADED, Kind.NODE_RECOVERED: State.IN_POOL}
_VIP_STATES = {Kind.VIP_DOWN: State.OUT, Kind.VIP_UP: State.IN_POOL}


@dataclass(frozen=True, slots=True)
class Span:
    start: datetime
    end: datetime
    state: State
    label: str = ""


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
    nodes watched per site (a drill's start picture), which get a lane even when quiet.
    """
    marks = tuple(marks)
    lanes: list[Lane] = []
    grouped: dict[str, dict[str, list[Event]]] = {}
    for event in events:
        grouped.setdefault(event.site, {}).setdefault(event.subject, []).append(event)
    for site in sorted(set(grouped) - {"*"} | set(vip_outages) | set(roster)):
        subjects = grouped.get(site, {})
        mine = [e for subject in subjects.values() for e in subject]
        nodes = sorted({e.subject for e in mine if e.kind in _NODE_STATES}
                       | {m.node for m in marks if m.site == site and m.node is not None}
                       | set(roster.get(site, ())))
        for node in nodes:
            node_events = subjects.get(node, [])
            lanes.append(Lane(
                clean(site, 80), clean(node, 80), "node",
                _spans(window, node_events, _NODE_STATES),
                maintenance=_covered(window, marks, site, node), ticks=_lb_ticks(node_events)))
        vip_events = subjects.get(SUBJECT_VIP, [])
        if vip_events or vip_outages.get(site):
            lanes.append(Lane(clean(site, 80), SUBJECT_VIP, "vip",
                              _spans(window, vip_events, _VIP_STATES),
                              failing=tuple(vip_outages.get(site, ())),
                              maintenance=_covered(window, marks, site, SUBJECT_VIP)))
        lanes.extend(_dns_lanes(window, site, subjects.get(SUBJECT_DNS, [])))
    return tuple(lanes)


def _spans(window: Window, events: Sequence[Event], states: Mapping[str, State]
           ) -> tuple[Span, ...]:
    """The subject's state across the window, from its state-changing events."""
    points: list[tuple[datetime, State]] = []
    for event in events:
        state = states.get(event.kind)
        if state is None:
            continue
        if not points:  # what the first event tells about the time before it
            points.append((window.start, _before(event, state)))
        points.append((max(event.time, window.start), state))
    if not points:
        points.append((window.start, State.IN_POOL))
    return _fold(_to_spans(points, window.end), window)


def _before(first: Event, state: State) -> State:
    """A first `node_up` means it was out when the window opened; an `at_start` drop too."""
    if state is State.IN_POOL:
        return State.DEGRADED if first.kind == Kind.NODE_RECOVERED else State.OUT
    if state is State.OUT and first.data.get("at_start") is True:
        return State.OUT
    return State.IN_POOL


def _to_spans(points: Sequence[tuple[datetime, State]], end: datetime,
              labels: Sequence[str] | None = None) -> list[Span]:
    spans: list[Span] = []
    for i, (start, state) in enumerate(points):
        stop = points[i + 1][0] if i + 1 < len(points) else end
        label = labels[i] if labels is not None else ""
        if spans and spans[-1].state == state and spans[-1].label == label:
            spans[-1] = Span(spans[-1].start, stop, state, label)
        elif stop > start or (i + 1 == len(points) and not spans):
            spans.append(Span(start, max(stop, start), state, label))
    return spans


def _fold(spans: list[Span], window: Window) -> tuple[Span, ...]:
    """At most MAX_SPANS spans: beyond that, fixed buckets showing their worst state."""
    if len(spans) <= MAX_SPANS or window.seconds <= 0:
        return tuple(spans)
    step = timedelta(seconds=window.seconds / BUCKETS)
    out: list[Span] = []
    i = 0
    for b in range(BUCKETS):
        lo = window.start + step * b
        hi = window.end if b == BUCKETS - 1 else lo + step
        worst: Span | None = None
        while i < len(spans) and spans[i].end <= lo:
            i += 1
        j = i
        while j < len(spans) and spans[j].start < hi:
            if worst is None or _SEVERITY[spans[j].state] > _SEVERITY[worst.state]:
                worst = spans[j]
            j += 1
        if worst is None:
            continue
        if out and out[-1].state == worst.state and out[-1].label == worst.label:
            out[-1] = Span(out[-1].start, hi, worst.state, worst.label)
        else:
            out.append(Span(lo, hi, worst.state, worst.label))
    return tuple(out)


def _dns_lanes(window: Window, site: str, events: Sequence[Event]) -> list[Lane]:
    """One lane per resolver whose answer changed: the answer it gave, span by span."""
    changes: dict[str, list[Event]] = {}
    for event in events:
        if event.kind == Kind.DNS_CHANGED and event.subject == SUBJECT_DNS:
            changes.setdefault(clean(str(event.data.get("server", "?")), 80), []).append(event)
    lanes = []
    for server in sorted(changes):
        first = changes[server][0]
        points = [(window.start, State.ANSWER)]
        labels = [_answer(first.data.get("old"))]
        for event in changes[server]:
            points.append((max(event.time, window.start), State.ANSWER))
            labels.append(_answer(event.data.get("new")))
        lanes.append(Lane(clean(site, 80), server, "dns",
                          _fold(_to_spans(points, window.end, labels), window)))
    return lanes


def _answer(value: object) -> str:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return "?"
    return clean(", ".join(str(v) for v in value[:4]), 60) or "no answer"


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
