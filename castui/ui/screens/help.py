"""`?`: every key, generated from the bindings, and what the timeline's glyphs mean."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from castui.engine.timeline import MARK_WORDS, Mark
from castui.ui.keys import help_rows
from castui.ui.palette import pal
from castui.ui.words import EXPECTED_GLYPH, MARK_GLYPH

Section = tuple[str, Sequence[BindingType]]


def keys_table(sections: Sequence[Section]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(justify="right", style="bold", no_wrap=True)
    table.add_column()
    for number, (title, bindings) in enumerate(sections):
        if number:
            table.add_row("", "")
        table.add_row("", Text(title, style="bold underline"))
        for keys, what in help_rows(bindings):
            table.add_row(Text(keys), Text(what))
    return table


def legend_table() -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(justify="right", no_wrap=True)
    table.add_column()
    table.add_row("", Text("Timeline", style="bold underline"))
    for mark in (Mark.IN_POOL, Mark.TRANSITIONAL, Mark.DEGRADED, Mark.OUT, Mark.UNKNOWN):
        table.add_row(Text(MARK_GLYPH[mark] * 3, style=pal().marks[mark]),
                      Text(MARK_WORDS[mark]))
    table.add_row(Text(EXPECTED_GLYPH * 3, style=pal().calm),
                  Text("out, transitional or degraded inside a maintenance mark (expected)"))
    return table


class HelpScreen(ModalScreen[None]):
    """A modal over the console; while it is up the console renders nothing."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close", tooltip="close this help"),
        Binding("question_mark", "dismiss", "Close", key_display="?",
                tooltip="close this help"),
        Binding("q", "app.quit", "Quit", tooltip="quit castui"),
    ]

    def __init__(self, sections: Sequence[Section]) -> None:
        super().__init__()
        self.sections = [*sections, ("This help", self.BINDINGS)]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box") as box:
            box.border_title = "castui keys"
            box.border_subtitle = "escape or ? closes"
            yield Static(keys_table(self.sections), id="help-keys")
            yield Static(legend_table(), id="help-legend")
