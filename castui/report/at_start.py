"""The pool as it stood when a drill began, from the `pool` list of its `drill_started` event.

Without it a node that was already out when the drill began, and stayed out, has no event in
the drill's window and would be missing from the report; and nodes that stayed in the pool
would have no lane in the picture. The entries are recorded by the engine, but the history file
may hold anything, so every entry is checked and odd ones are skipped, never guessed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeGuard

from castui.model.events import Event, Kind
from castui.report.facts import Window, data_time

#: How far from the window's start a drill_started event may be to describe it (stored times
#: are rounded to the millisecond).
_SAME_INSTANT = timedelta(seconds=1)
#: At most this many entries are read: far more nodes than any estate has.
_MAX_ENTRIES = 2000
_TEXT_LIMIT = 200


@dataclass(frozen=True, slots=True)
class StartPicture:
    """Events standing for the states at the window's start, and every node then watched."""

    events: tuple[Event, ...]
    roster: dict[str, frozenset[str]]


def picture_at_start(window: Window, events: Sequence[Event]) -> StartPicture:
    """What the drill_started event at the window's start says; empty without one."""
    started = next((e for e in events if e.kind == Kind.DRILL_STARTED
                    and abs(e.time - window.start) <= _SAME_INSTANT), None)
    pool = started.data.get("pool") if started is not None else None
    if not isinstance(pool, list):
        return StartPicture((), {})
    synthetic: list[Event] = []
    roster: dict[str, set[str]] = {}
    for entry in pool[:_MAX_ENTRIES]:
        if not isinstance(entry, dict):
            continue
        site, node, state = entry.get("site"), entry.get("node"), entry.get("state")
        if not (_text(site) and _text(node) and isinstance(state, str)):
            continue
        roster.setdefault(site, set()).add(node)
        if state == "down":
            since = data_time(entry, "out_since")
            synthetic.append(Event(window.start, site, node, Kind.NODE_DOWN,
                                   "out of pool when the drill began",
                                   data={"at_start": True, **(
                                       {"out_since": entry["out_since"]} if since else {})}))
        elif state == "degraded":
            synthetic.append(Event(window.start, site, node, Kind.NODE_DEGRADED,
                                   "degraded when the drill began", data={"at_start": True}))
    return StartPicture(tuple(synthetic), {k: frozenset(v) for k, v in roster.items()})


def _text(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and 0 < len(value) <= _TEXT_LIMIT
