"""Table cells and detail lines: a check's result, a node's pool state and its mark, the
balancer's verdict, what a check found.

The verdicts are the engine's (the snapshot's `ok`, `state`, `lb_disagrees`, `maintenance`);
these only word and colour them for a fixed-width cell.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from rich.text import Text

from castui.config.model import Balancer
from castui.engine.snapshot import CheckView, TargetView
from castui.engine.timeline import Mark, mark_of
from castui.model.balancer import AdminState
from castui.model.results import Code
from castui.model.times import latency
from castui.ui.palette import pal
from castui.ui.words import MARK_GLYPH, fit, safe, until_text

_SHORT_CODES = {Code.L4CON: "CON", Code.L6RSP: "TLS", Code.L7RSP: "RSP", Code.DNSNX: "NX",
                Code.DNSFAIL: "FAIL"}


def check_cell(check: CheckView) -> Text:
    """One check in a table cell: `✓ 3ms`, `✗ 503`, `✗ TOUT`, `·` before its first result."""
    if check.ok is None:
        return Text("·", style=pal().muted)
    if check.ok:
        took = latency(check.latency_ms, style="compact")
        if check.warning:  # passes, but deserves a look (a certificate expiring soon)
            return Text(f"⚠ {took}", style=pal().warn)
        if check.slow:  # passes, slower than slow_ms: its time in the warning colour
            return Text(f"✓ {took}", style=pal().warn)
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
    when `expected` (a maintenance mark covers it) and it is not simply in the pool. A partly
    out node (`UP 3/5 vdirs (ews, mapihttp out)`) reads `PART 3/5` in the narrow column;
    which vdirs are out is in its checks, its details and the site's reasons."""
    mark = mark_of(state, status_text)
    if state == "partial" and len(words := status_text.split()) > 1:
        status_text = f"PART {words[1]}"
    if expected and mark is not Mark.IN_POOL:
        style = pal().calm
    else:
        style = pal().alarm if mark is Mark.OUT else pal().marks[mark]
    return Text(f"{MARK_GLYPH[mark]} {safe(status_text, 12)}", style=style)


def mark_cell(node: TargetView, now: datetime) -> Text:
    """The engine's explanation of a node's changes: `MAINT 14:50` while a castui maintenance
    mark covers it (until when, UTC), `MAINT Exch` while Exchange itself has it in maintenance
    (the requester is in its details), `FLAP` while it flaps, `no VIP answers` while it is in
    the pool but the VIP's samples never come from it (it looks drained); blank otherwise."""
    if node.maintenance_until is not None:
        return Text(f"MAINT {until_text(node.maintenance_until, now)}", style=pal().calm)
    if node.exchange_maintenance is not None:
        return Text("MAINT Exch", style=pal().calm)
    if node.flapping:
        return Text("FLAP", style=pal().warn)
    if node.vip_skips:
        return Text("no VIP answers", style=pal().warn)
    return Text("")


#: Balancer types as their makers write them.
LB_NAMES = {"haproxy": "HAProxy"}


#: Cells of the balancer's word in its column (`≠ ` may come before it).
LB_STATUS_CELLS = 8


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
    status = fit(view.status, LB_STATUS_CELLS)
    if node.lb_disagrees:  # an operator's own DRAIN / MAINT is expected: calm
        return Text(f"≠ {status}", style=p.calm if node.lb_operator_set else p.alarm)
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
        count = facts.get("name_count")
        total = max(count if isinstance(count, int) else 0, len(names))
        more = f" (+{total - CERT_NAMES})" if total > CERT_NAMES else ""
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
    direct = facts.get("direct")
    if isinstance(direct, dict):
        parts.append(f"direct {safe(direct.get('clients', 0), 8)} (clients not through the "
                     "balancer)")
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
