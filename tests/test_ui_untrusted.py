"""Text from the network on screen: bidi controls and zero-width characters never reach the
terminal, and wide characters never push a cell past its column (issue 12: a balancer cell
read `‮NWOD 表示`, reversed by U+202E).

The engine folds fixed results on a frozen clock (tests.support.ui_estate); the balancer's
words are set where the engine keeps them, as the HAProxy adapter would after a read.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

from rich.cells import cell_len

from castui.engine.targets import CheckSpec, Target
from castui.history import EventStore
from castui.model.balancer import ServerView
from castui.model.results import Code, Error, ProbeResult
from castui.model.text import clean
from castui.ui.screens.node_detail import NodeDetailScreen
from castui.ui.widgets.node_table import LB_WIDTH
from tests.support.ui_estate import (
    WIDE,
    app_for,
    new_deep_driver,
    screen_text,
    select_node,
    steady,
    until,
)

#: A status as a hostile (or broken) balancer may send it: reversed by U+202E, joined by
#: zero-width characters, with wide CJK characters and a stack of combining marks.
HOSTILE_STATUS = "\u202eNWOD\u200d\u200b 表示表示表示\u0301\u0301\u0301\u0301\u202c"


def _offsets(line: str, mark: str) -> list[int]:
    """The cells at which `mark` starts in a screen line."""
    return [cell_len(line[:index]) for index, char in enumerate(line) if char == mark]


async def test_a_hostile_balancer_status_stays_in_its_column(tmp_path: Path) -> None:
    with EventStore(tmp_path / "history.sqlite3") as store:
        driver = new_deep_driver(tmp_path, store)
        views = driver.balancer["Site-A"]
        assert isinstance(views, dict)
        views["CAS2"] = ServerView("https", "CAS2", HOSTILE_STATUS, "\u202eKO4L表示", 3, 10, 0)
        steady(driver)
        app = app_for(driver)
        async with app.run_test(size=WIDE) as pilot:
            table = app.panels[0].table
            await until(pilot, lambda: table.row_count == 3, 5.0, "the node table")
            await pilot.pause()
            shown = table.get_cell("CAS2", "lb")
            assert cell_len(shown.plain) <= LB_WIDTH
            assert shown.plain.endswith("…")
            screen = screen_text(app)
    assert not any(unicodedata.category(c) == "Cf" for c in screen)
    rows = {name: next(line for line in screen.splitlines()
                       if f" {name} " in line and "✓" in line)
            for name in ("CAS1", "CAS2")}
    assert "≠ NWOD 表…  " in rows["CAS2"]
    # The columns after it start where they do in the row with a plain status, and the row
    # ends at the panel's border.
    for mark in ("✓", "│"):
        assert _offsets(rows["CAS2"], mark) == _offsets(rows["CAS1"], mark)
    assert cell_len(rows["CAS2"]) == cell_len(rows["CAS1"]) == WIDE[0]


def wide_503(target: Target, spec: CheckSpec) -> ProbeResult:
    """An HTTP 503 whose reason phrase is Japanese, as the probe cleans it (its own bound)."""
    detail = clean("HTTP 503 " + "\u202e表示できません" * 20 + ", expected 200")
    return ProbeResult(False, Code.L7STS, detail, 3.0, Error.STATUS, {"status": 503})


async def test_a_wide_check_detail_folds_within_the_detail_column(tmp_path: Path) -> None:
    with EventStore(tmp_path / "history.sqlite3") as store:
        driver = new_deep_driver(tmp_path, store)
        driver.faults["Site-A/CAS2"] = {"owa": wide_503}
        steady(driver)
        app = app_for(driver)
        async with app.run_test(size=WIDE) as pilot:
            await until(pilot, lambda: app.panels[0].table.row_count == 3, 5.0, "the table")
            await select_node(pilot, app, 0, "CAS2")
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, NodeDetailScreen), 5.0,
                        "the detail pane")
            await pilot.pause()
            screen = screen_text(app)
    folded = [line for line in screen.splitlines() if "表示" in line]
    assert len(folded) > 2  # it needed more than one line
    first, *rest = folded
    assert "HTTP 503" in first
    edge = cell_len(first[:first.index("HTTP 503")])  # where the detail column starts
    for line in rest:
        wide = next(i for i, c in enumerate(line) if unicodedata.east_asian_width(c) == "W")
        assert cell_len(line[:wide]) == edge, line
        assert cell_len(line) == WIDE[0]
    assert not any(unicodedata.category(c) == "Cf" for c in screen)
