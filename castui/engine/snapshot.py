"""Immutable views of the estate, handed to front-ends. Widgets and printers read only these.

Every verdict a front-end shows is here, computed once: a node's pool state and the mark that
explains it, whether the balancer disagrees, each resolver's answer against the VIP, the site's
status, reasons and load skew, whether polling lags. The console, `check`, `watch` and the
report print them; none of them decides one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from castui.config.model import Config
from castui.engine.audit.watch import SiteAudit
from castui.engine.balancer_view import disagrees
from castui.engine.maintenance import exchange_maintenance, left_inactive
from castui.engine.pace import PollPace
from castui.engine.pool import (
    HYGIENE_RULES,
    IN_POOL_STATES,
    TargetState,
    answer_of,
    hygiene_rules,
)
from castui.engine.sitewatch import SiteWatch
from castui.engine.slowness import is_slow
from castui.engine.targets import target_key
from castui.model.balancer import ServerView
from castui.model.events import SUBJECT_DNS, SUBJECT_VIP
from castui.model.marks import ExchangeMaintenance, MaintenanceMark
from castui.model.status import Status, worst
from castui.model.text import capped, listing

#: A site reason's length, and how many a site gives (what many bounded fields add up to).
REASON_LIMIT = 300
MAX_REASONS = 10


@dataclass(frozen=True, slots=True)
class CheckView:
    name: str
    kind: str
    role: str
    ok: bool | None
    code: str
    latency_ms: float | None
    detail: str
    facts: dict[str, Any]
    warning: str | None = None
    #: Passed, but slower than `slow_ms` (the console shows its time in the warning colour).
    slow: bool = False

    @property
    def phases(self) -> dict[str, float | None] | None:
        """An HTTPS check's `connect_ms`, `tls_ms` (None unless it opened the connection) and
        `request_ms` (castui.probes.https); None for other checks."""
        found = self.facts.get("phases")
        if not isinstance(found, dict):
            return None
        return {key: found.get(key) for key in ("connect_ms", "tls_ms", "request_ms")}

    def as_dict(self) -> dict[str, Any]:
        latency = None if self.latency_ms is None else round(self.latency_ms, 3)
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "role": self.role,
                               "ok": self.ok, "code": self.code, "latency_ms": latency}
        if (phases := self.phases) is not None:
            out.update(phases)
        out["detail"] = self.detail
        if self.warning:
            out["warning"] = self.warning
        return out


def _hygiene_views(ts: TargetState) -> list[CheckView]:
    """A site's DNS hygiene rules as checks of kind `dns_hygiene` (failing ones warn)."""
    return [CheckView(name=rule, kind="dns_hygiene", role="service",
                      ok=rule not in ts.hygiene, code="",
                      latency_ms=None, detail=ts.hygiene.get(rule, HYGIENE_RULES[rule]),
                      facts={}) for rule in hygiene_rules(ts.target)]


