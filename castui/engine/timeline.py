"""The failover timeline, for the console and the drill report alike: what state each node,
VIP and DNS name was in, when.

One table says which state each event leaves its subject in (and which it found it in), one
table which state wins when several share a bucket, so the console's strips and the report's
picture can never tell the same night two ways. Pure functions, no I/O.

The console (`build_lanes`) draws a strip of buckets per target. Two sources meet there: the
in-memory ring of each target (one sample per round) is exact but short and lost on restart;
the history events are sparse but survive a restart. Before a target's oldest ring sample the
events paint the picture, after it the ring does. The report (`event_spans`, `to_spans`,
`fold`) draws exact spans from the window's events alone, folded into buckets only when there
are too many to draw. Either way a bucket shows the worst state seen in it, so a short outage
never vanishes at 24 h zoom.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from castui.engine.pool import RoundSample
from castui.model.events import Event, Kind
from castui.model.marks import MaintenanceMark


class Mark(StrEnum):
    """What a stretch of a lane shows."""

    UNKNOWN = "unknown"
    IN_POOL = "in_pool"
    TRANSITIONAL = "transitional"
    DEGRADED = "degraded"
    OUT = "out"
    #: A DNS resolver's answer, named by the span's label: a fact, not a verdict (the report's
    #: DNS lanes; the console judges the answer against the VIP instead).
    ANSWER = "answer"


#: Which mark wins when several fall in one bucket: the one an operator must not miss.
SEVERITY = {Mark.UNKNOWN: 0, Mark.ANSWER: 1, Mark.IN_POOL: 1, Mark.TRANSITIONAL: 2,
            Mark.DEGRADED: 3, Mark.OUT: 4}
#: A mark in words, the same on the console and in the report's legend.
MARK_WORDS = {Mark.IN_POOL: "in pool", Mark.TRANSITIONAL: "transitional",
              Mark.DEGRADED: "degraded", Mark.OUT: "out of pool", Mark.UNKNOWN: "unknown",
              Mark.ANSWER: "DNS answer"}
#: Spans per report lane before the lane is folded into buckets, and how many buckets then.
MAX_SPANS = 400
BUCKETS = 400


@dataclass(frozen=True, slots=True)
class Zoom:
    label: str
    seconds: int


#: The windows `+` / `-` step through.
ZOOMS: tuple[Zoom, ...] = (Zoom("5 min", 300), Zoom("30 min", 1800), Zoom("2 h", 7200),
                           Zoom("24 h", 86400))


@dataclass(frozen=True, slots=True)
class Source:
    """One lane's inputs: which target it is and its ring of round samples (oldest first).

    `expected` is, for a DNS lane, the address the answer must hold (the site's VIP): it tells
    a `dns_changed` event that points away from one that points back.
    """

    site: str
    subject: str
    kind: str
    ring: Sequence[RoundSample] = ()
    expected: str | None = None


@dataclass(frozen=True, slots=True)
class Lane:
    site: str
    subject: str
    kind: str
    buckets: tuple[Mark, ...]


_STATE_MARKS = {"up": Mark.IN_POOL, "down": Mark.OUT, "degraded": Mark.DEGRADED,
                "unknown": Mark.UNKNOWN}
_STEADY_TEXTS = frozenset({"UP", "DOWN", "DEGRADED", "UNKNOWN"})


def mark_of(state: str, status_text: str) -> Mark:
    """A round sample's mark: `UP 2/3` and `DOWN 1/2` are transitional, whatever the state."""
    if state == "partial":  # `UP 3/5 vdirs (...)`: steady, partly out
        return Mark.DEGRADED
    if status_text not in _STEADY_TEXTS:
        return Mark.TRANSITIONAL
    return _STATE_MARKS.get(state, Mark.UNKNOWN)


#: What each state-changing event says: the mark its subject had before it, and after it.
_CHANGES: dict[str, tuple[Mark, Mark]] = {
    Kind.NODE_DOWN: (Mark.IN_POOL, Mark.OUT), Kind.NODE_UP: (Mark.OUT, Mark.IN_POOL),
    Kind.NODE_DEGRADED: (Mark.IN_POOL, Mark.DEGRADED),
    Kind.NODE_RECOVERED: (Mark.DEGRADED, Mark.IN_POOL),
    Kind.VIP_DOWN: (Mark.IN_POOL, Mark.OUT), Kind.VIP_UP: (Mark.OUT, Mark.IN_POOL),
    Kind.DNS_FAILED: (Mark.IN_POOL, Mark.OUT), Kind.DNS_RECOVERED: (Mark.OUT, Mark.IN_POOL),
    Kind.NODE_PARTIAL: (Mark.IN_POOL, Mark.DEGRADED),
    Kind.NODE_PARTIAL_CLEARED: (Mark.DEGRADED, Mark.IN_POOL),
    # A monitor starting: a subject without an "out at start" event was found in the pool.
    Kind.MONITOR_STARTED: (Mark.UNKNOWN, Mark.IN_POOL),
}


def event_mark(event: Event, expected: str | None = None) -> Mark | None:
    """The state an event leaves its subject in; None for events that say nothing of it.

    A `dns_changed` says something only against `expected`, the address the answer must hold.
    """
    if event.kind == Kind.DNS_CHANGED:
        new = event.data.get("new")
        if expected is None or not isinstance(new, list):
            return None
        return Mark.IN_POOL if expected in new else Mark.OUT
    change = _CHANGES.get(event.kind)
    return None if change is None else change[1]


Point = tuple[datetime, Mark]


def history_points(events: Iterable[Event],
                   expected: Mapping[tuple[str, str], str | None]) -> dict[tuple[str, str],
                                                                           list[Point]]:
    """Events (oldest first) to change points per (site, subject).

    A `monitor_started` event applies to every subject of its site listed in `expected`.
    """
    subjects_of: dict[str, list[str]] = {}
    for site, subject in expected:
        subjects_of.setdefault(site, []).append(subject)
    out: dict[tuple[str, str], list[Point]] = {key: [] for key in expected}
    for event in events:
        if event.kind == Kind.MONITOR_STARTED:
            for subject in subjects_of.get(event.site, ()):
                out[(event.site, subject)].append((event.time, Mark.IN_POOL))
            continue
        key = (event.site, event.subject)
        if key not in out:
            continue
        mark = event_mark(event, expected[key])
        if mark is not None:
            out[key].append((event.time, mark))
    return out


def window_points(history: Sequence[Point], ring: Sequence[RoundSample],
                  start: datetime) -> list[Point]:
    """The change points that matter from `start` on: the one in effect at `start`, then the
    rest in time order. History covers the time before the ring's oldest sample."""
    newest_first: list[Point] = []
    ring_reaches_start = False
    for sample in reversed(ring):  # newest first; stop at the first sample before `start`
        newest_first.append((sample.time, mark_of(sample.state, sample.status_text)))
        if sample.time <= start:
            ring_reaches_start = True
            break
    points = newest_first[::-1]
    if ring_reaches_start:
        return points
    cutoff = ring[0].time if ring else None
    older = [p for p in history if cutoff is None or p[0] < cutoff]
    first = 0
    for index, (when, _) in enumerate(older):
        if when <= start:
            first = index
    return older[first:] + points


def bucketize(points: Sequence[Point], *, end: datetime, seconds: float,
              width: int) -> tuple[Mark, ...]:
    """Marks for `width` equal buckets ending at `end`; each point holds until the next one."""
    if width <= 0:
        return ()
    start = end - timedelta(seconds=seconds)
    size = seconds / width
    out = [Mark.UNKNOWN] * width

    def position(when: datetime) -> float:
        return (when - start).total_seconds() / size

    for number, (when, mark) in enumerate(points):
        if when > end:
            break
        nxt = points[number + 1][0] if number + 1 < len(points) else None
        if nxt is not None and nxt <= start:
            continue  # superseded before the window opens
        first = min(max(int(position(when)), 0), width - 1)
        # The mark holds over [when, nxt): up to the bucket holding the instant before `nxt`;
        # a mark superseded at once still shows in its own bucket.
        last = width - 1 if nxt is None or nxt > end else math.ceil(position(nxt)) - 1
        for b in range(first, min(max(last, first), width - 1) + 1):
            if SEVERITY[mark] > SEVERITY[out[b]]:
                out[b] = mark
    return tuple(out)


def build_lanes(sources: Sequence[Source], events: Sequence[Event], *, end: datetime,
                seconds: float, width: int) -> list[Lane]:
    """Every source's lane over the `seconds` before `end`, `width` buckets wide.

    `events` is the history known to the caller, oldest first (the store's and the live ones).
    """
    start = end - timedelta(seconds=seconds)
    expected = {(s.site, s.subject): s.expected for s in sources}
    history = history_points(events, expected)
    lanes = []
    for source in sources:
        points = window_points(history[(source.site, source.subject)], source.ring, start)
        lanes.append(Lane(source.site, source.subject, source.kind,
                          bucketize(points, end=end, seconds=seconds, width=width)))
    return lanes


#: Which buckets of a lane a maintenance mark covered (empty: none).
Expected = tuple[bool, ...]


def expected_buckets(marks: Sequence[MaintenanceMark], site: str, subject: str, *,
                     end: datetime, seconds: float, width: int) -> Expected:
    """For each of `width` buckets ending at `end`, whether a mark covered `subject` then
    (the mark's own rule: a site mark covers its VIP and DNS name too)."""
    if width <= 0:
        return ()
    start = end - timedelta(seconds=seconds)
    size = seconds / width
    out = [False] * width
    for mark in marks:
        begin, until = max(mark.starts, start), min(mark.until(), end)
        if begin >= until or not mark.covers(site, subject, begin):
            continue
        first = int((begin - start).total_seconds() / size)
        last = math.ceil((until - start).total_seconds() / size) - 1
        for bucket in range(max(first, 0), min(last, width - 1) + 1):
            out[bucket] = True
    return tuple(out) if any(out) else ()


@dataclass(frozen=True, slots=True)
class Span:
    """A stretch of a report lane; `label` names a DNS answer."""

    start: datetime
    end: datetime
    mark: Mark
    label: str = ""


def event_spans(events: Iterable[Event], *, start: datetime, end: datetime) -> tuple[Span, ...]:
    """One subject's state from `start` to `end`, from its events (oldest first) alone.

    The first event also tells the state before it; with no event the subject was in pool.
    """
    points: list[Point] = []
    for event in events:
        change = _CHANGES.get(event.kind)
        if change is None:
            continue
        before, after = change
        if not points:  # a drop found at start (`at_start`) was out all along
            out_all_along = after is Mark.OUT and event.data.get("at_start") is True
            points.append((start, Mark.OUT if out_all_along else before))
        points.append((max(event.time, start), after))
    if not points:
        points.append((start, Mark.IN_POOL))
    return fold(to_spans(points, end), start=start, end=end)


def to_spans(points: Sequence[Point], end: datetime,
             labels: Sequence[str] | None = None) -> list[Span]:
    """Change points (with a label each, or none) as spans up to `end`, equal neighbours
    merged; a point superseded at its own instant leaves no span."""
    spans: list[Span] = []
    for i, (start, mark) in enumerate(points):
        stop = points[i + 1][0] if i + 1 < len(points) else end
        label = labels[i] if labels is not None else ""
        if spans and spans[-1].mark == mark and spans[-1].label == label:
            spans[-1] = Span(spans[-1].start, stop, mark, label)
        elif stop > start or (i + 1 == len(points) and not spans):
            spans.append(Span(start, max(stop, start), mark, label))
    return spans


def fold(spans: Sequence[Span], *, start: datetime, end: datetime) -> tuple[Span, ...]:
    """At most MAX_SPANS spans: beyond that, BUCKETS fixed buckets showing their worst mark.

    The console's `bucketize` folds points into a strip of cells that may show a point of no
    length; this folds spans that keep their exact times, for a picture drawn to scale.
    """
    seconds = (end - start).total_seconds()
    if len(spans) <= MAX_SPANS or seconds <= 0:
        return tuple(spans)
    step = timedelta(seconds=seconds / BUCKETS)
    out: list[Span] = []
    i = 0
    for b in range(BUCKETS):
        lo = start + step * b
        hi = end if b == BUCKETS - 1 else lo + step
        worst: Span | None = None
        while i < len(spans) and spans[i].end <= lo:
            i += 1
        j = i
        while j < len(spans) and spans[j].start < hi:
            if worst is None or SEVERITY[spans[j].mark] > SEVERITY[worst.mark]:
                worst = spans[j]
            j += 1
        if worst is None:
            continue
        if out and out[-1].mark == worst.mark and out[-1].label == worst.label:
            out[-1] = Span(out[-1].start, hi, worst.mark, worst.label)
        else:
            out.append(Span(lo, hi, worst.mark, worst.label))
    return tuple(out)
