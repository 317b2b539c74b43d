"""The console's line to the engine: its callbacks become Textual messages, and the events the
console keeps (for the timeline and the event log) start from the history.

The engine runs in the app's event loop and calls back on every event, alert and round. Those
callbacks only post messages (rounds coalesced to one message at a time); the app's handlers
mark what changed and the refresh tick draws it (ui.refresh).
"""

from __future__ import annotations

from collections import deque
from datetime import timedelta

from textual.app import App

from castui.engine.monitor import Monitor
from castui.engine.pool import TargetState
from castui.engine.timeline import ZOOMS
from castui.history.store import EventStore
from castui.model.alerts import Alert
from castui.model.errors import HistoryError
from castui.model.events import Event
from castui.ui.messages import AlertRaised, EngineEvent, RoundsDone
from castui.ui.words import safe

#: Events kept in memory for the timeline (the 24 h window reads them from here).
TIMELINE_EVENTS = 5000


class EngineFeed:
    """Subscribes `app` to `monitor`; keeps the events seen, and those not yet logged."""

    def __init__(self, app: App[int], monitor: Monitor, store: EventStore | None, *,
                 history_events: int) -> None:
        self.app = app
        self.monitor = monitor
        self.store = store
        self.history_events = history_events
        self.events: deque[Event] = deque(maxlen=TIMELINE_EVENTS)  # oldest first
        #: Events received while running (not those read back from the history).
        self.count = 0
        self._unlogged: list[Event] = []
        self._round_pending = False

    def attach(self) -> None:
        """Load the picture before this start, then follow the engine."""
        self._load_history()
        self.monitor.subscribe(self._event)
        self.monitor.subscribe_alerts(self._alert)
        self.monitor.on_round(self._round)

    def _load_history(self) -> None:
        """A restart in the middle of a drill keeps its picture."""
        if self.store is None:
            return
        since = self.monitor.now() - timedelta(seconds=ZOOMS[-1].seconds)
        try:
            newest = self.store.events(since=since, limit=TIMELINE_EVENTS, newest_first=True)
        except HistoryError as err:
            self.app.notify(safe(err), title="history", severity="error", markup=False)
            return
        self.events.extend(reversed(newest))
        self._unlogged.extend(reversed(newest[: self.history_events]))

    def _event(self, event: Event) -> None:
        self.app.post_message(EngineEvent(event))

    def _alert(self, alert: Alert) -> None:
        self.app.post_message(AlertRaised(alert))

    def _round(self, state: TargetState) -> None:
        """Called for every round of every target: coalesced into one message at a time."""
        if not self._round_pending:
            self._round_pending = True
            self.app.post_message(RoundsDone())

    def rounds_seen(self) -> None:
        """The app handled the RoundsDone message: the next round posts another."""
        self._round_pending = False

    def add(self, event: Event) -> None:
        """An event the app received: for the timeline, and for the log's next drawing."""
        self.events.append(event)
        self._unlogged.append(event)
        self.count += 1

    def take_unlogged(self) -> list[Event]:
        """Events not yet in the event log, oldest first (and count them logged)."""
        events, self._unlogged = self._unlogged, []
        return events
