"""enter on a node: every check of it in full, and what its balancer says.

The table cells say `✓ 30ms`; this says what was behind it: the endpoint mapper's ports, the
certificate's names and days left, the agent's figures, each check's full detail and warning.
It follows the engine live (the app hands it each new view) unless the display is frozen.
"""

from __future__ import annotations

import textwrap
from datetime import datetime
from typing import ClassVar

from rich.cells import cell_len, chop_cells
from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from castui.config.model import Balancer
from castui.engine.snapshot import CheckView, SiteView, TargetView
from castui.model.times import duration, latency, since
from castui.ui.cells import LB_NAMES, check_cell, check_facts, lb_cell, mark_cell, pool_cell
from castui.ui.palette import pal
from castui.ui.words import gap, safe

#: Width of the labels in front of the node's own lines.
LABEL = 9
#: Columns of the pane at most, and of its border, padding and scrollbar.
DETAIL_WIDTH = 130
DETAIL_CHROME = 5
#: Below this many columns of room kind · role moves into each check's detail.
NARROW = 104


def _label(word: str) -> Text:
    """A line starting with `word` in bold, padded to the labels' width."""
    line = Text(end="")
    line.append(word, style="bold")
    gap(line, LABEL - len(word))
    return line


def balancer_line(node: TargetView, lb: Balancer, lb_error: str | None) -> Text:
    """`balancer ≠ DRAIN  HAProxy https/CAS2 · check L4OK · 0 sessions · changed 3m12s ago`."""
    p = pal()
    line = _label("balancer")
    line.append_text(lb_cell(node, lb_error))
    gap(line, 2)
    server = f"{safe(lb.backend, 40)}/{safe(lb.server_for(node.subject), 40)}"
    where = f"{LB_NAMES.get(lb.type, lb.type)} {server}"
    line.append(where, style=p.muted)
    view = node.lb
    if lb_error is not None:
        gap(line)
        line.append(f"cannot be read: {safe(lb_error, 300)}", style=p.warn)
        return line
    if view is None:
        gap(line)
        line.append("has not reported this server", style=p.muted)
        return line
    facts = []
    if view.check_status:
        facts.append(f"check {safe(view.check_status, 12)}")
    if view.current_sessions is not None:
        facts.append(f"{view.current_sessions} sessions")
    if view.last_change_s is not None:
        facts.append(f"changed {duration(view.last_change_s, style='compact')} ago")
    if view.downtime_s is not None:
        facts.append(f"down {duration(view.downtime_s, style='compact')} in all")
    if facts:
        gap(line)
        line.append("· " + " · ".join(facts), style=p.muted)
    if node.lb_disagrees:
        gap(line, 2)
        line.append(f"≠ castui says {safe(node.status_text, 12)}", style=p.alarm)
    return line


def node_lines(node: TargetView, lb: Balancer | None, lb_error: str | None,
               now: datetime) -> Text:
    """Who the node is, castui's verdict, the balancer's, and its clients."""
    p = pal()
    who = Text(end="")
    who.append(safe(node.subject, 40), style="bold")
    gap(who, 2)
    who.append(" · ".join(safe(part, 80) for part in (node.address, node.host) if part),
               style=p.muted)
    castui = _label("castui")
    castui.append_text(pool_cell(node.state, node.status_text, expected=node.in_maintenance))
    gap(castui, 2)
    castui.append(f"for {since(node.changed_at, now)} · {node.rounds} check rounds since "
                  "castui started", style=p.muted)
    if (mark := mark_cell(node, now)).plain:  # in maintenance (expected drops), or flapping
        gap(castui, 2)
        castui.append_text(mark)
    lines = [who, castui]
    if (why := node.maintenance_by) is not None:  # which maintenance: castui's or Exchange's
        expected = _label("maint")
        expected.append(f"drops expected: {safe(why, 100)}", style=p.calm)
        lines.append(expected)
    if node.vdirs_out:
        vdirs = _label("vdirs")
        pool = [c.name for c in node.checks if c.role == "pool"]
        vdirs.append(f"in: {safe(', '.join(n for n in pool if n not in node.vdirs_out), 80)}",
                     style=p.good)
        gap(vdirs, 2)
        vdirs.append(f"out: {safe(', '.join(node.vdirs_out), 80)}", style=p.bad)
        lines.append(vdirs)
    if node.left_inactive:
        left = _label("exchange")
        left.append(f"left Inactive: {safe(', '.join(node.left_inactive), 100)}", style=p.warn)
        lines.append(left)
    if lb is not None and node.kind == "node":  # the balancer's verdict is on nodes only
        lines.append(balancer_line(node, lb, lb_error))
    if node.connections is not None:
        clients = _label("clients")
        clients.append(f"{node.connections} established connections (agent)")
        lines.append(clients)
    return Text("\n").join(lines)


def _parts(check: CheckView) -> list[tuple[str, str]]:
    """The detail column of a check, each part on lines of its own: the detail, the warning,
    what the check found."""
    p = pal()
    parts = [(safe(check.detail, 500), "")]
    if check.warning:
        parts.append((f"⚠ {safe(check.warning, 200)}", p.warn))
    facts = check_facts(check)
    if facts:
        parts.append((facts, p.muted))
    if (phases := _phases(check)):
        parts.append((phases, p.muted))
    return parts


