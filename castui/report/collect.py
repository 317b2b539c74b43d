"""Pick the report's window in the history and read what falls in it.

Reading only: the report never writes events, drills or marks.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from castui.engine.drills import last_seen, recorder_gone
from castui.history import EventStore
from castui.model.marks import Drill
from castui.report.facts import Window
from castui.report.figures import Report
from castui.report.measure import measure

#: Events read for one report. A drill is minutes to hours; this is weeks of a busy estate.
EVENT_LIMIT = 200_000
#: Alerts listed in one report.
ALERT_LIMIT = 2_000
#: Drill names listed when the one asked for is unknown.
NAMES_SHOWN = 10
#: Events stamped exactly at the window's end still belong to it (`events()` excludes `until`).
_INCLUSIVE = timedelta(milliseconds=1)


class ReportError(Exception):
    """The report cannot be made as asked; the message is one line."""


def choose_window(store: EventStore, *, drill: str | None, since: datetime | None,
                  until: datetime | None, now: datetime) -> Window:
    """`--drill NAME`: its newest run; `--since` [`--until`]; neither: the newest drill."""
    if drill is not None:
        runs = store.drills(drill)
        if not runs:
            raise ReportError(f"no drill named {drill!r} in {store.path}; "
                              f"{_known(store)}")
        return _drill_window(store, runs[0], now)
    if since is not None:
        end = now if until is None else until
        if end <= since:
            raise ReportError("--until must be after --since")
        return Window(since, end)
    if until is not None:
        raise ReportError("--until needs --since")
    runs = store.drills()
    if not runs:
        raise ReportError(f"no drills recorded in {store.path}; give --drill NAME or "
                          "--since TIME")
    return _drill_window(store, runs[0], now)


def _drill_window(store: EventStore, drill: Drill, now: datetime) -> Window:
    if drill.ended is None:
        gone = recorder_gone(drill.recorder, now)
        return Window(drill.started, max(now, drill.started), drill, running=True,
                      unobserved_since=last_seen(store, drill) if gone else None)
    return Window(drill.started, drill.ended, drill)


def _known(store: EventStore) -> str:
    names = list(dict.fromkeys(d.name for d in store.drills()))
    if not names:
        return "no drills recorded"
    shown = ", ".join(repr(n) for n in names[:NAMES_SHOWN])
    more = f" and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else ""
    return f"known drills: {shown}{more}"


def collect(store: EventStore, window: Window, now: datetime) -> Report:
    """Everything the report needs from the store, measured."""
    until = window.end + _INCLUSIVE
    events = store.events(since=window.start, until=until, limit=EVENT_LIMIT + 1)
    alerts = store.alerts(since=window.start, until=until, limit=ALERT_LIMIT + 1)
    marks = store.maintenance(since=window.start, until=until)
    left_out = 0
    if len(alerts) > ALERT_LIMIT:
        total = len(store.alerts(since=window.start, until=until))
        left_out = total - ALERT_LIMIT
        alerts = alerts[:ALERT_LIMIT]  # newest first: the older ones are left out
    return measure(window, events[:EVENT_LIMIT], alerts, marks, generated=now,
                   alerts_left_out=left_out, events_truncated=len(events) > EVENT_LIMIT)
