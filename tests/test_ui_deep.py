"""Deep checks and the balancer in the console: the hygiene line, the node detail pane, the
balancer's column, who answers through the VIP, and drain / ready from the keyboard.

The real engine folds fixed results on a frozen clock (tests.support.ui_estate); the balancer's
verdicts are set where the engine keeps them, so every picture is exact. Drain and ready
against a real HAProxy are in test_ui_balancer.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from castui.history import EventStore
from castui.model.events import Kind
from castui.ui.screens.confirm import ConfirmScreen
from castui.ui.screens.node_detail import NodeDetailScreen
from tests.support.ui_estate import (
    NO_SOCKET,
    PROMPT,
    SMALL,
    WIDE,
    Driver,
    app_for,
    cell,
    deep_trouble,
    drawn,
    new_deep_driver,
    new_driver,
    screen_text,
    select_node,
    steady,
    toasts,
    until,
)


def deep_driver(tmp: Path, store: EventStore, *, lb_admin: bool = False) -> Driver:
    driver = new_deep_driver(tmp, store, lb_admin=lb_admin)
    steady(driver)
    deep_trouble(driver)
    return driver


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[Driver]:
    with EventStore(tmp_path / "history.sqlite3") as store:
        yield deep_driver(tmp_path, store)


def admin_events(driver: Driver) -> list[str]:
    assert driver.monitor.store is not None
    return [e.detail for e in driver.monitor.store.events(limit=1000) if e.kind == Kind.LB_ADMIN]


async def test_a_broken_hygiene_rule_has_a_line_with_what_was_found(driver: Driver) -> None:
    app = app_for(driver)
    async with app.run_test(size=WIDE) as pilot:
        await drawn(app, pilot, laid_out=True)
        await until(pilot, lambda: "hygiene ⚠ split:" in screen_text(app), PROMPT,
                    "the hygiene line")
        line = next(row for row in screen_text(app).splitlines() if "hygiene ⚠" in row)
        assert ("hygiene ⚠ split: resolvers disagree: 127.0.60.53:20053 says 127.0.61.50; "
                "127.0.60.54:20053 says 127.0.62.50") in line
        # Site-B's rules all hold: a mark at the end of its DNS line, no line of its own.
        dns_b = next(row for row in screen_text(app).splitlines()
                     if "outlook.site-b.corp.local" in row)
        assert dns_b.rstrip(" │").endswith("TTL 300  hygiene ✓")
        assert app.panels[1].info_count == 3  # DNS, VIP and the balancer's trouble
        # The engine's answers change; the line goes and the panel shrinks to fit.
        driver.resolver_answers.clear()
        driver.run(2)
        await until(pilot, lambda: "hygiene ⚠" not in screen_text(app), PROMPT,
                    "the hygiene line gone")
        panel = app.panels[0]
        assert panel.info_count == 3  # DNS, VIP, load
        await until(pilot, lambda: panel.outer_size.height == panel.rows_needed == 9, PROMPT,
                    "the panel a line shorter")


async def test_the_balancer_column_beside_castuis_verdict(driver: Driver) -> None:
    app = app_for(driver)
    async with app.run_test(size=WIDE) as pilot:
        await drawn(app, pilot, laid_out=True)
        assert cell(app, 0, "CAS1", "lb") == "UP"
        assert cell(app, 0, "CAS2", "lb") == "≠ DRAIN"  # castui sees it UP
        assert cell(app, 0, "CAS2", "pool") == "━ UP"
        # Site-B's balancer cannot be read: `?` for each node, and why in one line.
        assert cell(app, 1, "CAS4", "lb") == cell(app, 1, "CAS5", "lb") == "?"
        text = screen_text(app)
        assert f"LB ? {NO_SOCKET}" in text
        # Who answers through Site-A's VIP, every node named: the drained one never does.
        assert "answers: CAS1 3 · CAS2 0 · CAS3 3" in text
        assert "load ⚠ CAS1 holds 65% of 214 connections (even share 33%)" in text
        # The balancer readable again: the error line goes, the column comes back.
        driver.balancer["Site-B"] = {}
        driver.run(2)
        await until(pilot, lambda: cell(app, 1, "CAS4", "lb") == "–", PROMPT,
                    "Site-B's column without the error")
        assert "LB ?" not in screen_text(app)


async def test_a_site_without_a_balancer_has_no_balancer_column() -> None:
    driver = new_driver()
    steady(driver)
    app = app_for(driver)
    async with app.run_test(size=WIDE) as pilot:
        await drawn(app, pilot, laid_out=True)
        keys = [str(column.value) for column in app.panels[0].table.columns]
        assert "lb" not in keys and keys[:3] == ["node", "pool", "since"]


async def test_a_certificate_warning_is_marked_in_its_cell(driver: Driver) -> None:
    app = app_for(driver)
    async with app.run_test(size=WIDE) as pilot:
        await drawn(app, pilot, laid_out=True)
        assert not app.panels[1].table.compact  # Site-B has room for a column per check
        assert cell(app, 1, "CAS4", "c:tls").startswith("⚠ ")
        assert cell(app, 1, "CAS5", "c:tls").startswith("✓ ")
        assert app.panels[0].table.compact  # Site-A's 17 checks fold into one column
        assert cell(app, 0, "CAS2", "checks") == "✓ all 17, ⚠ tls"


async def test_enter_on_a_node_shows_every_check_and_the_balancers_view(
        driver: Driver) -> None:
    app = app_for(driver)
    async with app.run_test(size=WIDE) as pilot:
        await drawn(app, pilot, laid_out=True)
        await select_node(pilot, app, 0, "CAS2")
        assert app.selected_node() == (0, "CAS2")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, NodeDetailScreen), PROMPT,
                    "the detail pane")
        await pilot.pause()
        text = screen_text(app)
        assert "CAS2 · Site-A · every check" in text
        assert "127.0.61.22 · cas2.site-a.corp.local" in text
        balancer = next(row for row in text.splitlines() if "balancer ≠ DRAIN" in row)
        assert "HAProxy https/CAS2 · check L4OK · 4 sessions" in balancer
        assert "≠ castui says UP" in balancer
        assert "4 established connections (agent)" in text
        rows = {match[2]: match[0] for row in text.splitlines()
                if (match := re.search(r"│ ([✓✗⚠·]) (\S+) .*", row))}
        assert len(rows) == 17  # every check of the node, one row each
        assert "tcp · pool" in rows["epm"] and "L4OK" in rows["epm"]
        assert "epm · service" in rows["epmap"] and "EPMOK" in rows["epmap"]
        assert rows["tls"].startswith("│ ⚠ tls") and "TLSOK" in rows["tls"]
        assert "agent · info" in rows["agent"]
        assert "⚠ expires in 12 days" in text
        assert "12 days left, until 2026-12-03" in text
        assert "mapped MSExchangeRPC → 59531 L4OK, MSExchangeAB → 59532 L4OK" in text
        assert "port 443: 4 established, 1 remote" in text
        # It follows the engine: the balancer puts CAS2 back, the pane says so.
        views = driver.balancer["Site-A"]
        assert isinstance(views, dict)
        views.pop("CAS2")
        driver.run(2)
        await until(pilot, lambda: "has not reported this server" in screen_text(app),
                    PROMPT, "the pane following the engine")
        await pilot.press("escape")
        assert not isinstance(app.screen, NodeDetailScreen)


async def test_a_click_on_the_selected_row_opens_its_details(driver: Driver) -> None:
    app = app_for(driver)
    async with app.run_test(size=WIDE) as pilot:
        await drawn(app, pilot, laid_out=True)
        table = app.panels[1].table
        table.focus()
        await pilot.click(table, offset=(3, 2))  # CAS5's row: selects it
        assert app.selected_node() == (1, "CAS5")
        await pilot.click(table, offset=(3, 2))  # again: opens it
        await until(pilot, lambda: isinstance(app.screen, NodeDetailScreen), PROMPT,
                    "the detail pane")
        assert "CAS5 · Site-B" in screen_text(app)


async def test_drain_without_lb_admin_only_says_what_it_needs(driver: Driver) -> None:
    app = app_for(driver)
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await drawn(app, pilot, laid_out=True)
        app.clear_notifications()
        await pilot.press("down", "d")
        await until(pilot, lambda: any("lb_admin = true" in t for t in toasts(app)), PROMPT,
                    "the read-only toast")
        assert not isinstance(app.screen, ConfirmScreen)
        await pilot.press("D")
        assert not isinstance(app.screen, ConfirmScreen)
        await pilot.pause()
        assert admin_events(driver) == []


async def test_drain_asks_first_and_no_changes_nothing(tmp_path: Path) -> None:
    with EventStore(tmp_path / "history.sqlite3") as store:
        driver = deep_driver(tmp_path, store, lb_admin=True)
        app = app_for(driver)
        async with app.run_test(size=WIDE, notifications=True) as pilot:
            await drawn(app, pilot, laid_out=True)
            app.clear_notifications()
            await pilot.press("down", "down", "d")  # CAS3
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), PROMPT,
                        "the question")
            question = app.screen
            assert isinstance(question, ConfirmScreen)
            assert question.question == ("Drain CAS3 on HAProxy backend https? New clients go "
                                         "elsewhere, connected ones stay.")
            assert "Drain CAS3 on HAProxy backend https?" in screen_text(app)
            await pilot.press("n")
            assert not isinstance(app.screen, ConfirmScreen)
            await pilot.press("D")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), PROMPT,
                        "the question")
            assert "Ready CAS3 on HAProxy backend https?" in screen_text(app)
            await pilot.press("escape")
            await pilot.pause()
            assert admin_events(driver) == []
            assert toasts(app) == []


async def test_a_balancer_refusing_the_change_is_an_error_toast(tmp_path: Path) -> None:
    """Site-A's runtime socket does not exist: the adapter's one-line error reaches the user."""
    with EventStore(tmp_path / "history.sqlite3") as store:
        driver = deep_driver(tmp_path, store, lb_admin=True)
        app = app_for(driver)
        async with app.run_test(size=WIDE, notifications=True) as pilot:
            await drawn(app, pilot, laid_out=True)
            await select_node(pilot, app, 0, "CAS2")
            await pilot.press("enter")  # from the detail pane too
            await until(pilot, lambda: isinstance(app.screen, NodeDetailScreen), PROMPT,
                        "the detail pane")
            app.clear_notifications()
            await pilot.press("d", "y")
            await until(pilot, lambda: any("drain CAS2 failed" in t for t in toasts(app)),
                        PROMPT, "the error toast")
            (toast,) = toasts(app)
            assert "site-a-haproxy.sock" in toast and "no such socket" in toast
            assert isinstance(app.screen, NodeDetailScreen)
            assert admin_events(driver) == []


def svg_blank_led(svg: str) -> list[str]:
    """SVG text elements that start with blanks and go on with something visible."""
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    return [t for t in texts if re.match(r"(&#160;)+(?!&#160;)\S", t)]


@pytest.mark.parametrize("size", [WIDE, SMALL], ids=["160x48", "80x24"])
async def test_no_part_of_our_lines_loses_its_separator_in_an_svg_viewer(
        driver: Driver, size: tuple[int, int]) -> None:
    """rsvg drops a text element's leading blanks: `UP  owa` read `UPowa`. What is left are
    DataTable's own padded headers and time cells, and the footer's keys."""
    app = app_for(driver)
    async with app.run_test(size=size) as pilot:
        await drawn(app, pilot, laid_out=True)
        app.catch_up()
        await pilot.pause()
        offenders = svg_blank_led(app.export_screenshot())
        labels = {str(column.label) for panel in app.panels
                  for column in panel.table.columns.values()}
    offenders = [t for t in offenders if t.replace("&#160;", " ").strip() not in labels]
    ours = ("owa", "│", "✓", "✗", "⚠", "▲", "✖", "●", "━", "→", "TTL", "answers", "hygiene",
            "load", "LB", "VIP", "DNS", "poll", "tab", "in pool", "-5 min")
    assert [t for t in offenders if t.replace("&#160;", " ").lstrip().startswith(ours)] == []
