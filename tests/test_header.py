"""A header that never lies: UNKNOWN / `starting` until every target's first round (the
engine's count), and while frozen the live status with what came since the freeze.

The real Monitor folds fixed rounds on a frozen clock (tests.support.ui_estate).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from castui.cli import build_parser
from castui.history import EventStore
from castui.model.status import Status
from castui.ui.widgets.header import HeaderInfo, header_line
from tests.support.ui_estate import (
    LOCAL,
    PROMPT,
    SMALL,
    T0,
    Driver,
    app_for,
    new_driver,
    refused,
    screen_text,
    steady,
    until,
)


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[Driver]:
    with EventStore(tmp_path / "history.sqlite3") as store:
        yield new_driver(store)


def first_rounds(driver: Driver, keys: list[str]) -> None:
    """One round of these targets only, all failing (nodes not answering yet)."""
    for key in keys:
        state = driver.monitor.states[key]
        driver.monitor.complete_round(key, {spec.name: refused(state.target, spec)
                                            for spec in state.target.checks}, 0.3)


def test_the_engine_counts_targets_pending_until_every_first_round(driver: Driver) -> None:
    snapshot = driver.monitor.snapshot()
    total = len(driver.monitor.states)
    assert (snapshot.pending, snapshot.targets) == (total, total)
    assert snapshot.starting and snapshot.headline is Status.UNKNOWN
    first_rounds(driver, ["Site-A/vip", "Site-A/CAS1"])
    snapshot = driver.monitor.snapshot()
    assert snapshot.pending == total - 2
    assert snapshot.headline is Status.UNKNOWN, "not CRITICAL while half the estate is unprobed"
    assert snapshot.worst_site is None
    driver.run(2)
    snapshot = driver.monitor.snapshot()
    assert snapshot.pending == 0 and not snapshot.starting
    assert snapshot.headline is snapshot.status


async def test_the_header_says_starting_then_the_status(driver: Driver) -> None:
    first_rounds(driver, ["Site-A/vip", "Site-A/CAS1"])
    app = app_for(driver)
    async with app.run_test(size=SMALL) as pilot:
        pending = len(driver.monitor.states) - 2
        await until(pilot, lambda: f"starting: {pending} targets pending"
                    in screen_text(app).splitlines()[0], PROMPT, "the starting header")
        header = screen_text(app).splitlines()[0]
        assert "UNKNOWN" in header and "CRITICAL" not in header and "OK" not in header
        driver.run(4)
        await until(pilot, lambda: "● OK" in screen_text(app).splitlines()[0], PROMPT,
                    "OK once every target reported")
        assert "starting" not in screen_text(app).splitlines()[0]


async def test_frozen_keeps_the_live_status_and_counts_what_is_new(driver: Driver) -> None:
    steady(driver)
    app = app_for(driver)
    async with app.run_test(size=SMALL) as pilot:
        await until(pilot, lambda: "● OK" in screen_text(app).splitlines()[0], PROMPT, "OK")
        await pilot.press("p")
        driver.faults["Site-A/CAS2"] = refused
        driver.run(20)
        await until(pilot, lambda: "new since freeze" in screen_text(app).splitlines()[0],
                    PROMPT, "the count of new events")
        header = screen_text(app).splitlines()[0]
        assert "FROZEN" in header and "WARNING" in header, "the live status, not the frozen"
        assert "1 new since freeze" in header
        assert "UP" in str(app.panels[0].table.get_cell("CAS2", "pool")), "panels frozen"


def test_the_castui_label_stays_when_the_status_is_not_ok() -> None:
    info = HeaderInfo(status=Status.CRITICAL, now=T0, in_pool=2, nodes=5, unacked=14,
                      slowest_round=0.31, interval=2.0)
    line = header_line(info, 80, LOCAL).plain
    assert line.lstrip().startswith("castui") and "CRITICAL" in line
    assert "CET" not in line, "the local clock goes first"


def test_castui_help_says_what_castui_is(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    out = capsys.readouterr().out
    assert "Watch Exchange client-access arrays live" in out
    assert "argument parsing" not in out, "not the module's docstring"
