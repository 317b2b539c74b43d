"""The monitor: probes every target every interval and turns what it sees into events.

Each target has its own loop, so a black-holed node never delays another's round, and a target
is never probed twice at once: its next round is scheduled only when the last one is done
(Dolphie's rule). Loops start at random phases, with a little jitter per round, so checks do not
fire in lock-step. Every event is committed to the history store before any listener sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import itertools
import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from castui.config.model import Config
from castui.engine.alerts import AlertBook, is_alert
from castui.engine.flapping import FlapWatch
from castui.engine.history_port import HistoryStore
from castui.engine.pool import TargetState, fold_round
from castui.engine.runner import Runner
from castui.engine.sitewatch import SiteWatch, read_secret
from castui.engine.snapshot import EstateSnapshot, TargetView, build_site
from castui.engine.targets import Target, build_targets
from castui.model.alerts import Alert
from castui.model.balancer import AdminState
from castui.model.errors import HistoryError, LbError
from castui.model.events import ALL_SITES, SUBJECT_DRILL, Event, Kind
from castui.model.marks import Drill, MaintenanceMark
from castui.model.results import ProbeResult
from castui.model.status import worst
from castui.model.times import iso, utcnow
from castui.notify import Dispatcher
from castui.probes import make_http_client
from castui.probes.http import tls_context

log = logging.getLogger(__name__)

EventListener = Callable[[Event], None]
AlertListener = Callable[[Alert], None]
T = TypeVar("T")

#: Spread of each round's start around its slot, as a share of the interval.
JITTER = 0.05
#: Alerts loaded from the history at start (the console's alert list), newest first.
ALERTS_KEPT = 1000
#: How often maintenance marks are re-read from the history, which `castui maint` in another
#: process may have changed (seconds).
MARKS_REFRESH_S = 1.0
#: Longer than this is not maintenance but an outage somebody forgot: the limit every front-end
#: applies to a maintenance mark.
MAX_MAINTENANCE = timedelta(days=7)
#: Drill names go into reports, change records and file names: one short line.
DRILL_NAME_MAX = 60
#: Events about these subjects are never "in maintenance": they are the workflow itself.
_WORKFLOW_KINDS = frozenset({Kind.MAINT_SET, Kind.MAINT_CLEARED, Kind.DRILL_STARTED,
                             Kind.DRILL_ENDED, Kind.NOTIFY_FAILED, Kind.MONITOR_STARTED})


def current_user() -> str:
    """Who is at the keyboard, for acknowledgements, drills and maintenance marks."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no USER variable (a bare container)
        return "unknown"


