"""Drain and ready from the console, end to end: a real HAProxy's runtime socket, the real
engine polling it, and the keys pressed through Textual's pilot."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from castui.engine.monitor import Monitor
from castui.history import EventStore
from castui.lab.certs import LabCA
from castui.model.events import Event, Kind
from castui.ui import ConsoleApp, ConsoleOptions
from castui.ui.screens.confirm import ConfirmScreen
from tests.support.estate import estate
from tests.support.procs import require_binary
from tests.support.ui_estate import cell, select_node, toasts, until

pytestmark = pytest.mark.integration

SIZE = (160, 48)
#: HAProxy applies a state change at once; castui shows it at its next balancer read.
WAIT = 15.0
#: castui's pace: unhurried, so a loaded machine cannot turn a node DEGRADED meanwhile (the
#: balancer's word is what this test reads, whatever castui's own verdict).
INTERVAL, TIMEOUT = 1.0, 0.9


async def test_drain_and_ready_go_through_haproxy_after_a_yes_and_are_events(
        tmp_path: Path, lab_ca: LabCA) -> None:
    require_binary("haproxy")
    require_binary("dnsmasq")
    async with estate(tmp_path, lab_ca, interval=INTERVAL, timeout=TIMEOUT) as est:
        config = est.reconfigure(
            f'[sites.lb]\ntype = "haproxy"\nsocket = "{est.haproxy.socket_path}"')
        config = dataclasses.replace(
            config, defaults=dataclasses.replace(config.defaults, lb_admin=True))
        monitor = Monitor(config)
        events: list[Event] = []
        monitor.subscribe(events.append)
        app = ConsoleApp(monitor, options=ConsoleOptions(refresh_s=0.1))

        def lb(node: str) -> str:
            """The balancer's word for `node` (after `≠` when castui disagrees)."""
            return cell(app, 0, node, "lb").removeprefix("≠ ")

        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await until(pilot, lambda: app.panels[0].table.row_count == 3
                        and all(lb(n) == "UP" for n in ("CAS1", "CAS2", "CAS3")),
                        WAIT, "the balancer's UP beside every node")
            await select_node(pilot, app, 0, "CAS2")
            assert app.selected_node() == (0, "CAS2")

            await pilot.press("d")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), WAIT,
                        "the question")
            assert est.haproxy.server_status("https", "CAS2") == "UP"  # nothing before yes
            await pilot.press("y")
            await until(pilot, lambda: est.haproxy.server_status("https", "CAS2") == "DRAIN",
                        WAIT, "HAProxy draining CAS2")
            await until(pilot, lambda: any(e.kind == Kind.LB_ADMIN for e in events), WAIT,
                        "the lb_admin event")
            drained = next(e for e in events if e.kind == Kind.LB_ADMIN)
            assert (drained.site, drained.subject, drained.data["state"]) == (
                "Site-A", "CAS2", "drain")
            await until(pilot, lambda: lb("CAS2") == "DRAIN", WAIT,
                        "the console showing the drain")
            assert any("drain accepted" in t for t in toasts(app))
            assert est.haproxy.server_status("https", "CAS1") == "UP"

            await pilot.press("D", "y")
            await until(pilot, lambda: est.haproxy.server_status("https", "CAS2") == "UP",
                        WAIT, "HAProxy putting CAS2 back")
            await until(pilot, lambda: lb("CAS2") == "UP", WAIT, "the console catching up")
            states = [e.data["state"] for e in events if e.kind == Kind.LB_ADMIN]
            assert states == ["drain", "ready"]


async def test_a_drain_offers_a_maintenance_mark_and_enter_takes_it(
        tmp_path: Path, lab_ca: LabCA) -> None:
    """With a history to keep it, a drain HAProxy accepted is followed by the offer; enter
    sets the mark, so what follows the drain is expected (and the drain itself no alert)."""
    require_binary("haproxy")
    require_binary("dnsmasq")
    async with estate(tmp_path, lab_ca, interval=INTERVAL, timeout=TIMEOUT) as est:
        config = est.reconfigure(
            f'[sites.lb]\ntype = "haproxy"\nsocket = "{est.haproxy.socket_path}"')
        config = dataclasses.replace(
            config, defaults=dataclasses.replace(config.defaults, lb_admin=True))
        with EventStore(tmp_path / "history.sqlite3") as store:
            monitor = Monitor(config, store=store)
            app = ConsoleApp(monitor, store=store, options=ConsoleOptions(refresh_s=0.1))
            async with app.run_test(size=SIZE, notifications=True) as pilot:
                await until(pilot, lambda: app.panels[0].table.row_count == 3
                            and cell(app, 0, "CAS2", "lb") == "UP", WAIT, "CAS2 UP")
                await select_node(pilot, app, 0, "CAS2")
                await pilot.press("d", "y")
                await until(pilot, lambda: isinstance(app.screen, ConfirmScreen)
                            and "maintenance" in app.screen.question, WAIT, "the offer")
                assert est.haproxy.server_status("https", "CAS2") == "DRAIN"
                await pilot.press("enter")
                assert not isinstance(app.screen, ConfirmScreen)
                mark = monitor.maintenance_for("Site-A", "CAS2", monitor.now())
                assert mark is not None and mark.node == "CAS2"
                await until(pilot, lambda: cell(app, 0, "CAS2", "mark").startswith("MAINT"),
                            WAIT, "the mark on CAS2's row")
                assert [a.event.subject for a in monitor.alerts
                        if a.event.kind == Kind.LB_DISAGREES] == []
