"""Narrow screens: the timeline redraws at a new width at once, one DNS line per resolver when
they disagree (naming whose VIP an answer is), and a node the VIP never answers from looks
drained on its own row. The real engine, fixed rounds on a frozen clock (ui_estate)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from castui.engine.timeline import Lane
from castui.history import EventStore
from tests.support.ui_estate import (
    PROMPT,
    SMALL,
    WIDE,
    Driver,
    app_for,
    drawn,
    new_driver,
    steady,
    until,
)


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[Driver]:
    with EventStore(tmp_path / "history.sqlite3") as store:
        driver = new_driver(store)
        steady(driver)
        yield driver


def lane_widths(app) -> set[int]:  # type: ignore[no-untyped-def]
    return {len(row.buckets) for row in app.timeline.view.rows if isinstance(row, Lane)}


async def test_the_timeline_redraws_at_the_new_width_at_once(driver: Driver) -> None:
    app = app_for(driver, refresh_s=30.0)  # no refresh tick will come to help
    async with app.run_test(size=WIDE) as pilot:
        await drawn(app, pilot)
        view = app.timeline.view
        await until(pilot, lambda: lane_widths(app) == {view.strip_width}, PROMPT,
                    "lanes as wide as the strip")
        wide = view.strip_width
        await pilot.resize_terminal(*SMALL)
        await until(pilot, lambda: view.strip_width != wide
                    and lane_widths(app) == {view.strip_width}, PROMPT,
                    "lanes computed for the new width")
