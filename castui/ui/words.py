"""The console's wording: events as sentences, check cells, status glyphs.

Everything returns rich `Text` built from plain strings, never markup: names, details and DNS
answers come from the config or the network and must show literally (`[red]` stays `[red]`).
The engine has already stripped control characters; `clean` here again is cheap insurance.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from rich.text import Text

from castui.config.model import Balancer
from castui.engine.snapshot import CheckView, TargetView
from castui.engine.timeline import Mark, mark_of
from castui.model.balancer import AdminState
from castui.model.events import ALL_SITES, Event, Kind
from castui.model.results import Code
from castui.model.status import Status
from castui.model.text import clean
from castui.model.times import duration, latency
from castui.ui.palette import pal

#: A glyph per status so the word is not the only cue in a narrow tab.
STATUS_GLYPH = {Status.OK: "●", Status.WARNING: "▲", Status.CRITICAL: "✖", Status.UNKNOWN: "?"}

#: Timeline glyphs and colours: each state reads by its shape alone (NO_COLOR, monochrome).
MARK_GLYPH = {Mark.IN_POOL: "━", Mark.TRANSITIONAL: "▒", Mark.DEGRADED: "~", Mark.OUT: "█",
              Mark.UNKNOWN: "·"}
MARK_SHORT = {Mark.IN_POOL: "in", Mark.TRANSITIONAL: "trans", Mark.DEGRADED: "degr",
              Mark.OUT: "out", Mark.UNKNOWN: "unkn"}

#: Length of an event's details in a toast.
BRIEF = 28

_SHORT_CODES = {Code.L4CON: "CON", Code.L6RSP: "TLS", Code.L7RSP: "RSP", Code.DNSNX: "NX",
                Code.DNSFAIL: "FAIL"}


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


def clock(when: datetime) -> str:
    return when.strftime("%H:%M:%S")


def subject_name(subject: str) -> str:
    """`vip` and `dns` are shown as VIP and DNS; node names as configured."""
    return {"vip": "VIP", "dns": "DNS"}.get(subject, subject)


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
    if mark:
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
    drills, maintenance marks and notifiers that failed."""
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
    if kind == Kind.NODE_FLAPPING_CLEARED:
        ran = duration(event.duration_s, style="compact")
        lasted = "" if event.duration_s is None else f" (flapped for {ran})"
        return f"{who} {detail}{lasted}", p.good
    by = safe(data.get("by") or "?", 40)
    if kind == Kind.DRILL_STARTED:
        return f"drill '{safe(data.get('drill', ''), 60)}' started by {by}", p.calm
    if kind == Kind.DRILL_ENDED:
        return f"drill '{safe(data.get('drill', ''), 60)}' ended by {by}{after}", p.calm
    target = safe(event.site if event.subject == "site" else f"{event.site}/{event.subject}",
                  80)
    if kind == Kind.MAINT_SET:
        until = _instant(data.get("until"), event.time)
        reason = safe(data.get("reason") or "", 200)
        return (f"maintenance {target} until {until}, set by {by}"
                + (f": {reason}" if reason else "")), p.calm
    if kind == Kind.MAINT_CLEARED:
        return f"maintenance {target} cleared by {by}", p.calm
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


def until_text(when: datetime, now: datetime, *, short: bool = True) -> str:
    """When a mark ends, in UTC like every time on the console: `14:50`; a day or more away,
    `23 Nov` (short) or `23 Nov 14:50`."""
    utc = when.astimezone(UTC)
    if abs((when - now).total_seconds()) < 86400:
        return utc.strftime("%H:%M")
    return utc.strftime("%d %b" if short else "%d %b %H:%M")


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


