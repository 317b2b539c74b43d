"""Small drawing helpers: text to Line-API strips, and text lines that redraw cheaply."""

from __future__ import annotations

from rich.console import Console
from rich.style import Style
from rich.text import Text
from textual.strip import Strip
from textual.widget import Widget


def text_strip(text: Text, console: Console, width: int, base: Style) -> Strip:
    """`text` on the widget's base style, cropped or padded to exactly `width` cells."""
    line = Text(style=base, end="", no_wrap=True)
    line.append_text(text)
    segments = list(line.render(console, end=""))
    return Strip(segments, line.cell_len).crop_extend(0, width, base)


class TextLines(Widget):
    """Fixed-height text that redraws only when it changes, and never asks for a new layout
    (a Static's `update` does, and a layout pass per round costs more than the whole redraw)."""

    def __init__(self, *, classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self.text = Text("")

    def show(self, text: Text) -> None:
        if text != self.text:
            self.text = text
            self.refresh()

    def render(self) -> Text:
        return self.text
