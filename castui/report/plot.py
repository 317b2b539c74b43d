"""The timeline picture: the report's lanes drawn as an SVG with matplotlib.

matplotlib is imported here, lazily, because it takes about a second: `castui report
--format json` and every other command never pay for it. No pyplot: a `Figure` on its own SVG
canvas keeps no global state, so two reports in one process cannot disturb each other.
States read in greyscale too: lightness differs and the in-between states are hatched.
Text stays text (`svg.fonttype = none`) and ids are salted with a constant, so the same
report gives the same SVG and tests can read lane labels in it.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from castui.engine.timeline import MARK_WORDS, MAX_SPANS, Mark
from castui.model.times import zone_label
from castui.report.figures import Report
from castui.report.lanes import Lane

#: Lanes drawn at most; the title says how many more there were.
MAX_LANES = 60
#: Alert markers drawn at most (the alerts table lists them all).
MAX_ALERT_LINES = 200
WIDTH_IN = 11.0
LANE_IN = 0.34

#: (face colour, hatch) per state; lightness alone tells them apart in greyscale.
STYLE: dict[Mark, tuple[str, str]] = {
    Mark.IN_POOL: ("#b8e0b0", ""),
    Mark.DEGRADED: ("#e8a33d", "\\\\\\"),
    Mark.OUT: ("#7f1d1d", ""),
}
FAILING = ("#f26b4f", "xxxx")
MAINTENANCE = ("#e3e8f4", "////")
#: Stretches nobody observed: drawn over every lane, so no lane reads as calm there.
NOT_OBSERVED = ("#9a9a9a", "....")
DNS_SHADES = ("#d6e6f5", "#8fbfe0", "#3f88c5", "#164a7a")
EDGE = "#333333"

_RC: dict[Any, Any] = {
    "svg.hashsalt": "castui-report",
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "font.size": 8.0,
    "hatch.linewidth": 0.6,
    "axes.titlesize": 10.0,
}


def draw_svg(report: Report) -> str:
    """The report's timeline as an SVG document."""
    out = io.StringIO()
    _save(report, out, "svg")
    return out.getvalue()


def draw_png(report: Report) -> bytes:
    """The same picture as a PNG (for change records and chats that show no SVG)."""
    out = io.BytesIO()
    _save(report, out, "png")
    return out.getvalue()


def _save(report: Report, out: io.StringIO | io.BytesIO, fmt: str) -> None:
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure

    lanes = report.lanes[:MAX_LANES]
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(WIDTH_IN, 2.2 + LANE_IN * max(len(lanes), 1)),
                     layout="constrained")
        (FigureCanvasSVG if fmt == "svg" else FigureCanvasAgg)(fig)
        ax = fig.add_subplot()
        _draw(ax, report, lanes)
        fig.legend(handles=_legend(bool(report.gaps)), loc="outside lower center", ncol=4,
                   frameon=False)
        metadata = {"Date": None} if fmt == "svg" else {"Software": None}
        fig.savefig(out, format=fmt, metadata=metadata)


def _draw(ax: Any, report: Report, lanes: Sequence[Lane]) -> None:
    window = report.window
    start, end = window.start, max(window.end, window.start + timedelta(seconds=1))
    span = (end - start).total_seconds()
    top = len(lanes) - 1
    shades: dict[str, str] = {}
    for i, lane in enumerate(lanes):
        _lane(ax, lane, top - i, start, span, shades)
    for i in range(1, len(lanes)):  # a rule between sites
        if lanes[i].site != lanes[i - 1].site:
            ax.axhline(top - i + 0.5, color=EDGE, linewidth=0.8)
    ax.set_yticks([top - i for i in range(len(lanes))],
                  [f"{lane.site} / {lane.label}"[:48] for lane in lanes], parse_math=False)
    ax.set_ylim(-0.6, max(top, 0) + 0.6)
    ax.set_xlim(0, span)
    ticks = time_ticks(start, end)
    ax.set_xticks([x for x, _ in ticks], [label for _, label in ticks])
    zone = zone_label(start)
    if zone_label(end) != zone:
        zone += f" → {zone_label(end)}"
    ax.set_xlabel(f"time, UTC (local: {zone})", parse_math=False)
    for gap in report.gaps:
        ax.axvspan(_x(gap.start, start), _x(gap.end, start), facecolor=NOT_OBSERVED[0],
                   hatch=NOT_OBSERVED[1], edgecolor="#555555", alpha=0.55, linewidth=0.4,
                   zorder=7)
    _markers(ax, report, start, end)
    title = (f"castui drill {window.drill.name}" if window.drill is not None
             else "castui report") + (" (still running)" if window.running else "")
    if len(report.lanes) > len(lanes):
        title += f" — {len(report.lanes) - len(lanes)} more lanes not drawn"
    ax.set_title(title[:120], loc="left", pad=12, parse_math=False)
    if not lanes:
        ax.text(0.5, 0.5, "no node, VIP or DNS events in this window", ha="center",
                va="center", transform=ax.transAxes, parse_math=False)
        ax.set_yticks([])
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _lane(ax: Any, lane: Lane, y: float, origin: datetime, span: float,
          shades: dict[str, str]) -> None:
    def ranges(pairs: Sequence[tuple[datetime, datetime]]) -> list[tuple[float, float]]:
        """(x, width) in seconds from the window's start; never too thin to see."""
        return [(_x(a, origin), max((b - a).total_seconds(), span / 2000)) for a, b in pairs]

    if lane.maintenance:
        ax.broken_barh(ranges(lane.maintenance), (y - 0.45, 0.9), facecolors=MAINTENANCE[0],
                       hatch=MAINTENANCE[1], edgecolor="#4a5d8a", linewidth=0.4, zorder=1)
    for mark in (Mark.IN_POOL, Mark.DEGRADED, Mark.OUT):
        pairs = [(s.start, s.end) for s in lane.spans if s.mark is mark]
        if pairs:
            face, hatch = STYLE[mark]
            ax.broken_barh(ranges(pairs), (y - 0.3, 0.6), facecolors=face, hatch=hatch,
                           edgecolor=EDGE, linewidth=0.3, zorder=2)
    for answer in (s for s in lane.spans if s.mark is Mark.ANSWER):
        shade = shades.setdefault(answer.label, DNS_SHADES[len(shades) % len(DNS_SHADES)])
        (x, width), = ranges([(answer.start, answer.end)])
        ax.broken_barh([(x, width)], (y - 0.3, 0.6), facecolors=shade, edgecolor=EDGE,
                       linewidth=0.3, zorder=2)
        if width > span * 0.08:
            dark = DNS_SHADES.index(shade) >= 2
            ax.text(x + width / 2, y, answer.label[:40], ha="center", va="center", fontsize=7,
                    color="white" if dark else "black", clip_on=True, zorder=3,
                    parse_math=False)
    if lane.failing:
        ax.broken_barh(ranges(lane.failing), (y - 0.15, 0.3), facecolors=FAILING[0],
                       hatch=FAILING[1], edgecolor="black", linewidth=0.4, zorder=3)
    for when, label in lane.ticks[:MAX_SPANS]:
        ax.plot([_x(when, origin)], [y + 0.38], marker="v" if "down" in label else "^",
                color="black", markersize=5, zorder=4, linestyle="none")


