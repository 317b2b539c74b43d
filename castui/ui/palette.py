"""The console's styles, in colour and in monochrome (NO_COLOR).

Colours are plain ANSI names, so 16-colour terminals (tmux, screen) show them as meant; no
magenta, which several palettes (Monokai, Textual's default) draw as red. Without colour,
Textual greys everything by luminance, and red turns the darkest grey: the monochrome palette
says the same with bold and reverse video instead, and every state keeps its own glyph.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from castui.engine.timeline import Mark
from castui.model.status import Status


@dataclass(frozen=True, slots=True)
class Palette:
    good: str
    warn: str
    #: Bad news in running text (an event sentence).
    bad: str
    #: Bad news in a cell that must catch the eye (DOWN, a failed check, a new alert).
    alarm: str
    muted: str
    #: What is expected, not alarming: drops inside maintenance, drill and maintenance marks.
    calm: str
    #: The header's badge while a drill runs.
    drill: str
    status: dict[Status, str] = field(default_factory=dict)
    marks: dict[Mark, str] = field(default_factory=dict)


COLOUR = Palette(
    good="green", warn="yellow", bad="red", alarm="bold red", muted="dim", calm="cyan",
    drill="bold black on cyan",
    status={Status.OK: "bold black on green", Status.WARNING: "bold black on yellow",
            Status.CRITICAL: "bold white on red", Status.UNKNOWN: "bold reverse"},
    marks={Mark.IN_POOL: "green", Mark.TRANSITIONAL: "bright_yellow", Mark.DEGRADED: "yellow",
           Mark.OUT: "red", Mark.UNKNOWN: "dim"},
)

MONOCHROME = Palette(
    good="", warn="bold", bad="bold", alarm="bold reverse", muted="dim", calm="italic",
    drill="bold reverse",
    status={Status.OK: "bold", Status.WARNING: "bold reverse",
            Status.CRITICAL: "bold reverse", Status.UNKNOWN: "reverse"},
    marks={Mark.IN_POOL: "", Mark.TRANSITIONAL: "", Mark.DEGRADED: "bold", Mark.OUT: "bold",
           Mark.UNKNOWN: "dim"},
)

_current = COLOUR


def pal() -> Palette:
    """The palette in use."""
    return _current


def use_palette(*, monochrome: bool) -> None:
    """Chosen once when the console starts (Textual reads NO_COLOR into `App.no_color`)."""
    global _current
    _current = MONOCHROME if monochrome else COLOUR
