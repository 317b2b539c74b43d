"""The engine's snapshot as Prometheus metrics: a custom collector, read at scrape time.

Nothing here runs on the probing path: a scrape takes one `Reading` (the snapshot, the event
counts, the unacknowledged alerts) and turns it into metric families. The names and labels are a
contract (docs/metrics.md): dashboards and alert rules are written against them.

Every label value goes through `castui.model.text.clean` (no control characters, bounded
length); prometheus_client escapes quotes, backslashes and newlines in the exposition itself.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from castui import __version__
from castui.engine.monitor import Monitor
from castui.engine.snapshot import CheckView, EstateSnapshot, SiteView, TargetView
from castui.model.events import Event, Kind
from castui.model.results import Code
from castui.model.text import clean

#: The one-hot states of `castui_node_state`, in HAProxy's sense of MAINT.
NODE_STATES = ("up", "down", "degraded", "partial", "maint", "unknown")
#: The fixed set of `code` values of `castui_probe_failure_info`; anything else reads OTHER.
FAILURE_CODES = frozenset(value for name, value in vars(Code).items() if name.isupper())
#: Every event kind, so each (site, kind) counter starts at 0 and `increase()` sees the first.
EVENT_KINDS = tuple(sorted(value for name, value in vars(Kind).items() if name.isupper()))
#: Longest label value: names are short; anything longer came from a peer.
LABEL_LIMIT = 120


@dataclass(frozen=True, slots=True)
class Reading:
    """What one scrape reports, taken at once on the engine's event loop."""

    snapshot: EstateSnapshot
    events: Mapping[tuple[str, str], int]
    unacknowledged: Mapping[str, int]
    version: str = __version__


class EventCounter:
    """Events since this process started, by (site, kind): `castui_events_total`.

    Fed by `Monitor.subscribe`, so it counts exactly what was committed to the history, with
    no query per scrape; a Prometheus counter starts again at 0 with the process, as they do.
    """

    def __init__(self, sites: Iterable[str]) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        for site in sites:
            for kind in EVENT_KINDS:
                self.counts[(site, kind)] = 0

    def __call__(self, event: Event) -> None:
        self.counts[(event.site, event.kind)] += 1


def read_monitor(monitor: Monitor, counter: EventCounter) -> Reading:
    """The monitor's state now. Call it on the monitor's event loop: it is consistent there."""
    unacked = Counter(alert.event.site for alert in monitor.alerts if not alert.acknowledged)
    return Reading(monitor.snapshot(), dict(counter.counts),
                   {site.name: unacked[site.name] for site in monitor.config.sites})