@dataclass(frozen=True, slots=True)
class TargetView:
    site: str
    subject: str
    kind: str
    address: str
    host: str | None
    state: str
    status_text: str
    checks: tuple[CheckView, ...]
    changed_at: datetime | None
    rounds: int
    #: The balancer's own view of this node, when a balancer is configured and answers.
    lb: ServerView | None = None
    #: The maintenance mark covering it now (its drops are expected); None when none does.
    maintenance: MaintenanceMark | None = None
    #: Whether it is flapping (its changes raise no alert until it is stable again).
    flapping: bool = False
    #: How long its last round took (seconds) and when it completed; None before any round.
    round_s: float | None = None
    last_round_at: datetime | None = None
    #: Exchange's own maintenance on the node, as its agent says (its drops are expected, as
    #: under a castui mark); None when Exchange says none or nobody asked it.
    exchange_maintenance: ExchangeMaintenance | None = None
    #: Components Exchange holds Inactive outside maintenance, with who holds them.
    left_inactive: tuple[str, ...] = ()
    #: Whether the node's agent reports Exchange's component states at all.
    components_known: bool = False
    #: With `lb_scope = "vdir"`: the pool vdirs out while the node is in for the others.
    vdirs_out: tuple[str, ...] = ()

    @property
    def in_maintenance(self) -> bool:
        """Under a castui mark or in Exchange's own maintenance: its drops are expected."""
        return self.maintenance is not None or self.exchange_maintenance is not None

    @property
    def maintenance_by(self) -> str | None:
        """What explains its drops, in words: `castui mark Site-A/CAS2`, or `Exchange says
        ServerWideOffline Inactive (Maintenance)`; None when nothing does."""
        if self.maintenance is not None:
            return f"castui mark {self.maintenance.target}"
        return None if self.exchange_maintenance is None else self.exchange_maintenance.describe()

    @property
    def lb_holds_healthy(self) -> bool:
        """The balancer holds the node out while Exchange says Active and its pages answer 200:
        a balancer (or its check) at fault, not Exchange."""
        return (self.lb is not None and not self.lb.in_rotation and self.state == "up"
                and self.components_known and self.exchange_maintenance is None)
    #: Whether its counter is between states (HAProxy's `UP 2/3`, `DOWN 1/2`).
    transitional: bool = False
    #: In the pool, but the VIP's samples never came from it (drained behind a balancer
    #: castui cannot read, or skipped): it looks drained.
    vip_skips: bool = False

    @property
    def trouble(self) -> int:
        """How much this target needs looking at: 0 when it is plainly UP, higher the worse
        (down, transitional, degraded, disagreeing with the balancer, in maintenance or
        flapping, not probed yet). The console sorts and filters nodes by it."""
        if self.state == "down":
            return 6
        if self.transitional:
            return 5
        if self.state not in ("up", "unknown"):  # degraded, and any partial state
            return 4
        if self.lb_disagrees or self.vip_skips:
            return 3
        if self.in_maintenance or self.flapping:
            return 2
        return 1 if self.state == "unknown" else 0

    @property
    def maintenance_until(self) -> datetime | None:
        """Until when its maintenance mark applies; None when no mark covers it."""
        return None if self.maintenance is None else self.maintenance.until()

    @property
    def lb_disagrees(self) -> bool:
        """Does the balancer route where castui would not, or not where castui would?

        False when either verdict is missing. The engine's rule: front-ends only show it.
        """
        return self.lb is not None and disagrees(self.state, self.lb)

    @property
    def lb_operator_set(self) -> bool:
        """The balancer holds it out by an operator's DRAIN / MAINT: expected, not alarming."""
        return self.lb is not None and self.lb.admin and not self.lb.in_rotation

    @property
    def connections(self) -> int | None:
        """Established client connections reported by the node's agent; None when unknown."""
        check = next((c for c in self.checks if c.kind == "agent"), None)
        if check is None or not check.ok:
            return None
        ports = check.facts.get("connections", {})
        return sum(int(p.get("established", 0)) for p in ports.values() if isinstance(p, dict))

    @property
    def direct(self) -> int | None:
        """Clients connected to this node without the balancer (they lose Outlook when it
        goes down), from its agent with the site's `balancer_addresses`; None when unknown."""
        check = next((c for c in self.checks if c.kind == "agent"), None)
        found = check.facts.get("direct") if check is not None and check.ok else None
        return int(found["clients"]) if isinstance(found, dict) else None

    @classmethod
    def of(cls, ts: TargetState, slow_ms: float | None = None) -> TargetView:
        """The view of `ts`; with `slow_ms`, passing checks slower than that are `slow`."""
        checks = []
        for check in ts.checks.values():
            last = check.last
            checks.append(CheckView(
                name=check.spec.name, kind=check.spec.kind, role=check.spec.role,
                ok=None if last is None else last.ok,
                code="" if last is None else last.code,
                latency_ms=None if last is None else last.latency_ms,
                detail="not probed yet" if last is None else last.detail,
                facts={} if last is None else dict(last.facts),
                warning=None if last is None else last.warning,
                slow=slow_ms is not None and is_slow(last, slow_ms)))
        if ts.rounds:
            checks.extend(_hygiene_views(ts))
        t = ts.target
        return cls(t.site, t.subject, t.kind, t.address, t.host, ts.state, ts.status_text,
                   tuple(checks), ts.changed_at, ts.rounds, round_s=ts.round_s,
                   last_round_at=ts.last_round_at,
                   exchange_maintenance=exchange_maintenance(ts.components),
                   left_inactive=tuple(left_inactive(ts.components)),
                   components_known=ts.components is not None, vdirs_out=ts.partial,
                   transitional=ts.counter.transitional)

    def in_pool(self) -> bool:
        return self.state in IN_POOL_STATES


