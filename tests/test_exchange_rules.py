"""Exchange 2016+ estates, the rules: RPC checks per site, one pool per vdir (`partial`),
Exchange's own maintenance explaining a node's drops, a component left Inactive, the balancer
holding a healthy node out, and a balancer health check that passes on a redirect.

The real Monitor folds fixed probe results at fixed instants (the rules need no network); the
node agent's component states stand in for what it reads from the Windows registry.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.registry import CollectorRegistry

from castui.cli.check import render_json, render_text
from castui.cli.watch import format_event
from castui.config import ConfigError, parse_config
from castui.engine.monitor import Monitor
from castui.engine.targets import build_targets, target_key
from castui.history import EventStore
from castui.metrics.collector import CastuiCollector, Reading
from castui.model.balancer import ServerView
from castui.model.events import Event, Kind
from castui.model.results import Code, Error, ProbeResult
from castui.model.status import Status
from tests.support.ui_estate import FrozenClock

T0 = datetime(2026, 12, 4, 17, 0, 0, tzinfo=UTC)
CONFIG = """
[defaults]
interval = 2
timeout = 1.5
rise = 1
fall = 1

[[sites]]
name = "Site-A"
array_fqdn = "mail.site-a.corp.local"
vip = "127.0.74.50"
profile = "exchange2016"
lb_scope = "{scope}"
agent_token_file = "{token}"
nodes = [
  {{ name = "CAS1", address = "127.0.74.21", agent = "http://127.0.74.21:8799" }},
  {{ name = "CAS2", address = "127.0.74.22", agent = "http://127.0.74.22:8799" }},
]

[[sites]]
name = "Site-B"
array_fqdn = "mail.site-b.corp.local"
vip = "127.0.75.50"
profile = "exchange2016"
rpc_checks = true
nodes = [{{ name = "CAS3", address = "127.0.75.21" }}]
"""
GOOD = ProbeResult(True, Code.L7OK, "ok", latency_ms=1.0)
HTTP_503 = ProbeResult(False, Code.L7STS, "HTTP 503, expected 200", latency_ms=1.0,
                       error=Error.STATUS, facts={"status": 503})


def components(**states: tuple[str, dict[str, str]]) -> dict[str, Any]:
    """The agent's `components`: every known one Active unless given (state, requesters)."""
    out: dict[str, Any] = {name: {"state": "Active", "requesters": {}}
                           for name in ("ServerWideOffline", "HubTransport", "EwsProxy")}
    for name, (state, requesters) in states.items():
        out[name] = {"state": state, "requesters": requesters}
    return out


def agent(found: dict[str, Any] | None) -> ProbeResult:
    facts: dict[str, Any] = {"connections": {443: {"established": 5}}}
    if found is not None:
        facts["components"] = found
    return ProbeResult(True, Code.L7OK, "agent ok", latency_ms=1.0, facts=facts)


class Rig:
    """A monitor on a frozen clock over a real history, fed rounds by hand."""

    def __init__(self, tmp_path: Path, scope: str = "server") -> None:
        self.clock = FrozenClock(T0)
        self.store = EventStore(tmp_path / "history.sqlite3")
        token = tmp_path / "agent.token"
        token.write_text("t0ken-for-the-castui-tests-0123456789\n")
        self.config = parse_config(CONFIG.format(scope=scope, token=token), "estate.toml")
        self.monitor = Monitor(self.config, store=self.store, clock=self.clock)
        self.events: list[Event] = []
        self.monitor.subscribe(self.events.append)

    def round(self, subject: str, *, said: dict[str, Any] | None = None,
              failing: tuple[str, ...] = ()) -> None:
        """One round of Site-A's `subject`: `failing` checks answer 503, the agent says `said`."""
        key = target_key("Site-A", subject)
        results = {}
        for name, check in self.monitor.states[key].checks.items():
            if check.spec.kind == "agent":
                results[name] = agent(said)
            else:
                results[name] = HTTP_503 if name in failing else GOOD
        self.clock.advance(2)
        self.monitor.complete_round(key, results)

    def steady(self, said: dict[str, Any] | None = None) -> None:
        self.round("CAS1", said=said)
        self.round("CAS2", said=said)
        self.round("vip")

    def of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind]


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    rig = Rig(tmp_path)
    try:
        yield rig
    finally:
        rig.store.close()


@pytest.fixture
def vdir_rig(tmp_path: Path) -> Iterator[Rig]:
    rig = Rig(tmp_path, "vdir")
    try:
        yield rig
    finally:
        rig.store.close()


# -- RPC checks per site -----------------------------------------------------------------------