class CastuiCollector(Collector):
    """prometheus_client collector over whatever `read` returns at collect time."""

    def __init__(self, read: Callable[[], Reading]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        yield from families(self._read())


@lru_cache(maxsize=4096)
def label(text: str) -> str:
    """A label value: cleaned of control characters and bounded (cached: names repeat)."""
    return clean(text, LABEL_LIMIT)


def _epoch(when: datetime | None) -> float | None:
    return None if when is None else when.timestamp()


# --- derived here until the snapshot carries them (one place to switch) -------------------

def node_state(view: TargetView) -> str:
    """The word of `castui_node_state`: `maint` while a castui maintenance mark covers the
    node or Exchange has it in maintenance, else the engine's state."""
    if view.in_maintenance:
        return "maint"
    return view.state if view.state in NODE_STATES else "unknown"


def answer_is_vip(addresses: Sequence[str], vip: str) -> bool:
    """Does a resolver's answer hold the VIP? The DNS probe's own rule (same address)."""
    try:
        wanted = ipaddress.ip_address(vip)
    except ValueError:
        return vip in addresses
    for address in addresses:
        try:
            if ipaddress.ip_address(address) == wanted:
                return True
        except ValueError:
            continue
    return False


# --- the families -------------------------------------------------------------------------

class _Families:
    """One scrape's metric families, filled site by site."""

    def __init__(self) -> None:
        g = GaugeMetricFamily
        self.success = g("castui_probe_success", "Whether the check passed in its last round",
                         labels=["site", "target", "check"])
        self.duration = g("castui_probe_duration_seconds", "How long the check's last probe took",
                          labels=["site", "target", "check"])
        self.status = g("castui_probe_http_status_code",
                        "HTTP status of the check's last answer (0: no answer)",
                        labels=["site", "target", "check"])
        self.failure = g("castui_probe_failure_info",
                         "Present while the check fails, with castui's result code",
                         labels=["site", "target", "check", "code"])
        self.in_pool = g("castui_node_in_pool",
                         "Whether castui counts the node in the pool (up or degraded)",
                         labels=["site", "node"])
        self.state = g("castui_node_state", "The node's state, one-hot",
                       labels=["site", "node", "state"])
        self.since = g("castui_node_state_since_timestamp_seconds",
                       "When the node's state last changed", labels=["site", "node"])
        self.vip_up = g("castui_vip_up", "Whether the site's VIP is up", labels=["site"])
        self.share = g("castui_vip_answer_share",
                       "Share of the last VIP sampling round each node answered",
                       labels=["site", "node"])
        self.is_vip = g("castui_dns_answer_is_vip",
                        "Whether the resolver's answer for the array FQDN holds the VIP",
                        labels=["site", "resolver"])
        self.ttl = g("castui_dns_ttl_seconds", "TTL of the resolver's answer",
                     labels=["site", "resolver"])
        self.expiry = g("castui_tls_cert_expiry_timestamp_seconds",
                        "When the served certificate expires", labels=["site", "target"])
        self.connections = g("castui_node_connections",
                             "Established client connections the node's agent reports",
                             labels=["site", "node", "port"])
        self.lb = g("castui_lb_disagrees",
                    "Whether the balancer routes where castui would not, or the reverse",
                    labels=["site", "node"])
        self.unacked = g("castui_alerts_unacknowledged", "Alerts nobody acknowledged yet",
                         labels=["site"])
        self.maint = g("castui_maintenance",
                       "Whether a castui maintenance mark covers the node now",
                       labels=["site", "node"])
        self.round = g("castui_round_duration_seconds", "How long the target's last round took",
                       labels=["site", "target"])
        self.last_round = g("castui_last_round_timestamp_seconds",
                            "When the target's last round completed", labels=["site", "target"])
        self.events = CounterMetricFamily("castui_events", "Events recorded since start",
                                          labels=["site", "kind"])
        self.build = g("castui_build_info", "castui's version", labels=["version"])
        self._expiring: set[tuple[str, str]] = set()

    def all(self) -> list[Metric]:
        return [self.success, self.duration, self.status, self.failure, self.in_pool,
                self.state, self.since, self.vip_up, self.share, self.is_vip, self.ttl,
                self.expiry, self.connections, self.lb, self.unacked, self.maint, self.round,
                self.last_round, self.events, self.build]

    def site(self, site: SiteView) -> None:
        name = label(site.name)
        targets = [*site.nodes, site.vip] + ([site.dns.target] if site.dns else [])
        for view in targets:
            self.target(name, view)
        for node in site.nodes:
            self.node(name, node)
        if site.vip.state != "unknown":
            self.vip_up.add_metric([name], float(site.vip.in_pool()))
        if site.answered_by is not None:
            total = sum(site.answered_by.values())
            answered: Counter[str] = Counter({label(node.subject): 0 for node in site.nodes})
            for server, count in site.answered_by.items():
                answered[label(server)] += count  # names equal once cleaned are one series
            for node_name, count in sorted(answered.items()):
                self.share.add_metric([name, node_name], count / total if total else 0.0)
        if site.dns is not None and site.dns.ok is not None:
            self.dns(name, site)

    def target(self, site: str, view: TargetView) -> None:
        target = label(view.subject)
        for check in view.checks:
            if check.ok is not None and check.kind != "dns_hygiene":
                self.check(site, target, check)
        if view.round_s is not None:
            self.round.add_metric([site, target], view.round_s)
        if (last := _epoch(view.last_round_at)) is not None:
            self.last_round.add_metric([site, target], last)

    def check(self, site: str, target: str, check: CheckView) -> None:
        labels = [site, target, label(check.name)]
        self.success.add_metric(labels, float(bool(check.ok)))
        if check.latency_ms is not None:
            self.duration.add_metric(labels, check.latency_ms / 1000)
        if check.kind == "http":
            status = check.facts.get("status")
            self.status.add_metric(labels, float(status) if isinstance(status, int) else 0.0)
        if not check.ok:
            code = check.code if check.code in FAILURE_CODES else "OTHER"
            self.failure.add_metric([*labels, code], 1.0)
        after = check.facts.get("not_after") if check.kind == "tls" else None
        if isinstance(after, str) and (site, target) not in self._expiring:
            self._expiring.add((site, target))  # one series per target, whatever its checks
            with contextlib.suppress(ValueError):  # a date it could not read is no expiry
                self.expiry.add_metric([site, target], datetime.fromisoformat(after).timestamp())

    def node(self, site: str, view: TargetView) -> None:
        labels = [site, label(view.subject)]
        word = node_state(view)
        for state in NODE_STATES:
            self.state.add_metric([*labels, state], float(state == word))
        if view.state != "unknown":
            self.in_pool.add_metric(labels, float(view.in_pool()))
        if (since := _epoch(view.changed_at)) is not None:
            self.since.add_metric(labels, since)
        self.maint.add_metric(labels, float(view.maintenance_until is not None))
        if view.lb is not None:
            self.lb.add_metric(labels, float(view.lb_disagrees))
        agent = next((c for c in view.checks if c.kind == "agent" and c.ok), None)
        ports = agent.facts.get("connections", {}) if agent is not None else {}
        for port, counts in sorted(ports.items(), key=lambda item: str(item[0])):
            if isinstance(counts, dict) and isinstance(counts.get("established"), int):
                self.connections.add_metric([*labels, label(str(port))],
                                            float(counts["established"]))

    def dns(self, site: str, view: SiteView) -> None:
        assert view.dns is not None
        ttls = {c.name: c.facts.get("ttl") for c in view.dns.target.checks
                if c.kind == "dns" and c.role == "pool"}
        for resolver, addresses in view.dns.answers.items():
            labels = [site, label(resolver)]
            self.is_vip.add_metric(labels, float(answer_is_vip(addresses, view.vip.address)))
            if isinstance(ttl := ttls.get(resolver), int):
                self.ttl.add_metric(labels, float(ttl))


def families(reading: Reading) -> list[Metric]:
    """Every metric family of one reading."""
    out = _Families()
    for site in reading.snapshot.sites:
        out.site(site)
    for site_name, count in reading.unacknowledged.items():
        out.unacked.add_metric([label(site_name)], float(count))
    for (site_name, kind), count in sorted(reading.events.items()):
        out.events.add_metric([label(site_name), label(kind)], float(count))
    out.build.add_metric([label(reading.version)], 1.0)
    return out.all()
