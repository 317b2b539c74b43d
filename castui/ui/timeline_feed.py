"""What the console's timeline draws: the shown sites' lanes from the engine, shaded where a
maintenance mark applied.

The lanes and which of their buckets a mark covered are the engine's (castui.engine.timeline
over the monitor's round rings, the events kept in memory and the marks in the history). This
module only gathers them for the zoom and the width the panel has, and hands them over.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from castui.engine.monitor import Monitor
from castui.engine.timeline import Zoom, build_lanes, expected_buckets
from castui.history.store import EventStore
from castui.model.errors import HistoryError
from castui.model.events import Event
from castui.model.marks import MaintenanceMark
from castui.ui.widgets.timeline import TimelinePanel

log = logging.getLogger(__name__)


def show_timeline(panel: TimelinePanel, monitor: Monitor, store: EventStore | None,
                  sites: Sequence[str], events: Sequence[Event], zoom: Zoom,
                  now: datetime, order: Mapping[str, Sequence[str]] | None = None) -> None:
    """Draw the lanes of `sites` (a heading per site when there are several) over `zoom`.

    `order` is site -> the node lanes to draw, in the order to draw them (the snapshot's
    trouble order, perhaps only the troubled ones); the VIP and DNS lanes follow them.
    """
    sources = monitor.timeline_sources(set(sites))
    if order is not None:
        places = {(site, name): index for site, names in order.items()
                  for index, name in enumerate(names)}
        sources = [s for s in sources if s.kind != "node" or (s.site, s.subject) in places]
        sources.sort(key=lambda s: (sites.index(s.site) if s.site in sites else 0,
                                    s.kind != "node", places.get((s.site, s.subject), 0)))
    headings = len(sites) > 1
    width = panel.view.fit_labels([s.subject for s in sources], headings=headings)
    lanes = build_lanes(sources, list(events), end=now, seconds=zoom.seconds, width=width)
    marks = marks_since(store, now - timedelta(seconds=zoom.seconds), now)
    covered = {(s.site, s.subject): shaded for s in sources if (shaded := expected_buckets(
        marks, s.site, s.subject, end=now, seconds=zoom.seconds, width=width))}
    panel.show(lanes, zoom, headings=headings, expected=covered)


def marks_since(store: EventStore | None, start: datetime,
                now: datetime) -> list[MaintenanceMark]:
    """Maintenance marks that applied in [start, now), for the timeline (none without a
    history, or when it cannot be read: the picture goes on without them)."""
    if store is None:
        return []
    try:
        return store.maintenance(since=start, until=now)
    except HistoryError as err:
        log.warning("maintenance marks not read for the timeline: %s", err)
        return []
