"""The event list, newest first, one sentence per event (Line API, bounded memory)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import ClassVar

from rich.text import Text
from textual.binding import BindingType
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from castui.model.events import Event
from castui.ui.keys import SCROLL_MOVES
from castui.ui.sentences import event_line
from castui.ui.widgets.lines import text_strip

#: Events kept on screen; older ones stay in the history database.
MAX_LINES = 1000


class EventLog(ScrollView, can_focus=True):
    """`08:01:02 Site-A CAS2 back in pool after 2m14s`, newest on top."""

    BINDINGS: ClassVar[list[BindingType]] = SCROLL_MOVES

    DEFAULT_CSS = """
    EventLog { height: 1fr; overflow-x: hidden; scrollbar-size-vertical: 1; }
    """

    def __init__(self, *, with_site: bool, id: str | None = None) -> None:
        super().__init__(id=id)
        self.with_site = with_site
        self.lines: deque[Text] = deque(maxlen=MAX_LINES)
        self._strips: deque[Strip | None] = deque(maxlen=MAX_LINES)

    def add(self, events: Iterable[Event]) -> None:
        """Put events (oldest first) on top of the list."""
        count = 0
        for event in events:
            self.lines.appendleft(event_line(event, with_site=self.with_site))
            self._strips.appendleft(None)
            count += 1
        if count:
            self.virtual_size = Size(self.size.width, len(self.lines))
            self.refresh()

    def on_resize(self) -> None:
        self._strips = deque([None] * len(self.lines), maxlen=MAX_LINES)
        self.virtual_size = Size(self.size.width, len(self.lines))

    def render_line(self, y: int) -> Strip:
        index = y + self.scroll_offset.y
        width = self.scrollable_content_region.width
        if index >= len(self.lines):
            return Strip.blank(width, self.rich_style)
        strip = self._strips[index]
        if strip is None or strip.cell_length != width:
            strip = text_strip(self.lines[index], self.app.console, width, self.rich_style)
            self._strips[index] = strip
        return strip
