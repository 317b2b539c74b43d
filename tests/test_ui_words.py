"""The console's wording: events in sentences, check cells, the header line."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta

import pytest
from rich.console import Console
from rich.text import Text

from castui.engine.snapshot import CheckView, TargetView
from castui.model.alerts import Alert
from castui.model.balancer import ServerView
from castui.model.events import Event, Kind
from castui.model.marks import MaintenanceMark
from castui.model.status import Status
from castui.ui.cells import check_cell, check_facts, failing_summary, lb_cell, mark_cell, pool_cell
from castui.ui.palette import pal, use_palette
from castui.ui.sentences import event_line, sentence
from castui.ui.widgets.alert_list import ack_cell
from castui.ui.widgets.header import HeaderInfo, header_line
from castui.ui.widgets.site_panel import vip_line

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


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
                         slowest_round=2.5, interval=2.0, lagging=True, frozen=True)
    line = header_line(lagging, 60, UTC).plain
    assert "FROZEN" in line and "poll LAGGING 2.50s/2s" in line and "no alerts" in line


def test_the_poll_interval_is_written_like_the_round_time() -> None:
    info = HeaderInfo(status=Status.OK, now=T0, in_pool=5, nodes=5, unacked=0,
                      slowest_round=0.31, interval=2 / 3)
    assert "poll 0.31s/0.67s" in header_line(info, 200, UTC).plain
    for interval, shown in ((1.5, "1.5s"), (0.5, "0.5s"), (15.0, "15s")):
        info = HeaderInfo(status=Status.OK, now=T0, in_pool=5, nodes=5, unacked=0,
                          slowest_round=0.31, interval=interval)
        assert f"poll 0.31s/{shown}" in header_line(info, 200, UTC).plain


def blank_led_spans(text: Text) -> list[str]:
    """Spans of `text`, as drawn, that start with blanks and go on with something visible:
    SVG viewers such as rsvg drop those blanks, gluing the part to the one before."""
    console = Console(width=400, force_terminal=True, color_system=None)
    return [segment.text for segment in text.render(console)
            if re.match(r"\s+\S", segment.text)]


def test_parts_of_a_line_keep_their_separator_in_any_svg_viewer() -> None:
    info = HeaderInfo(status=Status.WARNING, now=T0, in_pool=4, nodes=5, unacked=2,
                      slowest_round=0.31, interval=2.0)
    assert blank_led_spans(header_line(info, 200, UTC)) == []
    ok = CheckView("owa", "http", "pool", True, "L7OK", 65.0, "", {})
    vip = TargetView("Site-A", "vip", "vip", "127.43.1.50", None, "up", "UP", (ok,), T0, 9)
    line = vip_line(vip, 2, 3, {"CAS1": 3, "CAS3": 3}, ("CAS1", "CAS2", "CAS3"))
    assert line.plain == ("VIP 127.43.1.50 ━ UP  owa 65ms  │ 2/3 nodes in pool  │ "
                          "answers: CAS1 3 · CAS2 0 · CAS3 3")
    assert blank_led_spans(line) == []


@pytest.mark.parametrize(("event", "words"), [
    (Event(T0, "A", "dns", Kind.DNS_SPLIT, "resolvers disagree: 10.0.0.53 says 10.1.0.50; "
           "10.0.0.54 says 10.2.0.50"),
     "DNS split: resolvers disagree: 10.0.0.53 says 10.1.0.50; 10.0.0.54 says 10.2.0.50"),
    (Event(T0, "A", "dns", Kind.DNS_AGREED, "every resolver gives the same answer again"),
     "DNS resolvers agree again"),
    (Event(T0, "A", "dns", Kind.DNS_WARNING, "TTL 3600 s above 300 s: a DNS failover takes "
           "that long to reach every client", data={"rule": "ttl"}),
     "DNS hygiene (ttl): TTL 3600 s above 300 s: a DNS failover takes that long to reach "
     "every client"),
    (Event(T0, "A", "dns", Kind.DNS_WARNING_CLEARED, "TTL within limit", data={"rule": "ttl"}),
     "DNS hygiene (ttl) fine again: TTL within limit"),
    (Event(T0, "A", "CAS2", Kind.CERT_EXPIRING, "certificate expires in 12 days",
           data={"check": "tls"}), "CAS2 certificate expires in 12 days"),
    (Event(T0, "A", "CAS2", Kind.LB_DISAGREES, "balancer still routes to CAS2 (UP, L4OK), "
           "castui sees it DEGRADED for 14 s"),
     "balancer still routes to CAS2 (UP, L4OK), castui sees it DEGRADED for 14 s"),
    (Event(T0, "A", "CAS2", Kind.LB_AGREES, "balancer and castui agree on CAS2 again: "
           "balancer UP, castui UP", duration_s=75), "balancer and castui agree on CAS2 again "
                                                     "after 1m15s"),
    (Event(T0, "A", "CAS2", Kind.LB_ADMIN, "set https/CAS2 state drain from castui",
           data={"state": "drain"}),
     "CAS2 set drain on the balancer from castui (set https/CAS2 state drain from castui)"),
    (Event(T0, "A", "lb", Kind.LB_UNREACHABLE, "HAProxy socket /run/x.sock: no such socket"),
     "balancer unreadable: HAProxy socket /run/x.sock: no such socket"),
    (Event(T0, "A", "lb", Kind.LB_REACHABLE, "balancer answers again"),
     "balancer readable again"),
    (Event(T0, "A", "pool", Kind.POOL_SKEWED, "CAS1 holds 80% of 412 connections (even share "
           "33%)"), "load skewed: CAS1 holds 80% of 412 connections (even share 33%)"),
    (Event(T0, "A", "pool", Kind.POOL_BALANCED, "CAS1 holds 35% of 400 connections (even "
           "share 33%)", duration_s=1800),
     "load even again after 30m00s: CAS1 holds 35% of 400 connections (even share 33%)"),
    (Event(T0, "A", "vip", Kind.VIP_SKIPS_NODE, "CAS2 is in the pool but answered none of the "
           "last 10 rounds of requests through the VIP", data={"node": "CAS2"}),
     "VIP skips a node: CAS2 is in the pool but answered none of the last 10 rounds of "
     "requests through the VIP"),
])
def test_deep_check_and_balancer_events_read_as_sentences(event: Event, words: str) -> None:
    text, style = sentence(event)
    assert text == words
    assert style  # each has its colour; none falls back to the generic sentence


def test_a_passing_check_with_a_warning_is_marked_in_its_cell_and_the_summary() -> None:
    tls = CheckView("tls", "tls", "service", True, "TLSOK", 41.2, "valid 12 more days", {},
                    warning="expires in 12 days")
    cell = check_cell(tls)
    assert cell.plain == "⚠ 41ms" and str(cell.style) == pal().warn
    owa = check(True, "L7OK", 2)
    assert failing_summary((owa, tls)).plain == "✓ all 2, ⚠ tls"
    ews = check(False, "L7STS", 5, status=503, name="ews")
    assert failing_summary((ews, tls)).plain == "✗ ews 503, ⚠ tls"


def node_with(lb: ServerView | None, state: str = "up", text: str = "UP") -> TargetView:
    return TargetView("Site-A", "CAS2", "node", "127.0.61.22", None, state, text, (), T0, 5,
                      lb=lb)


def test_the_balancer_cell_says_its_word_and_marks_a_disagreement() -> None:
    drained = ServerView("https", "CAS2", "DRAIN", "L4OK", 4)
    assert lb_cell(node_with(ServerView("https", "CAS2", "UP", "L4OK")), None).plain == "UP"
    assert lb_cell(node_with(ServerView("https", "CAS2", "UP 2/3")), None).plain == "UP 2/3"
    assert lb_cell(node_with(drained), None).plain == "≠ DRAIN"  # castui says UP
    assert lb_cell(node_with(drained, "down", "DOWN"), None).plain == "DRAIN"  # both: out
    still = lb_cell(node_with(ServerView("https", "CAS2", "UP"), "degraded", "DEGRADED"), None)
    assert still.plain == "≠ UP" and str(still.style) == pal().alarm
    assert lb_cell(node_with(None), None).plain == "–"
    assert lb_cell(node_with(drained), "HAProxy socket: no such socket").plain == "?"


def test_a_node_castui_has_no_verdict_on_yet_disagrees_with_nobody() -> None:
    """At start-up every node is `unknown` until its first rounds: no ≠ on the whole table,
    the same rule as the engine's lb_disagrees event."""
    for status in ("UP", "DRAIN", "DOWN"):
        unknown = node_with(ServerView("https", "CAS2", status), "unknown", "no data")
        assert not unknown.lb_disagrees
        assert not lb_cell(unknown, None).plain.startswith("≠")


