"""What the engine tells the console, as Textual messages (posted from engine callbacks)."""

from __future__ import annotations

from textual.message import Message

from castui.model.alerts import Alert
from castui.model.events import Event


class EngineEvent(Message):
    """An event, already committed to the history."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class AlertRaised(Message):
    """An alert rule fired: toast, bell, alert list."""

    def __init__(self, alert: Alert) -> None:
        super().__init__()
        self.alert = alert


class RoundsDone(Message):
    """One or more rounds completed since the last such message (they are coalesced)."""