@dataclass(frozen=True, slots=True)
class DnsView:
    """A site's DNS picture: what each resolver answered for the array FQDN."""

    servers: tuple[str, ...]
    answers: dict[str, list[str]]
    ttl: int | None
    ok: bool | None
    target: TargetView
    #: Outside resolvers (which must not resolve the name) and the hygiene rules, as checks.
    external: tuple[CheckView, ...] = ()
    hygiene: tuple[CheckView, ...] = ()
    #: Resolver -> how many addresses it answered (`answers` keeps the first few).
    totals: dict[str, int] = field(default_factory=dict)
    #: Resolver -> whether its answer holds the VIP (the console's ✓ or ✗ after it).
    matches_vip: Mapping[str, bool] = field(default_factory=dict)
    #: Resolver -> the site whose VIP its answer holds (this site's own, or another's, as
    #: after a DR switchover), when it holds one.
    vip_sites: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, view: TargetView, vips: Mapping[str, str] | None = None) -> DnsView:
        """The DNS picture of `view`; `vips` (address -> site) names whose VIP each answer is."""
        internal = [c for c in view.checks if c.kind == "dns" and c.role == "pool"]
        answers: dict[str, list[str]] = {}
        totals: dict[str, int] = {}
        ttls: list[int] = []
        for check in internal:
            addresses, totals[check.name] = answer_of(check.facts)
            answers[check.name] = list(addresses)
            ttl = check.facts.get("ttl")
            if isinstance(ttl, int):
                ttls.append(ttl)
        ok = all(c.ok for c in internal) if view.rounds > 0 and internal else None
        vips = vips or {}
        return cls(tuple(c.name for c in internal), answers, min(ttls) if ttls else None, ok,
                   view, tuple(c for c in view.checks if c.kind == "dns" and c.role != "pool"),
                   tuple(c for c in view.checks if c.kind == "dns_hygiene"), totals,
                   {c.name: c.ok is True for c in internal},
                   {server: site for server, addrs in answers.items()
                    for site in [next((vips[a] for a in addrs if a in vips), None)]
                    if site is not None})


@dataclass(frozen=True, slots=True)
class SiteView:
    name: str
    array_fqdn: str
    vip: TargetView
    dns: DnsView | None
    nodes: tuple[TargetView, ...]
    status: Status
    reasons: tuple[str, ...]
    #: Why the balancer could not be read, when one is configured.
    lb_error: str | None = None
    #: The connection skew finding, when connections are known ("CAS1 holds 80% of ...").
    skew: str | None = None
    #: Node -> answers through the VIP in the last sampling round (Exchange 2013+).
    answered_by: dict[str, int] | None = None
    #: What `castui audit` says of the site's Exchange configuration, with `exchange_export`.
    audit: SiteAudit | None = None
    #: Whether the engine calls that skew a problem (then it is one of the `reasons` too).
    skewed: bool = False

    @property
    def in_pool(self) -> int:
        return sum(1 for node in self.nodes if node.in_pool())

    @property
    def by_trouble(self) -> tuple[str, ...]:
        """The nodes' names, most troubled first, config order among equals (a stable sort):
        what needs looking at is at the top of every list, at every size."""
        ranked = sorted(enumerate(self.nodes), key=lambda pair: (-pair[1].trouble, pair[0]))
        return tuple(node.subject for _, node in ranked)

    @property
    def problems(self) -> tuple[str, ...]:
        """The nodes that are not plainly UP, most troubled first."""
        troubled = {node.subject for node in self.nodes if node.trouble}
        return tuple(name for name in self.by_trouble if name in troubled)

    @property
    def troubled(self) -> bool:
        """Whether anything of the site needs looking at (its status, a node, the VIP)."""
        return self.status is not Status.OK or bool(self.problems) or self.vip.trouble > 1


@dataclass(frozen=True, slots=True)
class EstateSnapshot:
    time: datetime
    sites: tuple[SiteView, ...]
    status: Status
    #: Seconds the slowest target's last round took (None before any), against the interval.
    slowest_round: float | None = None
    interval: float = 0.0
    #: Whether rounds overrun the interval (the engine's `poll_lagging` until `poll_caught_up`).
    lagging: bool = False
    #: Targets (nodes, VIPs, DNS names) that have not completed their first round, of `targets`.
    pending: int = 0
    targets: int = 0

    @property
    def starting(self) -> bool:
        """Until every target's first full round: no status yet, however the others look."""
        return self.pending > 0

    @property
    def headline(self) -> Status:
        """The status to lead with: UNKNOWN while starting (a half-probed estate is neither
        CRITICAL because nodes are not probed yet nor OK because some are), else `status`."""
        return Status.UNKNOWN if self.starting else self.status

    @property
    def worst_site(self) -> str | None:
        """The first site (config order) of the worst status, when that is not OK."""
        if self.starting or self.status in (Status.OK, Status.UNKNOWN):
            return None
        return next((site.name for site in self.sites if site.status is self.status), None)


