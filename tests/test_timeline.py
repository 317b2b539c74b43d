"""The failover timeline's arithmetic (castui.engine.timeline), for the console and the report:
pure, no screen."""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime, timedelta

import pytest

from castui.engine.pool import RoundSample
from castui.engine.timeline import (
    BUCKETS,
    MAX_SPANS,
    ZOOMS,
    Mark,
    Source,
    Span,
    bucketize,
    build_lanes,
    event_spans,
    mark_of,
    window_points,
)
from castui.model.events import Event, Kind

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
IN, TR, DG, OUT, UNK = Mark.IN_POOL, Mark.TRANSITIONAL, Mark.DEGRADED, Mark.OUT, Mark.UNKNOWN


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ring(*samples: tuple[float, str, str]) -> deque[RoundSample]:
    return deque(RoundSample(at(s), state, text) for s, state, text in samples)


@pytest.mark.parametrize(("state", "text", "mark"), [
    ("up", "UP", IN), ("up", "UP 2/3", TR), ("down", "DOWN 1/2", TR), ("down", "DOWN", OUT),
    ("degraded", "DEGRADED", DG), ("degraded", "UP 1/3", TR), ("unknown", "UNKNOWN", UNK),
])
def test_round_states_map_to_marks_with_haproxy_transitions(state: str, text: str,
                                                            mark: Mark) -> None:
    assert mark_of(state, text) is mark


def test_each_point_holds_until_the_next_and_nothing_is_known_before_the_first() -> None:
    marks = bucketize([(at(30), IN), (at(60), OUT)], end=at(100), seconds=100, width=10)
    assert marks == (UNK, UNK, UNK, IN, IN, IN, OUT, OUT, OUT, OUT)


def test_a_short_outage_stays_visible_at_the_widest_zoom() -> None:
    points = [(at(0), IN), (at(40_000), OUT), (at(40_004), IN)]
    marks = bucketize(points, end=at(86_400), seconds=86_400, width=60)
    assert marks.count(OUT) == 1  # four seconds in a 24-minute bucket: still shown
    assert marks.count(IN) == 59


def test_points_after_the_window_end_are_ignored() -> None:
    marks = bucketize([(at(0), IN), (at(200), OUT)], end=at(100), seconds=100, width=4)
    assert marks == (IN, IN, IN, IN)


def test_the_ring_paints_the_recent_past_and_history_what_came_before() -> None:
    history = [(at(0), IN), (at(100), OUT), (at(150), IN)]
    samples = ring((200, "up", "UP"), (210, "up", "UP 2/3"), (220, "down", "DOWN"))
    points = window_points(history, samples, start=at(90))
    # The history point in effect at the window start, the later ones, then the ring.
    assert points == [(at(0), IN), (at(100), OUT), (at(150), IN), (at(200), IN),
                      (at(210), TR), (at(220), OUT)]
    assert window_points(history, samples, start=at(215)) == [(at(210), TR), (at(220), OUT)]


def test_a_restart_keeps_the_picture_from_history_events() -> None:
    """No ring yet (the console just started): the events alone draw the outage."""
    events = [
        Event(at(0), "Site-A", "monitor", Kind.MONITOR_STARTED, "watching"),
        Event(at(120), "Site-A", "CAS2", Kind.NODE_DOWN, "https L4CON"),
        Event(at(240), "Site-A", "CAS2", Kind.NODE_UP, "back in pool", duration_s=120),
        Event(at(10), "Site-B", "CAS2", Kind.NODE_DOWN, "another site's CAS2"),
    ]
    sources = [Source("Site-A", "CAS1", "node"), Source("Site-A", "CAS2", "node")]
    cas1, cas2 = build_lanes(sources, events, end=at(300), seconds=300, width=10)
    assert cas1.buckets == (IN,) * 10
    assert cas2.buckets == (IN, IN, IN, IN, OUT, OUT, OUT, OUT, IN, IN)


