"""What every workflow needs: the app to ask and tell the user, the engine to act on."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import App

from castui.engine.monitor import Monitor
from castui.ui.words import safe


class Flow:
    """`changed` shows what a command changed now, not at the next refresh tick."""

    def __init__(self, app: App[int], monitor: Monitor, changed: Callable[[], None]) -> None:
        self.app = app
        self.monitor = monitor
        self.changed = changed

    def refused(self, what: str, err: Exception) -> None:
        self.app.notify(safe(err, 300), title=f"{what} failed", severity="error",
                        markup=False)

    def warn(self, words: str, *, title: str = "") -> None:
        self.app.notify(words, title=title, severity="warning", markup=False)
