"""`castui check`: a Nagios/Icinga-compatible check of every site, as text with perfdata or JSON."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from typing import Any

from castui.cli.common import load_or_report, make_monitor
from castui.config import Defaults
from castui.engine.snapshot import CheckView, EstateSnapshot, SiteView, TargetView
from castui.model.status import Status, severity
from castui.model.text import listing
from castui.model.times import iso

EXIT_UNKNOWN = int(Status.UNKNOWN)
#: Nagios keeps 4 KiB of a plugin's first line and 8 KiB of its whole output by default:
#: castui's text stays under both (bytes, UTF-8), whatever the network said.
FIRST_LINE_BYTES = 4000
OUTPUT_BYTES = 8000
#: Room kept for the `+N more sites` line that ends a cut output.
_RESERVE = 200


def add_parser(sub: Any) -> None:
    p = sub.add_parser("check", help="probe every site once (or N rounds) and exit with a "
                                     "Nagios status: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN")
    p.add_argument("--config", required=True, metavar="FILE", help="estate config (TOML)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--rounds", type=_positive_int, default=1, metavar="N",
                   help="rounds per target, an interval apart; with N >= max(rise, fall) the "
                        "rise/fall hysteresis applies (default 1)")
    p.set_defaults(func=run)
    p.usage_exit = EXIT_UNKNOWN


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError("must be between 1 and 1000")
    return value


def run(args: argparse.Namespace) -> int:
    config = load_or_report(args.config)
    if config is None:
        return EXIT_UNKNOWN
    monitor = make_monitor(config)
    if monitor is None:
        return EXIT_UNKNOWN
    try:
        asyncio.run(monitor.run(rounds=args.rounds))
    except KeyboardInterrupt:
        print("CASTUI UNKNOWN - interrupted")
        return EXIT_UNKNOWN
    snap = monitor.snapshot()
    print(render_json(snap) if args.format == "json" else render_text(snap, config.defaults))
    return int(snap.status)


# -- text -----------------------------------------------------------------------------------

_LABEL_UNSAFE = re.compile(r"['=\s]")


def _perf_label(prefix: str, check: CheckView) -> str:
    return _LABEL_UNSAFE.sub("_", f"{prefix}_{check.name}")


def _perfdata(prefix: str, view: TargetView, warn_days: int) -> list[str]:
    out = []
    for check in view.checks:
        if check.kind == "dns_hygiene":
            continue
        label = _perf_label(prefix, check)
        if check.ok and check.latency_ms is not None:
            out.append(f"'{label}'={check.latency_ms:.1f}ms;;;0")
        else:
            out.append(f"'{label}'=U")
        days = check.facts.get("days_left") if check.kind == "tls" else None
        if isinstance(days, int):  # Nagios ranges: warn under warn_days, critical once expired
            out.append(f"'{prefix}_cert_days'={days};{warn_days}:;1:")
    return out


def _site_line(site: SiteView, defaults: Defaults) -> tuple[str, list[str]]:
    """The site's status text and its perfdata items."""
    total = len(site.nodes)
    parts = [f"VIP {site.vip.address} {site.vip.status_text}",
             f"{site.in_pool}/{total} nodes in pool"]
    if site.dns is not None:
        answers = sorted({a for addrs in site.dns.answers.values() for a in addrs})
        count = max([len(answers), *site.dns.totals.values()])
        parts.append(f"{site.array_fqdn} -> {listing(answers, count, sep=',') or 'no answer'}")
    summary = ", ".join(parts)
    if site.reasons:
        summary += " (" + "; ".join(site.reasons) + ")"
    perf = [f"'nodes_in_pool'={site.in_pool};;;0;{total}"]
    for node in site.nodes:
        perf.extend(_perfdata(node.subject, node, defaults.cert_warn_days))
        if node.lb is not None and node.lb.current_sessions is not None:
            label = _LABEL_UNSAFE.sub("_", f"{node.subject}_lb_sessions")
            perf.append(f"'{label}'={node.lb.current_sessions};;;0")
    perf.extend(_perfdata("vip", site.vip, defaults.cert_warn_days))
    if site.dns is not None:
        perf.extend(_perfdata("dns", site.dns.target, defaults.cert_warn_days))
        if site.dns.ttl is not None:
            perf.append(f"'dns_ttl'={site.dns.ttl}s;{defaults.dns_ttl_max};;0")
    return f"CASTUI {site.status.name} - {site.name}: {summary}", perf


