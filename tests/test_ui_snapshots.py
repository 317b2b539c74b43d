"""Pictures of the console (pytest-textual-snapshot), byte-stable: frozen clock, fixed results.

Regenerate after a deliberate UI change with `pytest tests/test_ui_snapshots.py
--snapshot-update`, then look at the SVGs under tests/__snapshots__/ before committing them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from castui.history import EventStore
from tests.support.ui_estate import (
    DEEP_PICTURES,
    EX16_PICTURES,
    PICTURES,
    Driver,
    app_for,
    deep_trouble,
    exchange_maintenance,
    new_deep_driver,
    new_ex16_driver,
    select_node,
    steady,
)

SIZES = [(80, 24), (160, 48)]


@pytest.fixture
def deep_driver(tmp_path: Path) -> Iterator[Driver]:
    with EventStore(tmp_path / "history.sqlite3") as store:
        driver = new_deep_driver(tmp_path, store)
        steady(driver)
        yield driver


@pytest.fixture
def ex16_driver(tmp_path: Path) -> Iterator[Driver]:
    with EventStore(tmp_path / "history.sqlite3") as store:
        driver = new_ex16_driver(tmp_path, store)
        steady(driver)
        yield driver


def happening(driver: Driver, picture: str) -> Callable[[Pilot[Any]], Any]:
    """What happens while the console watches, then one complete redraw."""
    async def run_before(pilot: Pilot[Any]) -> None:
        await pilot.pause()
        live = {**PICTURES, **DEEP_PICTURES, **EX16_PICTURES}[picture]
        if live is not None:
            live(driver)
        await pilot.pause()
        pilot.app.catch_up()  # type: ignore[attr-defined]
        await pilot.pause()
    return run_before


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("picture", list(PICTURES))
def test_console_pictures(snap_compare: Any, driver: Driver, picture: str,
                          size: tuple[int, int]) -> None:
    assert snap_compare(app_for(driver), terminal_size=size,
                        run_before=happening(driver, picture))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_help_picture(snap_compare: Any, driver: Driver, size: tuple[int, int]) -> None:
    assert snap_compare(app_for(driver), press=["question_mark"], terminal_size=size,
                        run_before=happening(driver, "steady"))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("picture", list(DEEP_PICTURES))
def test_deep_check_pictures(snap_compare: Any, deep_driver: Driver, picture: str,
                             size: tuple[int, int]) -> None:
    """Hygiene line, the balancer's column and its trouble, VIP answers, certificate marks."""
    assert snap_compare(app_for(deep_driver), terminal_size=size,
                        run_before=happening(deep_driver, picture))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_node_detail_picture(snap_compare: Any, deep_driver: Driver,
                             size: tuple[int, int]) -> None:
    """enter on CAS2: every check, its certificate warning, the balancer's DRAIN."""
    async def run_before(pilot: Pilot[Any]) -> None:
        await pilot.pause()
        deep_trouble(deep_driver)
        await pilot.pause()
        pilot.app.catch_up()  # type: ignore[attr-defined]
        await pilot.pause()
        pilot.app.clear_notifications()  # the alerts' toast would hide the pane's corner
        await select_node(pilot, pilot.app, 0, "CAS2")  # type: ignore[arg-type]
        await pilot.press("enter")
        await pilot.pause()
        pilot.app.catch_up()  # type: ignore[attr-defined]
        await pilot.pause()
    assert snap_compare(app_for(deep_driver), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("picture", list(EX16_PICTURES))
def test_exchange2016_pictures(snap_compare: Any, ex16_driver: Driver, picture: str,
                               size: tuple[int, int]) -> None:
    """Exchange's own maintenance on EX2 (MAINT Exch, no alert), EX3 partly out per vdir."""
    assert snap_compare(app_for(ex16_driver), terminal_size=size,
                        run_before=happening(ex16_driver, picture))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_exchange_maintenance_detail_picture(snap_compare: Any, ex16_driver: Driver,
                                             size: tuple[int, int]) -> None:
    """enter on EX2: which maintenance explains its drop (Exchange's, by Maintenance)."""
    async def run_before(pilot: Pilot[Any]) -> None:
        await pilot.pause()
        exchange_maintenance(ex16_driver)
        await pilot.pause()
        pilot.app.catch_up()  # type: ignore[attr-defined]
        await pilot.pause()
        pilot.app.clear_notifications()
        await select_node(pilot, pilot.app, 0, "EX2")  # type: ignore[arg-type]
        await pilot.press("enter")
        await pilot.pause()
        pilot.app.catch_up()  # type: ignore[attr-defined]
        await pilot.pause()
    assert snap_compare(app_for(ex16_driver), terminal_size=size, run_before=run_before)