def test_the_detail_pane_spells_out_what_checks_found() -> None:
    epm = CheckView("epmap", "epm", "service", True, "EPMOK", 8.0, "bind accepted",
                    {"bind": "accepted", "mapped": {"MSExchangeRPC": 59531},
                     "mapped_tcp": {"MSExchangeRPC": "L4OK"}, "not_registered": []})
    assert check_facts(epm) == "mapped MSExchangeRPC → 59531 L4OK"
    tls = CheckView("tls", "tls", "service", True, "TLSOK", 3.0, "valid", {
        "names": ["cas2.corp.local", "[red]mail.corp.local"], "days_left": 12,
        "not_after": "2026-12-03T00:00:00+00:00", "missing": []})
    assert check_facts(tls) == ("names cas2.corp.local, [red]mail.corp.local · 12 days left, "
                                "until 2026-12-03")
    agent = CheckView("agent", "agent", "info", True, "L7OK", 3.0, "", {
        "connections": {"443": {"established": 40, "remotes": 12, "listening": True}},
        "cpu_percent": 12.4, "memory_percent": 40.0,
        "services": {"W3SVC": {"status": "stopped", "start_type": "automatic"}}})
    assert check_facts(agent) == ("port 443: 40 established, 12 remote · cpu 12% · mem 40% · "
                                  "not running W3SVC")


