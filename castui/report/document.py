"""The report's wording and layout as plain blocks, shared by the Markdown and HTML renderers.

Both formats say exactly the same things in the same order; each renderer only escapes and
marks up. Text in the blocks is plain (already cleaned of control characters by `measure`),
never markup: escaping is the renderer's job, because only it knows its markup language.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from castui.model.marks import MaintenanceMark
from castui.model.text import clean
from castui.model.times import duration, instant, zone_label
from castui.report.figures import (
    AlertEntry,
    DnsChange,
    FlapSpell,
    LoadStatus,
    NodeDrop,
    Outage,
    OutAtStart,
    Report,
    SiteFigures,
)
from castui.report.gaps import Gap

#: Rows per table in Markdown and HTML: a change record needs the story, JSON has every row.
MAX_ROWS = 200
#: Node names listed in a summary cell.
NAMES_SHOWN = 10

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True, slots=True)
class Para:
    text: str


@dataclass(frozen=True, slots=True)
class Items:
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class Picture:
    alt: str


Block = Heading | Para | Items | Table | Picture


def title(report: Report) -> str:
    drill = report.window.drill
    return "castui report" if drill is None else f"castui drill report: {clean(drill.name, 80)}"


def build(report: Report) -> list[Block]:
    """The whole report, top to bottom."""
    blocks: list[Block] = [Heading(1, title(report)), Items(_header(report)),
                           Picture("timeline"), *_gaps(report), Heading(2, "Summary")]
    if report.sites:
        blocks.append(_summary(report))
    else:
        blocks.append(Para(_quiet(report, "No site events were recorded in this window.")))
    for site in report.sites:
        blocks.extend(_site(report, site))
    blocks.extend(_alerts(report))
    return blocks


def _header(report: Report) -> tuple[str, ...]:
    window = report.window
    lines = []
    if window.drill is not None:
        who = clean(window.drill.started_by, 80)
        by = f", started by {who}" if who else ""
        lines.append(f"Drill: {clean(window.drill.name, 80)}{by}")
    lines.append(f"From: {instant(window.start)}")
    end = f"To: {instant(window.end)} ({duration(window.seconds, style='precise')})"
    if window.unobserved_since is not None:
        end += " — the drill is still open but its recorder is gone: reported up to now"
    elif window.running:
        end += " — the drill is still running: reported up to now"
    lines.append(end)
    zones = {zone_label(window.start), zone_label(window.end)}
    lines.append(f"Local time: {' / '.join(sorted(zones))}")
    lines.append(f"Generated: {instant(report.generated)}")
    if report.gaps:
        lines.append(f"Not observed: {duration(report.not_observed_s, style='precise')} in "
                     f"{len(report.gaps)} gap(s), while castui was not recording the drill "
                     "(see Not observed)")
    if report.events_truncated:
        lines.append("Warning: the window holds more events than one report reads; "
                     "figures cover the earliest ones (use a shorter window)")
    return tuple(lines)


#: Said wherever the report finds nothing, when part of the window was not observed.
UNSEEN = "No outage is reported in these periods, which does not mean there was none."


def _gaps(report: Report) -> list[Block]:
    """The stretches nobody observed, before any figure, so nobody reads silence as calm."""
    if not report.gaps:
        return []
    return [Heading(2, "Not observed"),
            Para("castui was not recording the drill during these periods (its recorder had "
                 "died): nothing was observed. " + UNSEEN),
            *_bounded(("from", "until", "duration", "why"), report.gaps, _gap_row)]


def _gap_row(g: Gap) -> tuple[str, ...]:
    return (instant(g.start), "still not observed at end" if g.ongoing else instant(g.end),
            duration(g.duration_s, style="precise") + (" (ongoing)" if g.ongoing else ""), g.why)


def _quiet(report: Report, text: str) -> str:
    """`text` (nothing happened), qualified when part of the window was not observed."""
    if not report.gaps:
        return text
    missed = duration(report.not_observed_s, style="precise")
    return f"{text[:-1]} while castui observed ({missed} not observed)."


def _summary(report: Report) -> Table:
    rows = []
    for site in report.sites:
        names = list(dict.fromkeys(d.node for d in site.drops))
        dropped = ", ".join(names[:NAMES_SHOWN]) + (", …" if len(names) > NAMES_SHOWN else "")
        vip = site.vip
        dns = site.resolvers_changed
        rows.append((
            site.name,
            f"{len(site.drops)} ({dropped})" if site.drops else "0",
            duration(site.worst_detection_s, style="precise"),
            str(len(vip.outages)),
            duration(vip.total_s, style="precise")
            + (" (ongoing)" if any(o.ongoing for o in vip.outages) else ""),
            duration(vip.longest_s, style="precise"),
            f"{len(dns)} resolvers ({', '.join(dns)})" if len(dns) > 1
            else f"1 resolver ({dns[0]})" if dns else "no",
        ))
    return Table(("site", "nodes dropped", "worst detection", "VIP outages",
                  "VIP outage total", "longest VIP outage", "DNS changed"), tuple(rows))


def _site(report: Report, site: SiteFigures) -> list[Block]:
    blocks: list[Block] = [Heading(2, site.name), Heading(3, "Nodes that dropped")]
    if site.drops:
        blocks.extend(_bounded(
            ("node", "first failed probe", "declared out", "detection", "balancer marked down",
             "balancer detection", "back in pool", "out of pool", "load after return",
             "notes"), site.drops, _drop_row))
    else:
        blocks.append(Para(_quiet(report, "No node left the pool.")))
    if site.out_at_start:
        blocks.append(Heading(3, "Out of the pool at the start (not drops)"))
        blocks.extend(_bounded(("node", "out since", "back in pool"), site.out_at_start,
                               _at_start_row))
    blocks.extend(_vip(report, site))
    blocks.extend(_dns(report, site))
    if site.flapping:
        blocks.append(Heading(3, "Flapping"))
        blocks.extend(_bounded(("node", "from", "until", "changes", "within"), site.flapping,
                               _flap_row))
    if site.maintenance:
        blocks.append(Heading(3, "Maintenance"))
        blocks.extend(_bounded(("target", "from", "until", "set by", "reason"),
                               site.maintenance, _mark_row))
    return blocks


def _at_start_row(o: OutAtStart) -> tuple[str, ...]:
    return (o.node, _at(o.since, "before the window"), _at(o.back_in_pool, "still out at end"))


def _flap_row(f: FlapSpell) -> tuple[str, ...]:
    return (f.node, instant(f.start), "still flapping at end" if f.ongoing else instant(f.end),
            "–" if f.changes is None else str(f.changes), duration(f.window_s, style="precise"))


def _mark_row(m: MaintenanceMark) -> tuple[str, ...]:
    cleared = " (cleared)" if m.cleared is not None and m.cleared < m.ends else ""
    return (clean(m.target, 160), instant(m.starts), instant(m.until()) + cleared,
            clean(m.set_by, 80) or "–", clean(m.reason) or "–")


def _dns_row(c: DnsChange) -> tuple[str, ...]:
    return (c.server, instant(c.time), duration(c.after_s, style="precise"), answers(c.old),
            answers(c.new))


def _drop_row(d: NodeDrop) -> tuple[str, ...]:
    notes = []
    if d.unobserved:
        notes.append("went out while not observed: when is unknown")
    if d.expected:
        notes.append("expected (maintenance)")
    if d.flapping:
        notes.append("flapping")
    if d.detail:
        notes.append(d.detail)
    return (
        d.node, _at(d.first_failed, "unknown"), instant(d.declared_out),
        duration(d.detection_s, style="precise"),
        _at(d.lb_marked_down, "no balancer event"), duration(d.lb_detection_s, style="precise"),
        _at(d.back_in_pool, "still out at end"),
        duration(d.out_of_pool_s, style="precise") + (" (ongoing)" if d.ongoing else ""),
        load_text(d), "; ".join(notes) or "–",
    )


def load_text(drop: NodeDrop) -> str:
    """`balanced at return`, `back in balance after 2m14s`, `still skewed at end`..."""
    if drop.load is LoadStatus.BACK_IN_BALANCE:
        return f"back in balance after {duration(drop.load_back_s, style='precise')}"
    return str(drop.load)


def _vip(report: Report, site: SiteFigures) -> list[Block]:
    vip = site.vip
    blocks: list[Block] = [Heading(3, "VIP: client-visible outages (failed VIP probes)")]
    if vip.outages:
        total = duration(vip.total_s, style="precise")
        longest = duration(vip.longest_s, style="precise")
        blocks.append(Para(f"{len(vip.outages)} outage(s), total {total}, longest {longest}."))
        blocks.extend(_intervals(vip.outages))
    else:
        blocks.append(Para(_quiet(report, "No VIP probe failed.")))
    if vip.down_spells:
        blocks.append(Para("castui declared the VIP down:"))
        blocks.extend(_intervals(vip.down_spells))
    return blocks


def _intervals(spans: tuple[Outage, ...]) -> list[Block]:
    return _bounded(("start", "end", "duration"), spans, lambda o: (
        instant(o.start), "still failing at end" if o.ongoing else instant(o.end),
        duration(o.duration_s, style="precise") + (" (ongoing)" if o.ongoing else "")))


def _dns(report: Report, site: SiteFigures) -> list[Block]:
    if not site.dns_changes:
        return [Heading(3, "DNS"), Para("No resolver's answer changed.")]
    since = "after drill start" if report.window.drill is not None else "after window start"
    return [Heading(3, "DNS answer changes"), *_bounded(
        ("resolver", "changed at", since, "old answer", "new answer"), site.dns_changes,
        _dns_row)]


def answers(addresses: tuple[str, ...]) -> str:
    return ", ".join(addresses) or "no answer"


def _alerts(report: Report) -> list[Block]:
    blocks: list[Block] = [Heading(2, "Alerts")]
    if not report.alerts:
        return [*blocks, Para("No alert was raised in this window.")]
    blocks.append(Table(("raised", "site", "subject", "event", "detail", "acknowledged"),
                        tuple(_alert_row(a) for a in report.alerts)))
    if report.alerts_left_out:
        blocks.append(Para(f"{report.alerts_left_out} older alert(s) not listed."))
    return blocks


def _alert_row(a: AlertEntry) -> tuple[str, ...]:
    return (instant(a.time), a.site, a.subject, a.kind, a.detail, acked_text(a))


def acked_text(alert: AlertEntry) -> str:
    if alert.acked_at is None:
        return "not acknowledged"
    return f"{instant(alert.acked_at)} by {alert.acked_by or 'unknown'}"


def _bounded(header: tuple[str, ...], items: Sequence[_T],
             row: Callable[[_T], tuple[str, ...]]) -> list[Block]:
    """A table of at most MAX_ROWS rows, and a line saying how many more the JSON has."""
    blocks: list[Block] = [Table(header, tuple(row(item) for item in items[:MAX_ROWS]))]
    if len(items) > MAX_ROWS:
        blocks.append(Para(f"… and {len(items) - MAX_ROWS} more, not listed here "
                           "(--format json lists them all)."))
    return blocks


def _at(when: datetime | None, missing: str) -> str:
    return missing if when is None else instant(when)
