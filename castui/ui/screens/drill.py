"""`m`: name a failover drill and start it. The engine records it; this only asks for the name.

A drill's name is how `castui report --drill NAME` finds it later, so it is kept to one clean
line: control characters go, runs of blanks become one, and it must not be empty.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from castui.engine.monitor import DRILL_NAME_MAX
from castui.model.text import clean
from castui.ui.palette import pal


def default_name(now: datetime, local_tz: tzinfo | None) -> str:
    """`drill-2026-11-21-1405`: the local date and time, so a name is always at hand."""
    return now.astimezone(local_tz).strftime("drill-%Y-%m-%d-%H%M")


def drill_name(text: str) -> tuple[str | None, str]:
    """(the name to record, "") or (None, why it cannot be one)."""
    name = clean(text, DRILL_NAME_MAX + 1)
    if not name:
        return None, "a drill needs a name"
    if len(name) > DRILL_NAME_MAX:
        return None, f"at most {DRILL_NAME_MAX} characters, please"
    return name, ""


class DrillScreen(ModalScreen[str | None]):
    """The name, pre-filled; enter starts the drill, escape leaves things as they are."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", tooltip="start no drill"),
    ]

    def __init__(self, default: str) -> None:
        super().__init__()
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical(id="drill-box", classes="dialog") as box:
            box.border_title = "start a drill"
            yield Static(Text("Its name finds its figures later: castui report --drill NAME"),
                         classes="dialog-text")
            yield Input(self.default, max_length=DRILL_NAME_MAX, id="drill-name", compact=True)
            yield Static("", id="drill-error", classes="dialog-error")
            yield Static(Text("enter starts · escape cancels", style=pal().muted),
                         classes="dialog-keys")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        name, why = drill_name(event.value)
        if name is None:
            self.query_one("#drill-error", Static).update(Text(why, style=pal().alarm))
            return
        self.dismiss(name)

    def action_cancel(self) -> None:
        self.dismiss(None)
