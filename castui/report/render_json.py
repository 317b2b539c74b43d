"""The report as JSON for scripts: the measured figures, ISO-8601 UTC times, seconds.

Every key is always present (null when unknown), so a script can index without checking;
`format` names this layout and changes if a key's meaning ever does.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from castui.model.marks import MaintenanceMark
from castui.model.text import clean
from castui.model.times import iso, json_seconds
from castui.report.figures import (
    AlertEntry,
    DnsChange,
    FlapSpell,
    NodeDrop,
    Outage,
    OutAtStart,
    Report,
    SiteFigures,
)
from castui.report.gaps import Gap

FORMAT = "castui-report/1"


def render_json(report: Report) -> str:
    window = report.window
    drill = window.drill
    doc = {
        "format": FORMAT,
        "generated": iso(report.generated),
        "window": {
            "start": iso(window.start), "end": iso(window.end),
            "duration_s": json_seconds(window.seconds), "running": window.running,
            "not_observed_s": json_seconds(report.not_observed_s),
            "drill": None if drill is None else {
                "name": clean(drill.name, 80), "started_by": clean(drill.started_by, 80),
                "started": iso(drill.started), "ended": _t(drill.ended)},
        },
        "gaps": [_gap(g) for g in report.gaps],
        "sites": [_site(site) for site in report.sites],
        "alerts": [_alert(a) for a in report.alerts],
        "alerts_left_out": report.alerts_left_out,
        "events_truncated": report.events_truncated,
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def _site(site: SiteFigures) -> dict[str, Any]:
    return {
        "name": site.name,
        "summary": {
            "nodes_dropped": len(site.drops),
            "worst_detection_s": json_seconds(site.worst_detection_s),
            "vip_outages": len(site.vip.outages),
            "vip_outage_total_s": json_seconds(site.vip.total_s),
            "vip_outage_longest_s": json_seconds(site.vip.longest_s),
            "dns_resolvers_changed": list(site.resolvers_changed),
        },
        "node_drops": [_drop(d) for d in site.drops],
        "out_at_start": [_at_start(o) for o in site.out_at_start],
        "vip": {
            "outages": [_interval(o) for o in site.vip.outages],
            "total_s": json_seconds(site.vip.total_s),
            "longest_s": json_seconds(site.vip.longest_s),
            "castui_down": [_interval(o) for o in site.vip.down_spells],
        },
        "dns_changes": [_dns(c) for c in site.dns_changes],
        "flapping": [_flap(f) for f in site.flapping],
        "maintenance": [_mark(m) for m in site.maintenance],
    }


def _drop(d: NodeDrop) -> dict[str, Any]:
    return {
        "node": d.node, "first_failed": _t(d.first_failed), "declared_out": iso(d.declared_out),
        "detection_s": json_seconds(d.detection_s), "lb_marked_down": _t(d.lb_marked_down),
        "lb_detection_s": json_seconds(d.lb_detection_s), "back_in_pool": _t(d.back_in_pool),
        "out_of_pool_s": json_seconds(d.out_of_pool_s), "ongoing": d.ongoing,
        "expected": d.expected,
        "flapping": d.flapping, "load": str(d.load), "load_back_s": json_seconds(d.load_back_s),
        "detail": d.detail, "unobserved": d.unobserved,
    }


def _at_start(o: OutAtStart) -> dict[str, Any]:
    return {"node": o.node, "since": _t(o.since), "back_in_pool": _t(o.back_in_pool)}


def _interval(o: Outage) -> dict[str, Any]:
    return {"start": iso(o.start), "end": iso(o.end), "duration_s": json_seconds(o.duration_s),
            "ongoing": o.ongoing}


def _dns(c: DnsChange) -> dict[str, Any]:
    return {"server": c.server, "time": iso(c.time), "old": list(c.old), "new": list(c.new),
            "after_s": json_seconds(c.after_s)}


def _flap(f: FlapSpell) -> dict[str, Any]:
    return {"node": f.node, "start": iso(f.start), "end": iso(f.end), "ongoing": f.ongoing,
            "changes": f.changes, "window_s": json_seconds(f.window_s)}


def _mark(m: MaintenanceMark) -> dict[str, Any]:
    return {"target": clean(m.target, 160), "starts": iso(m.starts), "until": iso(m.until()),
            "set_by": clean(m.set_by, 80), "reason": clean(m.reason), "cleared": _t(m.cleared)}


def _alert(a: AlertEntry) -> dict[str, Any]:
    return {"id": a.id, "time": iso(a.time), "site": a.site, "subject": a.subject,
            "event": a.kind, "detail": a.detail, "acked_at": _t(a.acked_at),
            "acked_by": a.acked_by}


def _gap(g: Gap) -> dict[str, Any]:
    return {"start": iso(g.start), "end": iso(g.end), "duration_s": json_seconds(g.duration_s),
            "ongoing": g.ongoing, "why": g.why}


def _t(when: datetime | None) -> str | None:
    return None if when is None else iso(when)
