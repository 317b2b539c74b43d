"""Alert toasts: within a tick, even while frozen or under the help, and one toast for alerts
raised together (a site going dark), not a wall of them.

Which events are alerts and how severe each is are the engine's verdicts (the alert's
`severity`); this only words them for the space there is and rings the bell.
"""

from __future__ import annotations

from textual.app import App

from castui.model.alerts import Alert
from castui.ui.sentences import sentence
from castui.ui.words import safe

ALERT_TOAST_S = 12.0
#: Alerts named in one toast (one below WIDE_TOASTS columns); the rest are counted.
TOAST_LINES = 4
WIDE_TOASTS = 100


class AlertToasts:
    """Alerts collected until the next refresh tick, which toasts them together."""

    def __init__(self, app: App[int], *, multi_site: bool, bell: bool) -> None:
        self.app = app
        self.multi_site = multi_site
        self.bell = bell
        self.pending: list[Alert] = []

    def add(self, alert: Alert) -> None:
        self.pending.append(alert)

    def flush(self) -> None:
        """Toast what was collected (red when any of it is critical), ring the bell."""
        alerts, self.pending = self.pending, []
        if not alerts:
            return
        named = TOAST_LINES if self.app.size.width >= WIDE_TOASTS else 1  # a toast hides things
        lines = []
        for alert in alerts[:named]:
            words, _ = sentence(alert.event, brief=True)
            where = f"{safe(alert.event.site, 40)}: " if self.multi_site else ""
            lines.append(where + words)
        if len(alerts) > named:
            lines.append(f"… and {len(alerts) - named} more (see Alerts)")
        severe = any(alert.severity == "critical" for alert in alerts)
        title = "ALERT" if len(alerts) == 1 else f"{len(alerts)} ALERTS"
        self.app.notify("\n".join(lines), title=title,
                        severity="error" if severe else "warning", timeout=ALERT_TOAST_S,
                        markup=False)
        if self.bell:
            self.app.bell()
