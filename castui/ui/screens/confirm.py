"""A yes / no question before castui changes anything outside itself (a balancer's server)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from castui.ui.palette import pal


class ConfirmScreen(ModalScreen[bool]):
    """`y` answers yes; `n` or escape no. Nothing else does either."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes", tooltip="yes, do it"),
        Binding("n", "answer(False)", "No", tooltip="no, leave it as it is"),
        Binding("escape", "answer(False)", "No", show=False, tooltip="no, leave it as it is"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box") as box:
            box.border_title = "confirm"
            yield Static(Text(self.question, style="bold"), id="confirm-question")
            yield Static(Text("y yes · n / escape no", style=pal().muted), id="confirm-keys")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
