"""The verdicts every front-end shows, decided once in the engine: the snapshot's fields, alert
severity, the maintenance desk's rules (the console's `M` and `castui maint` both go through
it) and polling's pace (`poll_lagging` / `poll_caught_up`, the console header's LAGGING).

The real Monitor folds fixed probe results at fixed instants (no network is needed for rules);
the history is a real SQLite file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from castui.cli.watch import format_event
from castui.config import parse_config
from castui.engine.maintenance import (
    MAX_MAINTENANCE,
    MaintenanceDesk,
    MaintenanceError,
    TooLong,
    parse_target,
)
from castui.engine.monitor import Monitor
from castui.engine.targets import target_key
from castui.engine.timeline import expected_buckets
from castui.history import EventStore
from castui.model.alerts import Alert
from castui.model.events import Event, Kind
from castui.model.results import Code, Error, ProbeResult
from tests.support.ui_estate import FrozenClock

T0 = datetime(2026, 11, 21, 8, 0, 0, tzinfo=UTC)
VIP = "127.0.72.50"
CONFIG = """
[defaults]
interval = 2
timeout = 1.5
rise = 1
fall = 1
skew_max = 1.5
skew_min_connections = 20

[[sites]]
name = "Site-A"
array_fqdn = "outlook.site-a.corp.local"
vip = "{vip}"
dns_servers = ["127.0.72.53", "127.0.72.54"]
agent_token_file = "{token}"
nodes = [
  {{ name = "CAS1", address = "127.0.72.21", agent = "http://127.0.72.21:8799" }},
  {{ name = "CAS2", address = "127.0.72.22", agent = "http://127.0.72.22:8799" }},
]

