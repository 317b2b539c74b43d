"""Narrow screens: the timeline redraws at a new width at once, one DNS line per resolver when
they disagree (naming whose VIP an answer is), and a node the VIP never answers from looks
drained on its own row. The real engine, fixed rounds on a frozen clock (ui_estate)."""

from __future__ import annotations

from pathlib import Path

from castui.engine.timeline import Lane
from castui.history import EventStore
from castui.ui.screens.node_detail import NodeDetailScreen
from tests.support.ui_estate import (
    PROMPT,
    SMALL,
    WIDE,
    Driver,
    app_for,
    deep_trouble,
    drawn,
    new_deep_driver,
    screen_text,
    steady,
    until,
)


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


def test_the_engine_names_the_site_whose_vip_each_answer_is(tmp_path: Path) -> None:
    with EventStore(tmp_path / "history.sqlite3") as store:
        driver = new_deep_driver(tmp_path, store)
        steady(driver)
        deep_trouble(driver)
        dns = driver.monitor.snapshot().sites[0].dns
        assert dns is not None
        assert dict(dns.vip_sites) == {"127.0.60.53:20053": "Site-A",
                                       "127.0.60.54:20053": "Site-B"}


async def test_disagreeing_resolvers_get_a_line_each_at_80_columns(tmp_path: Path) -> None:
    with EventStore(tmp_path / "history.sqlite3") as store:
        driver = new_deep_driver(tmp_path, store)
        steady(driver)
        deep_trouble(driver)
        app = app_for(driver)
        async with app.run_test(size=SMALL) as pilot:
            await drawn(app, pilot)
            await until(pilot, lambda: "= Site-B VIP ✗" in screen_text(app), PROMPT,
                        "the second resolver's line")
            lines = screen_text(app).splitlines()
            first = next(line for line in lines if "127.0.60.53:20053 →" in line)
            second = next(line for line in lines if "127.0.60.54:20053 →" in line)
            assert "127.0.61.50 ✓" in first
            assert "127.0.62.50 = Site-B VIP ✗" in second


async def test_a_node_the_vip_never_answers_from_looks_drained_on_its_row(
        tmp_path: Path) -> None:
    with EventStore(tmp_path / "history.sqlite3") as store:
        driver = new_deep_driver(tmp_path, store)
        steady(driver)
        driver.answering["Site-A"] = {"CAS1": 3, "CAS3": 3}  # drained behind the balancer
        driver.run(30)
        site = driver.monitor.snapshot().sites[0]
        cas2 = next(n for n in site.nodes if n.subject == "CAS2")
        assert cas2.state == "up" and cas2.vip_skips and cas2.trouble
        assert site.by_trouble[0] == "CAS2"
        app = app_for(driver)
        async with app.run_test(size=SMALL) as pilot:
            await drawn(app, pilot)
            await until(pilot, lambda: app.panels[0].table.marks, PROMPT, "the mark column")
            row = next(line for line in screen_text(app).splitlines() if " CAS2 " in line)
            assert "UP" in row and "no VIP answers" in row


async def test_enter_on_the_vip_or_dns_line_opens_its_details(driver: Driver) -> None:
    app = app_for(driver)
    async with app.run_test(size=SMALL) as pilot:
        await drawn(app, pilot)
        await pilot.press("g", "up")  # from the first node up to the VIP line
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, NodeDetailScreen), PROMPT,
                    "the VIP's details")
        assert isinstance(app.screen, NodeDetailScreen) and app.screen.node == "vip"
        await until(pilot, lambda: "127.0.61.50" in screen_text(app) and "owa" in
                    screen_text(app), PROMPT, "the VIP's checks")
        await pilot.press("escape", "up", "enter")  # up again: the DNS line
        await until(pilot, lambda: isinstance(app.screen, NodeDetailScreen), PROMPT,
                    "the DNS name's details")
        assert isinstance(app.screen, NodeDetailScreen) and app.screen.node == "dns"
        await until(pilot, lambda: "127.0.60.53:20053" in screen_text(app), PROMPT,
                    "the resolver's check")
        await pilot.press("escape", "down", "down")  # past the VIP line: the nodes again
        assert app.focused is app.panels[0].table
