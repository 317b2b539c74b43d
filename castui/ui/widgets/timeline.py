"""The failover timeline: a strip per node, VIP and DNS name, drawn line by line (Line API).

Lanes come ready-made from castui.engine.timeline, with the buckets a maintenance mark covered;
this widget only turns marks into glyphs, caches one strip per row and scrolls. Every state has
its own glyph as well as its colour, so the picture reads the same without colour (NO_COLOR, a
monochrome terminal, a printout). Time a maintenance mark covered is drawn with its own glyph
(`▚`) in the calm colour: its drops were expected.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from castui.engine.timeline import MARK_WORDS, Expected, Lane, Mark, Zoom
from castui.model.times import duration
from castui.ui.keys import SCROLL_MOVES
from castui.ui.palette import pal
from castui.ui.widgets.lines import TextLines, text_strip
from castui.ui.words import EXPECTED_GLYPH, MARK_GLYPH, MARK_SHORT, gap, safe, subject_name

LABEL_MAX = 16


@dataclass(frozen=True, slots=True)
class SiteRow:
    name: str


Row = SiteRow | Lane


_CALM_MARKS = frozenset({Mark.TRANSITIONAL, Mark.DEGRADED, Mark.OUT})


def lane_text(buckets: Sequence[Mark], expected: Expected = ()) -> Text:
    """Runs of one mark as one styled span each; what a maintenance mark covered is calm."""
    text = Text(no_wrap=True, end="")
    p = pal()
    shaded = expected or (False,) * len(buckets)
    cells = [(EXPECTED_GLYPH, p.calm) if covered and mark in _CALM_MARKS
             else (MARK_GLYPH[mark], p.marks[mark])
             for mark, covered in zip(buckets, shaded, strict=False)]
    for (glyph, style), run in groupby(cells):  # one span per run of one look
        text.append(glyph * len(list(run)), style=style)
    return text


def legend_text(zoom: Zoom, *, short: bool, expected: bool = False) -> Text:
    """The glyphs' meanings; with `expected`, the maintenance colour's too."""
    text = Text(no_wrap=True, end="")
    for mark in (Mark.IN_POOL, Mark.TRANSITIONAL, Mark.DEGRADED, Mark.OUT, Mark.UNKNOWN):
        words = MARK_SHORT[mark] if short else MARK_WORDS[mark]
        text.append(MARK_GLYPH[mark], style=pal().marks[mark])
        gap(text)
        text.append(f"{words}  ")
    if expected:
        text.append(EXPECTED_GLYPH, style=pal().calm)
        gap(text)
        text.append("maint" if short else "maintenance (expected)")
    return text


def axis_text(zoom: Zoom, label_width: int, strip_width: int) -> Text:
    """`-5 min ……… -2m30s ……… now` over the strip, aligned with the lanes."""
    left, middle, right = f"-{zoom.label}", f"-{duration(zoom.seconds / 2, style='compact')}", "now"
    cells = [" "] * strip_width
    for position, label in ((0, left), (strip_width - len(right), right),
                            ((strip_width - len(middle)) // 2, middle)):
        if position < 0 or position + len(label) > strip_width:
            continue
        if any(c != " " for c in cells[max(position - 1, 0):position + len(label) + 1]):
            continue
        cells[position:position + len(label)] = list(label)
    text = Text(no_wrap=True, end="")
    gap(text, label_width + 1)
    text.append("".join(cells), style=pal().muted)
    return text


class TimelineView(ScrollView, can_focus=True):
    """Rows of lanes (with a site heading per site when several are shown)."""

    BINDINGS: ClassVar[list[BindingType]] = SCROLL_MOVES

    DEFAULT_CSS = """
    TimelineView { overflow-x: hidden; scrollbar-size-vertical: 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[Row] = []
        self.expected: Mapping[tuple[str, str], Expected] = {}
        self.label_width = 4
        self.headings = False
        self._strips: dict[int, Strip] = {}

    @property
    def strip_width(self) -> int:
        """Buckets that fit beside the labels (what lanes should be computed for)."""
        return max(self.scrollable_content_region.width - self.label_width - 1, 0)

    def fit_labels(self, subjects: Sequence[str], *, headings: bool) -> int:
        """Size the label column for these subjects; the strip width that leaves (the number
        of buckets lanes should be computed for)."""
        indent = 1 if headings else 0
        names = [len(safe(subject_name(subject), LABEL_MAX)) + indent for subject in subjects]
        label_width = min(max([3, *names]), LABEL_MAX)
        if label_width != self.label_width:
            self.label_width = label_width
            self._strips.clear()
        return self.strip_width

    def show(self, lanes: Sequence[Lane], *, headings: bool,
             expected: Mapping[tuple[str, str], Expected] | None = None) -> None:
        """Draw `lanes`; `expected` says, per (site, subject), which buckets a maintenance mark
        covered."""
        expected = expected or {}
        rows: list[Row] = []
        site = None
        for lane in lanes:
            if headings and lane.site != site:
                rows.append(SiteRow(lane.site))
            site = lane.site
            rows.append(lane)
        if rows == self.rows and expected == self.expected:
            return
        self.rows = rows
        self.expected = expected
        self.headings = headings
        self._strips.clear()
        self.virtual_size = Size(self.size.width, len(rows))
        self.refresh()

    class Resized(Message):
        """The strips' width changed: the lanes need computing again for it, now."""

    def on_resize(self) -> None:
        self._strips.clear()
        self.virtual_size = Size(self.size.width, len(self.rows))
        self.post_message(self.Resized())

    def render_line(self, y: int) -> Strip:
        index = y + self.scroll_offset.y
        width = self.scrollable_content_region.width
        if index >= len(self.rows):
            return Strip.blank(width, self.rich_style)
        strip = self._strips.get(index)
        if strip is None or strip.cell_length != width:
            strip = text_strip(self._row_text(self.rows[index]), self.app.console, width,
                               self.rich_style)
            self._strips[index] = strip
        return strip

    def _row_text(self, row: Row) -> Text:
        if isinstance(row, SiteRow):
            return Text(safe(row.name, 40), style="bold underline", end="")
        indent = 1 if self.headings else 0
        room = self.label_width - indent
        label = safe(subject_name(row.subject), LABEL_MAX)[:room]
        text = Text(end="")
        if indent:
            gap(text, indent)
        text.append(label.ljust(room) + " ", style="bold")
        text.append_text(lane_text(row.buckets, self.expected.get((row.site, row.subject), ())))
        return text


class TimelinePanel(Vertical):
    """The axis, the lanes and the legend, in a bordered box titled with the zoom."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.view = TimelineView(id="timeline")
        self._axis = TextLines(classes="timeline-axis")
        self._legend = TextLines(classes="timeline-legend")
        self._chrome: tuple[Text, Text, str] | None = None

    def compose(self) -> ComposeResult:
        yield self._axis
        yield self.view
        yield self._legend

    def show(self, lanes: Sequence[Lane], zoom: Zoom, *, headings: bool,
             expected: Mapping[tuple[str, str], Expected] | None = None) -> None:
        self.view.show(lanes, headings=headings, expected=expected)
        width = self.view.strip_width
        chrome = (axis_text(zoom, self.view.label_width, width),
                  legend_text(zoom, short=self.size.width < 72, expected=bool(expected)),
                  f"Timeline · {zoom.label}  (t focus, +/- zoom)")
        if chrome != self._chrome:
            self._chrome = chrome
            self._axis.show(chrome[0])
            self._legend.show(chrome[1])
            self.border_title = chrome[2]
