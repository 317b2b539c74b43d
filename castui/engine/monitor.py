"""The monitor: folds every target's rounds into pool state and turns what it sees into events.

When rounds run is the schedule's (castui.engine.schedule); what a round means is here and in
the rules it calls (pool, site watch, flapping, alerts, pace). Every event is committed to the
history store before any listener sees it. The user's commands (acknowledge, maintenance,
drills, drain / ready) come in as explicit calls.

Why this module is a little over 400 lines: each user command is a short method that records
through the history and emits its event here, where every event passes the same explanation
and commit order; the rules themselves live in the modules it calls.
"""

from __future__ import annotations

import asyncio
import getpass
import itertools
import logging
import random
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from castui.config.model import Config
from castui.engine import drills
from castui.engine.alerts import AlertBook, acknowledge, is_alert
from castui.engine.audit.watch import ExportWatch
from castui.engine.flapping import FlapWatch
from castui.engine.history_port import HistoryStore
from castui.engine.maintenance import MaintenanceDesk, MarksAt, exchange_maintenance
from castui.engine.pace import PollPace
from castui.engine.pool import TargetState, fold_round
from castui.engine.schedule import Schedule
from castui.engine.sitewatch import SiteWatch, read_secret
from castui.engine.slowness import SlowWatch
from castui.engine.snapshot import EstateSnapshot, TargetView, build_estate
from castui.engine.targets import Target, build_targets, target_key
from castui.engine.timeline import Source
from castui.model.alerts import Alert
from castui.model.balancer import AdminState
from castui.model.errors import HistoryError, LbError
from castui.model.events import ALL_SITES, SUBJECT_DRILL, Event, Kind
from castui.model.marks import Drill, ExchangeMaintenance, MaintenanceMark, Recorder
from castui.model.results import ProbeResult
from castui.model.times import iso, utcnow
from castui.notify import Dispatcher

log = logging.getLogger(__name__)

EventListener = Callable[[Event], None]
AlertListener = Callable[[Alert], None]
T = TypeVar("T")

