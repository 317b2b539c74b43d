"""Every key of the console, driven through Textual's pilot over the real engine.

The monitor is fed fixed rounds on a frozen clock (tests.support.ui_estate), so what each key
does is checked without a network; the lab tests (test_ui_lab.py) do the same on live probes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.app import App, ComposeResult

from castui.engine.snapshot import CheckView, TargetView
from castui.ui import ConsoleApp
from castui.ui.keys import BINDINGS, help_rows
from castui.ui.screens.help import HelpScreen
from castui.ui.widgets.alert_list import AlertList
from castui.ui.widgets.node_filter import NodeFilter
from castui.ui.widgets.node_table import NodeTable
from castui.ui.widgets.timeline import TimelinePanel, TimelineView
from tests.support.ui_estate import (
    PROMPT,
    SMALL,
    T0,
    WIDE,
    Driver,
    alert_rows,
    app_for,
    cell,
    drawn,
    node_out,
    refused,
    rows,
    screen_text,
    toasts,
    until,
)


def svgs_in(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.svg"))


class Renders:
    """Counts the refresh ticks, and the site panels they drew."""

    def __init__(self, app: ConsoleApp) -> None:
        self.ticks = 0
        self.drawn = 0
        self._render = app.render_now
        app.render_now = self.render_now  # type: ignore[method-assign]
        for panel in app.panels:
            panel.show = self._counted(panel.show)  # type: ignore[method-assign]

    def render_now(self, *, force: bool = False) -> None:
        self.ticks += 1
        self._render(force=force)

    def _counted(self, show: Callable[..., None]) -> Callable[..., None]:
        def counted(*args: Any) -> None:
            self.drawn += 1
            show(*args)
        return counted


@pytest.mark.parametrize("key", ["q", "ctrl+q"])
async def test_q_and_ctrl_q_quit(driver: Driver, key: str) -> None:
    app = app_for(driver)
    async with app.run_test(size=WIDE) as pilot:
        await drawn(app, pilot)
        await pilot.press(key)
        await until(pilot, lambda: app.return_code is not None, PROMPT, "the app to exit")
    assert app.return_code == 0


async def test_tab_shift_tab_and_digits_switch_site_when_sites_are_tabs(
        driver: Driver) -> None:
    app = app_for(driver)
    async with app.run_test(size=SMALL, notifications=True) as pilot:
        await drawn(app, pilot)
        await until(pilot, lambda: app.tabs_mode, PROMPT,
                    "tabs: two sites do not fit in 24 lines")
        a, b = app.panels
        assert (a.display, b.display) == (True, False)
        await pilot.press("tab")
        assert (a.display, b.display) == (False, True)
        await until(pilot, lambda: b.table.row_count == 2, PROMPT, "Site-B drawn")
        assert app.focused is b.table
        await pilot.press("shift+tab")
        assert (a.display, b.display) == (True, False)
        await pilot.press("2")
        assert (a.display, b.display) == (False, True)
        await pilot.press("1")
        assert (a.display, b.display) == (True, False)
        await pilot.press("9")
        await until(pilot, lambda: any("no site 9" in t for t in toasts(app)), PROMPT,
                    "the no-such-site toast")
        assert (a.display, b.display) == (True, False)
        # The mouse helps too: a click on Site-B's tab.
        await pilot.click("#site-tabs", offset=(18, 0))
        assert (a.display, b.display) == (False, True)


async def test_site_keys_move_between_sites_shown_together(driver: Driver) -> None:
    app = app_for(driver)
    async with app.run_test(size=WIDE) as pilot:
        await drawn(app, pilot)
        assert not app.tabs_mode
        assert all(panel.display for panel in app.panels)
        await pilot.press("2")
        assert app.focused is app.panels[1].table
        await pilot.press("tab")
        assert app.focused is app.panels[0].table


async def test_slash_filters_nodes_and_escape_clears(driver: Driver) -> None:
    app = app_for(driver)
    async with app.run_test(size=WIDE) as pilot:
        await drawn(app, pilot)
        await pilot.press("slash")
        box = app.query_one(NodeFilter)
        assert box.display and app.focused is box
        await pilot.press("c", "a", "s", "2")
        assert rows(app, 0) == ["CAS2"] and rows(app, 1) == []
        await pilot.press("q")  # typed into the filter, not a quit
        assert app.return_code is None and box.value == "cas2q"
        await pilot.press("backspace", "enter")
        assert not box.display and app.focused is app.panels[0].table
        assert rows(app, 0) == ["CAS2"]
        await until(pilot, lambda: "filter “cas2”" in screen_text(app), PROMPT,
                    "the filter named in the header")
        await pilot.press("slash", "escape")
        assert not box.display
        assert rows(app, 0) == ["CAS1", "CAS2", "CAS3"] and rows(app, 1) == ["CAS4", "CAS5"]


async def test_t_focuses_the_timeline_and_plus_minus_zoom_it(driver: Driver) -> None:
    app = app_for(driver)
    async with app.run_test(size=WIDE) as pilot:
        await drawn(app, pilot)
        panel = app.query_one(TimelinePanel)
        await until(pilot, lambda: "5 min" in str(panel.border_title), PROMPT, "timeline")
        await pilot.press("t")
        assert isinstance(app.focused, TimelineView)
        for expected in ("30 min", "2 h", "24 h", "24 h"):
            await pilot.press("minus")
            assert f"Timeline · {expected}" in str(panel.border_title)
        for expected in ("2 h", "30 min", "5 min", "5 min"):
            await pilot.press("plus")
            assert f"Timeline · {expected}" in str(panel.border_title)


async def test_a_acknowledges_the_selected_alert_and_capital_a_all(driver: Driver) -> None:
    app = app_for(driver)
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await drawn(app, pilot)
        assert "no alerts" in screen_text(app)
        node_out(driver)  # CAS2 leaves the pool, CAS4 degrades: two alerts
        await until(pilot, lambda: "2 alerts unacked" in screen_text(app), PROMPT,
                    "two alerts counted in the header")
        alerts = app.query_one(AlertList)
        await until(pilot, lambda: alerts.row_count == 2 and not app.toasts.pending, PROMPT,
                    "both alerts listed")
        assert not [t for t in toasts(app) if "alert" in t], "no toast: the list shows them"
        newest, older = (alert.id for alert in driver.monitor.alerts)
        assert alerts.selected_id() == newest  # the newest unacknowledged

        await pilot.press("a")
        book = {alert.id: alert for alert in driver.monitor.alerts}
        assert book[newest].acknowledged and not book[older].acknowledged
        assert str(alerts.get_cell(str(newest), "ack")).startswith("✓")
        assert str(alerts.get_cell(str(older), "ack")) == "NEW"
        assert alerts.selected_id() == older  # the cursor moves on to the next one
        await until(pilot, lambda: "1 alert unacked" in screen_text(app), PROMPT,
                    "one alert left in the header")

        await pilot.press("A")
        assert driver.monitor.alerts.unacknowledged == 0
        await until(pilot, lambda: "no alerts" in screen_text(app), PROMPT, "header cleared")
        await pilot.press("a")
        await until(pilot, lambda: any("no unacknowledged alert" in t for t in toasts(app)),
                    PROMPT, "nothing left to acknowledge")


async def test_p_freezes_the_display_while_polling_continues(driver: Driver) -> None:
    app = app_for(driver, refresh_s=0.05)
    async with app.run_test(size=WIDE) as pilot:
        await drawn(app, pilot)
        renders = Renders(app)
        await pilot.press("p")
        await until(pilot, lambda: "FROZEN" in screen_text(app), PROMPT, "FROZEN shown")
        driver.faults["Site-A/CAS1"] = refused
        driver.run(10)
        assert driver.monitor.states["Site-A/CAS1"].state == "down"  # polling went on
        before = renders.drawn
        await until(pilot, lambda: renders.ticks >= 5, PROMPT, "five refresh ticks")
        assert renders.drawn == before
        assert "UP" in cell(app, 0, "CAS1", "pool")
        await pilot.press("p")
        await until(pilot, lambda: "DOWN" in cell(app, 0, "CAS1", "pool"), PROMPT,
                    "the picture catching up")
        assert "FROZEN" not in screen_text(app)


async def test_r_asks_the_engine_to_probe_now(driver: Driver,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[bool] = []
    monkeypatch.setattr(driver.monitor, "probe_now", lambda: asked.append(True))
    app = app_for(driver)
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await drawn(app, pilot)
        await pilot.press("r")
        await until(pilot, lambda: any("re-probing" in t for t in toasts(app)), PROMPT,
                    "the re-probe toast")
        assert asked == [True]  # the live effect is in test_ui_lab.py


async def test_s_saves_an_svg_screenshot(driver: Driver, tmp_path: Path) -> None:
    app = app_for(driver, screenshot_dir=tmp_path)
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await drawn(app, pilot)
        await pilot.press("s")
        (saved,) = svgs_in(tmp_path)
        assert saved.name == "castui-20261121T080400Z.svg"
        assert saved.read_text().startswith("<svg") and "Site-A" in saved.read_text()
        await until(pilot, lambda: any("screenshot saved" in t for t in toasts(app)), PROMPT,
                    "the saved toast")


async def test_question_mark_lists_every_key_and_pauses_drawing(driver: Driver) -> None:
    app = app_for(driver, refresh_s=0.05)
    async with app.run_test(size=WIDE) as pilot:
        await drawn(app, pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        for keys, what in help_rows(BINDINGS):
            assert keys in text and what[:40] in text
        for key in ("q / ctrl+c / ctrl+q / f10", "? / f1", ":", "e", "!", "P", "j", "G",
                    "tab", "shift+tab", "1-9", "/", "t", "+", "-", "enter", "d",
                    "D", "a", "A", "m", "M", "p", "r", "s", "?"):
            assert f" {key} " in text
        renders = Renders(app)
        driver.faults["Site-B/CAS5"] = refused
        driver.run(10)
        await until(pilot, lambda: renders.ticks >= 5, PROMPT, "five refresh ticks")
        assert renders.drawn == 0  # nothing drawn under the modal
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await until(pilot, lambda: "DOWN" in cell(app, 1, "CAS5", "pool"), PROMPT,
                    "the picture catching up")
        await pilot.press("question_mark", "question_mark")
        assert not isinstance(app.screen, HelpScreen)


async def test_tables_change_cell_by_cell_and_hidden_sites_are_not_drawn(
        driver: Driver) -> None:
    app = app_for(driver, refresh_s=0.05)
    async with app.run_test(size=SMALL) as pilot:
        await drawn(app, pilot)
        driver.run(10)  # away from a minute boundary of the "since" column
        renders = Renders(app)
        await until(pilot, lambda: renders.drawn >= 1, PROMPT, "the picture caught up")
        a, b = app.panels
        updates: list[tuple[str, str]] = []
        cleared: list[int] = []
        for panel in (a, b):
            original = panel.table.update_cell

            def spy(row: Any, column: Any, value: Any, *, _orig: Any = original,
                    **kw: Any) -> None:
                updates.append((str(row), str(column)))
                _orig(row, column, value, **kw)

            panel.table.update_cell = spy  # type: ignore[method-assign]
            panel.table.clear = lambda *a, **k: cleared.append(1)  # type: ignore[method-assign]
        driver.run(2)  # one more identical round: nothing to change
        before = renders.drawn
        await until(pilot, lambda: renders.drawn > before, PROMPT, "a redraw")
        assert updates == []
        driver.faults["Site-A/CAS2"] = {"owa": refused}
        driver.faults["Site-B/CAS4"] = refused
        driver.run(2)
        await until(pilot, lambda: bool(updates), PROMPT, "a changed cell")
        assert set(updates) == {("CAS2", "pool"), ("CAS2", "checks")}
        assert cleared == []  # Site-B is a hidden tab: its CAS4 was not redrawn (updates)
        await pilot.press("2")
        await until(pilot, lambda: "UP 2/3" in cell(app, 1, "CAS4", "pool"), PROMPT,
                    "Site-B drawn when shown")


async def test_no_color_says_it_with_glyphs_bold_and_reverse(
        driver: Driver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = app_for(driver)
    async with app.run_test(size=WIDE) as pilot:
        await drawn(app, pilot)
        assert app.no_color
        node_out(driver)
        await until(pilot, lambda: "DOWN" in cell(app, 0, "CAS2", "pool"), PROMPT, "CAS2 down")
        shown = app.panels[0].table.get_cell("CAS2", "pool")
        assert shown.plain == "█ DOWN" and "reverse" in str(shown.style)
        assert "red" not in str(shown.style)
        await until(pilot, lambda: "█" in screen_text(app).split("CAS2 ·")[-1][:100], PROMPT,
                    "the outage drawn with its glyph")


async def test_bell_option_rings_once_per_batch_of_alerts(driver: Driver) -> None:
    app = app_for(driver, bell=True)
    rings: list[int] = []
    app.bell = lambda: rings.append(1)  # type: ignore[method-assign]
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await drawn(app, pilot)
        assert rings == []
        node_out(driver)
        await until(pilot, lambda: len(alert_rows(app)) == 2 and not app.toasts.pending,
                    PROMPT, "the alerts listed")
        assert rings == [1]


async def test_node_agents_fill_a_connections_column() -> None:
    def node(name: str, agent_ok: bool) -> TargetView:
        agent = CheckView("agent", "agent", "info", agent_ok, "", 1.0, "",
                          {"connections": {"https": {"established": 12},
                                           "epm": {"established": 3}}})
        return TargetView("Site-A", name, "node", "127.0.61.21", None, "up", "UP", (agent,),
                          T0, 3)

    class OneTable(App[None]):
        def compose(self) -> ComposeResult:
            yield NodeTable(["agent"], ["CAS1", "CAS2"], connections=True)

    app = OneTable()
    async with app.run_test(size=WIDE) as pilot:
        table = app.query_one(NodeTable)
        table.show([node("CAS1", True), node("CAS2", False)], T0)
        await pilot.pause()
        assert str(table.get_cell("CAS1", "conn")) == "   15"  # right-aligned
        assert str(table.get_cell("CAS2", "conn")).strip() == "–"  # the agent did not answer
