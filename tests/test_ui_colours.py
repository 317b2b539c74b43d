"""Colours that mean the same everywhere: OK green, WARNING yellow, CRITICAL and DOWN red,
maintenance cyan, at 16 and 256 colours; under NO_COLOR no colour at all, every state still
told by glyph and word (bold, reverse); focus never in a severity colour.

The console runs over the real engine (tests.support.ui_estate); its widgets' lines go through
the app's own line filters and are written by Rich for a 16- or 256-colour terminal, exactly
the escape sequences a terminal would get (test_ui_terminal.py runs it in a real pty too).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console
from textual.geometry import Region
from textual.widget import Widget

from castui.engine.targets import CheckSpec, Target
from castui.engine.timeline import ZOOMS, Mark
from castui.history import EventStore
from castui.model.results import Code, ProbeResult
from castui.ui import ConsoleApp
from castui.ui.palette import COLOUR, use_palette
from castui.ui.widgets.timeline import lane_text, legend_text
from tests.support.ui_estate import (
    PROMPT,
    WIDE,
    Driver,
    app_for,
    drawn,
    new_driver,
    node_out,
    steady,
    until,
)

_SGR = re.compile(r"\x1b\[([0-9;]*)m([^\x1b]*)")
#: SGR parameters that set a colour (foreground, background, bright, 256 and 24-bit).
_COLOUR = re.compile(r"^(3[0-8]|4[0-8]|9[0-7]|10[0-7])$")
RED_FG, GREEN_FG, YELLOW_FG, CYAN_FG = "31", "32", "33", "36"
RED_BG, YELLOW_BG = "41", "43"
#: Red, bright red, magenta and bright magenta as foreground or background.
SEVERE = {"31", "91", "35", "95", "41", "101", "45", "105"}


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[Driver]:
    with EventStore(tmp_path / "history.sqlite3") as store:
        driver = new_driver(store)
        steady(driver)
        node_out(driver)  # CAS2 out of the pool (DOWN), CAS4 degraded: WARNING
        yield driver
    use_palette(monochrome=False)


def written(app: ConsoleApp, widget: Widget, system: str) -> list[tuple[set[str], str]]:
    """(SGR parameters, text) of each run the terminal would get for `widget`'s lines."""
    console = Console(color_system=system,  # type: ignore[arg-type]
                      force_terminal=True, file=io.StringIO(), width=app.size.width)
    runs = []
    for strip in widget.render_lines(Region(0, 0, widget.size.width, widget.size.height)):
        for line_filter in app.get_line_filters():
            strip = strip.apply_filter(line_filter, widget.background_colors[1])
        for params, text in _SGR.findall(strip.render(console)):
            if text:
                runs.append((set(params.split(";")), text))
    return runs


def style_of(runs: list[tuple[set[str], str]], words: str) -> set[str]:
    found = [params for params, text in runs if words in text]
    assert found, f"{words!r} not drawn: {[t for _, t in runs]}"
    return found[0]


@pytest.mark.parametrize("system", ["standard", "256"])
async def test_each_severity_has_its_colour_at_16_and_256_colours(
        driver: Driver, system: str) -> None:
    app = app_for(driver)
    async with app.run_test(size=WIDE) as pilot:
        await drawn(app, pilot, laid_out=True)
        await until(pilot, lambda: app.header.info is not None, PROMPT, "the header")
        header = written(app, app.header, system)
        assert {YELLOW_BG, "30"} <= style_of(header, "WARNING"), "WARNING: black on yellow"
        site_a = written(app, app.panels[0].table, system)
        assert RED_FG in style_of(site_a, "DOWN")
        assert GREEN_FG in style_of(site_a, "━ UP")
        site_b = written(app, app.panels[1].table, system)
        assert YELLOW_FG in style_of(site_b, "DEGRADED")
        every = [params for w in (app.header, *app.panels)
                 for params, _ in written(app, w, system)]
        assert not any({"35", "95", "45", "105"} & params for params in every), "no magenta"
        # The focused panel's border: not a severity colour, though the site is WARNING.
        assert app.panels[0].has_focus_within
        border = written(app, app.panels[0], system)[0][0]
        assert not SEVERE & border and not {"33", "93", "43", "103"} & border


def test_maintenance_is_cyan_and_has_its_own_glyph() -> None:
    use_palette(monochrome=False)
    lane = lane_text([Mark.IN_POOL, Mark.OUT, Mark.OUT], (False, True, False))
    assert lane.plain == "━▚█", "expected (maintenance) time reads without colour too"
    spans = {lane.plain[s.start:s.end]: str(s.style) for s in lane.spans}
    assert spans["▚"] == COLOUR.calm == "cyan" and "red" in spans["█"]
    legend = legend_text(ZOOMS[0], short=True, expected=True).plain
    assert "▚ maint" in legend and "█ out" in legend


async def test_no_color_draws_no_colour_and_every_state_still_reads(
        driver: Driver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = app_for(driver)
    async with app.run_test(size=WIDE) as pilot:
        await drawn(app, pilot, laid_out=True)
        await until(pilot, lambda: app.header.info is not None, PROMPT, "the header")
        for system in ("standard", "256", "truecolor"):
            runs = [run for w in (app.header, *app.panels) for run in written(app, w, system)]
            coloured = [(params, text) for params, text in runs
                        if any(_COLOUR.match(p) for p in params)]
            assert coloured == [], f"colour under NO_COLOR at {system}: {coloured[:3]}"
        header = written(app, app.header, "standard")
        assert "7" in style_of(header, "▲ WARNING"), "WARNING in reverse video"
        site_a = written(app, app.panels[0].table, "standard")
        assert "1" in style_of(site_a, "█ DOWN") and "━ UP" in "".join(t for _, t in site_a)


async def test_a_slow_check_shows_its_time_in_the_warning_colour(driver: Driver) -> None:
    def slow(target: Target, spec: CheckSpec) -> ProbeResult:
        return ProbeResult(True, Code.L4OK, "connected", 900.0)

    driver.faults["Site-A/CAS3"] = {"epm": slow}
    driver.run(4)
    app = app_for(driver)
    async with app.run_test(size=WIDE) as pilot:
        await drawn(app, pilot, laid_out=True)
        runs = written(app, app.panels[0].table, "standard")
        assert YELLOW_FG in style_of(runs, "✓ 900ms"), "slower than slow_ms (750 ms)"
        fast = [params for params, text in runs if text.startswith("✓ ") and "900" not in text]
        assert fast and all(GREEN_FG in params for params in fast)