def _markers(ax: Any, report: Report, start: datetime, end: datetime) -> None:
    """Drill start/end (solid) and each alert (dotted) as vertical lines."""
    for alert in report.alerts[:MAX_ALERT_LINES]:
        if start <= alert.time <= end:
            ax.axvline(_x(alert.time, start), color="#555555", linestyle=":",
                       linewidth=0.8, zorder=5)
    drill = report.window.drill
    if drill is None:
        return
    ends = [(drill.started, "drill start")]
    ends.append((report.window.end, "now (running)" if report.window.running else "drill end"))
    for when, label in ends:
        x = _x(when, start)
        ax.axvline(x, color="black", linewidth=1.4, zorder=6)
        left = label == "drill start"
        ax.annotate(label, (x, 1.0), xycoords=("data", "axes fraction"),
                    xytext=(2 if left else -2, 2), textcoords="offset points", fontsize=7,
                    ha="left" if left else "right", va="bottom", parse_math=False)


def _legend(gaps: bool) -> list[Any]:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[Any] = [Patch(facecolor=STYLE[m][0], hatch=STYLE[m][1], edgecolor=EDGE,
                                label=MARK_WORDS[m]) for m in (Mark.IN_POOL, Mark.DEGRADED,
                                                               Mark.OUT)]
    handles += [
        Patch(facecolor=FAILING[0], hatch=FAILING[1], edgecolor="black",
              label="VIP probe failing (clients)"),
        Patch(facecolor=MAINTENANCE[0], hatch=MAINTENANCE[1], edgecolor="#4a5d8a",
              label="in maintenance"),
        Patch(facecolor=DNS_SHADES[1], edgecolor=EDGE, label="DNS answer (one shade each)"),
        Line2D([], [], color="#555555", linestyle=":", label="alert"),
        Line2D([], [], color="black", marker="v", linestyle="none", label="balancer down/up"),
    ]
    if gaps:
        handles.append(Patch(facecolor=NOT_OBSERVED[0], hatch=NOT_OBSERVED[1],
                             edgecolor="#555555", alpha=0.55,
                             label="not observed (castui not recording)"))
    return handles


def _x(when: datetime, origin: datetime) -> float:
    return (when - origin).total_seconds()


#: Tick spacings in seconds, from a second to a week: the first giving at most MAX_TICKS wins.
_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
          86400, 172800, 604800)
MAX_TICKS = 10


def time_ticks(start: datetime, end: datetime) -> list[tuple[float, str]]:
    """Ticks at round UTC times: `14:05:30` under a minute apart, else `14:05`; the date on
    the first tick and wherever the day changes."""
    span = (end - start).total_seconds()
    step = next((s for s in _STEPS if span / s <= MAX_TICKS), _STEPS[-1])
    first = math.ceil(start.timestamp() / step) * step
    ticks: list[tuple[float, str]] = []
    day = None
    t = float(first)
    while t <= end.timestamp() and len(ticks) <= MAX_TICKS + 1:
        when = datetime.fromtimestamp(t, UTC)
        label = when.strftime("%H:%M:%S" if step < 60 else "%H:%M")
        if when.date() != day:
            label = f"{label}\n{when:%Y-%m-%d}"
            day = when.date()
        ticks.append(((when - start).total_seconds(), label))
        t += step
    return ticks
