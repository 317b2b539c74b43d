"""The console's wording: events as sentences, durations, check cells, status glyphs.

Everything returns rich `Text` built from plain strings, never markup: names, details and DNS
answers come from the config or the network and must show literally (`[red]` stays `[red]`).
The engine has already stripped control characters; `clean` here again is cheap insurance.
"""

from __future__ import annotations

from datetime import datetime

from rich.text import Text

from castui.engine.events import Event, Kind
from castui.engine.snapshot import CheckView
from castui.engine.status import Status
from castui.engine.timeline import Mark, mark_of
from castui.probes.result import Code
from castui.text import clean
from castui.ui.palette import pal

#: A glyph per status so the word is not the only cue in a narrow tab.
STATUS_GLYPH = {Status.OK: "●", Status.WARNING: "▲", Status.CRITICAL: "✖", Status.UNKNOWN: "?"}

#: Timeline glyphs and colours: each state reads by its shape alone (NO_COLOR, monochrome).
MARK_GLYPH = {Mark.IN_POOL: "━", Mark.TRANSITIONAL: "▒", Mark.DEGRADED: "~", Mark.OUT: "█",
              Mark.UNKNOWN: "·"}
MARK_WORDS = {Mark.IN_POOL: "in pool", Mark.TRANSITIONAL: "transitional",
              Mark.DEGRADED: "degraded", Mark.OUT: "out of pool", Mark.UNKNOWN: "unknown"}
MARK_SHORT = {Mark.IN_POOL: "in", Mark.TRANSITIONAL: "trans", Mark.DEGRADED: "degr",
              Mark.OUT: "out", Mark.UNKNOWN: "unkn"}

#: Length of an event's details in a toast.
BRIEF = 28

_SHORT_CODES = {Code.L4CON: "CON", Code.L6RSP: "TLS", Code.L7RSP: "RSP", Code.DNSNX: "NX",
                Code.DNSFAIL: "FAIL"}


def safe(text: object, limit: int = 200) -> str:
    """Any outside text as one clean line (no control characters, bounded)."""
    return clean(str(text), limit)


def duration(seconds: float | None) -> str:
    """`45s`, `2m14s`, `1h02m`, `3d04h`: short, and exact enough for a drill report."""
    if seconds is None:
        return "?"
    total = max(round(seconds), 0)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def since(then: datetime | None, now: datetime) -> str:
    """Time since a change, coarse enough not to redraw every second after the first minute."""
    if then is None:
        return "–"
    seconds = max((now - then).total_seconds(), 0.0)
    if seconds < 60:
        return f"{int(seconds)}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    return duration(seconds)


def clock(when: datetime) -> str:
    return when.strftime("%H:%M:%S")


def subject_name(subject: str) -> str:
    """`vip` and `dns` are shown as VIP and DNS; node names as configured."""
    return {"vip": "VIP", "dns": "DNS"}.get(subject, subject)


def sentence(event: Event, *, brief: bool = False) -> tuple[str, str]:
    """An event in words, and its colour: ("CAS2 back in pool after 2m14s", "green").

    `brief` keeps the details short, for a toast on a small screen.
    """
    p = pal()
    good, bad, warn, muted = p.good, p.bad, p.warn, p.muted
    degraded = p.marks[Mark.DEGRADED]
    who = safe(subject_name(event.subject), 60)
    detail = safe(event.detail, BRIEF if brief else 200)
    after = f" after {duration(event.duration_s)}" if event.duration_s is not None else ""
    kind = event.kind
    if kind == Kind.NODE_DOWN:
        if event.data.get("at_start"):
            return f"{who} {detail}", bad
        return f"{who} out of pool: {detail}", bad
    if kind == Kind.NODE_UP:
        return f"{who} back in pool{after}", good
    if kind == Kind.NODE_DEGRADED:
        return f"{who} degraded, {detail}", degraded
    if kind == Kind.NODE_RECOVERED:
        return f"{who} recovered: {detail}", good
    if kind == Kind.VIP_DOWN:
        return f"VIP down: {detail}", bad
    if kind == Kind.VIP_UP:
        return f"VIP serving again{after}", good
    if kind == Kind.DNS_CHANGED:
        return f"DNS answer changed: {detail}", warn
    if kind == Kind.DNS_FAILED:
        return f"DNS failing: {detail}", bad
    if kind == Kind.DNS_RECOVERED:
        return f"DNS recovered: {detail}", good
    if kind == Kind.MONITOR_STARTED:
        return f"monitoring started, {detail}", muted
    return f"{who} {safe(kind, 40)}: {detail}", ""


def event_line(event: Event, *, with_site: bool) -> Text:
    """`08:01:02 Site-A CAS2 back in pool after 2m14s` as one styled line."""
    words, style = sentence(event)
    line = Text(clock(event.time), style=pal().muted, end="")
    if with_site:
        line.append(" ")
        line.append(safe(event.site, 40), style="bold")
    line.append(" ")
    line.append(words, style=style)
    return line


def latency(ms: float | None) -> str:
    if ms is None:
        return ""
    if ms >= 1000:
        return f"{ms / 1000:.1f}s"
    return f"{max(round(ms), 1)}ms" if ms >= 0.5 else "<1ms"


def check_cell(check: CheckView) -> Text:
    """One check in a table cell: `✓ 3ms`, `✗ 503`, `✗ TOUT`, `·` before its first result."""
    if check.ok is None:
        return Text("·", style=pal().muted)
    if check.ok:
        return Text(f"✓ {latency(check.latency_ms)}", style=pal().good)
    status = check.facts.get("status")
    if check.code == Code.L7STS and isinstance(status, int):
        word = str(status)
    elif check.code.endswith("TOUT"):  # L4TOUT, L7TOUT and any later probe's timeout
        word = "TOUT"
    else:
        word = _SHORT_CODES.get(check.code, safe(check.code, 6))
    return Text(f"✗ {word}", style=pal().alarm)


def failing_summary(checks: tuple[CheckView, ...]) -> Text:
    """A node's checks in a few words, for narrow screens: `✓ all 11`, `✗ ews 503, owa TOUT`,
    or `✗ all 11 CON` when every check fails the same way."""
    failed = [c for c in checks if c.ok is False]
    if not failed:
        if any(c.ok is None for c in checks):
            return Text("·", style=pal().muted)
        return Text(f"✓ all {len(checks)}", style=pal().good)
    codes = [check_cell(c).plain[2:] for c in failed]
    if len(failed) == len(checks) and len(set(codes)) == 1:
        return Text(f"✗ all {len(checks)} {codes[0]}", style=pal().alarm)
    parts = [f"{safe(c.name, 20)} {code}" for c, code in zip(failed, codes, strict=True)]
    return Text("✗ " + ", ".join(parts), style=pal().alarm)


def pool_cell(state: str, status_text: str) -> Text:
    """The pool column: HAProxy's words with the timeline's glyph in front."""
    mark = mark_of(state, status_text)
    style = pal().alarm if mark is Mark.OUT else pal().marks[mark]
    return Text(f"{MARK_GLYPH[mark]} {safe(status_text, 12)}", style=style)
