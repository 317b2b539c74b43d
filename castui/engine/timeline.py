"""The failover timeline: for each node, VIP and DNS name, a strip of buckets over a window.

Pure functions, no I/O: the console draws what they return and tests check them without a
screen. Two sources meet here. The in-memory ring of each target (one sample per round) is
exact but short and lost on restart; the history events are sparse but survive a restart.
Before a target's oldest ring sample the events paint the picture, after it the ring does.
A bucket shows the worst state seen in it, so a short outage never vanishes at 24 h zoom.
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
    """What one bucket of a lane shows."""

    UNKNOWN = "unknown"
    IN_POOL = "in_pool"
    TRANSITIONAL = "transitional"
    DEGRADED = "degraded"
    OUT = "out"


#: Which mark wins when several fall in one bucket: the one an operator must not miss.
_SEVERITY = {Mark.UNKNOWN: 0, Mark.IN_POOL: 1, Mark.TRANSITIONAL: 2, Mark.DEGRADED: 3,
             Mark.OUT: 4}


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


_EVENT_MARKS = {
    Kind.NODE_DOWN: Mark.OUT, Kind.VIP_DOWN: Mark.OUT, Kind.DNS_FAILED: Mark.OUT,
    Kind.NODE_UP: Mark.IN_POOL, Kind.VIP_UP: Mark.IN_POOL, Kind.DNS_RECOVERED: Mark.IN_POOL,
    Kind.NODE_RECOVERED: Mark.IN_POOL, Kind.NODE_DEGRADED: Mark.DEGRADED,
    Kind.NODE_PARTIAL: Mark.DEGRADED, Kind.NODE_PARTIAL_CLEARED: Mark.IN_POOL,
    # A monitor starting: a subject without an "out at start" event was found in the pool.
    Kind.MONITOR_STARTED: Mark.IN_POOL,
}


def event_mark(event: Event, expected: str | None = None) -> Mark | None:
    """The state an event leaves its subject in; None for events that say nothing of it."""
    if event.kind == Kind.DNS_CHANGED:
        new = event.data.get("new")
        if expected is None or not isinstance(new, list):
            return None
        return Mark.IN_POOL if expected in new else Mark.OUT
    return _EVENT_MARKS.get(event.kind)


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
            if _SEVERITY[mark] > _SEVERITY[out[b]]:
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
