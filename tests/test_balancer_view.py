"""castui's verdict against the balancer's: lb_disagrees after the grace period, lb_agrees after.

The unit tests drive LbComparison with fixed times; the integration test stages the disagreement
NLB is known for (a TCP check that passes on a node whose EWS fails) in a real estate: lab nodes,
a real HAProxy read through the HAProxy adapter, castui's real monitor.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from castui.balancers import HAProxyAdapter, find_server
from castui.engine import Event, Monitor
from castui.engine.balancer_view import LbComparison, default_grace
from castui.lab.certs import LabCA
from castui.model.balancer import ServerView
from castui.model.events import Kind
from tests.support.estate import Estate, estate
from tests.support.net import wait_for
from tests.support.procs import require_binary

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
GRACE = 12.0


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def lb(status: str, check: str | None = "L4OK") -> ServerView:
    return ServerView("https", "CAS2", status, check, 3, 10, 0)


def comparison() -> LbComparison:
    return LbComparison("Site-A", "CAS2", GRACE)


def test_default_grace_is_twice_interval_times_fall() -> None:
    assert default_grace(2.0, 3) == 12.0


def test_balancer_routing_to_a_down_node_is_reported_only_after_the_grace() -> None:
    c = comparison()
    assert c.observe("down", lb("UP"), at(0)) is None
    assert c.observe("down", lb("UP 1/3", "L4CON"), at(6)) is None
    assert c.observe("down", lb("UP"), at(GRACE)) is None  # exactly the grace: not yet
    event = c.observe("down", lb("UP"), at(GRACE + 2))
    assert event is not None and event.kind == Kind.LB_DISAGREES
    assert event.subject == "CAS2" and event.site == "Site-A" and event.time == at(GRACE + 2)
    assert event.detail == "balancer still routes to CAS2 (UP, L4OK), castui sees it DOWN for 14 s"
    assert event.data["castui"] == "down" and event.data["balancer"] == "UP"
    # Reported once per disagreement, however long it lasts.
    assert c.observe("down", lb("UP"), at(60)) is None


def test_half_dead_node_the_balancer_keeps_is_a_disagreement() -> None:
    c = comparison()
    c.observe("degraded", lb("UP 2/3"), at(0))
    event = c.observe("degraded", lb("UP"), at(13))
    assert event is not None and event.kind == Kind.LB_DISAGREES
    assert "castui sees it DEGRADED" in event.detail


def test_balancer_dropping_a_healthy_node_names_its_check() -> None:
    c = comparison()
    c.observe("up", lb("DOWN", "L7STS"), at(0))
    event = c.observe("up", lb("DOWN", "L7STS"), at(20))
    assert event is not None and event.kind == Kind.LB_DISAGREES
    assert event.detail == "balancer dropped CAS2 (DOWN, L7STS), castui sees it UP for 20 s"
    assert event.data["admin"] is False


@pytest.mark.parametrize("status", ["DRAIN", "MAINT", "MAINT (via https/CAS1)"])
def test_an_operator_holding_a_healthy_node_out_is_reported_as_such(status: str) -> None:
    c = comparison()
    c.observe("up", lb(status), at(0))
    event = c.observe("up", lb(status), at(13))
    assert event is not None and "set by an operator" in event.detail
    assert event.data["admin"] is True


@pytest.mark.parametrize(("castui", "status"), [
    ("up", "UP"), ("up", "UP 1/3"), ("up", "no check"),
    ("down", "DOWN"), ("down", "DOWN 1/2"), ("down", "MAINT"), ("down", "NOLB"),
    ("degraded", "DRAIN"), ("degraded", "DOWN"),
])
def test_agreeing_verdicts_never_raise(castui: str, status: str) -> None:
    c = comparison()
    assert [c.observe(castui, lb(status), at(t)) for t in range(0, 100, 5)] == [None] * 20


def test_no_verdict_from_either_side_changes_nothing() -> None:
    c = comparison()
    assert c.observe("unknown", lb("UP"), at(0)) is None
    assert c.observe("down", None, at(1)) is None
    assert c.since is None
    c.observe("down", lb("UP"), at(2))
    # The balancer unreadable for a while: the disagreement is neither ended nor restarted.
    assert c.observe("down", None, at(10)) is None
    event = c.observe("down", lb("UP"), at(15))
    assert event is not None and "for 13 s" in event.detail


def test_flapping_within_the_grace_raises_nothing() -> None:
    c = comparison()
    events = []
    for step in range(20):  # disagree 10 s, agree 2 s, over and over
        t = step * 12
        events.append(c.observe("down", lb("UP"), at(t)))
        events.append(c.observe("down", lb("UP"), at(t + 10)))
        events.append(c.observe("down", lb("DOWN", "L4CON"), at(t + 11)))
    assert events == [None] * 60


def test_agreement_after_a_reported_disagreement_ends_it_with_its_duration() -> None:
    c = comparison()
    c.observe("down", lb("UP"), at(0))
    assert c.observe("down", lb("UP"), at(13)) is not None
    event = c.observe("down", lb("DOWN", "L4CON"), at(30))
    assert event is not None and event.kind == Kind.LB_AGREES and event.duration_s == 30
    assert event.detail == ("balancer and castui agree on CAS2 again: balancer DOWN, L4CON, "
                            "castui DOWN")
    # A new disagreement starts its own grace.
    assert c.observe("up", lb("DOWN"), at(31)) is None
    assert c.observe("up", lb("DOWN"), at(31 + GRACE)) is None
    assert c.observe("up", lb("DOWN"), at(32 + GRACE)) is not None


def test_agreement_before_the_grace_ends_raises_nothing() -> None:
    c = comparison()
    c.observe("degraded", lb("UP"), at(0))
    assert c.observe("up", lb("UP"), at(5)) is None
    assert c.observe("degraded", lb("UP"), at(10)) is None
    assert c.observe("degraded", lb("UP"), at(10 + GRACE)) is None  # the grace restarted at 10


# --- a staged disagreement in a real estate ---------------------------------------------------


class Comparer:
    """Feeds the monitor's verdicts and the adapter's view of `https/<node>` into comparisons."""

    def __init__(self, est: Estate, monitor: Monitor, adapter: HAProxyAdapter) -> None:
        d = est.config.defaults
        self.grace = default_grace(d.interval, d.fall)
        self.monitor = monitor
        self.adapter = adapter
        self.comparisons = {name: LbComparison("Site-A", name, self.grace) for name in est.nodes}
        self.events: list[Event] = []
        self.disagreeing_since: dict[str, datetime] = {}

    async def step(self) -> None:
        views = await self.adapter.servers()
        now = self.monitor.now()
        for name, comparison in self.comparisons.items():
            state = self.monitor.states[f"Site-A/{name}"].state
            view = find_server(views, "https", name)
            event = comparison.observe(state, view, now)
            if comparison.since is not None:
                self.disagreeing_since.setdefault(name, comparison.since)
            if event is not None:
                self.events.append(event)

    async def until(self, kind: str, node: str, within: float) -> Event:
        async def found() -> bool:
            await self.step()
            return any(e.kind == kind and e.subject == node for e in self.events)

        await wait_for(found, within, interval=0.1, what=f"{kind} for {node}")
        return next(e for e in self.events if e.kind == kind and e.subject == node)


@contextlib.asynccontextmanager
async def monitored(tmp_path: Path, lab_ca: LabCA) -> AsyncIterator[tuple[Estate, Monitor]]:
    require_binary("haproxy")
    require_binary("dnsmasq")
    async with estate(tmp_path, lab_ca) as est:
        monitor = Monitor(est.config)
        stop = asyncio.Event()
        task = asyncio.create_task(monitor.run(stop=stop))
        try:
            d = est.config.defaults
            await wait_for(lambda: all(s.rounds >= d.rise for s in monitor.states.values()),
                           10, what="every target probed")
            yield est, monitor
        finally:
            stop.set()
            await asyncio.wait_for(task, 5)


@pytest.mark.integration
async def test_balancer_keeping_a_node_whose_ews_fails_is_reported_then_cleared(
        tmp_path: Path, lab_ca: LabCA) -> None:
    async with monitored(tmp_path, lab_ca) as (est, monitor):
        adapter = HAProxyAdapter(socket=str(est.haproxy.socket_path))
        comparer = Comparer(est, monitor, adapter)
        d = est.config.defaults
        detect = d.fall * d.interval + d.timeout + 1.0
        await comparer.step()
        assert comparer.events == [] and comparer.disagreeing_since == {}

        # The HAProxy check is a TCP connect to the https port: it keeps passing.
        await est.nodes["CAS1"].fail("ews")
        event = await comparer.until(Kind.LB_DISAGREES, "CAS1", detect + comparer.grace + 2.0)
        assert monitor.states["Site-A/CAS1"].state == "degraded"
        assert event.time - comparer.disagreeing_since["CAS1"] > timedelta(seconds=comparer.grace)
        assert event.detail.startswith("balancer still routes to CAS1 (UP, L4OK), "
                                       "castui sees it DEGRADED for ")
        assert est.haproxy.server_status("https", "CAS1") == "UP"

        await est.nodes["CAS1"].restore()
        agreed = await comparer.until(Kind.LB_AGREES, "CAS1", detect)
        assert agreed.duration_s is not None and agreed.duration_s > comparer.grace
        assert [e.kind for e in comparer.events] == [Kind.LB_DISAGREES, Kind.LB_AGREES]
        assert {e.subject for e in comparer.events} == {"CAS1"}


@pytest.mark.integration
async def test_draining_a_healthy_node_is_reported_as_held_out_by_an_operator(
        tmp_path: Path, lab_ca: LabCA) -> None:
    async with monitored(tmp_path, lab_ca) as (est, monitor):
        adapter = HAProxyAdapter(socket=str(est.haproxy.socket_path))
        comparer = Comparer(est, monitor, adapter)
        await adapter.set_state("https", "CAS2", "drain")
        event = await comparer.until(Kind.LB_DISAGREES, "CAS2", comparer.grace + 3.0)
        assert event.detail.startswith("balancer holds CAS2 out (DRAIN, L4OK, set by an "
                                       "operator), castui sees it UP for ")
        await adapter.set_state("https", "CAS2", "ready")
        await comparer.until(Kind.LB_AGREES, "CAS2", 3.0)
        assert [(e.kind, e.subject) for e in comparer.events] == [
            (Kind.LB_DISAGREES, "CAS2"), (Kind.LB_AGREES, "CAS2")]
