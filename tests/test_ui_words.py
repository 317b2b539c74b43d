"""The console's wording: events in sentences, durations, check cells, the header line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from castui.engine.events import Event, Kind
from castui.engine.snapshot import CheckView
from castui.engine.status import Status
from castui.ui.widgets.header import HeaderInfo, header_line
from castui.ui.words import check_cell, duration, event_line, failing_summary, sentence, since

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (45.4, "45s"), (134, "2m14s"), (3600 + 125, "1h02m"), (3 * 86400 + 4 * 3600,
                                                                        "3d04h"), (None, "?")])
def test_durations_are_short_and_exact_enough(seconds: float | None, text: str) -> None:
    assert duration(seconds) == text


def test_time_since_a_change_coarsens_after_a_minute() -> None:
    assert since(T0, T0 + timedelta(seconds=42.9)) == "42s"
    assert since(T0, T0 + timedelta(seconds=600)) == "10m"
    assert since(None, T0) == "–"


@pytest.mark.parametrize(("event", "words"), [
    (Event(T0, "A", "CAS2", Kind.NODE_UP, "back in pool", duration_s=134),
     "CAS2 back in pool after 2m14s"),
    (Event(T0, "A", "CAS2", Kind.NODE_DOWN, "owa L7TOUT no answer in 1.5 s"),
     "CAS2 out of pool: owa L7TOUT no answer in 1.5 s"),
    (Event(T0, "A", "CAS1", Kind.NODE_DOWN, "out of pool at start: https L4CON",
           data={"at_start": True}), "CAS1 out of pool at start: https L4CON"),
    (Event(T0, "A", "vip", Kind.VIP_UP, "back in pool", duration_s=61), "VIP serving again "
                                                                         "after 1m01s"),
    (Event(T0, "A", "dns", Kind.DNS_CHANGED, "10.0.0.53: outlook 10.1.0.50 -> 10.2.0.50"),
     "DNS answer changed: 10.0.0.53: outlook 10.1.0.50 -> 10.2.0.50"),
])
def test_events_read_as_sentences(event: Event, words: str) -> None:
    assert sentence(event)[0] == words


def test_an_event_line_shows_markup_from_the_network_literally() -> None:
    event = Event(T0, "Site-A", "CAS1", Kind.NODE_DEGRADED,
                  "in pool but failing: ews L7STS HTTP 503 via [red]pwned[/red]")
    line = event_line(event, with_site=True)
    assert line.plain == ("08:00:00 Site-A CAS1 degraded, in pool but failing: ews L7STS "
                          "HTTP 503 via [red]pwned[/red]")
    assert all(str(span.style) != "red" for span in line.spans)  # not turned into a style


def check(ok: bool | None, code: str = "", latency: float | None = None,
          status: int | None = None, name: str = "owa") -> CheckView:
    facts = {} if status is None else {"status": status}
    return CheckView(name, "http", "pool", ok, code, latency, "", facts)


def test_check_cells_say_pass_with_latency_and_fail_with_the_cause() -> None:
    assert check_cell(check(True, "L7OK", 3.4)).plain == "✓ 3ms"
    assert check_cell(check(True, "L7OK", 0.2)).plain == "✓ <1ms"
    assert check_cell(check(True, "L7OK", 1234)).plain == "✓ 1.2s"
    assert check_cell(check(False, "L7STS", 12, status=503)).plain == "✗ 503"
    assert check_cell(check(False, "L4TOUT")).plain == "✗ TOUT"
    assert check_cell(check(False, "L4CON")).plain == "✗ CON"
    assert check_cell(check(None)).plain == "·"


def test_the_narrow_summary_names_the_failing_checks() -> None:
    ok = check(True, "L4OK", 1, name="epm")
    assert failing_summary((ok, check(True, "L7OK", 2))).plain == "✓ all 2"
    assert failing_summary((ok, check(False, "L7STS", 5, status=503, name="ews"))).plain == \
        "✗ ews 503"
    dead = (check(False, "L4CON", name="epm"), check(False, "L4CON", name="owa"))
    assert failing_summary(dead).plain == "✗ all 2 CON"


def test_the_header_keeps_status_pool_and_alerts_when_the_line_is_short() -> None:
    info = HeaderInfo(status=Status.WARNING, now=T0, in_pool=4, nodes=5, unacked=2,
                      slowest_round=0.31, interval=2.0)
    wide = header_line(info, 200, UTC).plain
    assert "castui" in wide and "poll 0.31s/2s" in wide
    narrow = header_line(info, 60, UTC).plain
    assert "castui" not in narrow
    for part in ("WARNING", "08:00:00 UTC", "pool 4/5", "2 alerts unacked"):
        assert part in narrow
    lagging = HeaderInfo(status=Status.OK, now=T0, in_pool=5, nodes=5, unacked=0,
                         slowest_round=2.5, interval=2.0, frozen=True)
    line = header_line(lagging, 60, UTC).plain
    assert "FROZEN" in line and "poll LAGGING 2.50s/2s" in line and "no alerts" in line
