"""`castui demo` explains itself: each lab step is a `lab:` event row (even one castui cannot
see), and its looping script is not flapping (castui forgets the changes as a loop restarts).

The real ScenarioRunner, Monitor and history; the scenario's actions are recorded instead of
applied to a lab (what they do to a lab is test_lab_scenarios.py's subject).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from castui.cli.demo import LabLines
from castui.history import EventStore
from castui.lab.actions import Action
from castui.lab.scenario import ScenarioRunner, parse_scenario
from castui.model.events import Kind
from castui.ui.sentences import sentence
from tests.support.net import wait_for
from tests.support.ui_estate import new_driver, refused, steady


def test_lab_lines_become_lab_events_in_the_history(tmp_path: Path) -> None:
    with EventStore(tmp_path / "history.sqlite3") as store:
        driver = new_driver(store)
        lab = LabLines()
        lab("before the monitor: nowhere to go")
        lab.monitor = driver.monitor
        lab("drain Site-A/CAS2 (scenario maintenance, at 10 s)\x1b[31m")
        (event,) = [e for e in store.events() if e.kind == Kind.LAB_STEP]
        assert event.detail == "drain Site-A/CAS2 (scenario maintenance, at 10 s)"
        words, _ = sentence(event)
        assert words == "lab: drain Site-A/CAS2 (scenario maintenance, at 10 s)"
        assert len(driver.monitor.alerts) == 0


async def test_a_looping_scenario_calls_on_loop_as_each_loop_starts() -> None:
    scenario = parse_scenario("at 0: drain Site-A/CAS2\nat 1: end", name="tiny")
    applied: list[Action] = []
    loops: list[int] = []

    async def apply(action: Action) -> None:
        applied.append(action)

    runner = ScenarioRunner(scenario, apply, speed=100, loop=True,
                            on_loop=lambda: loops.append(len(applied)))
    task = asyncio.create_task(runner.run())
    try:
        await wait_for(lambda: len(loops) >= 2, 5, what="two loops restarting")
    finally:
        task.cancel()
    assert loops[:2] == [1, 2], "called between loops, before the next loop's first step"


def bounce(driver, times: int, *, reset: bool) -> None:  # type: ignore[no-untyped-def]
    for _ in range(times):
        driver.faults["Site-B/CAS4"] = refused
        driver.run(6)
        del driver.faults["Site-B/CAS4"]
        driver.run(4)
        if reset:
            driver.monitor.reset_flapping()


def test_a_scripted_loop_is_not_flapping_once_forgotten_between_loops() -> None:
    driver = new_driver()
    steady(driver)
    bounce(driver, 3, reset=True)
    assert not [a for a in driver.monitor.alerts if a.event.kind == Kind.NODE_FLAPPING]
    bounce(driver, 3, reset=False)  # the same bounces, unscripted: flapping
    assert [a.event.kind for a in driver.monitor.alerts].count(Kind.NODE_FLAPPING) == 1
