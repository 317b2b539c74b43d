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
    """`y` answers yes; `n` or escape no. With `default_yes`, enter says yes too (an offer
    that is usually taken); otherwise nothing else answers."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes", tooltip="yes, do it"),
        Binding("n", "answer(False)", "No", tooltip="no, leave it as it is"),
        Binding("escape", "answer(False)", "No", show=False, tooltip="no, leave it as it is"),
        Binding("enter", "default", "Default", show=False,
                tooltip="the default answer, when the question has one"),
    ]

    def __init__(self, question: str, *, default_yes: bool = False) -> None:
        super().__init__()
        self.question = question
        self.default_yes = default_yes

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box") as box:
            box.border_title = "confirm"
            yield Static(Text(self.question, style="bold"), id="confirm-question")
            keys = "Y / enter yes · n / escape no" if self.default_yes \
                else "y yes · n / escape no"
            yield Static(Text(keys, style=pal().muted), id="confirm-keys")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    def action_default(self) -> None:
        if self.default_yes:
            self.dismiss(True)
