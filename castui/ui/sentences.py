"""Events as sentences, for the event log, the alert list and the toasts.

Each kind of event (docs/events.md) has its sentence and colour; an event the engine explains
(inside a maintenance mark, one more change of a flapping node) says so.
"""

from __future__ import annotations

from datetime import UTC, datetime

from rich.text import Text

from castui.engine.timeline import Mark
from castui.model.events import ALL_SITES, Event, Kind
from castui.model.marks import mark_target
from castui.model.times import duration
from castui.ui.palette import pal
from castui.ui.words import clock, gap, safe, subject_name, until_text

#: Length of an event's details in a toast.
BRIEF = 28


def sentence(event: Event, *, brief: bool = False) -> tuple[str, str]:
    """An event in words, and its colour: ("CAS2 back in pool after 2m14s", "green").

    `brief` keeps the details short, for a toast on a small screen. An event the engine
    explains says so: inside a maintenance mark it reads as expected, in the calm colour
    (`CAS2 out of pool (expected: maintenance Site-A/CAS2): …`); one more change of a flapping
    node says `(flapping)`.
    """
    who = safe(subject_name(event.subject), 60)
    detail = safe(event.detail, BRIEF if brief else 200)
    lasted = duration(event.duration_s, style="compact")
    after = f" after {lasted}" if event.duration_s is not None else ""
    words, style = _sentence(event, who, detail, after)
    notes = []
    mark = event.data.get("maintenance")
    exchange = event.data.get("exchange_maintenance")
    if mark and isinstance(exchange, str):
        notes.append(f"expected: {safe(exchange, 80)}")
        style = pal().calm
    elif mark:
        named = f" {safe(mark, 60)}" if isinstance(mark, str) else ""
        notes.append(f"expected: maintenance{named}")
        style = pal().calm
    if event.data.get("flapping"):
        notes.append("flapping")
    return (_noted(words, who, notes) if notes else words), style


def _noted(words: str, who: str, notes: list[str]) -> str:
    """`CAS2 out of pool (expected: …): epm L4CON`: the notes after the sentence's head, before
    the details (at the end when there are none)."""
    start = len(who) if words.startswith(who) else 0
    cut = words.find(": ", start)
    note = f" ({'; '.join(notes)})"
    return words + note if cut < 0 else words[:cut] + note + words[cut:]


def _sentence(event: Event, who: str, detail: str, after: str) -> tuple[str, str]:
    p = pal()
    good, bad, warn, muted = p.good, p.bad, p.warn, p.muted
    degraded = p.marks[Mark.DEGRADED]
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
    return (_workflow_sentence(event, who, detail, after)
            or _deep_sentence(event, who, detail, after))


