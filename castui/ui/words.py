"""The console's words: status and timeline glyphs, safe text and clock times.

Everything returns plain strings or rich `Text` built from them, never markup: names, details
and DNS answers come from the config or the network and must show literally (`[red]` stays
`[red]`). The engine has already stripped control characters; `clean` here again is cheap
insurance. Events in words are in ui.sentences, table cells in ui.cells.
"""

from __future__ import annotations

from datetime import UTC, datetime

from rich.cells import cell_len, get_character_cell_size
from rich.text import Text

from castui.engine.timeline import Mark
from castui.model.status import Status
from castui.model.text import clean

#: A glyph per status so the word is not the only cue in a narrow tab.
STATUS_GLYPH = {Status.OK: "●", Status.WARNING: "▲", Status.CRITICAL: "✖", Status.UNKNOWN: "?"}

#: Timeline glyphs and colours: each state reads by its shape alone (NO_COLOR, monochrome).
MARK_GLYPH = {Mark.IN_POOL: "━", Mark.TRANSITIONAL: "▒", Mark.DEGRADED: "~", Mark.OUT: "█",
              Mark.UNKNOWN: "·"}
#: Time out of the pool (or between states, or degraded) inside a maintenance mark: expected,
#: so a glyph of its own, which reads without colour too.
EXPECTED_GLYPH = "▚"
MARK_SHORT = {Mark.IN_POOL: "in", Mark.TRANSITIONAL: "trans", Mark.DEGRADED: "degr",
              Mark.OUT: "out", Mark.UNKNOWN: "unkn"}

#: The style of the blanks between the parts of a line. It changes nothing on screen, but keeps
#: the blanks a span of their own, so no span starts with a blank: SVG viewers (rsvg, for one)
#: drop a span's leading blanks, which glued `UP  owa` into `UPowa` in the screenshots.
GAP = "not dim"


def gap(line: Text, cells: int = 1) -> None:
    """Blanks between two parts of `line`, kept out of either part's span."""
    line.append(" " * cells, style=GAP)


def badge(words: str, style: str) -> Text:
    """` ▲ WARNING ` on its own background, its padding spans apart from its words."""
    text = Text(" ", style=f"{style} {GAP}", end="")
    text.append(words, style=style)
    text.append(" ", style=f"{style} {GAP}")
    return text


def safe(text: object, limit: int = 200) -> str:
    """Any outside text as one clean line (no control characters, bounded)."""
    return clean(str(text), limit)


def fit(text: object, cells: int) -> str:
    """Outside text cleaned and cut to `cells` terminal cells, measured as the terminal does
    (a CJK character takes two, a combining mark none), `…` marking a cut: a wide character
    never pushes a table cell past its column."""
    line = safe(text, max(cells, 1))
    if cell_len(line) <= cells:
        return line
    out: list[str] = []
    used = 0
    for char in line:
        used += get_character_cell_size(char)
        if used > cells - 1:
            break
        out.append(char)
    return "".join(out) + "…"


def clock(when: datetime) -> str:
    return when.strftime("%H:%M:%S")


def subject_name(subject: str) -> str:
    """`vip` and `dns` are shown as VIP and DNS; node names as configured."""
    return {"vip": "VIP", "dns": "DNS"}.get(subject, subject)


def until_text(when: datetime, now: datetime, *, short: bool = True) -> str:
    """When a mark ends, in UTC like every time on the console: `14:50`; a day or more away,
    `23 Nov` (short) or `23 Nov 14:50`."""
    utc = when.astimezone(UTC)
    if abs((when - now).total_seconds()) < 86400:
        return utc.strftime("%H:%M")
    return utc.strftime("%d %b" if short else "%d %b %H:%M")


