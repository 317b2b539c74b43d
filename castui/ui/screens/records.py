"""`e` and `!`: the events or the alerts full screen, for when the bottom panes are too small.

A scrollable table (j/k, arrows, PgUp/PgDn, g/G), `/` filters it as you type, the selected row
is shown whole underneath (wrapped, every field), `a` acknowledges the selected alert, escape
clears the filter or goes back. It follows the engine (the app hands it the records each tick)
unless the display is frozen; the cursor stays on the row it was on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Static

from castui.model.alerts import Alert
from castui.model.events import ALL_SITES, Event
from castui.ui.keys import TABLE_MOVES
from castui.ui.palette import pal
from castui.ui.sentences import sentence
from castui.ui.words import clock, safe

View = Literal["events", "alerts"]
#: The time column, and the ack column of the alerts (`NEW`, `✓`).
TIME_WIDTH = 8
ACK_WIDTH = 3
#: DataTable pads every column one cell each side; one more for the scrollbar.
_CHROME = 2 * 3 + 1 + 2


@dataclass(frozen=True, slots=True)
class Record:
    """One row: its key, time, whether acknowledged (alerts), its sentence and every field."""

    key: str
    time: str
    acked: bool | None
    what: Text
    fields: tuple[tuple[str, str], ...]

    def matches(self, needle: str) -> bool:
        needle = needle.lower()
        return needle in self.what.plain.lower() or any(
            needle in value.lower() for _, value in self.fields)


def _what(event: Event, with_site: bool) -> Text:
    words, style = sentence(event)
    if with_site and event.site != ALL_SITES:
        words = f"{safe(event.site, 40)} {words}"
    return Text(words, style=style, end="")


def _fields(event: Event) -> list[tuple[str, str]]:
    return [(key, safe(value, 2000)) for key, value in event.as_dict().items()]


def event_records(events: Iterable[Event], *, with_site: bool) -> list[Record]:
    """The events, newest first (the key is their place: events carry no id)."""
    listed = list(events)
    return [Record(str(index), clock(event.time), None, _what(event, with_site),
                   tuple(_fields(event)))
            for index, event in reversed(list(enumerate(listed)))]


def alert_records(alerts: Iterable[Alert], *, with_site: bool) -> list[Record]:
    """The alerts, newest first, with severity and who acknowledged them when."""
    out = []
    for alert in sorted(alerts, key=lambda a: a.id, reverse=True):
        fields: list[tuple[str, str]] = [("severity", alert.severity)]
        if alert.acked_at is not None:
            fields.append(("acknowledged", f"{clock(alert.acked_at)} UTC by "
                                           f"{safe(alert.acked_by or '?', 40)}"))
        if alert.resolved_at is not None:
            fields.append(("resolved", f"{clock(alert.resolved_at)} UTC"))
        fields += _fields(alert.event)
        out.append(Record(str(alert.id), clock(alert.event.time), alert.acknowledged,
                          _what(alert.event, with_site), tuple(fields)))
    return out


class RecordTable(DataTable[Text]):
    """The rows, keyed by record key; j/k and g/G move like the arrows and Home/End."""

    BINDINGS: ClassVar[list[BindingType]] = TABLE_MOVES


class RecordsScreen(ModalScreen[None]):
    """The events or the alerts over the whole screen."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", tooltip="clear the filter, else go back"),
        Binding("slash", "filter", "Filter", key_display="/",
                tooltip="filter the rows as you type (enter keeps it, escape clears it)"),
        Binding("a", "ack", "Ack", tooltip="acknowledge the selected alert (alerts only)"),
        Binding("q", "app.quit", "Quit", tooltip="quit castui"),
    ]

    def __init__(self, view: View, ack: Callable[[int], bool] | None = None) -> None:
        super().__init__(classes="records")
        self.view = view
        self.ack = ack
        self.records: list[Record] = []
        self.needle = ""
        self.table = RecordTable(cursor_type="row", zebra_stripes=False, id="records-table")
        self.filter = Input(placeholder="filter (enter keeps, escape clears)", compact=True,
                            id="records-filter")
        self.detail = Static(id="records-detail")
        self._shown: list[Record] | None = None
        self._width = 0

    def compose(self) -> ComposeResult:
        with Vertical(id="records-box") as box:
            box.border_title = ("Events, newest first" if self.view == "events"
                                else "Alerts, newest first")
            box.border_subtitle = ("j/k ↑/↓ PgUp/PgDn g/G move · / filter · "
                                   + ("a ack · " if self.view == "alerts" else "")
                                   + "escape back")
            yield self.filter
            yield self.table
            yield self.detail

    def on_mount(self) -> None:
        self.filter.display = False
        self.table.focus()

    def on_resize(self, event: events.Resize) -> None:
        if self.size.width != self._width:
            self._width = self.size.width
            self._columns()

    def _columns(self) -> None:
        self.table.clear(columns=True)
        self.table.add_column(Text("time", style="bold"), key="time", width=TIME_WIDTH)
        fixed = TIME_WIDTH
        if self.view == "alerts":
            self.table.add_column(Text("ack", style="bold"), key="ack", width=ACK_WIDTH)
            fixed += ACK_WIDTH
        what = max(self._width - fixed - _CHROME, 10)
        self.table.add_column(Text("what", style="bold"), key="what", width=what)
        self._shown = None
        self._draw()

    def show(self, records: Sequence[Record]) -> None:
        """The records to list (newest first); redrawn only when they changed."""
        if list(records) != self.records:
            self.records = list(records)
            self._draw()

    def _draw(self) -> None:
        if not self.table.columns:
            return
        shown = [r for r in self.records if r.matches(self.needle)] if self.needle \
            else self.records
        if shown == self._shown:
            return
        selected = self.selected()
        self._shown = shown
        self.table.clear()
        for record in shown:
            cells = {"time": Text(record.time), "what": record.what}
            if record.acked is not None:
                cells["ack"] = Text("✓", style=pal().muted) if record.acked \
                    else Text("NEW", style=pal().alarm)
            self.table.add_row(*(cells[str(key.value)] for key in self.table.columns),
                               key=record.key)
        keys = [r.key for r in shown]
        if selected is not None and selected.key in keys:
            self.table.move_cursor(row=keys.index(selected.key))
        self._show_selected()

    def selected(self) -> Record | None:
        if self._shown is None or not self.table.row_count:
            return None
        row_key, _ = self.table.coordinate_to_cell_key(self.table.cursor_coordinate)
        return next((r for r in self._shown if r.key == row_key.value), None)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_selected()

    def _show_selected(self) -> None:
        """The selected row whole, wrapped, with every field."""
        record = self.selected()
        if record is None:
            self.detail.update(Text("nothing matches" if self.needle else "nothing yet",
                                    style=pal().muted))
            return
        text = Text(f"{record.time}  ", end="")
        text.append_text(record.what)
        for name, value in record.fields:
            text.append(f"\n{name}: ", style="bold")
            text.append(value)
        self.detail.update(text)

    def action_filter(self) -> None:
        self.filter.display = True
        self.filter.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.needle = event.value.strip()
        self._draw()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.filter.display = bool(self.needle)
        self.table.focus()

    def action_back(self) -> None:
        if self.needle or self.filter.display:
            self.filter.value = ""
            self.needle = ""
            self.filter.display = False
            self.table.focus()
            self._draw()
            return
        self.dismiss()

    def action_ack(self) -> None:
        record = self.selected()
        if self.ack is None or record is None or record.acked is not False:
            self.notify("no unacknowledged alert selected", severity="warning")
            return
        self.ack(int(record.key))
