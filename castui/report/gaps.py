"""The stretches of a report's window that nobody observed, so no reader takes silence there
for "no outage".

A drill's recorder that died left the time from its last heartbeat to the resume
(`drill_resumed`) or to the end (`drill_ended`) unobserved: both events carry `gap_start` and
`gap_end` (castui/engine/drills.py). A drill still open with its recorder gone is unobserved
from its last heartbeat to the report's end (`Window.unobserved_since`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from castui.model.events import SUBJECT_DRILL, Event, Kind
from castui.model.text import clean
from castui.report.facts import Window, data_time


@dataclass(frozen=True, slots=True)
class Gap:
    """A stretch with no observations; `ongoing` when it ran to the window's end."""

    start: datetime
    end: datetime
    duration_s: float
    ongoing: bool
    why: str


def find_gaps(window: Window, events: Sequence[Event]) -> tuple[Gap, ...]:
    """The window's unobserved stretches, oldest first, clipped to it, overlaps merged."""
    found: list[tuple[datetime, datetime, bool, str]] = []
    for event in events:
        if event.subject != SUBJECT_DRILL or event.kind not in (Kind.DRILL_RESUMED,
                                                                Kind.DRILL_ENDED):
            continue
        if window.drill is not None and event.data.get("drill") != window.drill.name:
            continue
        start, end = data_time(event.data, "gap_start"), data_time(event.data, "gap_end")
        if start is not None and end is not None and end > start:
            found.append((start, end, False, _why(event)))
    if window.unobserved_since is not None:
        found.append((window.unobserved_since, window.end, True,
                      "the drill's recorder is gone and the drill is still open"))
    gaps: list[Gap] = []
    for start, end, ongoing, why in sorted(found):
        start, end = max(start, window.start), min(end, window.end)
        if end <= start:
            continue
        if gaps and start <= gaps[-1].end:
            last = gaps.pop()
            start, why = last.start, f"{last.why}; {why}"
            end, ongoing = max(end, last.end), ongoing or last.ongoing
        gaps.append(Gap(start, end, (end - start).total_seconds(), ongoing, why))
    return tuple(gaps)


def _why(event: Event) -> str:
    gone = event.data.get("recorder_gone")
    who = "its recorder"
    if isinstance(gone, dict) and isinstance(gone.get("pid"), int):
        who = f"recorder pid {gone['pid']} on {clean(str(gone.get('host', '?')), 80)}"
    by = clean(str(event.data.get("by", "")), 40) or "unknown"
    then = "resumed" if event.kind == Kind.DRILL_RESUMED else "ended"
    return f"{who} gone; drill {then} by {by}"
