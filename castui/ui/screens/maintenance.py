"""`M`: mark the selected node, or its whole site, in maintenance for a while, or clear a mark.

The screen only gathers the request (whose, how long, why); the engine records the mark, and
from then on explains that node's drops as expected instead of alerting. The marks in force are
shown first, so nobody sets a second one by mistake, and a clear button appears for each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar, Literal

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from castui.engine.maintenance import (
    MAX_MAINTENANCE,
    REASON_MAX,
    MaintenanceError,
    MarksAt,
    TooLong,
    check_span,
)
from castui.model.marks import MaintenanceMark
from castui.model.text import clean
from castui.model.times import parse_span
from castui.ui.palette import pal
from castui.ui.words import safe, until_text

DEFAULT_SPAN = "45m"


def read_span(text: str) -> tuple[float | None, str]:
    """(seconds, "") for `90s`, `45m`, `2h`, `1h30m`, or (None, why not): the engine's limits,
    checked here too so the dialog can say so before it closes."""
    shown = safe(text.strip(), 20) or "nothing"
    try:
        span = parse_span(text.strip().lower())
    except ValueError:  # years of it
        span = timedelta.max
    if span is None:
        return None, f"not a duration: {shown} (use 90s, 45m, 2h, 1h30m)"
    try:
        check_span(span)
    except TooLong:
        return None, f"at most {MAX_MAINTENANCE.days} days: {shown} is longer"
    except MaintenanceError as err:
        return None, str(err)
    return span.total_seconds(), ""


@dataclass(frozen=True, slots=True)
class MaintRequest:
    """What the user asked for: mark or clear, `node` None meaning the whole site."""

    action: Literal["set", "clear"]
    node: str | None
    seconds: float = 0.0
    reason: str = ""


def mark_line(mark: MaintenanceMark, now: datetime) -> Text:
    """`CAS2 in maintenance until 14:50 UTC (alice: kernel patch)`."""
    what = safe(mark.node, 40) if mark.node else f"{safe(mark.site, 40)} (whole site)"
    when = f"until {until_text(mark.until(), now, short=False)} UTC"
    if mark.starts > now:
        when = f"from {until_text(mark.starts, now, short=False)} {when}"
    why = f"{safe(mark.set_by, 40)}: {safe(mark.reason, 80)}" if mark.reason else safe(
        mark.set_by, 40)
    return Text(f"{what} in maintenance {when} ({why})", style=pal().calm)


class MaintScreen(ModalScreen[MaintRequest | None]):
    """Duration and reason, then a button: this node, the whole site, clear, cancel. Enter in
    either field marks the node; escape leaves everything as it is."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", tooltip="change nothing"),
    ]

    def __init__(self, site: str, node: str, marks: MarksAt, now: datetime) -> None:
        super().__init__()
        self.site = site
        self.node = node
        self.now = now
        self.node_marks = list(marks.node)
        self.site_marks = list(marks.site)

    def compose(self) -> ComposeResult:
        node, site = safe(self.node, 40), safe(self.site, 40)
        with Vertical(id="maint-box", classes="dialog") as box:
            box.border_title = f"maintenance · {site}/{node}"
            shown = [*self.node_marks, *self.site_marks]
            if shown:
                yield Static(Text("\n").join(mark_line(m, self.now) for m in shown),
                             classes="dialog-text")
            else:
                yield Static(Text(f"No maintenance mark on {node} or {site} now. Drops inside "
                                  "a mark are recorded as expected and raise no alert."),
                             classes="dialog-text")
            with Horizontal(classes="dialog-field"):
                yield Static("for", classes="dialog-label")
                yield Input(DEFAULT_SPAN, id="maint-span", max_length=20, compact=True)
                yield Static(Text("90s, 45m, 2h, 1h30m", style=pal().muted),
                             classes="dialog-hint")
            with Horizontal(classes="dialog-field"):
                yield Static("reason", classes="dialog-label")
                yield Input(placeholder="optional", id="maint-reason", max_length=REASON_MAX,
                            compact=True)
            with Horizontal(classes="dialog-buttons"):
                yield Button(Text(f"mark {node}"), id="maint-node", variant="primary",
                             compact=True)
                yield Button(Text(f"mark all of {site}"), id="maint-site", compact=True)
                yield Button("cancel", id="maint-cancel", compact=True)
            if shown:
                with Horizontal(classes="dialog-buttons"):
                    if self.node_marks:
                        yield Button(Text(f"clear {node}"), id="maint-clear-node",
                                     variant="warning", compact=True)
                    if self.site_marks:
                        yield Button(Text(f"clear all of {site}"), id="maint-clear-site",
                                     variant="warning", compact=True)
            yield Static("", id="maint-error", classes="dialog-error")
            yield Static(Text(f"enter marks {node} · tab moves · escape cancels",
                              style=pal().muted), classes="dialog-keys")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._mark(self.node)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        pressed = event.button.id
        if pressed == "maint-node":
            self._mark(self.node)
        elif pressed == "maint-site":
            self._mark(None)
        elif pressed == "maint-clear-node":
            self.dismiss(MaintRequest("clear", self.node))
        elif pressed == "maint-clear-site":
            self.dismiss(MaintRequest("clear", None))
        else:
            self.dismiss(None)

    def _mark(self, node: str | None) -> None:
        seconds, why = read_span(self.query_one("#maint-span", Input).value)
        if seconds is None:
            self.query_one("#maint-error", Static).update(Text(why, style=pal().alarm))
            return
        reason = clean(self.query_one("#maint-reason", Input).value, REASON_MAX)
        self.dismiss(MaintRequest("set", node, seconds, reason))

    def action_cancel(self) -> None:
        self.dismiss(None)