#: Alerts loaded from the history at start (the console's alert list), newest first.
ALERTS_KEPT = 1000
#: How often maintenance marks are re-read from the history, which `castui maint` in another
#: process may have changed (seconds).
MARKS_REFRESH_S = 1.0
#: Drill names go into reports, change records and file names: one short line.
DRILL_NAME_MAX = 60
#: Events about these subjects are never "in maintenance": they are the workflow itself.
_WORKFLOW_KINDS = frozenset({Kind.MAINT_SET, Kind.MAINT_CLEARED, Kind.DRILL_STARTED,
                             Kind.DRILL_ENDED, Kind.DRILL_RESUMED, Kind.NOTIFY_FAILED,
                             Kind.MONITOR_STARTED})


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
        self._clock = clock
        d = config.defaults
        self.targets: list[Target] = build_targets(config)
        self.states: dict[str, TargetState] = {
            t.key: TargetState.new(t, d.rise, d.fall) for t in self.targets}
        self.alerts = AlertBook(ALERTS_KEPT)
        self._alert_ids = itertools.count(1)
        self.flaps = FlapWatch(d.flap_changes, d.flap_window, d.flap_quiet)
        self.slowness = SlowWatch(d.slow_threshold_ms, d.fall)
        self.user = current_user()
        self._marks: list[MaintenanceMark] = []
        #: Whether rounds keep up with the interval (snapshot.lagging, poll_lagging events).
        self.pace = PollPace(d.interval)
        self._marks_read = -MARKS_REFRESH_S
        self._bell: Callable[[], None] | None = None
        self.dispatcher = Dispatcher(config.notifiers, on_failure=self._notify_failed,
                                     bell=self._ring) if config.notifiers else None
        self.drill: Drill | None = None
        #: The drill this process records, and as whom (engine/drills.py: heartbeats).
        self._recording: tuple[int, Recorder] | None = None
        if store is not None:
            stored = store.alerts(limit=ALERTS_KEPT)
            for alert in reversed(stored):
                self.alerts.add(alert)
            if stored:  # which of them the history since says are over
                self.alerts.replay(store.events(since=stored[-1].event.time))
            self.drill = store.open_drill()
        self._listeners: list[EventListener] = []
        self._alert_listeners: list[AlertListener] = []
        self._round_listeners: list[Callable[[TargetState], None]] = []
        self.sites = {site.name: SiteWatch(site, config) for site in config.sites}
        #: The Exchange export's verdict per site, re-read when the file changes.
        self.audit = ExportWatch(config.exchange_export, config) \
            if config.exchange_export is not None else None
        tokens = {node.agent: read_secret(node.agent_token_file)
                  for site in config.sites for node in site.nodes
                  if node.agent and node.agent_token_file}
        self.schedule = Schedule(config, self.targets, self.states, self.sites,
                                 rng=rng or random.Random(), clock=clock, agent_tokens=tokens,
                                 complete=self.complete_round, emit=self.emit)

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
            pool = [(name, check.last) for name, check in state.checks.items()
                    if check.spec.role == "pool" and name in results]
            if (slow := self.slowness.observe(state.target.site, state.target.subject, pool,
                                              now)) is not None:
                events.append(slow)
            if (cleared := self.flaps.tick(state.target.site, state.target.subject, now)):
                events.append(cleared)
            if "agent" in state.checks and watch.skew.last is not None:
                load = "skewed" if watch.skew.skewed else "balanced"
                events = [replace(e, data={**e.data, "load": load})
                          if e.kind == Kind.NODE_UP else e for e in events]
        if (paced := self.pace.observe(key, round_s, now)) is not None:
            events.append(paced)
        for event in events:
            self.emit(event)
        _notify(self._round_listeners, state)

    async def set_lb_state(self, site: str, node: str, state: AdminState) -> None:
        """Drain / ready / maint a node on its balancer: only with `lb_admin = true`.

        Raises LbError (one line) when refused or when the balancer says no.
        """
        if (why := self.lb_refusal(site)) is not None:
            raise LbError(why)
        self.emit(await self.sites[site].set_server_state(node, state, self._clock()))

    def lb_refusal(self, site: str) -> str | None:
        """Why castui may not drain / ready nodes on `site`'s balancer; None when it may."""
        if self.sites[site].site.lb is None:
            return f"{site} has no balancer configured ([sites.lb])"
        if not self.config.defaults.lb_admin:
            return ("castui is read-only: drain / ready need lb_admin = true in the config's "
                    "[defaults]")
        return None

    def probe_now(self) -> None:
        """Start the next round of every target at once instead of at its slot."""
        self.schedule.wake()

    def emit(self, event: Event) -> None:
        """Explain, record, then tell listeners and notifiers. A failing listener is logged,
        never fatal; a notifier never delays this (it only queues)."""
        event, flapped = self._explain(event)
        if is_alert(event) and (ongoing := self.alerts.ongoing(event)) is not None:
            event = replace(event, data={**event.data, "ongoing": ongoing.id})
        alerting = is_alert(event)
        if self.store is not None:
            alert_id = self.store.record(event, alert=alerting)
        else:
            alert_id = next(self._alert_ids)
        alert = Alert(alert_id, event) if alerting else None
        if alert is not None:
            self.alerts.add(alert)
        self.alerts.resolve(event)
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
        if event.kind not in _WORKFLOW_KINDS:
            if mark := self.maintenance_for(event.site, event.subject, event.time):
                extra["maintenance"] = mark.target
            elif said := self.exchange_maintenance_for(event.site, event.subject):
                # Exchange's own maintenance explains a drop exactly as a castui mark does.
                extra["maintenance"] = target_key(event.site, event.subject)
                extra["exchange_maintenance"] = said.describe()
        flapped = None if extra else self.flaps.observe(event)
        if self.flaps.flapping(event.site, event.subject) and event.kind != Kind.NODE_FLAPPING:
            extra["flapping"] = True
        if event.kind == Kind.DNS_CHANGED:
            if self._vip_of(event.site) in event.data.get("new", ()):
                extra["recovery"] = True  # back to the site's own VIP
            # Whose VIP each answer is, for the report's DNS lanes (a site, not an address).
            vips = {watch.site.vip: name for name, watch in self.sites.items()}
            for side in ("old", "new"):
                owner = next((vips[a] for a in event.data.get(side, ()) if a in vips), None)
                if owner is not None:
                    extra[f"{side}_site"] = owner
        return (replace(event, data={**event.data, **extra}) if extra else event), flapped

    def reset_flapping(self) -> None:
        """A scripted scenario starts its loop again (`castui demo`): its repeated outages are
        the script, not flapping."""
        self.flaps.reset()

    def _vip_of(self, site: str) -> str | None:
        watch = self.sites.get(site)
        return None if watch is None else watch.site.vip

    # --- the alert workflow: acknowledgement, maintenance, drills ---------------------------

    def acknowledge(self, alert_ids: Iterable[int] | None) -> int:
        """Acknowledge alerts (None: all) as the current user; how many were newly so."""
        return acknowledge(self.alerts, self.store, alert_ids, self._clock(), self.user)

    def maintenance_for(self, site: str, subject: str, when: datetime) -> MaintenanceMark | None:
        """The maintenance mark covering `subject` of `site` at `when`, if any."""
        return next((m for m in self.maintenance() if m.covers(site, subject, when)), None)

    def exchange_maintenance_for(self, site: str, subject: str) -> ExchangeMaintenance | None:
        """Exchange's own maintenance on node `subject` of `site`, as its agent last said."""
        state = self.states.get(target_key(site, subject))
        if state is None or state.target.kind != "node":
            return None
        return exchange_maintenance(state.components)

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
        """Mark a node (or a whole site) in maintenance from now for `seconds`, by the desk's
        rules (MaintenanceError, a ValueError, when they refuse)."""
        mark = self._desk().set(site, node, timedelta(seconds=seconds), reason)
        self._marks_read = -MARKS_REFRESH_S
        return mark

    def clear_maintenance(self, site: str | None = None,
                          node: str | None = None) -> list[MaintenanceMark]:
        """End maintenance marks (all, a site's or a node's) now."""
        cleared = self._desk().clear(site, node)
        self._marks_read = -MARKS_REFRESH_S
        return cleared

    def maintenance_at(self, site: str, node: str) -> MarksAt:
        """The marks in force or to come on `node` of `site` and on the site (read afresh)."""
        return self._desk().at(site, node)

    def _desk(self) -> MaintenanceDesk:
        """The maintenance rules (`castui maint` uses the same desk over the history file)."""
        store = self._need_store("maintenance marks")
        return MaintenanceDesk(store, self.config, user=self.user, clock=self._clock,
                               record=self.emit)

    def start_drill(self, name: str) -> Drill:
        """Start drill `name`, or resume it if its recorder is gone (engine/drills.py); this
        monitor records it from now. HistoryError (one line) if that is refused."""
        store = self._need_store("drills")
        now = self._clock()
        self.drill, resumed = drills.start_or_resume(store, name, drills.this_recorder(now),
                                                     self.user, now)
        assert self.drill.recorder is not None
        self._recording = (self.drill.id, self.drill.recorder)
        self.emit(resumed or Event(
            now, ALL_SITES, SUBJECT_DRILL, Kind.DRILL_STARTED,
            f"drill {name!r} started by {self.user}",
            data={"drill": name, "by": self.user, "pool": self._pool_picture()}))
        return self.drill

    def take_up_drill(self) -> Drill | None:
        """Record the open drill from here on if its recorder is gone (the console picking up
        a drill an earlier run left open), with the gap recorded; a live recorder keeps it.
        The drill taken up, or None (nothing to take up, or the history said no: logged)."""
        drill = self.drill
        if drill is None or self.store is None or not drills.recorder_gone(drill.recorder,
                                                                            self._clock()):
            return None
        try:
            return self.start_drill(drill.name)
        except HistoryError as err:
            log.warning("drill %r left as it is: %s", drill.name, err)
            return None

    def _pool_picture(self) -> list[dict[str, Any]]:
        """Every node's pool state now, for the drill report: a node that was already out
        when the drill began (and stays out) has no event in the drill's window."""
        return [{"site": s.target.site, "node": s.target.subject, "state": s.state,
                 **({"out_since": iso(s.out_since)} if s.out_since else {})}
                for s in self.states.values() if s.target.kind == "node"]

    def end_drill(self, *, only_own: bool = False) -> Drill | None:
        """End the open drill, if any (perhaps one a previous run started; with `only_own`,
        only the one this monitor records)."""
        store = self._need_store("drills")
        own, self._recording = self._recording, None
        running = store.open_drill()
        self.drill = None
        if running is None or (only_own and (own is None or own[0] != running.id)):
            return None
        drill, event = drills.end_drill(store, running, self.user, self._clock(),
                                        mine=own is not None and own[0] == running.id)
        self.emit(event)
        return drill

    @property
    def records_drill(self) -> bool:
        """Whether this monitor records the open drill (it beats its heartbeat)."""
        return self._recording is not None

    def beat_drill(self) -> None:
        """The recorder's heartbeat; a drill taken over or ended elsewhere is let go."""
        if self._recording is None or self.store is None:
            return
        drill_id, me = self._recording
        try:
            if not self.store.beat_drill(drill_id, me, self._clock()):
                log.warning("drill %d is no longer recorded here: ended or taken over",
                            drill_id)
                self._recording = None
        except HistoryError as err:  # the next beat tries again; the monitor goes on
            log.warning("drill heartbeat not recorded: %s", err)

    async def _beat_drills(self) -> None:
        while True:
            self.beat_drill()
            await asyncio.sleep(drills.HEARTBEAT_S)

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

        With `rounds` (a one-shot check) every round is one sweep of the whole estate and
        then one read of every site's balancer, an interval apart; without, each target and
        each balancer runs its own loop from a random phase.
        """
        beating = asyncio.create_task(self._beat_drills(), name="castui:drill-heartbeat")
        try:
            await self.schedule.run(rounds=rounds, duration=duration, stop=stop,
                                    started=self._started, dispatcher=self.dispatcher)
        finally:
            beating.cancel()
            await asyncio.gather(beating, return_exceptions=True)

    def _started(self) -> None:
        now = self._clock()
        for site in self.config.sites:
            dns = ", ".join(str(s) for s in site.dns_servers) or "no resolvers"
            self.emit(Event(now, site.name, "monitor", Kind.MONITOR_STARTED,
                            f"watching {len(site.nodes)} nodes, VIP {site.vip}, "
                            f"{site.array_fqdn} via {dns}"))

    def timeline_sources(self, sites: Collection[str]) -> list[Source]:
        """The timeline's inputs for `sites`, lane by lane in config order: each node, the VIP,
        the DNS name (read at once: the rings go on filling)."""
        return [Source(s.target.site, s.target.subject, s.target.kind, s.ring,
                       s.target.address if s.target.kind == "dns" else None)
                for s in self.states.values() if s.target.site in sites]

    def snapshot(self) -> EstateSnapshot:
        """The estate as of now, for printing or drawing."""
        now = self._clock()

        def explained(view: TargetView) -> TargetView:
            mark = self.maintenance_for(view.site, view.subject, now)
            flapping = self.flaps.flapping(view.site, view.subject)
            return replace(view, maintenance=mark, flapping=flapping) if mark or flapping \
                else view

        snapshot = build_estate(self.config, self.states, self.sites, explained, self.pace, now)
        if self.audit is None:
            return snapshot
        audit = self.audit
        return replace(snapshot, sites=tuple(replace(site, audit=audit.for_site(site.name))
                                             for site in snapshot.sites))


def _notify(listeners: list[Callable[[T], None]], item: T) -> None:
    for listener in listeners:
        try:
            listener(item)
        except Exception:
            log.exception("listener failed")