def test_rpc_checks_come_back_on_a_site_that_asks_for_them(rig: Rig) -> None:
    targets = {t.key: t for t in build_targets(rig.config)}
    https_only = {c.name for c in targets["Site-A/CAS1"].checks}
    mixed = {c.name for c in targets["Site-B/CAS3"].checks}
    assert not https_only & {"epm", "epmap"}, "exchange2016 has no RPC checks by default"
    assert {"epm", "epmap"} <= mixed, "rpc_checks = true brings them back for a mixed estate"
    assert "owa" in mixed and "mapihttp" in mixed


def test_site_keys_are_checked() -> None:
    bad = CONFIG.replace('lb_scope = "{scope}"', 'lb_scope = "vdirs"').replace(
        "rpc_checks = true", 'rpc_checks = "yes"').format(token="t")
    with pytest.raises(ConfigError) as err:
        parse_config(bad, "estate.toml")
    text = str(err.value)
    assert "sites[0].lb_scope: unknown lb_scope 'vdirs' (did you mean 'vdir'?)" in text
    assert "sites[1].rpc_checks: expected true or false, got string 'yes'" in text


# -- one pool per vdir: partial ----------------------------------------------------------------


def test_per_vdir_a_node_with_some_pool_vdirs_out_is_partial_not_down(vdir_rig: Rig) -> None:
    rig = vdir_rig
    rig.steady()
    rig.round("CAS2", failing=("ews", "mapihttp", "ecp"))
    node = rig.monitor.snapshot().sites[0].nodes[1]
    assert node.state == "partial" and node.in_pool()
    assert node.status_text == "UP 3/5 vdirs (ews, mapihttp out)"
    assert node.vdirs_out == ("ews", "mapihttp")
    assert not rig.of(Kind.NODE_DOWN)
    [partial] = rig.of(Kind.NODE_PARTIAL)
    assert partial.data["out"] == ["ews", "mapihttp"]
    assert partial.data["in"] == ["owa", "autodiscover", "eas"]
    assert partial.detail.startswith("ews, mapihttp out of pool, owa, autodiscover, eas in: ews")
    site = rig.monitor.snapshot().sites[0]
    assert site.status is Status.WARNING
    assert "CAS2 UP 3/5 vdirs (ews, mapihttp out)" in site.reasons
    # `check` and `check --format json` print the engine's words.
    snap = rig.monitor.snapshot()
    assert "CAS2 UP 3/5 vdirs (ews, mapihttp out)" in render_text(snap, rig.config.defaults)
    cas2 = json.loads(render_json(snap))["sites"][0]["nodes"][1]
    assert cas2["state"] == "partial" and cas2["vdirs_out"] == ["ews", "mapihttp"]
    # Every pool vdir out is the node out.
    rig.round("CAS2", failing=("owa", "ews", "mapihttp", "eas", "autodiscover"))
    assert rig.monitor.snapshot().sites[0].nodes[1].state == "down"
    assert len(rig.of(Kind.NODE_DOWN)) == 1
    rig.round("CAS2")
    [cleared] = rig.of(Kind.NODE_PARTIAL_CLEARED) or [None]
    assert cleared is None, "back from DOWN is node_up, not a partial clearing"
    assert rig.monitor.snapshot().sites[0].nodes[1].state == "up"
    rig.round("CAS2", failing=("eas",))
    rig.round("CAS2")
    assert [e.data["was_out"] for e in rig.of(Kind.NODE_PARTIAL_CLEARED)] == [["eas"]]


def test_per_server_the_same_failure_is_simply_down(rig: Rig) -> None:
    rig.steady()
    rig.round("CAS2", failing=("ews",))
    assert rig.monitor.snapshot().sites[0].nodes[1].state == "down"
    assert not rig.of(Kind.NODE_PARTIAL)


def test_partial_is_a_state_of_castui_node_state(vdir_rig: Rig) -> None:
    vdir_rig.steady()
    vdir_rig.round("CAS2", failing=("ews",))
    reading = Reading(vdir_rig.monitor.snapshot(), {}, {"Site-A": 0, "Site-B": 0})
    registry = CollectorRegistry()
    registry.register(CastuiCollector(lambda: reading))
    text = generate_latest(registry).decode()
    assert 'castui_node_state{node="CAS2",site="Site-A",state="partial"} 1.0' in text
    assert 'castui_node_state{node="CAS2",site="Site-A",state="up"} 0.0' in text


# -- Exchange's own maintenance --------------------------------------------------------------

