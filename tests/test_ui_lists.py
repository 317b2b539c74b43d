"""Every list in reach of the keyboard: the standard keys (ctrl+c, F1, F10, j/k, g/G, escape),
the command palette on `:` and ctrl+p, and the events and alerts full screen (`e`, `!`) at
80x24, driven through Textual's pilot over the real engine on a frozen clock."""

from __future__ import annotations

import pytest
from textual.command import CommandPalette

from castui.ui.keys import BINDINGS, palette_commands
from castui.ui.screens.help import HelpScreen
from castui.ui.screens.records import RecordsScreen
from castui.ui.widgets.node_filter import NodeFilter
from tests.support.ui_estate import (
    PROMPT,
    SMALL,
    WIDE,
    Driver,
    alert_rows,
    app_for,
    drawn,
    node_out,
    refused,
    rows,
    screen_text,
    toasts,
    until,
)


@pytest.mark.parametrize("key", ["ctrl+c", "f10"])
async def test_ctrl_c_and_f10_quit(driver: Driver, key: str) -> None:
    app = app_for(driver)
    async with app.run_test(size=SMALL) as pilot:
        await drawn(app, pilot)
        await pilot.press(key)
        await until(pilot, lambda: app.return_code is not None, PROMPT, "the app to exit")
    assert app.return_code == 0


async def test_f1_is_help(driver: Driver) -> None:
    app = app_for(driver)
    async with app.run_test(size=SMALL) as pilot:
        await drawn(app, pilot)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_j_k_g_capital_g_move_in_the_node_table(driver: Driver) -> None:
    app = app_for(driver)
    async with app.run_test(size=WIDE) as pilot:
        await drawn(app, pilot)
        table = app.panels[0].table
        assert table.selected() == "CAS1"
        await pilot.press("j")
        assert table.selected() == "CAS2"
        await pilot.press("G")
        assert table.selected() == "CAS3"
        await pilot.press("k")
        assert table.selected() == "CAS2"
        await pilot.press("g")
        assert table.selected() == "CAS1"


async def test_escape_clears_a_kept_node_filter(driver: Driver) -> None:
    app = app_for(driver)
    async with app.run_test(size=WIDE) as pilot:
        await drawn(app, pilot)
        await pilot.press("slash", "c", "a", "s", "2", "enter")
        assert rows(app, 0) == ["CAS2"] and not app.query_one(NodeFilter).display
        await pilot.press("escape")
        await until(pilot, lambda: rows(app, 0) == ["CAS1", "CAS2", "CAS3"], PROMPT,
                    "every node again")
        assert app.node_filter == ""


def test_the_palette_has_a_command_for_every_action() -> None:
    actions = {action for _, _, action in palette_commands(BINDINGS)}
    bound = {b.action for b in BINDINGS if hasattr(b, "action")} - {"command_palette"}
    assert actions == bound
    assert {"events", "alerts", "problems", "help", "quit"} <= actions


@pytest.mark.parametrize("key", ["colon", "ctrl+p"])
async def test_the_command_palette_opens_views_by_name(driver: Driver, key: str) -> None:
    app = app_for(driver)
    async with app.run_test(size=SMALL) as pilot:
        await drawn(app, pilot)
        await pilot.press(key)
        await until(pilot, lambda: isinstance(app.screen, CommandPalette), PROMPT,
                    "the command palette")
        await pilot.press(*"alerts full")
        await until(pilot, lambda: "Alerts  (!)" in screen_text(app), PROMPT,
                    "the Alerts command offered")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RecordsScreen), PROMPT,
                    "the alerts full screen")
        assert isinstance(app.screen, RecordsScreen) and app.screen.view == "alerts"