def build_estate(config: Config, states: Mapping[str, TargetState],
                 watches: Mapping[str, SiteWatch], explained: Callable[[TargetView], TargetView],
                 pace: PollPace, now: datetime) -> EstateSnapshot:
    """The snapshot of every site, in config order. `explained` adds what explains a node's or
    a VIP's changes (its maintenance mark, whether it flaps)."""
    sites = []
    vips = {site.vip: site.name for site in config.sites}
    for site in config.sites:
        watch = watches[site.name]
        slow_ms = config.defaults.slow_threshold_ms
        nodes = tuple(explained(replace(
            TargetView.of(states[target_key(site.name, n.name)], slow_ms),
            lb=watch.lb_views.get(n.name))) for n in site.nodes)
        vip_state = states[target_key(site.name, SUBJECT_VIP)]
        dns_state = states.get(target_key(site.name, SUBJECT_DNS))
        skew = watch.skew.last
        sites.append(build_site(
            site.name, site.array_fqdn, explained(TargetView.of(vip_state, slow_ms)),
            TargetView.of(dns_state) if dns_state else None, nodes, lb_error=watch.lb_error,
            skew=skew.describe() if skew else None, skewed=watch.skew.skewed,
            answered_by=dict(watch.sampling.answered) if "vip_sample" in vip_state.checks
            else None, skipped=tuple(sorted(watch.sampling.warned)),
            loose=tuple(watch.loose_checks.values()), vips=vips))
    return EstateSnapshot(now, tuple(sites), worst(s.status for s in sites),
                          slowest_round=pace.slowest, interval=pace.interval,
                          lagging=pace.lagging,
                          pending=sum(1 for ts in states.values() if ts.rounds == 0),
                          targets=len(states))


def build_site(name: str, array_fqdn: str, vip: TargetView, dns: TargetView | None,
               nodes: tuple[TargetView, ...], *, lb_error: str | None = None,
               skew: str | None = None, skewed: bool = False,
               answered_by: dict[str, int] | None = None,
               skipped: tuple[str, ...] = (), loose: tuple[str, ...] = (),
               vips: Mapping[str, str] | None = None) -> SiteView:
    dns_view = DnsView.of(dns, vips) if dns is not None else None
    nodes = tuple(replace(n, vip_skips=True) if n.subject in skipped else n for n in nodes)
    warnings = [f"{view.subject} {check.name}: {check.warning}"
                for view in (*nodes, vip) for check in view.checks if check.warning]
    if dns_view is not None:
        warnings += [f"DNS {c.name}: {c.detail}" for c in dns_view.hygiene if c.ok is False]
    if skewed and skew:
        warnings.append(f"load skewed: {skew}")
    warnings += [f"{node} in pool but never answers through the VIP" for node in skipped]
    for n in nodes:
        if n.lb is not None and n.lb_holds_healthy:
            warnings.append(f"{n.subject}: balancer holds it out ({n.lb.status}) while Exchange "
                            "says Active and its pages answer 200")
        elif n.lb is not None and n.lb_disagrees:
            warnings.append(f"{n.subject}: balancer says {n.lb.status}, castui {n.status_text}")
        warnings += [f"{n.subject}: component {c} Inactive outside maintenance"
                     for c in n.left_inactive]
    warnings += list(loose)
    status, reasons = site_status(vip, dns_view.ok if dns_view else None,
                                  dns_view.answers if dns_view else {}, nodes, warnings,
                                  dns_view.totals if dns_view else {})
    return SiteView(name, array_fqdn, vip, dns_view, nodes, status, reasons, lb_error, skew,
                    answered_by, skewed=bool(skewed and skew))


def site_status(vip: TargetView, dns_ok: bool | None, answers: Mapping[str, Sequence[str]],
                nodes: Sequence[TargetView], warnings: Sequence[str] = (),
                totals: Mapping[str, int] | None = None) -> tuple[Status, tuple[str, ...]]:
    """The site's status and the reasons for it, most severe first, bounded (REASON_LIMIT,
    MAX_REASONS).

    `warnings` are findings that never make a site critical: a certificate expiring soon, a
    DNS hygiene rule broken. `totals` says how many addresses each resolver answered.
    """
    critical: list[str] = []
    warning: list[str] = []
    if vip.state == "unknown" and all(node.state == "unknown" for node in nodes):
        return Status.UNKNOWN, ("not probed yet",)
    if vip.state == "down":
        critical.append(f"VIP {vip.address} {vip.status_text}")
    healthy = [node for node in nodes if node.state == "up"]
    if not healthy:
        critical.append("no healthy node")
    if dns_ok is False:
        said = "; ".join(
            f"{server} says {listing(addrs, (totals or {}).get(server), sep=',') or 'nothing'}"
            for server, addrs in answers.items())
        critical.append(f"array FQDN does not resolve to the VIP ({said})")
    for node in nodes:
        if node.state in ("down", "degraded", "partial"):
            exchange = node.exchange_maintenance
            warning.append(f"{node.subject} {node.status_text}"
                           + (f" ({exchange.describe()})" if exchange is not None else ""))
    warning.extend(warnings)
    if critical:
        return Status.CRITICAL, capped((*critical, *warning), REASON_LIMIT, MAX_REASONS)
    if warning:
        return Status.WARNING, capped(warning, REASON_LIMIT, MAX_REASONS)
    return Status.OK, ()

