"""The site switcher shown when not every site fits: one line, each site with its status glyph,
so a site that is not on screen still shows it is in trouble."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.message import Message
from textual.widget import Widget

from castui.model.status import Status
from castui.ui.palette import pal
from castui.ui.words import STATUS_GLYPH, badge, gap, safe


@dataclass(frozen=True, slots=True)
class Tab:
    name: str
    status: Status


class SiteTabs(Widget):
    """`1 Site-A ▲ │ 2 Site-B ●`; the selected site reversed. A click selects a site."""

    DEFAULT_CSS = """
    SiteTabs { height: 1; }
    """

    class Selected(Message):
        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.tabs: tuple[Tab, ...] = ()
        self.selected = 0
        self._spans: list[tuple[int, int]] = []

    def show(self, tabs: Sequence[Tab], selected: int) -> None:
        state = (tuple(tabs), selected)
        if state != (self.tabs, self.selected):
            self.tabs, self.selected = state
            self.refresh()

    def render(self) -> Text:
        line = Text(no_wrap=True, end="")
        self._spans = []
        for index, tab in enumerate(self.tabs):
            if index:
                gap(line)
                line.append("│", style="dim")
                gap(line)
            start = line.cell_len
            chosen = index == self.selected
            line.append_text(badge(f"{index + 1} {safe(tab.name, 30)}",
                                   "bold reverse" if chosen else "bold"))
            line.append(f"{STATUS_GLYPH[tab.status]} ", style=pal().status[tab.status])
            self._spans.append((start, line.cell_len))
        gap(line, 3)
        line.append("tab / 1-9 switch site", style="dim")
        return line

    def on_click(self, event: events.Click) -> None:
        for index, (start, end) in enumerate(self._spans):
            if start <= event.x < end:
                self.post_message(self.Selected(index))
                return