def _workflow_sentence(event: Event, who: str, detail: str,
                       after: str) -> tuple[str, str] | None:
    """Issue #7's events: client-visible VIP probes, the balancer's own marks, flapping,
    drills, maintenance marks and notifiers that failed; polling's pace."""
    p = pal()
    kind, data = event.kind, event.data
    if kind == Kind.VIP_PROBE_FAILED:
        return f"VIP probe failed: {detail.removeprefix('VIP probe failed: ')}", p.bad
    if kind == Kind.VIP_PROBE_OK:
        ran = duration(event.duration_s, style="tenths")
        lasted = "" if event.duration_s is None else f" after {ran}"
        return f"VIP answering probes again{lasted}", p.good
    if kind == Kind.LB_DOWN:
        return detail, p.warn  # "balancer marked CAS2 DOWN (L4CON)"
    if kind == Kind.LB_UP:
        return f"balancer routes to {who} again", p.good
    if kind == Kind.NODE_FLAPPING:
        return f"{who} flapping: {detail}", p.bad
    if kind == Kind.LAB_STEP:
        return f"lab: {detail}", p.calm
    if kind == Kind.NODE_SLOW:
        return f"{who} slow: {detail}", p.warn
    if kind == Kind.NODE_FLAPPING_CLEARED:
        ran = duration(event.duration_s, style="compact")
        lasted = "" if event.duration_s is None else f" (flapped for {ran})"
        return f"{who} {detail}{lasted}", p.good
    by = safe(data.get("by") or "?", 40)
    if kind == Kind.DRILL_STARTED:
        return f"drill '{safe(data.get('drill', ''), 60)}' started by {by}", p.calm
    if kind == Kind.DRILL_RESUMED:
        missed = duration(event.duration_s or 0.0, style="compact")
        return (f"drill '{safe(data.get('drill', ''), 60)}' resumed by {by}: not observed for "
                f"{missed} (its recorder was gone)"), p.warn
    if kind == Kind.DRILL_ENDED:
        text = f"drill '{safe(data.get('drill', ''), 60)}' ended by {by}{after}"
        if "gap_start" in data:  # ended after its recorder died: the end was not watched
            return f"{text}; not observed since {_instant(data['gap_start'], event.time)}", \
                p.warn
        return text, p.calm
    node = None if event.subject == "site" else event.subject
    target = safe(mark_target(event.site, node), 80)
    if kind == Kind.MAINT_SET:
        until = _instant(data.get("until"), event.time)
        reason = safe(data.get("reason") or "", 200)
        return (f"maintenance {target} until {until}, set by {by}"
                + (f": {reason}" if reason else "")), p.calm
    if kind == Kind.MAINT_CLEARED:
        return f"maintenance {target} cleared by {by}", p.calm
    if kind == Kind.POLL_LAGGING:
        return f"polling lags: {detail}", p.warn
    if kind == Kind.POLL_CAUGHT_UP:
        return f"polling caught up{after}: {detail}", p.good
    if kind == Kind.NOTIFY_FAILED:
        reason = detail.removeprefix(f"notifier {event.subject}: ")
        return f"notifier {who} failed: {reason}", p.warn
    return None


def _instant(value: object, now: datetime) -> str:
    """An ISO time from an event's data as `14:50 UTC` (`23 Nov 14:50 UTC` a day or more
    from `now`); `?` when it is not one."""
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        return "?"
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return f"{until_text(when, now, short=False)} UTC"


def _deep_sentence(event: Event, who: str, detail: str, after: str) -> tuple[str, str]:
    """The deep checks' and the balancer's events (DNS hygiene, certificates, load)."""
    p = pal()
    kind = event.kind
    rule = safe(event.data.get("rule", ""), 20)
    if kind == Kind.DNS_SPLIT:
        return f"DNS split: {detail}", p.bad
    if kind == Kind.DNS_AGREED:
        return "DNS resolvers agree again", p.good
    if kind == Kind.DNS_WARNING:
        return f"DNS hygiene ({rule}): {detail}", p.warn
    if kind == Kind.DNS_WARNING_CLEARED:
        return f"DNS hygiene ({rule}) fine again: {detail}", p.good
    if kind == Kind.CERT_EXPIRING:
        return f"{who} {detail}", p.warn
    if kind == Kind.LB_DISAGREES:
        return detail, p.bad
    if kind == Kind.LB_AGREES:
        return f"balancer and castui agree on {who} again{after}", p.good
    if kind == Kind.LB_ADMIN:
        state = safe(event.data.get("state", ""), 10)
        return f"{who} set {state} on the balancer from castui ({detail})", p.warn
    if kind == Kind.LB_UNREACHABLE:
        return f"balancer unreadable: {detail}", p.warn
    if kind == Kind.LB_REACHABLE:
        return "balancer readable again", p.good
    if kind == Kind.POOL_SKEWED:
        return f"load skewed: {detail}", p.warn
    if kind == Kind.POOL_BALANCED:
        return f"load even again{after}: {detail}", p.good
    if kind == Kind.VIP_SKIPS_NODE:
        return f"VIP skips a node: {detail}", p.warn
    return f"{who} {safe(kind, 40)}: {detail}", ""


def event_line(event: Event, *, with_site: bool) -> Text:
    """`08:01:02 Site-A CAS2 back in pool after 2m14s` as one styled line."""
    words, style = sentence(event)
    line = Text(end="")
    line.append(clock(event.time), style=pal().muted)
    if with_site and event.site != ALL_SITES:  # a drill, a notifier: no site of its own
        gap(line)
        line.append(safe(event.site, 40), style="bold")
    gap(line)
    line.append(words, style=style)
    return line
