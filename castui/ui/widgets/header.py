"""The top line: overall status, a running drill, clocks, nodes in pool, unacknowledged alerts,
polling pace."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from rich.text import Text
from textual.widget import Widget

from castui.model.status import Status
from castui.model.times import duration
from castui.ui.palette import pal
from castui.ui.words import STATUS_GLYPH, badge, gap, safe

SEPARATOR = "│"


@dataclass(frozen=True, slots=True)
class HeaderInfo:
    """Everything the header shows; equal infos draw the same line, so nothing is redrawn."""

    status: Status
    now: datetime
    in_pool: int
    nodes: int
    unacked: int
    slowest_round: float | None
    interval: float
    #: The engine's verdict that rounds overrun the interval (`poll_lagging`).
    lagging: bool = False
    frozen: bool = False
    node_filter: str = ""
    #: The drill running (perhaps one a previous run started) and for how long, in seconds.
    drill: str | None = None
    drill_s: float = 0.0
    #: The worst site, when it is not OK and not on screen (a tab not shown).
    worst_site: str | None = None
    #: Whether only the troubled nodes are shown (`P`).
    problems_only: bool = False
    #: Targets still waiting for their first round (the header says `starting` until none).
    pending: int = 0
    #: Events since the display was frozen (`p`).
    new_since_freeze: int = 0


#: Drop ranks: 0 is never dropped; on a short line the highest rank goes first.
#: The `castui` label goes last: it says which window this is, whatever the status.
_KEEP, _BRAND, _POLL, _LOCAL = 0, 1, 2, 3
#: A drill's name in the header at most, by tightness: the clock alone at the tightest.
DRILL_NAME = (30, 12, 0)


def header_parts(info: HeaderInfo, local_tz: tzinfo | None, *,
                 tight: int = 0) -> list[tuple[Text, int]]:
    """(part, drop rank) in display order; the higher `tight` (0-2), the tighter the essential
    parts are worded."""
    p = pal()
    parts: list[tuple[Text, int]] = [(Text("castui", style="bold"), _BRAND)]
    if info.frozen:
        parts.append((badge("⏸ FROZEN (p)", "bold reverse"), _KEEP))
        if info.new_since_freeze:
            parts.append((Text(f"{info.new_since_freeze} new since freeze", style=p.warn),
                          _KEEP))
    glyph = STATUS_GLYPH[info.status]
    parts.append((badge(f"{glyph} {info.status.name}", p.status[info.status]), _KEEP))
    if info.pending:
        targets = "target" if info.pending == 1 else "targets"
        parts.append((Text(f"starting: {info.pending} {targets} pending", style=p.muted),
                      _KEEP))
    if info.worst_site is not None:
        parts.append((Text(f"worst {safe(info.worst_site, 20)}",
                           style=p.alarm if info.status is Status.CRITICAL else p.warn), _KEEP))
    if info.drill is not None:
        limit = DRILL_NAME[tight]
        name = f"{safe(info.drill, limit)} " if limit else ""
        ran = duration(info.drill_s, style="stopwatch")
        parts.append((badge(f"DRILL {name}{ran}", p.drill), _KEEP))
    utc = info.now.astimezone(UTC)
    parts.append((Text(utc.strftime("%H:%M:%S UTC")), _KEEP))
    local = info.now.astimezone(local_tz)
    if local.utcoffset() != utc.utcoffset():
        parts.append((Text(local.strftime("%H:%M:%S %Z").strip(), style="dim"), _LOCAL))
    pool_style = p.good if info.in_pool == info.nodes else p.warn if info.in_pool else p.alarm
    parts.append((Text(f"pool {info.in_pool}/{info.nodes}", style=pool_style), _KEEP))
    if info.unacked:
        word = "" if tight else " alert" if info.unacked == 1 else " alerts"
        parts.append((Text(f"⚑ {info.unacked}{word} unacked", style=p.alarm), _KEEP))
    else:
        parts.append((Text("no alerts", style=p.good), _KEEP))
    if info.slowest_round is None:
        parts.append((Text("poll –", style="dim"), _POLL))
    else:
        pace = (f"{duration(info.slowest_round, style='poll')}/"
                f"{duration(info.interval, style='interval')}")
        if info.lagging:
            parts.append((Text(f"poll LAGGING {pace}", style=p.alarm), _KEEP))
        else:
            parts.append((Text(f"poll {pace}", style=p.good), _POLL))
    if info.problems_only:
        parts.append((Text("problems only (P)", style=p.warn), _KEEP))
    if info.node_filter:
        parts.append((Text(f"filter “{safe(info.node_filter, 30)}”", style=p.warn), _KEEP))
    return parts


def header_line(info: HeaderInfo, width: int, local_tz: tzinfo | None = None) -> Text:
    """The header for a `width`-cell line: drop the inessential parts until it fits, then
    word the essential ones tighter."""
    for tight in range(len(DRILL_NAME)):
        parts = header_parts(info, local_tz, tight=tight)
        while True:
            line = Text(no_wrap=True, end="")
            for number, (part, _) in enumerate(parts):
                gap(line)
                if number:
                    line.append(SEPARATOR, style="dim")
                    gap(line)
                line.append_text(part)
            rank = max(r for _, r in parts)
            if line.cell_len <= width:
                return line
            if rank == _KEEP:
                break
            parts = [(p, r) for p, r in parts if r != rank]
    return line


class StatusHeader(Widget):
    """Docked at the top; redrawn only when what it says changes."""

    DEFAULT_CSS = """
    StatusHeader { dock: top; height: 1; }
    """

    def __init__(self, *, local_tz: tzinfo | None = None, id: str | None = None) -> None:
        super().__init__(id=id)
        self.local_tz = local_tz
        self.info: HeaderInfo | None = None

    def show(self, info: HeaderInfo) -> None:
        if info != self.info:
            self.info = info
            self.refresh()

    def render(self) -> Text:
        if self.info is None:
            return Text(" castui │ starting…")
        return header_line(self.info, self.size.width, self.local_tz)