def test_a_dns_answer_moving_away_from_the_vip_and_back() -> None:
    def changed(seconds: float, new: list[str]) -> Event:
        return Event(at(seconds), "Site-A", "dns", Kind.DNS_CHANGED, "answer changed",
                     data={"server": "10.0.0.53", "old": [], "new": new})

    events = [Event(at(0), "Site-A", "monitor", Kind.MONITOR_STARTED, "watching"),
              changed(100, ["10.2.0.50"]), changed(200, ["10.1.0.50"])]
    source = Source("Site-A", "dns", "dns", expected="10.1.0.50")
    (lane,) = build_lanes([source], events, end=at(300), seconds=300, width=3)
    assert lane.buckets == (IN, OUT, IN)


def test_degraded_and_recovered_events() -> None:
    events = [Event(at(0), "S", "monitor", Kind.MONITOR_STARTED, ""),
              Event(at(50), "S", "CAS1", Kind.NODE_DEGRADED, "ews 503"),
              Event(at(75), "S", "CAS1", Kind.NODE_RECOVERED, "")]
    (lane,) = build_lanes([Source("S", "CAS1", "node")], events, end=at(100), seconds=100,
                          width=4)
    assert lane.buckets == (IN, IN, DG, IN)


def test_live_rounds_override_history_and_widths_are_exact() -> None:
    samples = ring(*((float(s), "up", "UP") for s in range(0, 100, 2)))
    source = Source("S", "CAS1", "node", samples)
    events = [Event(at(50), "S", "CAS1", Kind.NODE_DOWN, "stale history")]
    (lane,) = build_lanes([source], events, end=at(100), seconds=100, width=7)
    assert lane.buckets == (IN,) * 7


def test_zooms_run_from_five_minutes_to_a_day() -> None:
    assert [z.label for z in ZOOMS] == ["5 min", "30 min", "2 h", "24 h"]
    assert [z.seconds for z in ZOOMS] == [300, 1800, 7200, 86400]


def test_the_console_and_the_report_tell_one_outage_the_same_way() -> None:
    """One builder: the console's strip and the report's spans come from the same events."""
    events = [Event(at(0), "Site-A", "monitor", Kind.MONITOR_STARTED, "watching"),
              Event(at(120), "Site-A", "CAS2", Kind.NODE_DOWN, "https L4CON"),
              Event(at(240), "Site-A", "CAS2", Kind.NODE_UP, "back", duration_s=120)]
    (lane,) = build_lanes([Source("Site-A", "CAS2", "node")], events, end=at(300),
                          seconds=300, width=5)
    spans = event_spans(events[1:], start=at(0), end=at(300))
    assert lane.buckets == (IN, IN, OUT, OUT, IN)
    assert [(s.start, s.end, s.mark) for s in spans] == [
        (at(0), at(120), IN), (at(120), at(240), OUT), (at(240), at(300), IN)]


def test_the_report_reads_the_state_before_the_first_event() -> None:
    def first(kind: str, **data: object) -> Mark:
        spans = event_spans([Event(at(50), "S", "CAS1", kind, "", data=data)], start=at(0),
                            end=at(100))
        return spans[0].mark

    assert first(Kind.NODE_UP) is OUT
    assert first(Kind.NODE_RECOVERED) is DG
    assert first(Kind.NODE_DOWN) is IN
    assert first(Kind.NODE_DOWN, at_start=True) is OUT
    assert event_spans([], start=at(0), end=at(100)) == (Span(at(0), at(100), IN),)


def test_too_many_spans_fold_into_buckets_where_the_worst_wins() -> None:
    events = [Event(at(s), "S", "CAS1", Kind.NODE_DOWN if s % 2 else Kind.NODE_UP, "")
              for s in range(1, 2 * MAX_SPANS + 2)]
    spans = event_spans(events, start=at(0), end=at(2 * MAX_SPANS + 2))
    assert len(spans) <= BUCKETS
    assert spans[0].start == at(0) and spans[-1].end == at(2 * MAX_SPANS + 2)
    assert {s.mark for s in spans} == {OUT}  # every bucket saw the node out at least once