async def test_e_shows_events_full_screen_filtered_with_the_selected_row_whole(
        driver: Driver) -> None:
    node_out(driver)
    app = app_for(driver)
    async with app.run_test(size=SMALL) as pilot:
        await drawn(app, pilot)
        await pilot.press("e")
        screen = app.screen
        assert isinstance(screen, RecordsScreen) and screen.view == "events"
        await until(pilot, lambda: screen.table.row_count >= 3, PROMPT, "the events listed")
        newest = screen.selected()
        assert newest is not None and "CAS4 degraded" in newest.what.plain
        text = screen_text(app)
        # The selected row whole, every field of it, wrapped at 80 columns.
        assert "event: node_degraded" in text and "subject: CAS4" in text
        await pilot.press("slash", *"cas2", "enter")
        await until(pilot, lambda: all("CAS2" in str(screen.table.get_row_at(i)[-1])
                                       for i in range(screen.table.row_count)),
                    PROMPT, "only CAS2's events")
        chosen = screen.selected()
        assert chosen is not None and "CAS2" in chosen.what.plain
        await pilot.press("G", "k", "g")
        assert screen.table.cursor_row == 0
        await pilot.press("escape")  # clears the filter first
        await until(pilot, lambda: not screen.needle and screen.table.row_count > 2, PROMPT,
                    "the filter cleared")
        assert isinstance(app.screen, RecordsScreen)
        await pilot.press("escape")  # then goes back
        assert not isinstance(app.screen, RecordsScreen)


async def test_bang_shows_alerts_full_screen_and_a_acknowledges_there(driver: Driver) -> None:
    node_out(driver)
    app = app_for(driver)
    async with app.run_test(size=SMALL) as pilot:
        await drawn(app, pilot)
        await pilot.press("exclamation_mark")
        screen = app.screen
        assert isinstance(screen, RecordsScreen) and screen.view == "alerts"
        await until(pilot, lambda: screen.table.row_count == 2, PROMPT, "two alerts listed")
        await pilot.press("j")
        older = screen.selected()
        assert older is not None and "CAS2 out of pool" in older.what.plain
        assert "severity: critical" in screen_text(app)
        await pilot.press("a")
        book = {str(alert.id): alert for alert in driver.monitor.alerts}
        assert book[older.key].acknowledged
        assert sum(not a.acknowledged for a in book.values()) == 1
        await until(pilot, lambda: "acknowledged: " in screen_text(app), PROMPT,
                    "who acknowledged it, in the row's fields")
        await pilot.press("escape")
        await until(pilot, lambda: "1 alert unacked" in screen_text(app), PROMPT,
                    "the header counting one")


async def test_toasts_are_one_line_and_only_when_the_alert_list_is_not_in_view(
        driver: Driver) -> None:
    app = app_for(driver)
    async with app.run_test(size=SMALL, notifications=True) as pilot:
        await drawn(app, pilot)
        await pilot.press("p")  # frozen: the alert list stands still, so a toast says it
        node_out(driver)
        await until(pilot, lambda: bool(toasts(app)), PROMPT, "the alert toast")
        (toast,) = toasts(app)
        assert "\n" not in toast.strip() and len(toast.strip()) <= SMALL[0]
        assert toast.strip().startswith("⚑ 2 alerts, newest") and "(! lists them)" in toast
        app.clear_notifications()
        await pilot.press("p")
        driver.faults["Site-A/CAS3"] = refused
        driver.run(10)
        await until(pilot, lambda: "CAS3 out of pool" in alert_rows(app)[0]
                    and not app.toasts.pending, PROMPT, "CAS3's alert listed")
        assert toasts(app) == [], "the list is on screen: no toast over it"


async def test_a_resolved_alert_says_so_in_the_list_and_the_full_screen(
        driver: Driver) -> None:
    app = app_for(driver)
    async with app.run_test(size=WIDE) as pilot:
        await drawn(app, pilot)
        driver.faults["Site-A/CAS2"] = refused
        driver.run(10)
        await until(pilot, lambda: alert_rows(app) != [], PROMPT, "CAS2's alert")
        del driver.faults["Site-A/CAS2"]
        driver.run(10)
        await until(pilot, lambda: alert_rows(app)[0].startswith("resolved · "), PROMPT,
                    "the alert marked resolved")
        assert len(alert_rows(app)) == 1, "the recovery is no alert"
        await pilot.press("exclamation_mark")
        await until(pilot, lambda: "resolved: 08:04" in screen_text(app), PROMPT,
                    "when, among the alert's fields")
