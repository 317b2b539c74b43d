"""Alert toasts: within a tick, even while frozen or under the help; one compact line for the
alerts raised together (a site going dark), never a box that covers what it announces, and
none while the alert list is on screen (the list shows them all).

Which events are alerts and how severe each is are the engine's verdicts (the alert's
`severity`); this only words them for the space there is and rings the bell.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.cells import cell_len
from textual.app import App

from castui.model.alerts import Alert
from castui.ui.sentences import sentence
from castui.ui.words import safe

ALERT_TOAST_S = 12.0
#: Cells the toast's line leaves free: its border, padding and the screen's edge.
TOAST_CHROME = 6


class AlertToasts:
    """Alerts collected until the next refresh tick, which toasts them together."""

    def __init__(self, app: App[int], *, multi_site: bool, bell: bool,
                 in_view: Callable[[], bool]) -> None:
        self.app = app
        #: Whether the alert list is on screen now (then no toast: it lists them).
        self.in_view = in_view
        self.multi_site = multi_site
        self.bell = bell
        self.pending: list[Alert] = []

    def add(self, alert: Alert) -> None:
        self.pending.append(alert)

    def flush(self) -> None:
        """One line for what was collected (red when any of it is critical), unless the alert
        list shows it; the bell rings either way."""
        alerts, self.pending = self.pending, []
        if not alerts:
            return
        if self.bell:
            self.app.bell()
        if self.in_view():
            return
        newest = alerts[-1]
        words, _ = sentence(newest.event, brief=True)
        where = f"{safe(newest.event.site, 40)}: " if self.multi_site else ""
        line = f"⚑ {where}{words}"
        if len(alerts) > 1:
            line = f"⚑ {len(alerts)} alerts, newest {where}{words}"
        tail = "  (! lists them)"
        room = max(self.app.size.width - TOAST_CHROME - cell_len(tail), 20)
        if cell_len(line) > room:
            line = line[:room - 1] + "…"
        severe = any(alert.severity == "critical" for alert in alerts)
        self.app.notify(line + tail, severity="error" if severe else "warning",
                        timeout=ALERT_TOAST_S, markup=False)