def _phases(check: CheckView) -> str:
    """`connect 1ms · TLS 2ms · request 1ms` of an HTTPS check (`kept-alive` when it used the
    round's open connection)."""
    phases = check.phases
    if phases is None:
        return ""
    words = [f"{label} {latency(phases[key], style='compact')}" for label, key in
             (("connect", "connect_ms"), ("TLS", "tls_ms"), ("request", "request_ms"))
             if phases[key] is not None]
    if words and phases["connect_ms"] is None:
        words.insert(0, "kept-alive")
    return " · ".join(words)


def _wrapped(parts: list[tuple[str, str]], room: int, lead: str) -> list[Text]:
    """`parts` folded into lines of `room` cells; the first line starts with `lead` (dimmed)."""
    lines: list[Text] = []
    for number, (words, style) in enumerate(parts):
        indent = len(lead) + 2 if lead and number == 0 else 0
        folded = [piece for chunk in textwrap.wrap(words, room, initial_indent=" " * indent)
                  or [""] for piece in _cells(chunk, room)]
        for index, chunk in enumerate(folded):
            line = Text(end="")
            if indent and index == 0:
                line.append(lead, style=pal().muted)
                gap(line, 2)
                chunk = chunk[indent:]
            line.append(chunk, style=style)
            lines.append(line)
    return lines


def _cells(chunk: str, room: int) -> list[str]:
    """`chunk` as pieces of at most `room` terminal cells: textwrap counts characters, and a
    wide (CJK) character takes two cells."""
    return [chunk] if cell_len(chunk) <= room else chop_cells(chunk, room)


def checks_text(checks: tuple[CheckView, ...], width: int) -> Text:
    """A row per check: result, name, kind · role, code, latency, then its detail, warning and
    findings folded to the room left. Below NARROW cells kind · role leads the detail.

    Built cell by cell, every blank a span of its own (`gap`), so the columns stay put in any
    SVG viewer (a table's blank-led cells lose their blanks in some).
    """
    muted = pal().muted
    narrow = width < NARROW
    rows = [(check, check_cell(check), safe(check.name, 20),
             f"{safe(check.kind, 8)} · {safe(check.role, 8)}", safe(check.code, 10),
             latency(check.latency_ms, style="compact")) for check in checks]
    columns = [("", 1, False), ("check", max([5, *(len(r[2]) for r in rows)]), False)]
    if not narrow:
        columns.append(("kind · role", max([11, *(len(r[3]) for r in rows)]), False))
    columns += [("code", max([4, *(len(r[4]) for r in rows)]), False),
                ("time", max([4, *(len(r[5]) for r in rows)]), True)]
    indent = sum(size + 1 for _, size, _ in columns)
    room = max(width - indent, 20)

    def cell(line: Text, words: str, size: int, style: str, right: bool) -> None:
        if right:
            gap(line, size - len(words))
        line.append(words, style=style)
        gap(line, 1 if right else size - len(words) + 1)

    out = Text()
    for title, size, right in columns:
        cell(out, title, size, "bold", right)
    out.append("detail", style="bold")
    for check, result, name, kind, code, took in rows:
        line = Text(end="")
        cell(line, result.plain[:1], 1, str(result.style), False)
        cell(line, name, columns[1][1], "bold", False)
        if not narrow:
            cell(line, kind, columns[2][1], muted, False)
        cell(line, code, columns[-2][1], str(result.style), False)
        cell(line, took, columns[-1][1], "", True)
        first, *rest = _wrapped(_parts(check), room, kind if narrow else "")
        line.append_text(first)
        for more in rest:
            line.append("\n")
            gap(line, indent)
            line.append_text(more)
        out.append("\n")
        out.append_text(line)
    return out


class NodeDetailScreen(ModalScreen[None]):
    """A modal over the console: the console draws nothing meanwhile, this pane does."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close", tooltip="close the node's details"),
        Binding("enter", "dismiss", "Close", show=False, tooltip="close the node's details"),
        # A modal screen passes no key to the app's bindings: these two name the app's action.
        Binding("d", "app.lb_state('drain')", "Drain", show=False,
                tooltip="drain this node on the site's balancer (needs lb_admin = true)"),
        Binding("D", "app.lb_state('ready')", "Ready", show=False, key_display="D",
                tooltip="set this node ready on the site's balancer (needs lb_admin = true)"),
    ]

    def __init__(self, site_index: int, site: str, node: str, lb: Balancer | None) -> None:
        super().__init__()
        self.site_index = site_index
        self.site = site
        self.node = node
        self.lb = lb
        self._body = Static(id="detail-body")
        self._shown: tuple[TargetView, str | None, str, int] | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="detail-box") as box:
            box.styles.width = DETAIL_WIDTH
            box.border_title = f"{safe(self.node, 40)} · {safe(self.site, 40)} · every check"
            keys = "escape closes" + (" · d drain · D ready" if self.lb is not None else "")
            box.border_subtitle = keys
            yield self._body

    def show(self, site: SiteView, now: datetime, width: int) -> None:
        """Show the node as `site` has it, for a `width`-column screen (redrawn only when
        something changed)."""
        targets = (*site.nodes, site.vip, *((site.dns.target,) if site.dns else ()))
        node = next((n for n in targets if n.subject == self.node), None)
        if node is None:
            return
        room = min(DETAIL_WIDTH, width) - DETAIL_CHROME
        key = (node, site.lb_error, since(node.changed_at, now), room)
        if key == self._shown:
            return
        self._shown = key
        self._body.update(Group(node_lines(node, self.lb, site.lb_error, now), Text(),
                                checks_text(node.checks, room)))
