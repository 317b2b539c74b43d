"""Alerts that only say new things: a condition already alerted and not resolved is the same
alert after a console restart (no new alert, no new notifier call); recoveries are events that
resolve the alert they end; an operator's own DRAIN / MAINT is expected.

Real Monitors over one real SQLite history, fed fixed rounds on a frozen clock; alerts go to
a real webhook receiver on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path

from castui.config.model import Notifier
from castui.engine.monitor import Monitor
from castui.history import EventStore
from castui.model.events import Kind
from tests.support.net import loopback_block, wait_for
from tests.support.ui_estate import (
    Driver,
    FrozenClock,
    config,
    lb_view,
    new_driver,
    new_monitor,
    refused,
    steady,
)
from tests.support.webhook import WebhookReceiver

HOSTS = loopback_block()


@contextlib.asynccontextmanager
async def console(store: EventStore, clock: FrozenClock, url: str) -> AsyncIterator[Driver]:
    """One run of the console's engine over `store`, its notifier dispatching meanwhile."""
    hooked = dataclasses.replace(config(), notifiers=(
        Notifier(type="webhook", name="ops-chat", url=url, timeout=2.0, retries=0),))
    monitor = new_monitor(hooked, store, clock)
    assert monitor.dispatcher is not None
    task = asyncio.create_task(monitor.dispatcher.run())
    try:
        yield Driver(monitor, clock)
    finally:
        await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def sent(receiver: WebhookReceiver) -> list[tuple[str, str]]:
    return [(body["subject"], body["event"]) for body in
            (json.loads(r.body.decode("utf-8")) for r in receiver.requests)]


async def test_restarting_twice_during_an_outage_raises_no_new_alert(tmp_path: Path) -> None:
    clock = FrozenClock()
    async with WebhookReceiver(HOSTS.addr(1)) as receiver:
        with EventStore(tmp_path / "history.sqlite3") as store:
            for run in range(3):  # the first start, then two restarts
                async with console(store, clock, receiver.url()) as driver:
                    before = len(driver.monitor.alerts)
                    driver.faults["Site-A/CAS2"] = refused
                    driver.run(10)
                    assert len(driver.monitor.alerts) == max(before, 1), \
                        f"run {run}: the alert count unchanged"
                    if run == 0:
                        await wait_for(lambda: len(receiver.requests) == 1, 5,
                                       what="the alert sent")
                    else:  # a later, new condition is sent: nothing came before it
                        (alert,) = [a for a in driver.monitor.alerts
                                    if a.event.subject == "CAS2"]
                        assert alert.resolved_at is None
                        node = f"CAS{run + 3}"  # CAS4, then CAS5 (Site-B)
                        driver.faults[f"Site-B/{node}"] = refused
                        driver.run(10)
                        await wait_for(lambda n=node: ("CAS2", "node_down") in sent(receiver)
                                       and (n, "node_down") in sent(receiver), 5,
                                       what=f"{node}'s alert sent")
                    clock.advance(60)
            events = store.events()
    assert sent(receiver) == [("CAS2", "node_down"), ("CAS4", "node_down"),
                              ("CAS5", "node_down")], "CAS2's alert sent once"
    downs = [e for e in events if e.subject == "CAS2" and e.kind == Kind.NODE_DOWN]
    assert len(downs) == 3, "each start still says it, as an event"
    assert [bool(e.data.get("ongoing")) for e in downs] == [False, True, True]


def test_a_recovery_resolves_its_alert_and_raises_none(tmp_path: Path) -> None:
    with EventStore(tmp_path / "history.sqlite3") as store:
        driver = new_driver(store)
        steady(driver)
        driver.faults["Site-A/CAS2"] = refused
        driver.run(10)
        (alert,) = driver.monitor.alerts
        del driver.faults["Site-A/CAS2"]
        driver.run(10)
        assert [a.event.kind for a in driver.monitor.alerts] == ["node_down"], "no new alert"
        assert alert.resolved_at is not None
        # Resolution is replayed from the history after a restart.
        again = Monitor(driver.monitor.config, store=store, clock=driver.clock)
        (reloaded,) = again.alerts
        assert reloaded.resolved_at == alert.resolved_at
        # A new outage after the recovery is news again.
        driver.faults["Site-A/CAS2"] = refused
        driver.run(10)
        assert [a.event.kind for a in driver.monitor.alerts] == ["node_down", "node_down"]


def test_dns_moving_back_to_the_sites_vip_is_a_recovery(tmp_path: Path) -> None:
    with EventStore(tmp_path / "history.sqlite3") as store:
        driver = new_driver(store)
        steady(driver)
        driver.answers["Site-A"] = ["127.0.62.50"]  # moved to Site-B's VIP
        driver.run(10)
        moved = [a for a in driver.monitor.alerts if a.event.kind == Kind.DNS_CHANGED]
        assert len(moved) == 1
        del driver.answers["Site-A"]  # switchback to Site-A's own VIP
        driver.run(10)
        assert [a for a in driver.monitor.alerts if a.event.kind == Kind.DNS_CHANGED] == moved
        assert moved[0].resolved_at is not None
        away, back = [e for e in store.events() if e.kind == Kind.DNS_CHANGED]
        assert back.data.get("recovery") is True
        # Whose VIP each answer is, for the report's DNS lanes.
        assert (away.data["old_site"], away.data["new_site"]) == ("Site-A", "Site-B")
        assert (back.data["old_site"], back.data["new_site"]) == ("Site-B", "Site-A")


def test_an_operators_own_drain_is_expected(tmp_path: Path) -> None:
    with EventStore(tmp_path / "history.sqlite3") as store:
        driver = new_driver(store)
        steady(driver)
        driver.balancer["Site-A"] = {"CAS1": lb_view("CAS1", "UP"),
                                     "CAS2": lb_view("CAS2", "DRAIN"),
                                     "CAS3": lb_view("CAS3", "DOWN")}
        driver.run(30)
        disagreements = {e.subject for e in store.events() if e.kind == Kind.LB_DISAGREES}
        assert disagreements == {"CAS2", "CAS3"}, "both are said"
        assert [a.event.subject for a in driver.monitor.alerts] == ["CAS3"], \
            "only the balancer's own verdict alerts"