class Monitor:
    """Runs the estate's checks and keeps pool state; front-ends subscribe and read snapshots."""

    def __init__(self, config: Config, *, store: HistoryStore | None = None,
                 rng: random.Random | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.config = config
        self.store = store
        self._rng = rng or random.Random()
        self._clock = clock
        d = config.defaults
        self.targets: list[Target] = build_targets(config)
        self.states: dict[str, TargetState] = {
            t.key: TargetState.new(t, d.rise, d.fall) for t in self.targets}
        self.alerts = AlertBook(ALERTS_KEPT)
        self._alert_ids = itertools.count(1)
        self.flaps = FlapWatch(d.flap_changes, d.flap_window, d.flap_quiet)
        self.user = current_user()
        self._marks: list[MaintenanceMark] = []
        self._marks_read = -MARKS_REFRESH_S
        self._bell: Callable[[], None] | None = None
        self.dispatcher = Dispatcher(config.notifiers, on_failure=self._notify_failed,
                                     bell=self._ring) if config.notifiers else None
        self.drill: Drill | None = None
        if store is not None:
            for stored in reversed(store.alerts(limit=ALERTS_KEPT)):
                self.alerts.add(stored)
            self.drill = store.open_drill()
        self._listeners: list[EventListener] = []
        self._alert_listeners: list[AlertListener] = []
        self._round_listeners: list[Callable[[TargetState], None]] = []
        self._wake = asyncio.Event()
        self.sites = {site.name: SiteWatch(site, config) for site in config.sites}
        self._agent_tokens = {node.agent: read_secret(node.agent_token_file)
                              for site in config.sites for node in site.nodes
                              if node.agent and node.agent_token_file}

    def subscribe(self, listener: EventListener) -> None:
        """Call `listener` with every event, after it is committed to history."""
        self._listeners.append(listener)

    def subscribe_alerts(self, listener: AlertListener) -> None:
        """Call `listener` with every alert the rules raise, after its event's listeners."""
        self._alert_listeners.append(listener)

    def on_round(self, listener: Callable[[TargetState], None]) -> None:
        """Call `listener` after every completed round of any target (for live displays)."""
        self._round_listeners.append(listener)

    def now(self) -> datetime:
        """The monitor's clock (fixed in tests), so displays agree with event times."""
        return self._clock()

    def slowest_round(self) -> float | None:
        """Seconds the slowest target's last round took; None before any round."""
        return max((s.round_s for s in self.states.values() if s.round_s is not None),
                   default=None)

    def complete_round(self, key: str, results: dict[str, ProbeResult],
                       round_s: float | None = None) -> None:
        """Fold one round of target `key` in, emit its events, tell round listeners.

        The scheduler's step; tests and previews feed it fixed results at a fixed clock.
        """
        state = self.states[key]
        state.round_s = round_s
        now = self._clock()
        watch = self.sites[state.target.site]
        events = fold_round(state, results, now)
        events += watch.after_round(state, self.states, now)
        if state.target.kind == "node":
            if (cleared := self.flaps.tick(state.target.site, state.target.subject, now)):
                events.append(cleared)
            if "agent" in state.checks and watch.skew.last is not None:
                load = "skewed" if watch.skew.skewed else "balanced"
                events = [replace(e, data={**e.data, "load": load})
                          if e.kind == Kind.NODE_UP else e for e in events]
        for event in events:
            self.emit(event)
        _notify(self._round_listeners, state)

    async def set_lb_state(self, site: str, node: str, state: AdminState) -> None:
        """Drain / ready / maint a node on its balancer: only with `lb_admin = true`.

        Raises LbError (one line) when refused or when the balancer says no.
        """
        if not self.config.defaults.lb_admin:
            raise LbError("balancer changes need lb_admin = true in the config")
        self.emit(await self.sites[site].set_server_state(node, state, self._clock()))

    def probe_now(self) -> None:
        """Start the next round of every target at once instead of at its slot."""
        self._wake.set()

    def emit(self, event: Event) -> None:
        """Explain, record, then tell listeners and notifiers. A failing listener is logged,
        never fatal; a notifier never delays this (it only queues)."""
        event, flapped = self._explain(event)
        alerting = is_alert(event)
        if self.store is not None:
            alert_id = self.store.record(event, alert=alerting)
        else:
            alert_id = next(self._alert_ids)
        alert = Alert(alert_id, event) if alerting else None
        if alert is not None:
            self.alerts.add(alert)
        _notify(self._listeners, event)
        if alert is not None:
            _notify(self._alert_listeners, alert)
            if self.dispatcher is not None:
                self.dispatcher.submit({**event.as_dict(), "alert": True, "alert_id": alert_id})
        if flapped is not None:
            self.emit(flapped)

    def _explain(self, event: Event) -> tuple[Event, Event | None]:
        """Flag an event that is expected (maintenance) or one more change of a flapping node;
        also the `node_flapping` this change tips over, if it does.

        Changes inside maintenance are expected, so they do not count towards flapping.
        """
        extra: dict[str, Any] = {}
        if event.kind not in _WORKFLOW_KINDS and (mark := self.maintenance_for(
                event.site, event.subject, event.time)):
            extra["maintenance"] = mark.target
        flapped = None if extra else self.flaps.observe(event)
        if self.flaps.flapping(event.site, event.subject) and event.kind != Kind.NODE_FLAPPING:
            extra["flapping"] = True
        return (replace(event, data={**event.data, **extra}) if extra else event), flapped

    # --- the alert workflow: acknowledgement, maintenance, drills ---------------------------

    def acknowledge(self, alert_ids: Iterable[int] | None) -> int:
        """Acknowledge alerts (None: all) as the current user; stored first, so it survives a
        restart. Returns how many were newly acknowledged."""
        ids = None if alert_ids is None else list(alert_ids)
        now = self._clock()
        if self.store is not None:
            self.store.acknowledge(ids, now, self.user)
        return len(self.alerts.ack(ids, now, self.user))

    def maintenance_for(self, site: str, subject: str, when: datetime) -> MaintenanceMark | None:
        """The maintenance mark covering `subject` of `site` at `when`, if any."""
        return next((m for m in self.maintenance() if m.covers(site, subject, when)), None)

    def maintenance(self) -> list[MaintenanceMark]:
        """Marks in force or to come (re-read from the history at most once a second)."""
        self._refresh()
        return self._marks

    def _refresh(self) -> None:
        """Re-read what another castui may have changed in the history: maintenance marks
        (`castui maint set`) and the running drill. A history that cannot be read keeps what
        was read last, and says so in the log, rather than stopping the monitor."""
        if self.store is None or time.monotonic() - self._marks_read < MARKS_REFRESH_S:
            return
        self._marks_read = time.monotonic()
        try:
            self._marks = self.store.maintenance(since=self._clock())
            self.drill = self.store.open_drill()
        except HistoryError as err:
            log.warning("keeping the maintenance marks read before: %s", err)

    def set_maintenance(self, site: str, node: str | None, seconds: float,
                        reason: str = "") -> MaintenanceMark:
        """Mark a node (or a whole site) in maintenance from now for `seconds`."""
        store = self._need_store("maintenance marks")
        now = self._clock()
        mark = store.set_maintenance(site, node, now, now + timedelta(seconds=seconds),
                                     by=self.user, reason=reason)
        self._marks_read = -MARKS_REFRESH_S
        self.emit(maintenance_event(mark, now, set_=True))
        return mark

    def clear_maintenance(self, site: str | None = None,
                          node: str | None = None) -> list[MaintenanceMark]:
        """End maintenance marks (all, a site's or a node's) now."""
        store = self._need_store("maintenance marks")
        now = self._clock()
        cleared = store.clear_maintenance(now, site, node)
        self._marks_read = -MARKS_REFRESH_S
        for mark in cleared:
            self.emit(maintenance_event(mark, now, set_=False, by=self.user))
        return cleared

    def start_drill(self, name: str) -> Drill:
        """Start drill `name` (HistoryError if one is running); its figures come from the
        events until it ends."""
        store = self._need_store("drills")
        now = self._clock()
        self.drill = store.start_drill(name, now, self.user)
        self.emit(Event(now, ALL_SITES, SUBJECT_DRILL, Kind.DRILL_STARTED,
                        f"drill {name!r} started by {self.user}",
                        data={"drill": name, "by": self.user, "pool": self._pool_picture()}))
        return self.drill

    def _pool_picture(self) -> list[dict[str, Any]]:
        """Every node's pool state now, for the drill report: a node that was already out
        when the drill began (and stays out) has no event in the drill's window."""
        return [{"site": s.target.site, "node": s.target.subject, "state": s.state,
                 **({"out_since": iso(s.out_since)} if s.out_since else {})}
                for s in self.states.values() if s.target.kind == "node"]

    def end_drill(self) -> Drill | None:
        """End the running drill, if any (perhaps one a previous run started)."""
        store = self._need_store("drills")
        now = self._clock()
        drill = store.end_drill(now)
        self.drill = None
        if drill is not None:
            lasted = (now - drill.started).total_seconds()
            self.emit(Event(now, ALL_SITES, SUBJECT_DRILL, Kind.DRILL_ENDED,
                            f"drill {drill.name!r} ended by {self.user}", duration_s=lasted,
                            data={"drill": drill.name, "by": self.user}))
        return drill

    def set_bell(self, bell: Callable[[], None] | None) -> None:
        """The front-end's terminal bell, rung by `bell` notifiers."""
        self._bell = bell

    def _ring(self) -> None:
        if self._bell is not None:
            self._bell()

    def _notify_failed(self, name: str, reason: str) -> None:
        """A notifier gave up on an alert: say so in the history (the alert itself is there)."""
        self.emit(Event(self._clock(), ALL_SITES, name, Kind.NOTIFY_FAILED,
                        f"notifier {name}: {reason}"))

    def _need_store(self, what: str) -> HistoryStore:
        if self.store is None:
            raise RuntimeError(f"{what} need the history database")
        return self.store

    async def run(self, *, rounds: int | None = None, duration: float | None = None,
                  stop: asyncio.Event | None = None) -> None:
        """Probe until every target did `rounds` rounds, `duration` passed, or `stop` is set.

        With `rounds` (a one-shot check) every round is one sweep of the whole estate, an
        interval apart; without, each target runs its own loop from a random phase.
        """
        d = self.config.defaults
        verify = tls_context(d.ca_file, d.tls_verify)
        runner = Runner(timeout=d.timeout, max_concurrency=d.max_concurrency,
                        http_client=lambda target: make_http_client(
                            verify=verify, max_connections=_connections(target)),
                        cert_warn_days=d.cert_warn_days,
                        agent_tokens=self._agent_tokens)
        self._started()
        if self.dispatcher is not None:
            notifying = asyncio.create_task(self.dispatcher.run(), name="castui:notify")
        if rounds is not None:
            work = [asyncio.create_task(self._sweeps(runner, rounds), name="castui:sweeps")]
        else:
            work = [asyncio.create_task(self._loop(runner, self.states[t.key]),
                                        name=f"castui:{t.key}") for t in self.targets]
            work += [asyncio.create_task(self._balancer_loop(site), name=f"castui:{name}/lb")
                     for name, site in self.sites.items() if site.adapter is not None]
        all_work = asyncio.ensure_future(asyncio.gather(*work))
        waiters: list[asyncio.Future[Any]] = [all_work]
        if stop is not None:
            waiters.append(asyncio.ensure_future(stop.wait()))
        try:
            await asyncio.wait(waiters, timeout=duration, return_when=asyncio.FIRST_COMPLETED)
            if all_work.done() and not all_work.cancelled():
                all_work.result()  # re-raise what stopped the work (e.g. the history failing)
        finally:
            for task in (*work, *waiters):
                task.cancel()
            await asyncio.gather(*work, *waiters, return_exceptions=True)
            if self.dispatcher is not None:
                notifying.cancel()
                await asyncio.gather(notifying, return_exceptions=True)
            await runner.aclose()

    def _started(self) -> None:
        now = self._clock()
        for site in self.config.sites:
            dns = ", ".join(str(s) for s in site.dns_servers) or "no resolvers"
            self.emit(Event(now, site.name, "monitor", Kind.MONITOR_STARTED,
                            f"watching {len(site.nodes)} nodes, VIP {site.vip}, "
                            f"{site.array_fqdn} via {dns}"))

    async def _sweeps(self, runner: Runner, rounds: int) -> None:
        loop = asyncio.get_running_loop()
        for done in range(1, rounds + 1):
            started = loop.time()
            sweep = await runner.sweep(self.targets)
            took = loop.time() - started
            for target, results in zip(self.targets, sweep, strict=True):
                self.complete_round(target.key, results, took)
            if done < rounds:
                await asyncio.sleep(max(0.0, started + self.config.defaults.interval
                                        - loop.time()))

    async def _balancer_loop(self, site: SiteWatch) -> None:
        interval = self.config.defaults.interval
        await asyncio.sleep(self._rng.uniform(0, interval))
        while True:
            for event in await site.poll_balancer(self.states, self._clock()):
                self.emit(event)
            await asyncio.sleep(interval)

    async def _loop(self, runner: Runner, state: TargetState) -> None:
        loop = asyncio.get_running_loop()
        interval = self.config.defaults.interval
        await asyncio.sleep(self._rng.uniform(0, interval))
        slot = loop.time()
        while True:
            started = loop.time()
            results = await runner.run_round(state.target)
            self.complete_round(state.target.key, results, loop.time() - started)
            slot += interval
            now = loop.time()
            if slot < now:  # the round overran its slot: start afresh, never burst
                slot = now
            delay = slot - now + self._rng.uniform(-JITTER, JITTER) * interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(delay, 0.0))
                self._wake.clear()
                slot = loop.time()

    def snapshot(self) -> EstateSnapshot:
        """The estate as of now, for printing or drawing."""
        sites = []
        for site in self.config.sites:
            watch = self.sites[site.name]
            now = self._clock()

            def marked(view: TargetView, now: datetime = now) -> TargetView:
                mark = self.maintenance_for(view.site, view.subject, now)
                flapping = self.flaps.flapping(view.site, view.subject)
                return replace(view, maintenance_until=mark.until() if mark else None,
                               flapping=flapping) if mark or flapping else view

            nodes = tuple(
                marked(replace(TargetView.of(self.states[f"{site.name}/{n.name}"]),
                               lb=watch.lb_views.get(n.name))) for n in site.nodes)
            vip = marked(TargetView.of(self.states[f"{site.name}/vip"]))
            dns_state = self.states.get(f"{site.name}/dns")
            dns = TargetView.of(dns_state) if dns_state else None
            skew = watch.skew.last
            sampled = "vip_sample" in self.states[f"{site.name}/vip"].checks
            sites.append(build_site(
                site.name, site.array_fqdn, vip, dns, nodes, lb_error=watch.lb_error,
                skew=skew.describe() if skew else None, skewed=watch.skew.skewed,
                answered_by=dict(watch.sampling.answered) if sampled else None,
                skipped=tuple(sorted(watch.sampling.warned))))
        return EstateSnapshot(self._clock(), tuple(sites), worst(s.status for s in sites))


def maintenance_event(mark: MaintenanceMark, now: datetime, *, set_: bool,
                      by: str | None = None) -> Event:
    """`maint_set` / `maint_cleared` for `mark`, as the console and `castui maint` record it."""
    subject = mark.node or "site"
    until = mark.ends.isoformat(timespec="seconds").replace("+00:00", "Z")
    who = by or mark.set_by
    if set_:
        detail = f"{mark.target} in maintenance until {until} (set by {who}"
        detail += f": {mark.reason})" if mark.reason else ")"
        kind = Kind.MAINT_SET
    else:
        detail = f"{mark.target} maintenance cleared by {who}"
        kind = Kind.MAINT_CLEARED
    return Event(now, mark.site, subject, kind, detail,
                 data={"until": until, "by": who, "reason": mark.reason})


def _notify(listeners: list[Callable[[T], None]], item: T) -> None:
    for listener in listeners:
        try:
            listener(item)
        except Exception:
            log.exception("listener failed")


def _connections(target: Target) -> int:
    """HTTP connections one round of `target` may open at once (VIP samples included)."""
    return max(1, sum(max(spec.count, 1) for spec in target.checks
                      if spec.kind in ("http", "sample", "agent")))
