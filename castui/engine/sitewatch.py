"""Per-site views that span nodes: connection skew, who answers through the VIP, and the
load balancer's own verdict beside castui's.

The monitor calls `after_round` whenever a target's round completes and `poll_balancer` every
interval; both return the events the rules raise. Reading the balancer is the only I/O here,
through the adapter boundary (castui.balancers), so KEMP or F5 slot in without touching this.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path

from castui.balancers import HAProxyAdapter, LoadBalancerAdapter, find_server
from castui.config.model import Config, Site
from castui.engine.balancer_view import LbComparison, default_grace
from castui.engine.pool import IN_POOL_STATES, TargetState
from castui.engine.skew import SkewWatch, VipSampling, match_node
from castui.engine.targets import target_key
from castui.model.balancer import AdminState, ServerView
from castui.model.errors import LbError
from castui.model.events import Event, Kind
from castui.model.text import clean
from castui.model.times import iso

#: The longest "why the balancer cannot be read" (it quotes the balancer's reply).
LB_ERROR_LIMIT = 300


class SetupError(Exception):
    """Something the monitor needs cannot be had (a secret file); one line, for the CLI."""


def read_secret(path: Path) -> str:
    """The first line of a secret file; SetupError if unreadable or empty."""
    try:
        text = path.read_text(encoding="utf-8-sig").strip().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise SetupError(f"cannot read {path}: {getattr(err, 'strerror', None) or err}") from None
    if not text or not text[0].strip():
        raise SetupError(f"{path} is empty")
    return text[0].strip()


def make_adapter(site: Site, config: Config) -> LoadBalancerAdapter | None:
    lb = site.lb
    if lb is None:
        return None
    auth = None
    if lb.stats_user is not None and lb.stats_password_file is not None:
        auth = (lb.stats_user, read_secret(lb.stats_password_file))
    d = config.defaults
    return HAProxyAdapter(stats_url=lb.stats_url, socket=lb.socket, auth=auth,
                          timeout=lb.timeout or d.timeout, ca_file=d.ca_file,
                          tls_verify=d.tls_verify)


class SiteWatch:
    def __init__(self, site: Site, config: Config) -> None:
        d = config.defaults
        self.site = site
        self.adapter = make_adapter(site, config)
        self.skew = SkewWatch(site.name, d.skew_max, d.skew_min_connections)
        self.sampling = VipSampling(site.name)
        grace = d.lb_grace if d.lb_grace is not None else default_grace(d.interval, d.fall)
        self.comparisons = {node.name: LbComparison(site.name, node.name, grace)
                            for node in site.nodes}
        self.lb_views: dict[str, ServerView | None] = {}
        #: Whether the balancer routed to each node at the last reading (a drill's "when did
        #: the balancer mark it down").
        self._routed: dict[str, bool] = {}
        self.lb_error: str | None = None
        #: `lb_check_loose` findings in force: backend -> what is wrong with its health check.
        self.loose_checks: dict[str, str] = {}
        self._fqdns = {node.name: node.fqdn for node in site.nodes}

    def after_round(self, state: TargetState, states: Mapping[str, TargetState],
                    now: datetime) -> list[Event]:
        """Site-wide rules that a round of `state` may change."""
        kind = state.target.kind
        if kind == "node" and "agent" in state.checks:
            counts = {}
            for node in self.site.nodes:
                ts = states[target_key(self.site.name, node.name)]
                total = connections(ts)
                if ts.state in IN_POOL_STATES and total is not None:
                    counts[node.name] = total
            event = self.skew.observe(counts, now)
            return [event] if event else []
        if kind == "vip" and "vip_sample" in state.checks:
            sample = state.checks["vip_sample"].last
            raw = sample.facts.get("answered_by", {}) if sample is not None else {}
            answered: dict[str, int] = {}
            for server, count in raw.items():
                name = match_node(server, self._fqdns) or server
                answered[name] = answered.get(name, 0) + count
            in_pool = {n.name for n in self.site.nodes
                       if states[target_key(self.site.name, n.name)].state in IN_POOL_STATES}
            return self.sampling.observe(answered, in_pool, now)
        return []

    async def poll_balancer(self, states: Mapping[str, TargetState],
                            now: datetime) -> list[Event]:
        """Read the balancer once and compare its verdict with castui's, node by node."""
        if self.adapter is None or self.site.lb is None:
            return []
        events = []
        try:
            views = await self.adapter.servers()
        except LbError as err:
            return self._unreadable(str(err), now)
        except Exception as err:  # an adapter's slip over a strange reply must not stop us
            return self._unreadable(f"{self.adapter.name}: unusable reply ({type(err).__name__}:"
                                    f" {clean(str(err), 120)})", now)
        if self.lb_error is not None:
            events.append(Event(now, self.site.name, "lb", Kind.LB_REACHABLE,
                                "balancer answers again"))
            self.lb_error = None
        for node in self.site.nodes:
            view = find_server(views, self.site.lb.backend, self.site.lb.server_for(node.name))
            self.lb_views[node.name] = view
            if view is not None and (marked := self._marked(node.name, view, now)):
                events.append(marked)
            state = states[target_key(self.site.name, node.name)].state
            event = self.comparisons[node.name].observe(state, view, now)
            if event is not None:
                events.append(event)
        events.extend(self._loose(now))
        return events

    def _loose(self, now: datetime) -> list[Event]:
        """`lb_check_loose`: the site's backend passes a server on a redirect (its check does
        not pin the status, or asks `/`), found once and kept as a site warning while seen."""
        backend = self.site.lb.backend if self.site.lb is not None else ""
        found = next((view.loose_check for view in self.lb_views.values()
                      if view is not None and view.loose_check), None)
        before = self.loose_checks.get(backend)
        if found is None:
            self.loose_checks.pop(backend, None)
            return []
        self.loose_checks[backend] = f"lb_check_loose: backend {backend}: {found}"
        if before is not None:
            return []
        return [Event(now, self.site.name, "lb", Kind.LB_CHECK_LOOSE,
                      f"backend {backend}: {found}", data={"backend": backend})]

    def _unreadable(self, why: str, now: datetime) -> list[Event]:
        """The balancer's trouble: `lb_unreachable` once, its verdicts unknown meanwhile (never
        a node failure)."""
        events = []
        why = clean(why, LB_ERROR_LIMIT)
        if self.lb_error is None:
            events.append(Event(now, self.site.name, "lb", Kind.LB_UNREACHABLE, why))
        self.lb_error = why
        self.lb_views = {}
        return events

    def _marked(self, node: str, view: ServerView, now: datetime) -> Event | None:
        """`lb_down` / `lb_up` when the balancer starts or stops routing to `node`, dated by
        the balancer's own last-change counter when it has one."""
        before = self._routed.get(node)
        self._routed[node] = view.in_rotation
        if before is None or before == view.in_rotation:
            return None
        changed = now
        if view.last_change_s is not None and 0 <= view.last_change_s < 86400:
            changed = now - timedelta(seconds=view.last_change_s)
        data = {"changed_at": iso(changed),
                "lb_status": view.status}
        if view.in_rotation:
            return Event(now, self.site.name, node, Kind.LB_UP,
                         f"balancer routes to {node} again ({view.status})", data=data)
        return Event(now, self.site.name, node, Kind.LB_DOWN,
                     f"balancer marked {node} {view.status}"
                     + (f" ({view.check_status})" if view.check_status else ""), data=data)

    async def set_server_state(self, node: str, state: AdminState, now: datetime) -> Event:
        """Drain / ready / maint one node on the balancer; LbError on trouble."""
        if self.adapter is None or self.site.lb is None:
            raise LbError(f"{self.site.name} has no balancer configured")
        server = self.site.lb.server_for(node)
        await self.adapter.set_state(self.site.lb.backend, server, state)
        return Event(now, self.site.name, node, Kind.LB_ADMIN,
                     f"set {self.site.lb.backend}/{server} state {state} from castui",
                     data={"state": state})


def connections(state: TargetState) -> int | None:
    """Established client connections the node's agent reports, over every watched port."""
    check = state.checks.get("agent")
    if check is None or check.last is None or not check.last.ok:
        return None
    ports = check.last.facts.get("connections", {})
    return sum(int(p.get("established", 0)) for p in ports.values() if isinstance(p, dict))
