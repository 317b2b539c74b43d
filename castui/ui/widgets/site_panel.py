"""One site: its array FQDN's answers against the VIP, the VIP itself, and the node table."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical

from castui.engine.snapshot import DnsView, SiteView, TargetView
from castui.engine.status import Status
from castui.ui.palette import pal
from castui.ui.widgets.lines import TextLines
from castui.ui.widgets.node_table import NodeTable
from castui.ui.words import STATUS_GLYPH, latency, pool_cell, safe

#: Rows a panel needs besides its node rows: border (2), info lines (2), table header (1).
CHROME_ROWS = 5


def dns_line(fqdn: str, vip: str, dns: DnsView | None) -> Text:
    """`DNS outlook.site-a… → 10.1.0.50 ✓ TTL 300`, per resolver when they disagree."""
    p = pal()
    line = Text("DNS ", style="bold", end="")
    line.append(safe(fqdn, 80))
    if dns is None:
        line.append("  not checked (no dns_servers)", style=p.muted)
        return line
    if dns.ok is None:
        line.append(" → …", style=p.muted)
        return line
    answers = {server: tuple(addrs) for server, addrs in dns.answers.items()}
    distinct = set(answers.values())
    groups = [("", next(iter(distinct)))] if len(distinct) == 1 else list(answers.items())
    for server, addrs in groups:
        good = vip in addrs
        line.append(f" {safe(server, 40)}" if server else "")
        line.append(" → ")
        style = p.good if good else p.alarm
        line.append(safe(", ".join(addrs) or "no answer", 80), style=style)
        line.append(" ✓" if good else " ✗", style=style)
    if dns.ok is False:
        line.append(f"  (VIP {safe(vip, 40)})", style=p.warn)
    if dns.ttl is not None:
        line.append(f"  TTL {dns.ttl}", style=p.muted)
    return line


def vip_line(vip: TargetView, in_pool: int, nodes: int) -> Text:
    """`VIP 10.1.0.50 ━ UP  owa 4ms  │ 2/3 nodes in pool`."""
    p = pal()
    line = Text("VIP ", style="bold", end="")
    line.append(safe(vip.address, 40) + " ")
    line.append_text(pool_cell(vip.state, vip.status_text))
    probe = next((c for c in vip.checks if c.kind == "http" and c.role == "pool"),
                 vip.checks[0] if vip.checks else None)
    if probe is not None and probe.ok is not None:
        shown = latency(probe.latency_ms) if probe.ok else safe(probe.code, 8)
        line.append(f"  {safe(probe.name, 12)} {shown}", style=p.good if probe.ok else p.alarm)
        headers = probe.facts.get("headers")
        server = headers.get("x-feserver") if isinstance(headers, dict) else None
        if server:  # which CAS really answered through the VIP (Exchange 2013+)
            line.append(f" via {safe(server, 40)}", style=p.muted)
    style = p.good if in_pool == nodes else p.warn if in_pool else p.alarm
    line.append("  │ ", style=p.muted)
    line.append(f"{in_pool}/{nodes} nodes in pool", style=style)
    return line


def site_title(number: int, view: SiteView) -> Text:
    title = Text(f" {number} ", style="bold reverse", end="")
    title.append(f" {safe(view.name, 40)} ", style="bold")
    title.append(f" {STATUS_GLYPH[view.status]} {view.status.name} ",
                 style=pal().status[view.status])
    return title


def site_subtitle(view: SiteView) -> Text:
    if view.status in (Status.OK, Status.UNKNOWN) or not view.reasons:
        return Text("")
    return Text(safe("; ".join(view.reasons), 300), style=pal().warn)


class SitePanel(Vertical):
    """A bordered panel; `show` updates only what changed (the title, two lines, the cells)."""

    def __init__(self, number: int, name: str, checks: Sequence[str], nodes: Sequence[str],
                 *, connections: bool = False, id: str | None = None) -> None:
        super().__init__(id=id, classes="site-panel")
        self.number = number
        self.site_name = name
        self.node_count = len(nodes)
        self.table = NodeTable(checks, nodes, connections=connections)
        self._info = TextLines(classes="site-info")
        self._shown: tuple[Text, Text, Text] | None = None

    @property
    def rows_needed(self) -> int:
        """Height that shows every node without scrolling."""
        return CHROME_ROWS + self.node_count

    def compose(self) -> ComposeResult:
        yield self._info
        yield self.table

    def show(self, view: SiteView, now: datetime, node_filter: str) -> None:
        info = dns_line(view.array_fqdn, view.vip.address, view.dns)
        info.append("\n")
        info.append_text(vip_line(view.vip, view.in_pool, len(view.nodes)))
        shown = (site_title(self.number, view), site_subtitle(view), info)
        if shown != self._shown:
            self._shown = shown
            self.border_title, self.border_subtitle, _ = shown
            self._info.show(info)
        self.table.show(view.nodes, now, node_filter)