[[sites]]
name = "Site-B"
array_fqdn = "outlook.site-b.corp.local"
vip = "127.0.73.50"
nodes = [{{ name = "CAS3", address = "127.0.73.21" }}]
"""
GOOD = ProbeResult(True, Code.L7OK, "ok", latency_ms=1.0)
BAD = ProbeResult(False, Code.L4CON, "connection refused", error=Error.REFUSED)


def agent(established: int) -> ProbeResult:
    return ProbeResult(True, Code.L7OK, "agent ok", latency_ms=1.0,
                       facts={"connections": {"443": {"established": established}}})


def dns(*addresses: str) -> ProbeResult:
    ok = VIP in addresses
    return ProbeResult(ok, Code.L7OK if ok else Code.DNSFAIL, ",".join(addresses),
                       latency_ms=1.0, facts={"addresses": list(addresses), "ttl": 300})


class Rig:
    """A monitor on a frozen clock over a real history, fed rounds by hand."""

    def __init__(self, tmp_path: Path) -> None:
        self.clock = FrozenClock(T0)
        self.store = EventStore(tmp_path / "history.sqlite3")
        token = tmp_path / "agent.token"
        token.write_text("t0ken-for-the-castui-tests-0123456789\n")
        self.config = parse_config(CONFIG.format(vip=VIP, token=token), "estate.toml")
        self.monitor = Monitor(self.config, store=self.store, clock=self.clock)
        self.events: list[Event] = []
        self.monitor.subscribe(self.events.append)

    def round(self, site: str, subject: str, result: ProbeResult = GOOD,
              round_s: float | None = None, **by_check: ProbeResult) -> None:
        key = target_key(site, subject)
        results = {name: by_check.get(name, result) for name in self.monitor.states[key].checks}
        self.monitor.complete_round(key, results, round_s)

    def steady(self) -> None:
        for site, subjects in (("Site-A", ("CAS1", "CAS2", "vip")), ("Site-B", ("CAS3", "vip"))):
            for subject in subjects:
                self.round(site, subject)

    def kinds(self, *kinds: str) -> list[str]:
        return [e.kind for e in self.events if e.kind in kinds]


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    rig = Rig(tmp_path)
    try:
        yield rig
    finally:
        rig.store.close()


# -- the snapshot's verdicts ----------------------------------------------------------------


def test_the_site_says_whether_its_load_is_skewed_not_only_how_it_is_spread(rig: Rig) -> None:
    rig.steady()
    rig.round("Site-A", "CAS1", agent=agent(15))
    rig.round("Site-A", "CAS2", agent=agent(15))
    even = rig.monitor.snapshot().sites[0]
    assert even.skew is not None and even.skewed is False
    assert not any("skewed" in reason for reason in even.reasons)
    rig.round("Site-A", "CAS1", agent=agent(90))
    skewed = rig.monitor.snapshot().sites[0]
    assert skewed.skewed is True and skewed.skew is not None
    assert skewed.skew.startswith("CAS1 holds 86%") and f"load skewed: {skewed.skew}" in \
        skewed.reasons
    assert rig.kinds(Kind.POOL_SKEWED) == [Kind.POOL_SKEWED]
    assert rig.monitor.snapshot().sites[1].skewed is False  # no agents: no verdict


def test_each_resolver_is_judged_against_the_vip(rig: Rig) -> None:
    rig.steady()
    rig.round("Site-A", "dns", **{"127.0.72.53": dns(VIP), "127.0.72.54": dns("127.0.72.99")})
    view = rig.monitor.snapshot().sites[0].dns
    assert view is not None and view.ok is False
    assert dict(view.matches_vip) == {"127.0.72.53": True, "127.0.72.54": False}
    rig.round("Site-A", "dns", dns("127.0.72.99", VIP))  # the VIP among other answers
    view = rig.monitor.snapshot().sites[0].dns
    assert view is not None and dict(view.matches_vip) == {"127.0.72.53": True,
                                                           "127.0.72.54": True}


def test_a_node_carries_the_mark_that_covers_it_now(rig: Rig) -> None:
    rig.steady()
    node_mark = rig.monitor.set_maintenance("Site-A", "CAS2", 600, "patching")
    site_mark = rig.monitor.set_maintenance("Site-B", None, 60)
    site_a, site_b = rig.monitor.snapshot().sites
    cas1, cas2 = site_a.nodes
    assert cas1.maintenance is None and cas1.maintenance_until is None
    assert cas2.maintenance == node_mark and cas2.maintenance_until == T0 + timedelta(minutes=10)
    assert site_a.vip.maintenance is None  # a node's mark does not cover the VIP
    assert site_b.nodes[0].maintenance == site_mark and site_b.vip.maintenance == site_mark
    rig.clock.advance(61)
    assert rig.monitor.snapshot().sites[1].nodes[0].maintenance is None  # it has ended


def test_the_timeline_shades_what_a_mark_covered_by_the_marks_own_rule(rig: Rig) -> None:
    node_mark = rig.monitor.set_maintenance("Site-A", "CAS2", 60)  # T0 .. T0+60 s
    rig.clock.advance(120)
    site_mark = rig.monitor.set_maintenance("Site-B", None, 60)  # T0+120 .. T0+180 s
    end = T0 + timedelta(seconds=240)  # four 60 s buckets

    def shaded(site: str, subject: str) -> tuple[bool, ...]:
        return expected_buckets([node_mark, site_mark], site, subject, end=end, seconds=240,
                                width=4)

    assert shaded("site-a", "cas2") == (True, False, False, False)
    assert shaded("Site-A", "vip") == () and shaded("Site-A", "CAS1") == ()
    assert shaded("Site-B", "vip") == shaded("Site-B", "CAS3") == (False, False, True, False)


@pytest.mark.parametrize(("kind", "severity"), [
    (Kind.NODE_DOWN, "critical"), (Kind.VIP_DOWN, "critical"), (Kind.DNS_FAILED, "critical"),
    (Kind.NODE_DEGRADED, "warning"), (Kind.DNS_SPLIT, "warning"),
    (Kind.DNS_CHANGED, "warning"), (Kind.LB_DISAGREES, "warning"),
    (Kind.NODE_FLAPPING, "warning")])
def test_alert_severity_is_decided_once_for_every_front_end(kind: str, severity: str) -> None:
    assert Alert(1, Event(T0, "Site-A", "CAS2", kind, "")).severity == severity


def test_the_engine_raises_critical_alerts_for_a_node_out(rig: Rig) -> None:
    alerts: list[Alert] = []
    rig.monitor.subscribe_alerts(alerts.append)
    rig.steady()
    rig.round("Site-A", "CAS2", BAD)
    assert [(a.event.kind, a.severity) for a in alerts] == [(Kind.NODE_DOWN, "critical")]


# -- maintenance: one desk for the console and `castui maint` ------------------------------


def test_the_desk_takes_names_in_any_case_and_records_the_configured_spelling(
        rig: Rig) -> None:
    desk = MaintenanceDesk(rig.store, rig.config, user="bob", clock=rig.clock)
    mark = desk.set("site-a", "cas2", timedelta(minutes=45), "KB5001\x1b[31m patching")
    assert (mark.site, mark.node, mark.set_by) == ("Site-A", "CAS2", "bob")
    assert mark.reason == "KB5001 patching"  # no escape sequence reaches a screen
    (event,) = rig.store.events()
    assert (event.kind, event.site, event.subject) == (Kind.MAINT_SET, "Site-A", "CAS2")
    # The console's path sees the mark another process set, and clears it by any spelling.
    at = rig.monitor.maintenance_at("SITE-A", "Cas2")
    assert at.node == (mark,) and at.site == ()
    assert [m.id for m in rig.monitor.clear_maintenance("SITE-A", "cas2")] == [mark.id]
    assert [e.kind for e in rig.events] == [Kind.MAINT_CLEARED]
    assert desk.in_force() == []


@pytest.mark.parametrize(("site", "node", "said"), [
    ("Site-Z", None, "no site 'Site-Z' in the config (sites: Site-A, Site-B)"),
    ("Site-A", "CAS9", "no node 'CAS9' in Site-A (nodes: CAS1, CAS2)"),
    ("Site-B", "CAS1", "no node 'CAS1' in Site-B (nodes: CAS3)")])
def test_both_front_ends_refuse_what_the_config_does_not_have(
        rig: Rig, site: str, node: str | None, said: str) -> None:
    desk = MaintenanceDesk(rig.store, rig.config, user="bob", clock=rig.clock)
    for set_mark in (lambda: desk.set(site, node, timedelta(hours=1)),
                     lambda: rig.monitor.set_maintenance(site, node, 3600)):
        with pytest.raises(MaintenanceError) as refused:
            set_mark()
        assert str(refused.value) == said
    assert rig.store.maintenance() == [] and rig.store.events() == []


def test_both_front_ends_hold_the_seven_day_limit(rig: Rig) -> None:
    desk = MaintenanceDesk(rig.store, rig.config, user="bob", clock=rig.clock)
    longest = MAX_MAINTENANCE.total_seconds()
    for set_mark in (lambda s: desk.set("Site-A", "CAS1", timedelta(seconds=s)),
                     lambda s: rig.monitor.set_maintenance("Site-A", "CAS1", s)):
        with pytest.raises(TooLong, match="at most 7d"):
            set_mark(longest + 1)
        with pytest.raises(MaintenanceError, match="more than 0s"):
            set_mark(0)
        assert set_mark(longest).ends == T0 + MAX_MAINTENANCE
    assert len(rig.store.maintenance()) == 2


def test_without_a_config_the_desk_takes_any_name(tmp_path: Path) -> None:
    with EventStore(tmp_path / "h.sqlite3") as store:
        desk = MaintenanceDesk(store, None, user="bob", clock=lambda: T0)
        mark = desk.set("Lab", "X1", timedelta(minutes=5))
        assert mark.target == "Lab/X1" and desk.in_force() == [mark]


def test_marks_at_a_node_split_its_own_from_its_sites_and_skip_ended_ones(rig: Rig) -> None:
    desk = MaintenanceDesk(rig.store, rig.config, user="bob", clock=rig.clock)
    ended = desk.set("Site-A", "CAS2", timedelta(minutes=1))
    rig.clock.advance(120)
    node = desk.set("Site-A", "CAS2", timedelta(minutes=5))
    site = desk.set("Site-A", None, timedelta(minutes=5))
    other = desk.set("Site-A", "CAS1", timedelta(minutes=5))
    at = desk.at("site-a", "cas2")
    assert at.node == (node,) and at.site == (site,)
    assert ended not in at.node and other not in at.node
    cleared = desk.clear("Site-A")  # a site's clear ends its nodes' marks too
    assert {m.id for m in cleared} == {node.id, site.id, other.id}


@pytest.mark.parametrize(("text", "target"), [
    ("Site-A", ("Site-A", None)), ("Site-A/CAS2", ("Site-A", "CAS2"))])
def test_targets_are_site_or_site_slash_node(text: str, target: tuple[str, str | None]) -> None:
    assert parse_target(text) == target


@pytest.mark.parametrize("text", ["", "/CAS2", "Site-A/", "Site-A/CAS2/x"])
def test_anything_else_is_refused_in_one_line(text: str) -> None:
    with pytest.raises(MaintenanceError, match="is not SITE or SITE/NODE"):
        parse_target(text)


# -- polling's pace --------------------------------------------------------------------------


def test_rounds_overrunning_the_interval_are_one_event_and_the_header_verdict(
        rig: Rig) -> None:
    rig.steady()
    assert rig.monitor.snapshot().lagging is False
    rig.round("Site-A", "CAS1", round_s=0.4)
    rig.round("Site-A", "CAS2", round_s=2.5)  # over the 2 s interval
    snap = rig.monitor.snapshot()
    assert (snap.lagging, snap.slowest_round, snap.interval) == (True, 2.5, 2.0)
    rig.clock.advance(2)
    rig.round("Site-A", "CAS2", round_s=3.1)  # still lagging: no second event
    (lagging,) = [e for e in rig.events if e.kind == Kind.POLL_LAGGING]
    assert (lagging.site, lagging.subject) == ("*", "poll")
    assert lagging.detail == "rounds overrun the 2s interval: Site-A/CAS2 took 2.50s"
    assert lagging.data == {"round_s": 2.5, "interval_s": 2.0, "target": "Site-A/CAS2"}
    rig.clock.advance(8)
    rig.round("Site-A", "CAS2", round_s=0.3)
    (caught_up,) = [e for e in rig.events if e.kind == Kind.POLL_CAUGHT_UP]
    assert caught_up.duration_s == 10.0 and caught_up.time == T0 + timedelta(seconds=10)
    assert caught_up.detail == "rounds within the 2s interval again, slowest 0.40s"
    assert rig.monitor.snapshot().lagging is False
    assert [e.kind for e in rig.store.events() if e.subject == "poll"] == [
        Kind.POLL_LAGGING, Kind.POLL_CAUGHT_UP]  # recorded, and never an alert
    assert not any(a.event.subject == "poll" for a in rig.monitor.alerts)


def test_polling_catches_up_only_when_every_slow_target_has(rig: Rig) -> None:
    rig.round("Site-A", "CAS1", round_s=2.2)
    rig.round("Site-B", "CAS3", round_s=2.8)
    rig.round("Site-A", "CAS1", round_s=0.2)
    assert rig.monitor.snapshot().lagging is True  # CAS3's last round still overran
    rig.round("Site-B", "CAS3")  # an untimed round (a preview's) counts for nothing
    assert rig.kinds(Kind.POLL_LAGGING, Kind.POLL_CAUGHT_UP) == [Kind.POLL_LAGGING,
                                                                 Kind.POLL_CAUGHT_UP]
    assert rig.monitor.snapshot().slowest_round == 0.2


def test_watch_prints_the_pace_events_like_any_other(rig: Rig) -> None:
    rig.round("Site-A", "CAS1", round_s=2.5)
    (event,) = rig.events
    line = json.loads(format_event(event, "jsonl"))
    assert (line["event"], line["site"], line["subject"], line["target"]) == (
        "poll_lagging", "*", "poll", "Site-A/CAS1")
    assert format_event(event, "text").endswith(
        "* poll poll_lagging: rounds overrun the 2s interval: Site-A/CAS1 took 2.50s")