def check_cell(check: CheckView) -> Text:
    """One check in a table cell: `✓ 3ms`, `✗ 503`, `✗ TOUT`, `·` before its first result."""
    if check.ok is None:
        return Text("·", style=pal().muted)
    if check.ok:
        took = latency(check.latency_ms, style="compact")
        if check.warning:  # passes, but deserves a look (a certificate expiring soon)
            return Text(f"⚠ {took}", style=pal().warn)
        return Text(f"✓ {took}", style=pal().good)
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
    or `✗ all 11 CON` when every check fails the same way; `, ⚠ tls` names the warnings."""
    failed = [c for c in checks if c.ok is False]
    warned = [c for c in checks if c.ok and c.warning]
    if not failed:
        if any(c.ok is None for c in checks):
            return Text("·", style=pal().muted)
        text = Text(f"✓ all {len(checks)}", style=pal().good)
    else:
        codes = [check_cell(c).plain[2:] for c in failed]
        if len(failed) == len(checks) and len(set(codes)) == 1:
            return Text(f"✗ all {len(checks)} {codes[0]}", style=pal().alarm)
        parts = [f"{safe(c.name, 20)} {code}" for c, code in zip(failed, codes, strict=True)]
        text = Text("✗ " + ", ".join(parts), style=pal().alarm)
    if warned:
        text.append(", ")
        text.append("⚠ " + ", ".join(safe(c.name, 20) for c in warned), style=pal().warn)
    return text


def pool_cell(state: str, status_text: str, *, expected: bool = False) -> Text:
    """The pool column: HAProxy's words with the timeline's glyph in front; in the calm colour
    when `expected` (a maintenance mark covers it) and it is not simply in the pool."""
    mark = mark_of(state, status_text)
    if expected and mark is not Mark.IN_POOL:
        style = pal().calm
    else:
        style = pal().alarm if mark is Mark.OUT else pal().marks[mark]
    return Text(f"{MARK_GLYPH[mark]} {safe(status_text, 12)}", style=style)


def mark_cell(node: TargetView, now: datetime) -> Text:
    """The engine's explanation of a node's changes: `MAINT 14:50` while a maintenance mark
    covers it (until when, UTC), `FLAP` while it flaps; blank otherwise."""
    if node.maintenance_until is not None:
        return Text(f"MAINT {until_text(node.maintenance_until, now)}", style=pal().calm)
    if node.flapping:
        return Text("FLAP", style=pal().warn)
    return Text("")


#: Balancer types as their makers write them.
LB_NAMES = {"haproxy": "HAProxy"}


def lb_cell(node: TargetView, lb_error: str | None) -> Text:
    """The balancer's verdict in its own words (`UP`, `DRAIN`, `DOWN 1/2`); `?` when the
    balancer cannot be read; `≠` in front when it routes where castui would not, or not where
    castui would (the engine's rule)."""
    p = pal()
    if lb_error is not None:
        return Text("?", style=p.muted)
    view = node.lb
    if view is None:
        return Text("–", style=p.muted)
    status = safe(view.status, 8)
    if node.lb_disagrees:
        return Text(f"≠ {status}", style=p.alarm)
    word = view.word
    if word == "UP" and status != "UP":
        style = p.marks[Mark.TRANSITIONAL]
    elif word == "UP":
        style = p.good
    elif word == "DOWN":
        style = p.bad
    elif word in ("DRAIN", "MAINT", "NOLB"):
        style = p.warn
    else:
        style = p.muted
    return Text(status, style=style)


def lb_question(state: AdminState, node: str, lb: Balancer) -> str:
    """`Drain CAS2 on HAProxy backend https?`, naming the server when it is not the node."""
    server = lb.server_for(node)
    named = safe(node, 40) if server == node else f"{safe(node, 40)} (server {safe(server, 40)})"
    where = f"on {LB_NAMES.get(lb.type, lb.type)} backend {safe(lb.backend, 40)}"
    if state == "drain":
        return f"Drain {named} {where}? New clients go elsewhere, connected ones stay."
    if state == "ready":
        return f"Ready {named} {where}? It takes new clients again."
    return f"Put {named} in maintenance {where}? Its clients are cut off."


def check_facts(check: CheckView) -> str:
    """What a check found beyond its detail, in one line: the endpoint mapper's ports, the
    certificate's names and days, the agent's figures, the HTTP status and answering CAS."""
    facts = check.facts
    if check.kind == "epm":
        return _epm_facts(facts)
    if check.kind == "tls":
        return _tls_facts(facts)
    if check.kind == "agent":
        return _agent_facts(facts)
    if check.kind == "http":  # the status is in the detail; which CAS answered may not be
        headers = facts.get("headers")
        if not isinstance(headers, dict):
            return ""
        return " · ".join(f"{name} {safe(headers[name], 60)}"
                          for name in ("x-feserver", "x-diaginfo") if headers.get(name))
    return ""


def _epm_facts(facts: Mapping[str, Any]) -> str:
    parts = []
    mapped, tcp = facts.get("mapped"), facts.get("mapped_tcp")
    if isinstance(mapped, dict) and mapped:
        codes = tcp if isinstance(tcp, dict) else {}
        parts.append("mapped " + ", ".join(
            f"{safe(service, 20)} → {safe(port, 6)}"
            + (f" {safe(codes[service], 8)}" if service in codes else "")
            for service, port in mapped.items()))
    missing = facts.get("not_registered")
    if isinstance(missing, list) and missing:
        parts.append("not registered " + ", ".join(safe(s, 20) for s in missing))
    bind = facts.get("bind")
    if isinstance(bind, str) and bind != "accepted":
        parts.append(f"bind {safe(bind, 60)}")
    return " · ".join(parts)


#: Certificate names listed in the detail pane at most.
CERT_NAMES = 6


def _tls_facts(facts: Mapping[str, Any]) -> str:
    parts = []
    names = facts.get("names")
    if isinstance(names, list) and names:
        more = f" (+{len(names) - CERT_NAMES})" if len(names) > CERT_NAMES else ""
        parts.append("names " + ", ".join(safe(n, 60) for n in names[:CERT_NAMES]) + more)
    missing = facts.get("missing")
    if isinstance(missing, list) and missing:
        parts.append("missing " + ", ".join(safe(n, 60) for n in missing))
    days, until = facts.get("days_left"), facts.get("not_after")
    if isinstance(days, int):
        parts.append(f"{days} days left" + (f", until {safe(until[:10], 10)}"
                                            if isinstance(until, str) else ""))
    return " · ".join(parts)


def _agent_facts(facts: Mapping[str, Any]) -> str:
    parts = []
    ports = facts.get("connections")
    if isinstance(ports, dict):
        for port, figures in ports.items():
            if isinstance(figures, dict):
                parts.append(f"port {safe(port, 6)}: {safe(figures.get('established', 0), 8)} "
                             f"established, {safe(figures.get('remotes', 0), 8)} remote"
                             + ("" if figures.get("listening", True) else ", not listening"))
    for key, label in (("cpu_percent", "cpu"), ("memory_percent", "mem")):
        value = facts.get(key)
        if isinstance(value, int | float):
            parts.append(f"{label} {value:.0f}%")
    services = facts.get("services")
    if isinstance(services, dict):
        stopped = [safe(name, 30) for name, svc in services.items()
                   if isinstance(svc, dict) and svc.get("status") != "running"]
        if stopped:
            parts.append("not running " + ", ".join(stopped))
    return " · ".join(parts)
