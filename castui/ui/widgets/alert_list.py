"""The alert list: newest first, one row per alert, with who acknowledged it and when.

The rules that raise alerts and the acknowledgement itself live in the engine's AlertBook (filled
from the history at start, so acknowledgements survive a restart); this table mirrors it by
diffing, and knows which alert is selected. Alert ids are history row ids: they key the rows but
mean nothing to a reader, so no column shows them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from rich.text import Text
from textual import events
from textual.binding import BindingType
from textual.coordinate import Coordinate
from textual.widgets import DataTable

from castui.model.alerts import Alert
from castui.model.events import ALL_SITES
from castui.ui.keys import TABLE_MOVES
from castui.ui.palette import pal
from castui.ui.sentences import sentence
from castui.ui.words import clock, safe

#: Who acknowledged an alert, at most, in the wide ack column.
ACKED_BY = 7
#: Fixed columns, wide and narrow; DataTable pads each column by one cell each side.
_WIDE = (("time", "time", 8), ("ack", "ack", 8 + ACKED_BY))  # "✓ alice 14:03"
_NARROW = (("ack", "ack", 3),)
_PADDING = 2
#: Below this width the time column goes and the ack column shrinks to a mark.
WIDE_FROM = 60


def ack_cell(alert: Alert, wide: bool) -> Text:
    """`NEW`; once acknowledged `✓ alice 14:03` (who, and when in UTC), `✓` when narrow."""
    if alert.acked_at is None:
        return Text("NEW", style=pal().alarm)
    if not wide:
        return Text("✓", style=pal().muted)
    who = safe(alert.acked_by or "?", ACKED_BY)
    return Text(f"✓ {who} {clock(alert.acked_at)[:5]}", style=pal().muted)


class _Sentence(Text):
    """The `what` cell, carrying its alert's id so the rows sort newest first."""

    def __init__(self, words: str, style: str, alert_id: int) -> None:
        super().__init__(words, style=style)
        self.alert_id = alert_id


class AlertList(DataTable[Text]):
    """Rows keyed by alert id. Unless the list has focus, the cursor rests on the newest
    unacknowledged alert, so `a` acknowledges the one that just arrived."""

    BINDINGS: ClassVar[list[BindingType]] = TABLE_MOVES

    def __init__(self, *, with_site: bool, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self.with_site = with_site
        #: Alert id -> (acknowledged, resolved) as drawn.
        self._acked: dict[int, tuple[bool, bool]] = {}
        self._what_width = 0
        self.wide = True
        self._alerts: list[Alert] = []

    def on_resize(self, event: events.Resize) -> None:
        """The sentence column takes the rest of the width (rebuilt only when that changes)."""
        self.wide = self.size.width >= WIDE_FROM
        fixed = _WIDE if self.wide else _NARROW
        what = max(self.size.width - sum(w + _PADDING for _, _, w in fixed) - _PADDING - 1, 8)
        if what != self._what_width:
            self._what_width = what
            self.clear(columns=True)
            self._acked.clear()
            for key, label, width in fixed:
                self.add_column(Text(label, style="bold"), key=key, width=width)
            self.add_column(Text("what", style="bold"), key="what", width=what)
            self.show(self._alerts)

    def show(self, alerts: Iterable[Alert]) -> None:
        """Mirror the alert book: new rows for new alerts, the ack cell for acknowledged ones."""
        self._alerts = list(alerts)
        if not self.columns:
            return
        added = changed = False
        seen: set[int] = set()
        for alert in self._alerts:
            seen.add(alert.id)
            known = self._acked.get(alert.id)
            now = (alert.acknowledged, alert.resolved_at is not None)
            if known is None:
                cells = {"time": Text(clock(alert.event.time)),
                         "ack": ack_cell(alert, self.wide), "what": self._what(alert)}
                self.add_row(*(cells[str(key.value)] for key in self.columns),
                             key=str(alert.id))
                added = True
            elif known != now:
                self.update_cell(str(alert.id), "ack", ack_cell(alert, self.wide))
                if known[1] != now[1]:
                    self.update_cell(str(alert.id), "what", self._what(alert))
                changed = True
            self._acked[alert.id] = now
        for gone in [i for i in self._acked if i not in seen]:  # fell out of the bounded book
            self.remove_row(str(gone))
            del self._acked[gone]
        if added:
            selected = self.selected_id()
            self.sort("what", key=lambda cell: cell.alert_id, reverse=True)
            if self.has_focus and selected is not None:
                self.move_cursor(row=self.get_row_index(str(selected)))
        if (added or changed) and not self.has_focus:
            self.select_next_unacked(from_top=True)

    def _what(self, alert: Alert) -> _Sentence:
        """The alert's sentence; once the condition is over, `resolved ·` and muted."""
        words, style = sentence(alert.event)
        if self.with_site and alert.event.site != ALL_SITES:
            words = f"{safe(alert.event.site, 40)} {words}"
        if alert.resolved_at is not None:
            words, style = f"resolved · {words}", pal().muted
        return _Sentence(words, style, alert.id)

    def selected_id(self) -> int | None:
        if not self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return int(str(row_key.value))

    def select_next_unacked(self, *, from_top: bool = False) -> None:
        """Move the cursor to the next unacknowledged alert below it (or the first one)."""
        order = [int(str(self.coordinate_to_cell_key(Coordinate(row, 0))[0].value))
                 for row in range(self.row_count)]
        start = 0 if from_top else self.cursor_row
        for row in [*range(start, len(order)), *range(0, start)]:
            if not self._acked.get(order[row], (True, True))[0]:
                if row != self.cursor_row:
                    self.move_cursor(row=row)
                return
