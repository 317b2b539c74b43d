"""The `/` node filter: a one-line input over the site panels."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Input


class NodeFilter(Input):
    """Typing filters at once; enter keeps the filter and returns to the nodes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "clear", "Clear", tooltip="clear the filter and close it"),
        Binding("enter", "submit", "Keep", tooltip="keep the filter and close it"),
    ]

    class Cleared(Message):
        """The user dropped the filter."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(placeholder="filter nodes by name (enter keeps, escape clears)",
                         id=id, compact=True)

    def action_clear(self) -> None:
        self.value = ""
        self.post_message(self.Cleared())
