"""The alert workflow in the console: drills (`m`), maintenance marks (`M`), acknowledgements
that survive a restart, flapping collapsed into one alert, and the bell notifier.

The real engine and a real history file; probe results are fixed and the clock is frozen
(tests.support.ui_estate), so every time and sentence below is exact.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from castui.config.model import Notifier
from castui.engine.drills import this_recorder
from castui.engine.monitor import Monitor
from castui.history import EventStore
from castui.model.events import Kind
from castui.model.marks import Recorder
from castui.ui import ConsoleApp
from castui.ui.screens.confirm import ConfirmScreen
from castui.ui.screens.drill import DrillScreen
from castui.ui.screens.maintenance import MaintScreen
from castui.ui.widgets.alert_list import AlertList
from tests.support.ui_estate import (
    PROMPT,
    SMALL,
    T0,
    USER,
    WIDE,
    Driver,
    FrozenClock,
    alert_rows,
    app_for,
    cell,
    config,
    drawn,
    new_driver,
    new_monitor,
    node_out,
    refused,
    screen_text,
    steady,
    toasts,
    until,
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStore]:
    with EventStore(tmp_path / "history.sqlite3") as store:
        yield store


@pytest.fixture
def driver(store: EventStore) -> Driver:
    driver = new_driver(store)
    steady(driver)  # four minutes: the clock stands at 08:04:00 UTC
    return driver


def event_lines(app: ConsoleApp) -> list[str]:
    return [line.plain for line in app.event_log.lines]


async def field(pilot: Pilot[Any], selector: str, text: str) -> None:
    """Replace what an input holds by typing, as a user would."""
    box = pilot.app.screen.query_one(selector, Input)
    box.focus()
    await pilot.pause()
    await pilot.press("end", "ctrl+u", *text)


# -- drills ------------------------------------------------------------------------------------


async def test_m_starts_a_named_drill_and_m_again_ends_it_after_a_yes(
        driver: Driver, store: EventStore) -> None:
    app = app_for(driver)
    async with app.run_test(size=SMALL, notifications=True) as pilot:
        await drawn(app, pilot)
        await pilot.press("m")
        assert isinstance(app.screen, DrillScreen)
        name_box = app.screen.query_one("#drill-name", Input)
        assert name_box.value == "drill-2026-11-21-0904"  # local time (CET) of 08:04 UTC
        await pilot.press(*"dr-test")  # the default is selected: typing replaces it
        await pilot.press("enter")
        assert not isinstance(app.screen, DrillScreen)
        drill = store.open_drill()
        assert drill is not None and (drill.name, drill.started_by) == ("dr-test", USER)
        await until(pilot, lambda: "DRILL dr-test 00:00" in screen_text(app), PROMPT,
                    "the drill in the header at 80x24")
        await until(pilot, lambda: "drill 'dr-test' started by alice" in event_lines(app)[0],
                    PROMPT, "the drill in the event list")

        driver.run(12)
        await until(pilot, lambda: "DRILL dr-test 00:12" in screen_text(app), PROMPT,
                    "the drill's clock running")
        await pilot.press("m")
        assert isinstance(app.screen, ConfirmScreen)
        assert "End drill 'dr-test' (running 12s, started by alice)" in screen_text(app)
        await pilot.press("n")  # no: it keeps running
        assert store.open_drill() is not None and driver.monitor.drill is not None
        await pilot.press("m", "y")
        assert store.open_drill() is None and driver.monitor.drill is None
        (ended,) = store.drills("dr-test")
        assert ended.ended == T0 + timedelta(seconds=252)
        await until(pilot, lambda: "DRILL" not in screen_text(app), PROMPT,
                    "the header without the drill")
        await until(pilot, lambda: "drill 'dr-test' ended by alice after 12s"
                    in event_lines(app)[0], PROMPT, "the drill's end in the event list")


async def test_a_drill_left_open_by_an_earlier_run_shows_at_start_and_m_ends_it(
        store: EventStore) -> None:
    """A console that crashed mid-drill: its recorder is gone, so this one takes the drill up
    (the time nobody watched is recorded and said), and `m` ends it."""
    store.start_drill("failover-q4", T0, "bob", Recorder(1, "crashed.invalid", T0, T0))
    driver = new_driver(store)
    steady(driver)
    app = app_for(driver)
    async with app.run_test(size=SMALL, notifications=True) as pilot:
        await drawn(app, pilot)
        await until(pilot, lambda: "DRILL failover-q4 04:00" in screen_text(app), PROMPT,
                    "the open drill in the header")
        await until(pilot, lambda: "drill 'failover-q4' resumed by alice: not observed for "
                    "4m00s" in event_lines(app)[0], PROMPT, "the gap in the event list")
        taken = store.open_drill()
        assert taken is not None and taken.recorder is not None
        assert taken.recorder.pid == os.getpid()
        await pilot.press("m")
        assert isinstance(app.screen, ConfirmScreen)
        assert "started by bob" in screen_text(app)
        await pilot.press("y")
        assert store.open_drill() is None
        assert store.drills("failover-q4")[0].ended == driver.clock()
        await until(pilot, lambda: "DRILL" not in screen_text(app), PROMPT, "drill gone")
    (ended,) = [e for e in store.events() if e.kind == Kind.DRILL_ENDED]
    assert "gap_start" not in ended.data  # this console watched it to the end


async def test_a_drill_a_live_castui_records_is_shown_and_left_to_it(
        driver: Driver, store: EventStore) -> None:
    store.start_drill("from-watch", driver.clock(), "bob", this_recorder(driver.clock()))
    app = app_for(driver)
    async with app.run_test(size=SMALL, notifications=True) as pilot:
        await drawn(app, pilot)
        await until(pilot, lambda: "DRILL from-watch" in screen_text(app), PROMPT,
                    "the drill in the header")
    assert [e.kind for e in store.events() if e.kind.startswith("drill_")] == []


async def test_the_drill_modal_refuses_an_empty_name_and_escape_starts_nothing(
        driver: Driver, store: EventStore) -> None:
    app = app_for(driver)
    async with app.run_test(size=SMALL) as pilot:
        await drawn(app, pilot)
        await pilot.press("m", "backspace", "space", "enter")
        assert isinstance(app.screen, DrillScreen)  # still asking
        await until(pilot, lambda: "a drill needs a name" in screen_text(app), PROMPT,
                    "the refusal")
        await pilot.press("escape")
        assert not isinstance(app.screen, DrillScreen)
        assert store.open_drill() is None and store.drills() == []


async def test_a_drill_another_castui_started_is_a_message_not_a_traceback(
        driver: Driver, store: EventStore) -> None:
    app = app_for(driver)
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await drawn(app, pilot)
        # `castui watch --drill` in another process, alive (this test's process stands in).
        store.start_drill("from-watch", driver.clock(), "bob", this_recorder(driver.clock()))
        await pilot.press("m", "enter")
        await until(pilot, lambda: any("drill 'from-watch' is still running" in t
                                       for t in toasts(app)), PROMPT, "the refusal")
        assert app.return_code is None and [d.name for d in store.drills()] == ["from-watch"]


# -- maintenance -------------------------------------------------------------------------------


async def test_M_marks_the_selected_node_and_its_crash_is_expected_not_an_alert(
        driver: Driver, store: EventStore) -> None:
    app = app_for(driver)
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await drawn(app, pilot)
        await pilot.press("down", "M")  # CAS2
        assert isinstance(app.screen, MaintScreen)
        assert "No maintenance mark on CAS2 or Site-A" in screen_text(app)
        await field(pilot, "#maint-reason", "kernel patch")
        await pilot.press("enter")
        assert not isinstance(app.screen, MaintScreen)
        (mark,) = store.maintenance()
        assert (mark.target, mark.set_by, mark.reason) == ("Site-A/CAS2", USER, "kernel patch")
        assert mark.ends - mark.starts == timedelta(minutes=45)
        await until(pilot, lambda: cell(app, 0, "CAS2", "mark") == "MAINT 08:49", PROMPT,
                    "MAINT in the node table")
        assert cell(app, 0, "CAS1", "mark") == ""

        app.clear_notifications()
        driver.faults["Site-A/CAS2"] = refused
        driver.run(20)
        await until(pilot, lambda: any(
            line.startswith("08:04:06 Site-A CAS2 out of pool (expected: maintenance "
                            "Site-A/CAS2): epm L4CON") for line in event_lines(app)),
            PROMPT, "the drop shown as expected")
        assert "DOWN" in cell(app, 0, "CAS2", "pool")
        assert driver.monitor.alerts.unacknowledged == 0 and len(driver.monitor.alerts) == 0
        await until(pilot, lambda: "no alerts" in screen_text(app), PROMPT, "no alerts")
        # A drop nobody expected: its alert comes after any the expected one would have made.
        driver.faults["Site-B/CAS4"] = refused
        driver.run(20)
        await until(pilot, lambda: alert_rows(app) != [], PROMPT, "the alert for CAS4")
        assert [("CAS4" in t, "CAS2" in t) for t in alert_rows(app)] == [(True, False)]


async def test_M_marks_a_whole_site_and_clears_it_again(
        driver: Driver, store: EventStore) -> None:
    app = app_for(driver)
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await drawn(app, pilot)
        await pilot.press("M")
        await field(pilot, "#maint-span", "1h30m")
        await pilot.click("#maint-site")
        (mark,) = store.maintenance()
        assert mark.node is None and mark.ends - mark.starts == timedelta(minutes=90)
        await until(pilot, lambda: "MAINT until 09:34 (whole site)" in screen_text(app),
                    PROMPT, "the site's mark on its VIP line")
        assert all(cell(app, 0, n, "mark") == "MAINT 09:34" for n in ("CAS1", "CAS2", "CAS3"))

        await pilot.press("M")
        assert "Site-A (whole site) in maintenance until 09:34 UTC (alice)" in screen_text(app)
        assert not app.screen.query("#maint-clear-node")  # the node has no mark of its own
        await pilot.click("#maint-clear-site")
        assert not isinstance(app.screen, MaintScreen)
        assert store.maintenance()[0].cleared == driver.clock()
        await until(pilot, lambda: not app.panels[0].table.marks, PROMPT,
                    "the mark column gone")
        await until(pilot, lambda: "maintenance Site-A cleared by alice" in event_lines(app)[0],
                    PROMPT, "the clearing in the event list")


async def test_M_refuses_a_bad_duration_with_a_message(driver: Driver,
                                                       store: EventStore) -> None:
    app = app_for(driver)
    async with app.run_test(size=SMALL) as pilot:
        await drawn(app, pilot)
        await pilot.press("M")
        for typed, said in (("soon", "not a duration: soon (use 90s, 45m, 2h, 1h30m)"),
                            ("0s", "the duration must be more than 0s"),
                            ("8d", "at most 7 days: 8d is longer"),
                            ("", "not a duration: nothing")):
            await field(pilot, "#maint-span", typed)
            await pilot.press("enter")
            assert isinstance(app.screen, MaintScreen), typed
            await until(pilot, lambda said=said: said in screen_text(app), PROMPT, said)
        await pilot.press("escape")
        assert not isinstance(app.screen, MaintScreen)
        assert store.maintenance() == []


async def test_a_mark_set_from_another_process_shows_within_seconds(
        driver: Driver, store: EventStore) -> None:
    app = app_for(driver, refresh_s=0.1)
    async with app.run_test(size=WIDE) as pilot:
        await drawn(app, pilot)
        now = driver.clock()
        store.set_maintenance("Site-A", "CAS3", now, now + timedelta(minutes=45), by="bob")

        def shown() -> bool:
            driver.round()  # the engine keeps probing meanwhile
            return app.panels[0].table.marks and cell(app, 0, "CAS3", "mark") == "MAINT 08:49"

        # The engine re-reads marks once a second.
        await until(pilot, shown, 5.0, "the mark from `castui maint`", interval=0.1)


# -- acknowledgements, flapping, the bell -----------------------------------------------------


async def test_acknowledgements_survive_a_restart(driver: Driver, store: EventStore) -> None:
    app = app_for(driver)
    async with app.run_test(size=WIDE) as pilot:
        await drawn(app, pilot)
        node_out(driver)  # two alerts: CAS2 out of the pool, then CAS4 degraded
        await until(pilot, lambda: "2 alerts unacked" in screen_text(app), PROMPT, "alerts")
        await pilot.press("a")  # the newest: CAS4
        await pilot.press("q")
    newest, older = (alert.id for alert in driver.monitor.alerts)

    again = new_driver(store, driver.clock)  # a new Monitor on the same history file
    app = app_for(again)
    async with app.run_test(size=WIDE) as pilot:
        await drawn(app, pilot)
        alerts = app.query_one(AlertList)
        await until(pilot, lambda: alerts.row_count == 2, PROMPT, "the stored alerts listed")
        assert str(alerts.get_cell(str(newest), "ack")) == "✓ alice 08:04"
        assert str(alerts.get_cell(str(older), "ack")) == "NEW"
        assert "CAS4 degraded" in str(alerts.get_cell(str(newest), "what"))
        await until(pilot, lambda: "1 alert unacked" in screen_text(app), PROMPT,
                    "only the unacknowledged one counted")
        assert alerts.selected_id() == older


async def test_a_flapping_node_raises_one_flapping_toast_not_one_per_bounce(
        driver: Driver) -> None:
    app = app_for(driver, refresh_s=0.05)
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await drawn(app, pilot)

        alerts = app.query_one(AlertList)

        async def bounce() -> None:
            for fault in (refused, None):  # down after `fall` rounds, up after `rise`
                if fault is None:
                    del driver.faults["Site-B/CAS4"]
                else:
                    driver.faults["Site-B/CAS4"] = fault
                driver.run(6)
                await until(pilot, lambda: alerts.row_count == len(driver.monitor.alerts)
                            and not app.toasts.pending, PROMPT, "the alerts listed")

        for _ in range(2):
            await bounce()  # four changes within the window: flapping
        raised = [alert.event.kind for alert in driver.monitor.alerts]
        assert raised == ["node_flapping", "node_down", "node_down"]
        await until(pilot, lambda: len(alert_rows(app)) == 3, PROMPT, "a row per alert")
        shown = alert_rows(app)
        assert sum("CAS4 flapping" in t for t in shown) == 1
        for _ in range(3):
            await bounce()
        assert len(driver.monitor.alerts) == 3  # the bounces go on, the alerts do not
        # A drop elsewhere: its alert comes after any the bounces would have made.
        driver.faults["Site-A/CAS1"] = refused
        driver.run(6)
        await until(pilot, lambda: len(alert_rows(app)) > len(shown), PROMPT,
                    "the alert for CAS1")
        now = alert_rows(app)
        (extra,) = now[:1]
        assert len(now) == len(shown) + 1 and "CAS1" in extra and "CAS4" not in extra
        assert cell(app, 1, "CAS4", "mark") == "FLAP"
        assert any(line.endswith("CAS4 back in pool after 4s (flapping)")
                   for line in event_lines(app))


async def test_bell_notifiers_ring_the_console_bell(store: EventStore) -> None:
    clock = FrozenClock()
    belled = dataclasses.replace(config(), notifiers=(Notifier(type="bell", name="desk"),))
    driver = Driver(new_monitor(belled, store, clock), clock)
    steady(driver)
    app = app_for(driver)  # the console's own --bell stays off
    rings: list[int] = []
    app.bell = lambda: rings.append(1)  # type: ignore[method-assign]
    monitor: Monitor = driver.monitor
    assert monitor.dispatcher is not None
    notifying = asyncio.create_task(monitor.dispatcher.run())  # what Monitor.run starts
    try:
        async with app.run_test(size=WIDE) as pilot:
            await drawn(app, pilot)
            node_out(driver)
            await until(pilot, lambda: len(rings) == 2, PROMPT, "a ring per alert")
    finally:
        notifying.cancel()
        await asyncio.gather(notifying, return_exceptions=True)