MAINTENANCE = components(ServerWideOffline=("Inactive", {"Maintenance": "Inactive"}),
                         HubTransport=("Draining", {"Maintenance": "Draining"}))


def test_a_drop_under_exchange_maintenance_is_expected_and_raises_no_alert(rig: Rig) -> None:
    rig.steady(components())
    rig.round("CAS2", said=components(HubTransport=("Draining", {"Maintenance": "Draining"})))
    node = rig.monitor.snapshot().sites[0].nodes[1]
    assert node.in_maintenance and node.state == "up", "draining first: in, but expected"
    assert node.maintenance_by == "Exchange says HubTransport Draining (Maintenance)"
    rig.round("CAS2", said=MAINTENANCE, failing=("owa", "ews", "mapihttp", "eas"))
    [down] = rig.of(Kind.NODE_DOWN)
    assert down.data["exchange_maintenance"] == \
        "Exchange says ServerWideOffline Inactive (Maintenance)"
    assert down.data["maintenance"] == "Site-A/CAS2"
    assert not [a for a in rig.monitor.alerts if a.event.kind == Kind.NODE_DOWN]
    assert format_event(down, "text").endswith(
        "(expected: Exchange says ServerWideOffline Inactive (Maintenance))")
    assert json.loads(format_event(down, "jsonl"))["alert"] is False
    node = rig.monitor.snapshot().sites[0].nodes[1]
    assert node.maintenance is None, "no castui mark: Exchange's own"
    assert node.maintenance_by == "Exchange says ServerWideOffline Inactive (Maintenance)"
    site = rig.monitor.snapshot().sites[0]
    assert "CAS2 DOWN (Exchange says ServerWideOffline Inactive (Maintenance))" in site.reasons


def test_a_drop_with_exchange_active_still_alerts(rig: Rig) -> None:
    rig.steady(components())
    rig.round("CAS2", said=components(), failing=("owa",))
    [down] = rig.of(Kind.NODE_DOWN)
    assert "exchange_maintenance" not in down.data and "maintenance" not in down.data
    assert [a.event.kind for a in rig.monitor.alerts] == [Kind.NODE_DOWN]


def test_exchange_maintenance_is_kept_while_the_agent_is_gone(rig: Rig) -> None:
    """The patch reboot: the agent stops answering; what it said last still explains."""
    rig.steady(components())
    rig.round("CAS2", said=MAINTENANCE, failing=("owa",))
    key = target_key("Site-A", "CAS2")
    gone = {name: ProbeResult(False, Code.L4CON, "connection refused", error=Error.REFUSED)
            for name in rig.monitor.states[key].checks}
    rig.monitor.complete_round(key, gone)
    assert rig.monitor.snapshot().sites[0].nodes[1].in_maintenance


def test_a_component_left_inactive_after_maintenance_is_a_warning(rig: Rig) -> None:
    rig.steady(components())
    rig.round("CAS2", said=MAINTENANCE, failing=("owa",))
    rig.round("CAS2", said=components(EwsProxy=("Inactive", {"Deployment": "Inactive"}),
                                      ForwardSyncDaemon=("Inactive", {"Deployment": "Inactive"})))
    site = rig.monitor.snapshot().sites[0]
    assert site.nodes[1].left_inactive == ("EwsProxy (Deployment)",)
    assert "CAS2: component EwsProxy (Deployment) Inactive outside maintenance" in site.reasons
    assert site.status is Status.WARNING
    assert not any("ForwardSyncDaemon" in r for r in site.reasons), "born inactive on-premises"


def test_the_balancer_holding_out_a_node_exchange_calls_active_is_said(rig: Rig) -> None:
    rig.steady(components())
    watch = rig.monitor.sites["Site-A"]
    watch.lb_views = {"CAS1": ServerView("https", "CAS1", "UP"),
                      "CAS2": ServerView("https", "CAS2", "DOWN", "L7STS", check_code=404)}
    site = rig.monitor.snapshot().sites[0]
    assert site.nodes[1].lb_holds_healthy
    assert ("CAS2: balancer holds it out (DOWN) while Exchange says Active and its pages "
            "answer 200") in site.reasons


# -- a balancer check that would lie ---------------------------------------------------------


def test_a_server_up_on_a_redirect_is_a_loose_check() -> None:
    loose = ServerView("https", "CAS1", "UP", "L7OK", check_code=302)
    assert loose.loose_check is not None and "HTTP 302" in loose.loose_check
    assert ServerView("https", "CAS1", "UP", "L7OK", check_code=200).loose_check is None
    assert ServerView("https", "CAS1", "DOWN", "L7STS", check_code=302).loose_check is None