def test_without_colour_warnings_and_disagreements_keep_their_glyphs() -> None:
    use_palette(monochrome=True)
    try:
        tls = CheckView("tls", "tls", "service", True, "TLSOK", 41.2, "", {},
                        warning="expires in 12 days")
        cell = check_cell(tls)
        assert cell.plain.startswith("⚠") and "red" not in str(cell.style)
        dropped = lb_cell(node_with(ServerView("https", "CAS2", "DOWN")), None)
        assert dropped.plain == "≠ DOWN" and "reverse" in str(dropped.style)
        # An operator's own DRAIN is expected: calm, but still marked as a disagreement.
        drained = lb_cell(node_with(ServerView("https", "CAS2", "DRAIN")), None)
        assert drained.plain == "≠ DRAIN" and str(drained.style) == "italic"
    finally:
        use_palette(monochrome=False)


# -- issue #7: the alert workflow's events, marks and the drill in the header -----------------

UNTIL = "2026-11-21T08:45:00Z"


@pytest.mark.parametrize(("event", "words"), [
    (Event(T0, "A", "vip", Kind.VIP_PROBE_FAILED, "VIP probe failed: owa L4CON connection "
           "refused", data={"probe_at": "2026-11-21T07:59:59.500Z"}),
     "VIP probe failed: owa L4CON connection refused"),
    (Event(T0, "A", "vip", Kind.VIP_PROBE_OK, "VIP answers probes again", duration_s=1.23),
     "VIP answering probes again after 1.2s"),
    (Event(T0, "A", "CAS2", Kind.LB_DOWN, "balancer marked CAS2 DOWN (L4CON)",
           data={"lb_status": "DOWN"}), "balancer marked CAS2 DOWN (L4CON)"),
    (Event(T0, "A", "CAS2", Kind.LB_UP, "balancer routes to CAS2 again (UP)",
           data={"lb_status": "UP"}), "balancer routes to CAS2 again"),
    (Event(T0, "A", "CAS2", Kind.NODE_FLAPPING, "4 state changes in 16 s; further changes "
           "raise no alert until it is stable for 5 min", data={"changes": 4}),
     "CAS2 flapping: 4 state changes in 16 s; further changes raise no alert until it is "
     "stable for 5 min"),
    (Event(T0, "A", "CAS2", Kind.NODE_FLAPPING_CLEARED, "stable for 5 min, no longer flapping",
           duration_s=62), "CAS2 stable for 5 min, no longer flapping (flapped for 1m02s)"),
    (Event(T0, "*", "drill", Kind.DRILL_STARTED, "drill 'dr-test' started by alice",
           data={"drill": "dr-test", "by": "alice"}), "drill 'dr-test' started by alice"),
    (Event(T0, "*", "drill", Kind.DRILL_ENDED, "drill 'dr-test' ended by alice",
           duration_s=723, data={"drill": "dr-test", "by": "alice"}),
     "drill 'dr-test' ended by alice after 12m03s"),
    # Issue #12: a drill whose recorder died, resumed or ended: the time nobody watched.
    (Event(T0, "*", "drill", Kind.DRILL_RESUMED, "…", duration_s=148, data={
        "drill": "dr-test", "by": "bob", "gap_start": "2026-11-21T07:57:32Z",
        "gap_end": "2026-11-21T08:00:00Z"}),
     "drill 'dr-test' resumed by bob: not observed for 2m28s (its recorder was gone)"),
    (Event(T0, "*", "drill", Kind.DRILL_ENDED, "…", duration_s=723, data={
        "drill": "dr-test", "by": "bob", "gap_start": "2026-11-21T07:57:32Z"}),
     "drill 'dr-test' ended by bob after 12m03s; not observed since 07:57 UTC"),
    (Event(T0, "Site-A", "CAS2", Kind.MAINT_SET, "…", data={
        "until": UNTIL, "by": "alice", "reason": "kernel patch"}),
     "maintenance Site-A/CAS2 until 08:45 UTC, set by alice: kernel patch"),
    (Event(T0, "Site-A", "site", Kind.MAINT_SET, "…", data={
        "until": "2026-11-23T08:45:00Z", "by": "bob", "reason": ""}),
     "maintenance Site-A until 23 Nov 08:45 UTC, set by bob"),
    (Event(T0, "Site-A", "CAS2", Kind.MAINT_CLEARED, "…", data={"until": UNTIL, "by": "bob"}),
     "maintenance Site-A/CAS2 cleared by bob"),
    (Event(T0, "*", "pager", Kind.NOTIFY_FAILED, "notifier pager: exit status 3: no route"),
     "notifier pager failed: exit status 3: no route"),
])
def test_workflow_events_read_as_sentences(event: Event, words: str) -> None:
    text, style = sentence(event)
    assert text == words
    assert style


