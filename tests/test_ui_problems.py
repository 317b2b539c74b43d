"""Problems first: a node that is not UP is on screen at every size, `P` shows only those, and
the header names the worst site when its tab is not the one shown.

The real engine folds fixed rounds on a frozen clock (tests.support.ui_estate); the estate is
the issue's realistic one, `lab --sites Site-A=8,Site-B=8,Site-C=4`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from castui.config import Config, parse_config
from castui.history import EventStore
from tests.support.ui_estate import (
    PROMPT,
    SMALL,
    WIDE,
    Driver,
    FrozenClock,
    app_for,
    drawn,
    new_monitor,
    refused,
    rows,
    screen_text,
    steady,
    until,
)

SITES = {"Site-A": 8, "Site-B": 8, "Site-C": 4}


def big_config() -> Config:
    """Three sites of 8, 8 and 4 nodes (Exchange 2010 checks, nothing ever contacted)."""
    parts = ["[defaults]\ninterval = 2\ntimeout = 1.5\nrise = 2\nfall = 3\n"]
    for number, (name, count) in enumerate(SITES.items(), 1):
        nodes = ",\n".join(
            f'  {{ name = "CAS{n}", address = "127.0.7{number}.{20 + n}" }}'
            for n in range(1, count + 1))
        parts.append(f"""
[[sites]]
name = "{name}"
array_fqdn = "outlook.{name.lower()}.corp.local"
vip = "127.0.7{number}.50"
dns_servers = ["127.0.70.53:20053"]
profile = "exchange2010"
ports = {{ epm = 20135, https = 20443, http = 20080, mapi = 59531, ab = 59532 }}
nodes = [
{nodes}
]
""")
    return parse_config("".join(parts), "big.toml")


@pytest.fixture
def driver(tmp_path: Path):  # type: ignore[no-untyped-def]
    with EventStore(tmp_path / "history.sqlite3") as store:
        clock = FrozenClock()
        driver = Driver(new_monitor(big_config(), store, clock), clock)
        steady(driver)
        yield driver


@pytest.mark.parametrize("size", [SMALL, WIDE])
async def test_a_crashed_cas8_is_on_screen_at_every_size(driver: Driver,
                                                         size: tuple[int, int]) -> None:
    driver.faults["Site-A/CAS8"] = refused
    driver.run(10)
    app = app_for(driver)
    async with app.run_test(size=size) as pilot:
        await drawn(app, pilot)
        assert rows(app, 0)[0] == "CAS8", "the troubled node heads its table"
        await until(pilot, lambda: "CAS8" in screen_text(app).partition("Timeline")[2],
                    PROMPT, "CAS8's lane")
        table_part, _, lower = screen_text(app).partition("Timeline")
        assert "CAS8" in table_part, "CAS8's row is on screen"
        assert "CAS8" in lower, "CAS8's lane is on screen"
        rest = [row for row in rows(app, 0) if row != "CAS8"]
        assert rest == [f"CAS{n}" for n in range(1, 8)], "config order among equals"


async def test_p_shows_only_problems_and_folds_quiet_sites(driver: Driver) -> None:
    driver.faults["Site-B/CAS3"] = refused
    driver.run(10)
    app = app_for(driver)
    async with app.run_test(size=WIDE) as pilot:
        await drawn(app, pilot)
        await pilot.press("P")
        await until(pilot, lambda: app.panels[0].folded and rows(app, 1) == ["CAS3"],
                    PROMPT, "Site-A folded, Site-B showing only CAS3")
        assert app.panels[2].folded
        assert "problems only (P)" in screen_text(app).splitlines()[0]
        await pilot.press("P")
        await until(pilot, lambda: len(rows(app, 1)) == 8 and not app.panels[0].folded,
                    PROMPT, "every node again")
        assert rows(app, 1)[0] == "CAS3"


async def test_the_header_names_the_worst_site_when_its_tab_is_hidden(driver: Driver) -> None:
    driver.faults["Site-C/CAS2"] = refused
    driver.run(10)
    app = app_for(driver)
    async with app.run_test(size=SMALL) as pilot:
        await drawn(app, pilot)
        assert app.tabs_mode
        await until(pilot, lambda: "worst Site-C" in screen_text(app).splitlines()[0],
                    PROMPT, "the header naming Site-C")
        await pilot.press("3")
        await until(pilot, lambda: "worst" not in screen_text(app).splitlines()[0],
                    PROMPT, "the header without it once Site-C is shown")
