"""The redraw throttle: what changed since the console last drew, and what to draw now.

The engine's callbacks only mark things changed; the refresh timer then draws at most a few
times a second. Rounds make the sites stale (a new snapshot) and the timeline due, drawn at
most every TIMELINE_EVERY_S; an event or the user's own change makes the timeline urgent,
drawn at once. The clocks in the header and the panels move every second regardless.
"""

from __future__ import annotations

import time
from datetime import datetime

#: The timeline is recomputed at most this often, unless the user changed it.
TIMELINE_EVERY_S = 1.0


class Refresh:
    """Flags set by the engine and the user, read and reset by one drawing."""

    def __init__(self) -> None:
        #: A round or an event came in: take a new snapshot and redraw the sites.
        self.sites = True
        #: The alert book changed (a new alert, an acknowledgement, a resolution).
        self.alerts = True
        self._timeline_due = True
        self._timeline_urgent = False
        self._timeline_at = 0.0
        self._second: datetime | None = None

    def round_done(self) -> None:
        self.sites = self._timeline_due = True

    def event(self) -> None:
        """An event: the sites change, the timeline shows it at once, and it may have
        resolved an alert."""
        self.sites = self._timeline_urgent = self.alerts = True

    def timeline_changed(self) -> None:
        """The user zoomed, or the layout changed: redraw the timeline at once."""
        self._timeline_urgent = True

    def everything(self) -> None:
        """A command changed what is shown: the sites and the alerts, now."""
        self.sites = self.alerts = True

    def new_second(self, now: datetime) -> bool:
        """Whether `now` is in another second than the last drawing's (clocks move)."""
        second = now.replace(microsecond=0)
        changed = second != self._second
        self._second = second
        return changed

    def take_alerts(self, force: bool) -> bool:
        """Whether to redraw the alert list now (and count it done)."""
        due, self.alerts = self.alerts or force, False
        return due

    def take_timeline(self, force: bool) -> bool:
        """Whether to redraw the timeline now (and count it done): at once when urgent,
        otherwise when due and TIMELINE_EVERY_S has passed since the last time."""
        waited = time.monotonic() - self._timeline_at >= TIMELINE_EVERY_S
        if not (force or self._timeline_urgent or (self._timeline_due and waited)):
            return False
        self._timeline_due = self._timeline_urgent = False
        self._timeline_at = time.monotonic()
        return True
