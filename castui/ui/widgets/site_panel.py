"""One site: its array FQDN's answers against the VIP, the VIP itself, and the node table.

Above the table, two lines always (DNS, VIP) and one more for each thing that needs saying: a
broken DNS hygiene rule, a balancer that cannot be read, where the clients are (and how many
bypass the array), the audit's verdict when an Exchange export is configured. The panel grows
and shrinks with them and tells the app, which lays the screen out again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message

from castui.engine.audit.findings import Severity
from castui.engine.audit.watch import SiteAudit
from castui.engine.snapshot import CheckView, DnsView, SiteView, TargetView
from castui.model.events import SUBJECT_DNS, SUBJECT_VIP
from castui.model.status import Status
from castui.model.text import listing
from castui.model.times import latency
from castui.ui.cells import pool_cell
from castui.ui.palette import pal
from castui.ui.widgets.lines import TextLines
from castui.ui.widgets.node_table import NodeTable
from castui.ui.words import STATUS_GLYPH, badge, gap, safe, until_text

#: Rows a panel needs besides its node rows and info lines: border (2), table header (1).
CHROME_ROWS = 3
#: Info lines always shown: DNS and VIP.
BASE_LINES = 2


def _line(label: str) -> Text:
    return Text(label, style="bold", end="")


def _answer(line: Text, dns: DnsView, server: str, addrs: tuple[str, ...], site: str) -> None:
    """`→ 127.0.62.50 = Site-B VIP ✗`: an answer, whose VIP it is (another site's), ✓ or ✗."""
    p = pal()
    good = dns.matches_vip[server]  # the engine's verdict on this answer
    style = p.good if good else p.alarm
    line.append("→")
    gap(line)
    said = listing(addrs, dns.totals.get(server))
    line.append(safe(said or "no answer", 80), style=style)
    owner = dns.vip_sites.get(server)
    if owner is not None and owner != site:
        gap(line)
        line.append(f"= {safe(owner, 40)} VIP", style=style)
    gap(line)
    line.append("✓" if good else "✗", style=style)


def dns_lines(fqdn: str, vip: str, dns: DnsView | None, site: str = "") -> list[Text]:
    """`DNS outlook.site-a… → 10.1.0.50 ✓ TTL 300 hygiene ✓` when every resolver says the
    same; when they disagree, the name on the first line and one line per resolver under it,
    so none falls off a narrow screen."""
    p = pal()
    line = _line("DNS ")
    line.append(safe(fqdn, 80))
    if dns is None:
        gap(line, 2)
        line.append("not checked (no dns_servers)", style=p.muted)
        return [line]
    if dns.ok is None:
        gap(line)
        line.append("→ …", style=p.muted)
        return [line]
    answers = {server: tuple(addrs) for server, addrs in dns.answers.items()}
    same = len(set(answers.values())) == 1
    if same:
        server, addrs = next(iter(answers.items()))
        gap(line)
        _answer(line, dns, server, addrs, site)
    if dns.ok is False:
        gap(line, 2)
        line.append(f"(VIP {safe(vip, 40)})", style=p.warn)
    if dns.ttl is not None:
        gap(line, 2)
        line.append(f"TTL {dns.ttl}", style=p.muted)
    if dns.hygiene and all(check.ok for check in dns.hygiene):
        gap(line, 2)
        line.append("hygiene ✓", style=p.good)
    lines = [line]
    if not same:
        for server, addrs in answers.items():
            each = Text("  ", end="")
            each.append(safe(server, 40), style="bold")
            gap(each)
            _answer(each, dns, server, addrs, site)
            lines.append(each)
    return lines


def answers_text(answered_by: Mapping[str, int], nodes: Sequence[str]) -> Text:
    """`answers: CAS1 3 · CAS2 0 · CAS3 3`: who answered the VIP's samples, every node named
    (in config order, a silent one dimmed), then any other name that answered."""
    p = pal()
    text = Text("answers:", style="bold", end="")
    names = [*nodes, *sorted(set(answered_by) - set(nodes))]
    if not answered_by:
        gap(text)
        text.append("none", style=p.alarm)
        return text
    for number, name in enumerate(names):
        gap(text)
        if number:
            text.append("·", style=p.muted)
            gap(text)
        count = answered_by.get(name, 0)
        text.append(f"{safe(name, 24)} {count}", style="" if count else p.muted)
    return text


def vip_line(vip: TargetView, in_pool: int, nodes: int,
             answered_by: Mapping[str, int] | None = None,
             node_names: Sequence[str] = (), now: datetime | None = None) -> Text:
    """`VIP 10.1.0.50 ━ UP  owa 4ms  │ 2/3 nodes in pool  │ answers: CAS1 3 · CAS2 3`, and
    `│ MAINT until 14:50 (whole site)` while the site is marked in maintenance."""
    p = pal()
    line = _line("VIP ")
    line.append(safe(vip.address, 40))
    gap(line)
    line.append_text(pool_cell(vip.state, vip.status_text,
                               expected=vip.maintenance_until is not None))
    probe = next((c for c in vip.checks if c.kind == "http" and c.role == "pool"),
                 vip.checks[0] if vip.checks else None)
    if probe is not None and probe.ok is not None:
        shown = latency(probe.latency_ms, style="compact") if probe.ok else safe(probe.code, 8)
        gap(line, 2)
        line.append(f"{safe(probe.name, 12)} {shown}", style=p.good if probe.ok else p.alarm)
        headers = probe.facts.get("headers")
        server = headers.get("x-feserver") if isinstance(headers, dict) else None
        if server and answered_by is None:  # which CAS answered this probe (Exchange 2013+)
            gap(line)
            line.append(f"via {safe(server, 40)}", style=p.muted)
    style = p.good if in_pool == nodes else p.warn if in_pool else p.alarm
    gap(line, 2)
    line.append("│", style=p.muted)
    gap(line)
    line.append(f"{in_pool}/{nodes} nodes in pool", style=style)
    if answered_by is not None:
        gap(line, 2)
        line.append("│", style=p.muted)
        gap(line)
        line.append_text(answers_text(answered_by, node_names))
    if vip.maintenance_until is not None:
        until = until_text(vip.maintenance_until, now or vip.maintenance_until)
        gap(line, 2)
        line.append("│", style=p.muted)
        gap(line)
        line.append(f"MAINT until {until} (whole site)", style=p.calm)
    return line


def hygiene_line(hygiene: Sequence[CheckView]) -> Text | None:
    """`hygiene ⚠ split: resolvers disagree: …`: the broken DNS hygiene rules with what was
    found; None while every rule holds (the DNS line then ends `hygiene ✓`)."""
    broken = [check for check in hygiene if check.ok is False]
    if not broken:
        return None
    p = pal()
    line = _line("hygiene")
    for check in broken:
        gap(line)
        line.append(f"⚠ {safe(check.name, 20)}:", style=f"bold {p.warn}".strip())
        gap(line)
        line.append(safe(check.detail, 300), style=p.warn)
    return line


def clients_line(view: SiteView) -> Text | None:
    """`LB ? HAProxy socket …: no such socket` when the balancer cannot be read, and where the
    clients are (`load CAS1 holds 80% of 412 connections…`, marked when the engine calls it
    skewed); None when there is neither."""
    p = pal()
    parts: list[Text] = []
    if view.lb_error is not None:
        part = Text("LB ?", style=f"bold {p.warn}".strip(), end="")
        gap(part)
        part.append(safe(view.lb_error, 200), style=p.warn)
        parts.append(part)
    direct = [(node.subject, count) for node in view.nodes
              if (count := node.direct) is not None]
    if direct:
        part = Text("direct", style="bold", end="")
        for name, count in direct:
            gap(part)
            part.append(f"{safe(name, 24)} {count}", style=p.warn if count else p.muted)
        parts.append(part)
    if view.skew is not None:
        part = Text("load", style="bold", end="")
        gap(part)
        part.append(("⚠ " if view.skewed else "") + safe(view.skew, 200),
                    style=p.warn if view.skewed else p.muted)
        parts.append(part)
    if not parts:
        return None
    line = _line("")
    for number, part in enumerate(parts):
        if number:
            gap(line, 2)
            line.append("│", style=p.muted)
            gap(line)
        line.append_text(part)
    return line


_AUDIT_GLYPH = {Severity.OK: "✓", Severity.INFO: "✓", Severity.WARNING: "⚠",
                Severity.ERROR: "✗"}


def audit_line(audit: SiteAudit | None) -> Text | None:
    """`audit ✗ 2 errors: db_points_at_array DB07: …` (the worst finding, what to do), or
    `audit ✓ 14 rules hold`; None without `exchange_export`."""
    if audit is None:
        return None
    p = pal()
    line = _line("audit")
    gap(line)
    if audit.error is not None:
        line.append("? " + safe(audit.error, 300), style=p.warn)
        return line
    style = {Severity.ERROR: p.alarm, Severity.WARNING: p.warn}.get(audit.severity, p.good)
    if not audit.problems:
        line.append(f"✓ {audit.passing} findings hold", style=style)
        return line
    errors = sum(f.severity is Severity.ERROR for f in audit.problems)
    warnings = len(audit.problems) - errors
    counts = ", ".join(f"{n} {word}{'s' if n > 1 else ''}"
                       for n, word in ((errors, "error"), (warnings, "warning")) if n)
    first = audit.problems[0]
    line.append(f"{_AUDIT_GLYPH[audit.severity]} {counts}:", style=f"bold {style}".strip())
    gap(line)
    line.append(f"{first.rule} {safe(first.subject, 60)}: {safe(first.message, 300)}",
                style=style)
    return line


def info_lines(view: SiteView, node_names: Sequence[str], now: datetime) -> list[Text]:
    """The lines above a site's node table, in order."""
    lines = [*dns_lines(view.array_fqdn, view.vip.address, view.dns, view.name),
             vip_line(view.vip, view.in_pool, len(view.nodes), view.answered_by, node_names,
                      now)]
    extra = (hygiene_line(view.dns.hygiene if view.dns else ()), clients_line(view),
             audit_line(view.audit))
    return lines + [line for line in extra if line is not None]


def site_title(number: int, view: SiteView) -> Text:
    title = badge(str(number), "bold reverse")
    title.append_text(badge(safe(view.name, 40), "bold"))
    title.append_text(badge(f"{STATUS_GLYPH[view.status]} {view.status.name}",
                            pal().status[view.status]))
    return title


def site_subtitle(view: SiteView) -> Text:
    if view.status in (Status.OK, Status.UNKNOWN) or not view.reasons:
        return Text("")
    return Text(safe("; ".join(view.reasons), 300), style=pal().warn)


class InfoLines(TextLines, can_focus=True):
    """The lines above the node table. Focused (↑ from the first node), ↑/↓ (k/j) pick the
    DNS or the VIP line, enter opens its details, ↓ past the VIP line goes back to the nodes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "move(-1)", "Up", show=False, tooltip="the DNS line"),
        Binding("down,j", "move(1)", "Down", show=False,
                tooltip="the VIP line, then the nodes"),
        Binding("enter", "choose", "Details", show=False,
                tooltip="the DNS or VIP line's details"),
    ]

    class Chosen(Message):
        def __init__(self, line: int) -> None:
            super().__init__()
            self.line = line

    class Left(Message):
        """↓ past the VIP line."""

    def __init__(self, *, classes: str | None = None) -> None:
        super().__init__(classes=classes)
        #: 0: the DNS line, 1: the VIP line (the DNS line may take several rows).
        self.line = 1

    def pick(self, line: int) -> None:
        self.line = line
        self.refresh()

    def action_move(self, step: int) -> None:
        if self.line + step > 1:
            self.post_message(self.Left())
        else:
            self.pick(max(self.line + step, 0))

    def action_choose(self) -> None:
        self.post_message(self.Chosen(self.line))

    def render(self) -> Text:
        """The lines; while focused, the picked one underlined (reads without colour too)."""
        if not self.has_focus:
            return self.text
        lines = self.text.split("\n")
        vip_row = next((i for i, line in enumerate(lines) if line.plain.startswith("VIP ")), 1)
        rows = range(vip_row) if self.line == 0 else range(vip_row, vip_row + 1)
        out = []
        for index, line in enumerate(lines):
            if index in rows:
                line = line.copy()
                line.stylize("underline")
            out.append(line)
        return Text("\n", end="").join(out)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()


class SitePanel(Vertical):
    """A bordered panel; `show` updates only what changed (the title, the lines, the cells).

    With `balancer` (the site has one configured) the node table has a column for its verdict.
    """

    class LinesChanged(Message):
        """The panel gained or lost an info line: the screen needs laying out again."""

    class Opened(Message):
        """Enter on the DNS or the VIP line: show its details like a node's."""

        def __init__(self, panel: SitePanel, subject: str) -> None:
            super().__init__()
            self.panel = panel
            self.subject = subject

    def __init__(self, number: int, name: str, checks: Sequence[str], nodes: Sequence[str],
                 *, connections: bool = False, balancer: bool = False,
                 id: str | None = None) -> None:
        super().__init__(id=id, classes="site-panel")
        self.number = number
        self.site_name = name
        self.node_names = tuple(nodes)
        self.table = NodeTable(checks, nodes, connections=connections, balancer=balancer)
        self._info = InfoLines(classes="site-info")
        self.info_count = BASE_LINES
        #: Node rows shown (all of them, or the troubled ones with problems only).
        self.row_count = len(self.node_names)
        #: Problems only and nothing of the site is wrong: the panel is its title line.
        self.folded = False
        self._shown: tuple[Text, Text, Text] | None = None

    @property
    def rows_needed(self) -> int:
        """Height that shows every node shown without scrolling (one line when folded)."""
        if self.folded:
            return 1
        return CHROME_ROWS + self.info_count + self.row_count

    def compose(self) -> ComposeResult:
        yield self._info
        yield self.table

    def on_node_table_at_top(self, message: NodeTable.AtTop) -> None:
        """↑ on the first node: up to the VIP line."""
        self._info.pick(1)
        self._info.focus()

    def on_info_lines_left(self, message: InfoLines.Left) -> None:
        self.table.focus()

    def on_info_lines_chosen(self, message: InfoLines.Chosen) -> None:
        self.post_message(self.Opened(self, SUBJECT_DNS if message.line == 0 else SUBJECT_VIP))

    def on_mount(self) -> None:
        self._info.styles.height = self.info_count

    def show(self, view: SiteView, now: datetime, node_filter: str,
             problems_only: bool = False) -> None:
        """Draw `view`; with `problems_only`, only the troubled nodes (the snapshot's verdict),
        and only the title line when nothing of the site is wrong."""
        folded = problems_only and not view.troubled
        nodes = [n for n in view.nodes if n.trouble] if problems_only else list(view.nodes)
        if (folded, len(nodes)) != (self.folded, self.row_count):
            self.folded, self.row_count = folded, len(nodes)
            self.set_class(folded, "folded")
            self.post_message(self.LinesChanged())
        lines = info_lines(view, self.node_names, now)
        info = Text("\n", end="").join(lines)
        shown = (site_title(self.number, view), site_subtitle(view), info)
        if shown != self._shown:
            self._shown = shown
            self.border_title, self.border_subtitle, _ = shown
            self._info.show(info)
        if len(lines) != self.info_count:
            self.info_count = len(lines)
            self._info.styles.height = self.info_count
            self.post_message(self.LinesChanged())
        self.table.show(nodes, now, node_filter, view.lb_error, view.by_trouble)