def test_expected_and_flapping_changes_say_so_and_expected_ones_are_calm() -> None:
    down = Event(T0, "Site-A", "CAS2", Kind.NODE_DOWN, "epm L4CON connection refused",
                 data={"maintenance": "Site-A/CAS2"})
    text, style = sentence(down)
    assert text == "CAS2 out of pool (expected: maintenance Site-A/CAS2): epm L4CON connection " \
                   "refused"
    assert style == pal().calm and style not in (pal().bad, pal().alarm)
    up = Event(T0, "Site-A", "CAS2", Kind.NODE_UP, "back in pool", duration_s=4,
               data={"flapping": True})
    assert sentence(up) == ("CAS2 back in pool after 4s (flapping)", pal().good)
    vip = Event(T0, "Site-A", "vip", Kind.VIP_DOWN, "owa L4CON", data={"maintenance": "Site-A",
                                                                      "flapping": True})
    assert sentence(vip)[0] == "VIP down (expected: maintenance Site-A; flapping): owa L4CON"


def test_a_drill_or_notifier_event_line_names_no_site() -> None:
    event = Event(T0, "*", "drill", Kind.DRILL_STARTED, "",
                  data={"drill": "[red]x[/red]", "by": "alice"})
    line = event_line(event, with_site=True)
    assert line.plain == "08:00:00 drill '[red]x[/red]' started by alice"


def test_marked_and_flapping_nodes_say_so_in_their_cells() -> None:
    node = TargetView("Site-A", "CAS2", "node", "127.0.61.22", None, "down", "DOWN", (), T0, 5)
    assert mark_cell(node, T0).plain == ""
    mark = MaintenanceMark(1, "Site-A", "CAS2", T0, T0 + timedelta(minutes=45))
    marked = dataclasses.replace(node, maintenance=mark)
    assert mark_cell(marked, T0).plain == "MAINT 08:45"
    assert mark_cell(dataclasses.replace(marked, flapping=True), T0).plain == "MAINT 08:45"
    later = dataclasses.replace(node, maintenance=dataclasses.replace(
        mark, ends=T0 + timedelta(days=2)))
    assert mark_cell(later, T0).plain == "MAINT 23 Nov"
    assert mark_cell(dataclasses.replace(node, flapping=True), T0).plain == "FLAP"
    assert str(pool_cell("down", "DOWN").style) == pal().alarm
    assert str(pool_cell("down", "DOWN", expected=True).style) == pal().calm


def test_the_header_keeps_a_running_drill_even_at_80_columns() -> None:
    info = HeaderInfo(status=Status.WARNING, now=T0, in_pool=4, nodes=5, unacked=2,
                      slowest_round=0.31, interval=2.0, drill="dr-test", drill_s=192)
    assert "DRILL dr-test 03:12" in header_line(info, 200, UTC).plain
    assert "DRILL dr-test 03:12" in header_line(info, 80, UTC).plain
    long_name = dataclasses.replace(info, drill="failover-2026-q4-site-a", unacked=12)
    assert "DRILL failover-2026-q4-site-a 03:12" in header_line(long_name, 200, UTC).plain
    for width, drill in ((90, "DRILL failover-20… 03:12"), (80, "DRILL 03:12")):
        line = header_line(long_name, width, UTC)
        assert line.cell_len <= width, width
        for part in ("WARNING", drill, "08:00:00 UTC", "pool 4/5", "⚑ 12 unacked"):
            assert part in line.plain, (width, part)
    hours = dataclasses.replace(info, drill_s=3 * 3600 + 62)
    assert "DRILL dr-test 3:01:02" in header_line(hours, 200, UTC).plain


def test_the_ack_cell_says_who_and_when() -> None:
    alert = Alert(7, Event(T0, "A", "CAS2", Kind.NODE_DOWN, "x"))
    assert ack_cell(alert, wide=True).plain == "NEW"
    alert.acked_at, alert.acked_by = T0 + timedelta(minutes=3), "administrator"
    assert ack_cell(alert, wide=True).plain == "✓ admini… 08:03"
    assert ack_cell(alert, wide=False).plain == "✓"
