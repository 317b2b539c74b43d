"""A site's node table, updated by diffing: only changed cells are touched, rows come and go.

Clearing a DataTable per refresh resets the cursor and the scroll and redraws everything, so
the table keeps what it last showed and calls `update_cell` for what differs (memray's rule).
Wide enough, it has a column per check; narrow, one column naming the failing checks. While a
node is in maintenance or flapping, a `mark` column says so (it goes when no node needs it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.binding import BindingType
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable

from castui.engine.snapshot import TargetView
from castui.model.times import since
from castui.ui.cells import check_cell, failing_summary, lb_cell, mark_cell, pool_cell
from castui.ui.keys import TABLE_MOVES
from castui.ui.words import gap, safe

POOL_WIDTH = 10  # "▒ DOWN 1/2"
MARK_WIDTH = 14  # "MAINT 14:50", "FLAP", "no VIP answers": only while a node has one
LB_WIDTH = 10  # "≠ DOWN 1/2": the balancer's verdict, `≠` when it disagrees with castui's
SINCE_WIDTH = 6  # "59m", "2h03m"
CONN_WIDTH = 5  # established client connections, from the node's agent
CHECK_WIDTH = 7  # "✓ 123ms", "✗ TOUT"
#: DataTable pads every cell with one space each side.
PADDING = 2
#: Room kept for a vertical scrollbar when there are more nodes than lines.
SCROLLBAR = 1
#: Short headers for the long check names, so a check column stays 7 cells wide.
_HEADERS = {"autodiscover": "autod", "mapihttp": "mapi/h"}

Cells = dict[str, Text]


def _header(name: str) -> Text:
    return Text(_HEADERS.get(name, safe(name, CHECK_WIDTH)), style="bold")


class NodeTable(DataTable[Text]):
    """Rows keyed by node name, most troubled first (the snapshot's order, config order among
    equals); columns fixed-width so nothing reflows.

    A row cursor selects the node that enter details and `d` / `D` drain or ready; it only
    tints the row (console.tcss) and the cells' own colours win, so every state still shows.
    """

    BINDINGS: ClassVar[list[BindingType]] = TABLE_MOVES

    def __init__(self, checks: Sequence[str], nodes: Sequence[str], *,
                 connections: bool = False, balancer: bool = False,
                 id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False,
                         cursor_foreground_priority="renderable")
        self.checks = tuple(checks)
        #: A column of client connections, when node agents report them.
        self.connections = connections
        #: A column of the balancer's verdict, when the site has one configured.
        self.balancer = balancer
        #: Row name -> place: config order until a snapshot gives the trouble order.
        self.order = {safe(name, 24): index for index, name in enumerate(nodes)}
        self.name_width = max([4, *(cell_len(safe(n, 24)) for n in nodes)])
        self.compact = False
        #: Whether the `mark` column is there (some node is in maintenance or flapping).
        self.marks = False
        self._summary_width = 0
        self._room: int | None = None
        self._cells: dict[str, Cells] = {}
        self._last: tuple[Sequence[TargetView], datetime, str, str | None,
                          Sequence[str] | None] | None = None

    @property
    def fixed_width(self) -> int:
        """Cells taken by the node, pool, since (and lb, conn) columns."""
        widths = [self.name_width, POOL_WIDTH, SINCE_WIDTH]
        if self.marks:
            widths.append(MARK_WIDTH)
        if self.balancer:
            widths.append(LB_WIDTH)
        if self.connections:
            widths.append(CONN_WIDTH)
        return sum(w + PADDING for w in widths)

    @property
    def full_width(self) -> int:
        """Cells needed for a column per check."""
        return self.fixed_width + (CHECK_WIDTH + PADDING) * len(self.checks) + 1

    class AtTop(Message):
        """↑ (or k) on the first row: the panel moves up to its VIP line."""

    def action_cursor_up(self) -> None:
        if self.cursor_row <= 0:
            self.post_message(self.AtTop())
            return
        super().action_cursor_up()

    def on_mount(self) -> None:
        self._build_columns()

    def on_resize(self, event: events.Resize) -> None:
        """Pick the column set for the panel's width (not the table's own, which moves by a
        cell when a scrollbar comes and goes: that must not rebuild the table)."""
        parent = self.parent
        self._room = (parent.size if isinstance(parent, Widget) else self.size).width - SCROLLBAR
        self._fit()

    def _fit(self, *, rebuild: bool = False) -> None:
        """Pick the column set for the room there is; rebuild when it (or `rebuild`) says so."""
        if self._room is None:  # not laid out yet: on_resize will fit it
            compact, summary = self.compact, self._summary_width
        else:
            compact = self._room < self.full_width
            summary = max(self._room - self.fixed_width - PADDING, 8) if compact else 0
        if rebuild or (compact, summary) != (self.compact, self._summary_width):
            self.compact, self._summary_width = compact, summary
            self._build_columns()

    def _build_columns(self) -> None:
        """Columns for the current mode; the rows are re-added, the selection kept."""
        selected = self.selected()
        self.clear(columns=True)
        self._cells.clear()
        self.add_column(Text("node", style="bold"), key="node", width=self.name_width)
        self.add_column(Text("pool", style="bold"), key="pool", width=POOL_WIDTH)
        if self.marks:
            self.add_column(Text("mark", style="bold"), key="mark", width=MARK_WIDTH)
        if self.balancer:
            self.add_column(Text("lb", style="bold"), key="lb", width=LB_WIDTH)
        self.add_column(Text("since", style="bold"), key="since", width=SINCE_WIDTH)
        if self.connections:
            self.add_column(Text("conn", style="bold"), key="conn", width=CONN_WIDTH)
        if self.compact:
            self.add_column(Text("checks", style="bold"), key="checks",
                            width=self._summary_width)
        else:
            for name in self.checks:
                self.add_column(_header(name), key=f"c:{name}", width=CHECK_WIDTH)
        if self._last is not None:
            self.show(*self._last)
        if selected is not None and selected in self._cells and selected != self.selected():
            self.move_cursor(row=self.get_row_index(selected))

    def selected(self) -> str | None:
        """The node under the cursor (None when no row is shown)."""
        if not self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return str(row_key.value)

    def row_cells(self, node: TargetView, now: datetime, lb_error: str | None = None) -> Cells:
        cells: Cells = {
            "node": Text(safe(node.subject, 24), style="bold"),
            "pool": pool_cell(node.state, node.status_text, expected=node.in_maintenance),
            "since": Text(since(node.changed_at, now), style="dim"),
        }
        if self.marks:
            cells["mark"] = mark_cell(node, now)
        if self.balancer:
            cells["lb"] = lb_cell(node, lb_error)
        if self.connections:
            count = node.connections
            shown = "–" if count is None else str(count)
            cells["conn"] = Text(end="")  # right-aligned by blanks of their own (see `gap`)
            gap(cells["conn"], CONN_WIDTH - len(shown))
            cells["conn"].append(shown)
        if self.compact:
            cells["checks"] = failing_summary(node.checks)
        else:
            for check in node.checks:
                cells[f"c:{check.name}"] = check_cell(check)
        return cells

    def show(self, nodes: Sequence[TargetView], now: datetime, node_filter: str = "",
             lb_error: str | None = None, order: Sequence[str] | None = None) -> None:
        """Make the table show `nodes` (those matching the filter) in `order` (names, the
        snapshot's trouble order; config order without it), touching only changes.

        `lb_error` says the site's balancer cannot be read: its column then reads `?`.
        """
        self._last = (nodes, now, node_filter, lb_error, order)
        marks = any(node.in_maintenance or node.flapping or node.vip_skips for node in nodes)
        if marks != self.marks:  # the mark column comes or goes: columns anew, rows with them
            self.marks = marks
            self._fit(rebuild=True)
            return
        selected = self.selected()
        wanted = {node.subject: node for node in nodes
                  if node_filter.lower() in node.subject.lower()}
        for gone in [key for key in self._cells if key not in wanted]:
            self.remove_row(gone)
            del self._cells[gone]
        ranks = {safe(name, 24): index for index, name in enumerate(order)} if order \
            else self.order
        resort = ranks != self.order
        self.order = ranks
        added = False
        for name, node in wanted.items():
            cells = self.row_cells(node, now, lb_error)
            old = self._cells.get(name)
            if old is None:
                self.add_row(*(cells.get(str(key.value), Text("")) for key in self.columns),
                             key=name)
                added = True
            else:
                for column, value in cells.items():
                    if old.get(column) != value:
                        self.update_cell(name, column, value)
            self._cells[name] = cells
        if added or resort:
            self.sort("node", key=lambda cell: self.order.get(cell.plain, len(self.order)))
        if selected is not None and selected in self._cells and selected != self.selected():
            self.move_cursor(row=self.get_row_index(selected))