def _fit(text: str, perf: list[str], room: int) -> str:
    """`text | perf...` in at most `room` bytes: the text first (cut, with `…`, to leave room
    for the first perfdata item), then whole perfdata items while they fit."""
    first = len(perf[0].encode()) + len(" | ") if perf else 0
    data = text.encode()
    if len(data) > room - first:
        cut = max(room - first - len("…".encode()), 0)
        text = data[:cut].decode("utf-8", errors="ignore") + "…"
    line = text
    used = len(text.encode())
    for index, item in enumerate(perf):
        extra = len(item.encode()) + (len(" | ") if index == 0 else 1)
        if used + extra > room:
            break
        line += (" | " if index == 0 else " ") + item
        used += extra
    return line


def render_text(snap: EstateSnapshot, defaults: Defaults) -> str:
    """One Nagios line per site, the most severe first, so the status line shows the worst;
    the first line within FIRST_LINE_BYTES, the whole within OUTPUT_BYTES (`+N more sites`)."""
    sites = sorted(snap.sites, key=lambda s: severity(s.status), reverse=True)
    lines: list[str] = []
    left = OUTPUT_BYTES
    for index, site in enumerate(sites):
        last = index == len(sites) - 1
        room = min(FIRST_LINE_BYTES if index == 0 else left, left - (0 if last else _RESERVE))
        if room < _RESERVE:
            lines.append(f"+{len(sites) - index} more sites")
            break
        line = _fit(*_site_line(site, defaults), room)
        lines.append(line)
        left -= len(line.encode()) + 1
    return "\n".join(lines)


# -- json -----------------------------------------------------------------------------------

def _target_json(view: TargetView) -> dict[str, Any]:
    return {"address": view.address, "state": view.state, "status_text": view.status_text,
            "checks": [c.as_dict() for c in view.checks]}


def _node_json(view: TargetView) -> dict[str, Any]:
    lb = None if view.lb is None else {
        "status": view.lb.status, "in_rotation": view.lb.in_rotation,
        "check_status": view.lb.check_status, "sessions": view.lb.current_sessions}
    return {"name": view.subject, **_target_json(view), "connections": view.connections,
            "direct": view.direct, "lb": lb, "maintenance": view.maintenance_by,
            "vdirs_out": list(view.vdirs_out), "left_inactive": list(view.left_inactive)}


def render_json(snap: EstateSnapshot) -> str:
    sites = []
    for site in snap.sites:
        entry: dict[str, Any] = {
            "name": site.name, "array_fqdn": site.array_fqdn, "status": site.status.name,
            "reasons": list(site.reasons),
            "vip": {**_target_json(site.vip), "answered_by": site.answered_by}, "dns": None,
            "nodes": [_node_json(n) for n in site.nodes], "lb_error": site.lb_error,
            "skew": site.skew}
        if site.dns is not None:
            entry["dns"] = {"servers": list(site.dns.servers), "answers": site.dns.answers,
                            "answer_counts": site.dns.totals, "ttl": site.dns.ttl,
                            "ok": site.dns.ok,
                            "checks": [c.as_dict() for c in site.dns.target.checks]}
        sites.append(entry)
    doc = {"status": snap.status.name,
           "time": iso(snap.time, "seconds"),
           "sites": sites}
    return json.dumps(doc, indent=2)
