"""The console app: subscribes to the engine, throttles, and hands snapshots to the panels.

Data flows one way. The engine (running in this event loop) calls back on events, alerts and
completed rounds; those become Textual messages that only update the app's model and mark it
dirty. A refresh timer then redraws at most a few times a second, and only what is on screen:
nothing while the display is frozen (`p`) or a modal is up (but a node's details, which follow
the engine), and no hidden site panel. The app never opens a socket and never decides a state:
that is the engine's. What flows back are the user's commands (acknowledge, re-probe, drain /
ready after a yes, start / end a drill, set / clear maintenance), as explicit calls on the
engine; the engine's bell notifiers ring the console's bell.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from pathlib import Path

from textual import events, work
from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Input
from textual.worker import Worker, WorkerState

from castui.engine.monitor import Monitor
from castui.engine.pool import TargetState
from castui.engine.snapshot import EstateSnapshot
from castui.engine.timeline import ZOOMS, Source, build_lanes
from castui.history.store import EventStore
from castui.model.alerts import Alert
from castui.model.balancer import AdminState
from castui.model.errors import HistoryError, LbError
from castui.model.events import Event
from castui.model.marks import MaintenanceMark
from castui.model.times import duration, file_stamp
from castui.ui import keys
from castui.ui.messages import AlertRaised, EngineEvent, RoundsDone
from castui.ui.palette import use_palette
from castui.ui.screens.confirm import ConfirmScreen
from castui.ui.screens.drill import DrillScreen, default_name
from castui.ui.screens.help import HelpScreen
from castui.ui.screens.maintenance import MaintRequest, MaintScreen
from castui.ui.screens.node_detail import NodeDetailScreen
from castui.ui.terminal import CHECK_INTERVAL, TerminalWatch
from castui.ui.widgets.alert_list import AlertList
from castui.ui.widgets.event_log import EventLog
from castui.ui.widgets.header import HeaderInfo, StatusHeader
from castui.ui.widgets.node_filter import NodeFilter
from castui.ui.widgets.node_table import NodeTable
from castui.ui.widgets.site_panel import SitePanel
from castui.ui.widgets.site_tabs import SiteTabs, Tab
from castui.ui.widgets.timeline import TimelinePanel, expected_buckets
from castui.ui.words import lb_question, safe, sentence, until_text

log = logging.getLogger(__name__)

#: Share of the screen's height the site panels may take before they become tabs.
SITES_SHARE = 0.62
#: Events kept in memory for the timeline (the 24 h window reads them from here).
TIMELINE_EVENTS = 5000
#: The timeline is recomputed at most this often, unless the user changed it.
TIMELINE_EVERY_S = 1.0
ALERT_TOAST_S = 12.0
#: Alerts named in one toast (one below WIDE_TOASTS columns); the rest are counted.
TOAST_LINES = 4
WIDE_TOASTS = 100


@dataclass(frozen=True, slots=True)
class ConsoleOptions:
    """How the console runs. Tests and previews pass `run_engine=False` and feed the monitor.

    `local_tz` None means the machine's time zone; `refresh_s` is the redraw throttle.
    """

    bell: bool = False
    screenshot_dir: Path = Path()
    run_engine: bool = True
    local_tz: tzinfo | None = None
    refresh_s: float = 0.5
    history_events: int = 500


class ConsoleApp(App[int]):
    """The castui console over a Monitor (started here unless `run_engine` is False)."""

    CSS_PATH = "console.tcss"
    TITLE = "castui"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = keys.BINDINGS

    def __init__(self, monitor: Monitor, *, store: EventStore | None = None,
                 options: ConsoleOptions | None = None) -> None:
        super().__init__()
        self.monitor = monitor
        self.store = store
        self.options = options or ConsoleOptions()
        use_palette(monochrome=self.no_color)
        self.sites = monitor.config.sites
        self.multi_site = len(self.sites) > 1
        self.events: deque[Event] = deque(maxlen=TIMELINE_EVENTS)  # oldest first
        self.site_index = 0
        self.tabs_mode = False
        self.frozen = False
        self.node_filter = ""
        self.zoom_index = 0
        self.panels: list[SitePanel] = []
        self.header = StatusHeader(local_tz=self.options.local_tz, id="header")
        self.tabs = SiteTabs(id="site-tabs")
        self.sites_box = Vertical(id="sites")
        self.filter = NodeFilter(id="filter")
        self.timeline = TimelinePanel(id="timeline-panel")
        self.event_log = EventLog(with_site=self.multi_site, id="events")
        self.alert_list = AlertList(with_site=self.multi_site, id="alerts")
        self._new_events: list[Event] = []
        self._pending_alerts: list[Alert] = []
        self._snapshot: EstateSnapshot | None = None
        self._dirty = True
        self._alerts_dirty = True
        self._round_pending = False
        self._timeline_due = True
        self._timeline_urgent = False
        self._timeline_at = 0.0
        self._second: datetime | None = None
        self._stop = asyncio.Event()
        self._terminal = TerminalWatch(self._terminal_gone)

    # -- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield self.header
        with self.sites_box:
            yield self.tabs
            yield self.filter
            for index, site in enumerate(self.sites):
                first = self.monitor.states[f"{site.name}/{site.nodes[0].name}"]
                agents = any(c.spec.kind == "agent" for c in first.checks.values())
                panel = SitePanel(index + 1, site.name, list(first.checks),
                                  [node.name for node in site.nodes], connections=agents,
                                  balancer=site.lb is not None, id=f"site-{index}")
                self.panels.append(panel)
                yield panel
        with Horizontal(id="lower"):
            with Vertical(id="left"):
                yield self.timeline
                yield self.event_log
            yield self.alert_list
        yield Footer()

    def on_mount(self) -> None:
        self._load_history()
        self.monitor.subscribe(self._engine_event)
        self.monitor.subscribe_alerts(self._engine_alert)
        self.monitor.on_round(self._round_done)
        self.monitor.set_bell(self.bell)
        self.set_interval(self.options.refresh_s, self._tick, name="castui refresh")
        if self.options.run_engine:
            self._run_engine()
        if not self.is_headless:
            self._terminal.start()
            self.set_interval(CHECK_INTERVAL, self._terminal.check, name="castui tty watch")
        self.alert_list.border_title = "Alerts  (a ack, A all)"
        self.event_log.border_title = "Events, newest first"
        self.panels[0].table.focus()
        self.call_after_refresh(self.relayout)

    def on_resize(self, event: events.Resize) -> None:
        self.call_after_refresh(self.relayout)

    def relayout(self) -> None:
        """All sites stacked when they fit in their share of the height, else one and tabs.

        A panel that does not fit (one big site, or the one tab shown) takes the room there
        is and its table scrolls.
        """
        if self._exit or not self.screen_stack:  # a late message while shutting down
            return
        limit = max(int((self.size.height - 2) * SITES_SHARE), 6)
        needed = sum(panel.rows_needed for panel in self.panels)
        fits = needed <= limit
        self.tabs_mode = len(self.panels) > 1 and not fits
        self.tabs.display = self.tabs_mode
        for index, panel in enumerate(self.panels):
            panel.display = not self.tabs_mode or index == self.site_index
            panel.styles.height = panel.rows_needed if fits else "1fr"
        if self.tabs_mode:
            needed = 1 + self.panels[self.site_index].rows_needed
        extra = 1 if self.filter.display else 0
        self.sites_box.styles.height = min(needed, limit) + extra
        self._dirty = self._timeline_urgent = True
        self.render_now()

    # -- engine ---------------------------------------------------------------------------

    @work(exclusive=True, exit_on_error=False, name="engine", group="engine")
    async def _run_engine(self) -> None:
        await self.monitor.run(stop=self._stop)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        if event.worker.name == "engine":
            why = str(error) if isinstance(error, HistoryError | ValueError) else repr(error)
            self.exit(2, return_code=2, message=f"castui: {safe(why)}")
        elif event.worker.group == "lb":  # not the balancer's refusal (a notify): a bug
            log.error("balancer change failed", exc_info=error)
            self.notify(safe(repr(error), 300), title="balancer change failed",
                        severity="error", markup=False)

    def _load_history(self) -> None:
        """The picture before this start: a restart in the middle of a drill keeps it."""
        if self.store is None:
            return
        since = self.monitor.now() - timedelta(seconds=ZOOMS[-1].seconds)
        try:
            newest = self.store.events(since=since, limit=TIMELINE_EVENTS, newest_first=True)
        except HistoryError as err:
            self.notify(safe(err), title="history", severity="error", markup=False)
            return
        self.events.extend(reversed(newest))
        self._new_events.extend(reversed(newest[: self.options.history_events]))

    def _engine_event(self, event: Event) -> None:
        self.post_message(EngineEvent(event))

    def _engine_alert(self, alert: Alert) -> None:
        self.post_message(AlertRaised(alert))

    def _round_done(self, state: TargetState) -> None:
        """Called for every round of every target: coalesced into one message at a time."""
        if not self._round_pending:
            self._round_pending = True
            self.post_message(RoundsDone())

    def on_site_panel_lines_changed(self, message: SitePanel.LinesChanged) -> None:
        self.relayout()

    def on_rounds_done(self, message: RoundsDone) -> None:
        self._round_pending = False
        self._dirty = self._timeline_due = True

    def on_engine_event(self, message: EngineEvent) -> None:
        self.events.append(message.event)
        self._new_events.append(message.event)
        self._dirty = self._timeline_urgent = True

    def on_alert_raised(self, message: AlertRaised) -> None:
        """Toast and bell within a tick, even while frozen or under the help: an alert must
        never wait for the display.

        Alerts raised together (a site going dark) make one toast, not a wall of them: they
        are collected until the next refresh tick, which toasts whatever it is showing.
        """
        self._pending_alerts.append(message.alert)
        self._alerts_dirty = True

    def _toast_alerts(self) -> None:
        alerts, self._pending_alerts = self._pending_alerts, []
        if not alerts:
            return
        named = TOAST_LINES if self.size.width >= WIDE_TOASTS else 1  # a toast hides things
        lines = []
        for alert in alerts[:named]:
            words, _ = sentence(alert.event, brief=True)
            where = f"{safe(alert.event.site, 40)}: " if self.multi_site else ""
            lines.append(where + words)
        if len(alerts) > named:
            lines.append(f"… and {len(alerts) - named} more (see Alerts)")
        severe = any(a.event.kind.endswith(("down", "failed")) for a in alerts)
        title = "ALERT" if len(alerts) == 1 else f"{len(alerts)} ALERTS"
        self.notify("\n".join(lines), title=title, severity="error" if severe else "warning",
                    timeout=ALERT_TOAST_S, markup=False)
        if self.options.bell:
            self.bell()

    # -- drawing --------------------------------------------------------------------------

    def _tick(self) -> None:
        self._toast_alerts()
        self.render_now()
        self._show_details()

    def catch_up(self) -> None:
        """Toast pending alerts and draw everything now, without waiting for a tick.

        For pictures of a known state (snapshot tests, screenshots): the result does not
        depend on when the refresh timer last fired.
        """
        self._toast_alerts()
        self.render_now(force=True)
        self._show_details()

    @property
    def drawing(self) -> bool:
        """False while frozen, under a modal or shutting down: then nothing is drawn."""
        if self._exit or self.frozen or not self.panels or not self.screen_stack:
            return False
        return not isinstance(self.screen, ModalScreen)

    def render_now(self, *, force: bool = False) -> None:
        """Redraw what changed (all of it with `force`), unless the display is not visible."""
        if not self.drawing:
            return
        now = self.monitor.now()
        second = now.replace(microsecond=0)
        new_second = second != self._second
        self._second = second
        with self.batch_update():
            if self._dirty or force or self._snapshot is None:
                self._snapshot = self.monitor.snapshot()
            snapshot = self._snapshot
            if self._dirty or force or new_second:
                self._show_sites(snapshot, now)
            self._show_header(snapshot, now)
            if self._new_events:
                self.event_log.add(self._new_events)
                self._new_events = []
            if self._alerts_dirty or force:
                self._alerts_dirty = False
                self.alert_list.show(self.monitor.alerts)
            # Rounds redraw the timeline at most every TIMELINE_EVERY_S; an event at once.
            due = time.monotonic() - self._timeline_at >= TIMELINE_EVERY_S
            if force or self._timeline_urgent or (self._timeline_due and due):
                self._show_timeline(now)
        self._dirty = False

    def _show_details(self) -> None:
        """The node detail pane follows the engine while it is up (unless frozen)."""
        if self._exit or self.frozen or not self.screen_stack:
            return
        screen = self.screen
        if isinstance(screen, NodeDetailScreen):
            snapshot = self.monitor.snapshot()
            screen.show(snapshot.sites[screen.site_index], self.monitor.now(), self.size.width)

    def _show_header(self, snapshot: EstateSnapshot, now: datetime) -> None:
        nodes = [node for site in snapshot.sites for node in site.nodes]
        drill = self.monitor.drill
        self.header.show(HeaderInfo(
            status=snapshot.status, now=now, in_pool=sum(n.in_pool() for n in nodes),
            nodes=len(nodes), unacked=self.monitor.alerts.unacknowledged,
            slowest_round=self.monitor.slowest_round(),
            interval=self.monitor.config.defaults.interval, frozen=self.frozen,
            node_filter=self.node_filter, drill=drill.name if drill else None,
            drill_s=(now - drill.started).total_seconds() if drill else 0.0))

    def _show_sites(self, snapshot: EstateSnapshot, now: datetime) -> None:
        for panel, view in zip(self.panels, snapshot.sites, strict=True):
            if panel.display:  # a hidden tab is drawn when it is switched to
                panel.show(view, now, self.node_filter)
        if self.tabs_mode:
            self.tabs.show(
                [Tab(view.name, view.status) for view in snapshot.sites], self.site_index)

    def _shown_sites(self) -> list[int]:
        return [self.site_index] if self.tabs_mode else list(range(len(self.sites)))

    def _show_timeline(self, now: datetime) -> None:
        self._timeline_due = self._timeline_urgent = False
        self._timeline_at = time.monotonic()
        shown = self._shown_sites()
        sources = []
        for index in shown:
            site = self.sites[index]
            keys_ = [f"{site.name}/{node.name}" for node in site.nodes] + [f"{site.name}/vip"]
            if site.dns_servers:
                keys_.append(f"{site.name}/dns")
            for key in keys_:
                state = self.monitor.states[key]
                target = state.target
                expected = target.address if target.kind == "dns" else None
                sources.append(Source(target.site, target.subject, target.kind, state.ring,
                                      expected))
        zoom = ZOOMS[self.zoom_index]
        headings = len(shown) > 1
        width = self.timeline.view.fit_labels([s.subject for s in sources], headings=headings)
        lanes = build_lanes(sources, list(self.events), end=now, seconds=zoom.seconds,
                            width=width)
        marks = self._marks_since(now - timedelta(seconds=zoom.seconds), now)
        covered = {(s.site, s.subject): shaded for s in sources if (shaded := expected_buckets(
            marks, s.site, s.subject, end=now, seconds=zoom.seconds, width=width))}
        self.timeline.show(lanes, zoom, headings=headings, expected=covered)

    def _marks_since(self, start: datetime, now: datetime) -> list[MaintenanceMark]:
        """Maintenance marks that applied in [start, now), for the timeline (none without a
        history, or when it cannot be read: the picture goes on without them)."""
        if self.store is None:
            return []
        try:
            return self.store.maintenance(since=start, until=now)
        except HistoryError as err:
            log.warning("maintenance marks not read for the timeline: %s", err)
            return []

    # -- terminal ---------------------------------------------------------------------------

    def _terminal_gone(self, reason: str) -> None:
        log.info("exiting: %s", reason)
        self._stop.set()
        self.exit(0)

    def on_unmount(self) -> None:
        self._stop.set()
        self.monitor.set_bell(None)
        self._terminal.stop()

    # -- actions --------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Site keys are bound with priority (tab would move focus): not under a modal. Node
        keys act on the console's selection, or on the node whose details are shown."""
        modal = isinstance(self.screen, ModalScreen)
        if action in ("next_site", "previous_site", "details", "drill"):
            return not modal
        if action in ("lb_state", "maintenance"):
            return not modal or isinstance(self.screen, NodeDetailScreen)
        return True

    async def action_quit(self) -> None:
        self._stop.set()
        self.exit(0)

    def action_help(self) -> None:
        self.push_screen(HelpScreen([("Console", keys.BINDINGS),
                                     ("In the node filter", NodeFilter.BINDINGS),
                                     ("In a node's details", NodeDetailScreen.BINDINGS)]))

    def select_site(self, index: int) -> None:
        if not 0 <= index < len(self.sites):
            self.notify(f"there is no site {index + 1}", severity="warning")
            return
        changed = index != self.site_index
        self.site_index = index
        if self.tabs_mode and changed:
            self.relayout()
        panel = self.panels[index]
        panel.table.focus()
        panel.scroll_visible()

    def action_next_site(self) -> None:
        self.select_site((self.site_index + 1) % len(self.sites))

    def action_previous_site(self) -> None:
        self.select_site((self.site_index - 1) % len(self.sites))

    def action_site(self, number: int) -> None:
        self.select_site(number - 1)

    def action_filter(self) -> None:
        box = self.filter
        if not box.display:
            box.display = True
            self.relayout()
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if isinstance(event.input, NodeFilter):
            self.node_filter = event.value.strip()
            self._dirty = True
            self.render_now()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if isinstance(event.input, NodeFilter):
            self._close_filter()

    def on_node_filter_cleared(self, message: NodeFilter.Cleared) -> None:
        self.node_filter = ""
        self._close_filter()

    def _close_filter(self) -> None:
        self.filter.display = False
        self.panels[self.site_index].table.focus()
        self.relayout()

    def on_site_tabs_selected(self, message: SiteTabs.Selected) -> None:
        self.select_site(message.index)

    def action_focus_timeline(self) -> None:
        self.timeline.view.focus()

    def _zoom(self, step: int) -> None:
        index = min(max(self.zoom_index + step, 0), len(ZOOMS) - 1)
        if index != self.zoom_index:
            self.zoom_index = index
            self._timeline_urgent = True
            self.render_now()

    def action_zoom_in(self) -> None:
        self._zoom(-1)

    def action_zoom_out(self) -> None:
        self._zoom(+1)

    def action_ack(self) -> None:
        alerts = self.alert_list
        alert_id = alerts.selected_id()
        if alert_id is None or not self.monitor.acknowledge([alert_id]):
            self.notify("no unacknowledged alert selected", severity="warning")
            return
        self._alerts_dirty = True
        self.render_now()
        alerts.select_next_unacked()

    def action_ack_all(self) -> None:
        count = self.monitor.acknowledge(None)
        self.notify(f"{count} alert{'s' if count != 1 else ''} acknowledged")
        self._alerts_dirty = True
        self.render_now()

    def action_freeze(self) -> None:
        self.frozen = not self.frozen
        if self.frozen:  # the one thing drawn while frozen: saying so
            if self._snapshot is not None:
                self._show_header(self._snapshot, self.monitor.now())
        else:
            self.render_now(force=True)

    def action_reprobe(self) -> None:
        self.monitor.probe_now()
        self.notify("re-probing every target now")

    # -- the selected node -------------------------------------------------------------------

    def selected_node(self) -> tuple[int, str] | None:
        """(site index, node name) of the node shown in details, else the one under the
        cursor of the focused node table, else of the current site's table."""
        screen = self.screen
        if isinstance(screen, NodeDetailScreen):
            return screen.site_index, screen.node
        focused = self.focused
        index = next((i for i, panel in enumerate(self.panels) if panel.table is focused),
                     self.site_index)
        node = self.panels[index].table.selected()
        return None if node is None else (index, node)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """enter (or a click) on a node row opens its details."""
        if isinstance(event.data_table, NodeTable):
            self.action_details()

    def action_details(self) -> None:
        chosen = self.selected_node()
        if chosen is None:
            self.notify("no node selected", severity="warning")
            return
        index, node = chosen
        site = self.sites[index]
        screen = NodeDetailScreen(index, site.name, node, site.lb)
        screen.show(self.monitor.snapshot().sites[index], self.monitor.now(), self.size.width)
        self.push_screen(screen)

    def action_lb_state(self, state: AdminState) -> None:
        """Drain / ready the selected node on its site's balancer: only with lb_admin = true,
        and only once the user said yes."""
        chosen = self.selected_node()
        if chosen is None:
            self.notify("no node selected", severity="warning")
            return
        index, node = chosen
        site = self.sites[index]
        if site.lb is None:
            self.notify(f"{safe(site.name, 40)} has no balancer configured ([sites.lb])",
                        severity="warning", markup=False)
            return
        if not self.monitor.config.defaults.lb_admin:
            self.notify("castui is read-only: drain / ready need lb_admin = true in the "
                        "config's [defaults]", title=f"{state} {safe(node, 40)}",
                        severity="warning", markup=False)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._set_lb_state(site.name, node, state)

        self.push_screen(ConfirmScreen(lb_question(state, node, site.lb)), answered)

    @work(exit_on_error=False, group="lb")
    async def _set_lb_state(self, site: str, node: str, state: AdminState) -> None:
        """The engine talks to the balancer and records the change as an `lb_admin` event."""
        try:
            await self.monitor.set_lb_state(site, node, state)
        except LbError as err:
            self.notify(safe(err, 300), title=f"{state} {safe(node, 40)} failed",
                        severity="error", markup=False)
            return
        self.notify(f"{safe(node, 40)}: {state} accepted by the balancer", markup=False)

    # -- drills and maintenance: asked here, recorded by the engine -------------------------

    def _changed(self) -> None:
        """Show what a command changed now, not at the next tick."""
        self._dirty = self._alerts_dirty = True
        self.render_now()

    def _refused(self, what: str, err: Exception) -> None:
        self.notify(safe(err, 300), title=f"{what} failed", severity="error", markup=False)

    def action_drill(self) -> None:
        """Start a named drill, or end the running one (perhaps one a previous run left open)
        once the user said yes."""
        if self.monitor.store is None:
            self.notify("drills need the history database", severity="warning")
            return
        drill = self.monitor.drill
        if drill is None:
            name = default_name(self.monitor.now(), self.options.local_tz)
            self.push_screen(DrillScreen(name), self._start_drill)
            return
        ran = duration((self.monitor.now() - drill.started).total_seconds(), style="compact")
        who = f", started by {safe(drill.started_by, 40)}" if drill.started_by else ""
        question = (f"End drill '{safe(drill.name, 60)}' (running {ran}{who})? Its figures "
                    "stop here.")

        def answered(yes: bool | None) -> None:
            if yes:
                self._end_drill()

        self.push_screen(ConfirmScreen(question), answered)

    def _start_drill(self, name: str | None) -> None:
        if name is None:
            return
        try:
            self.monitor.start_drill(name)
        except HistoryError as err:
            self._refused("drill", err)
            return
        self.notify(f"drill '{safe(name, 60)}' started", markup=False)
        self._changed()

    def _end_drill(self) -> None:
        try:
            drill = self.monitor.end_drill()
        except HistoryError as err:
            self._refused("drill", err)
            return
        if drill is not None:
            lasted = duration((self.monitor.now() - drill.started).total_seconds(), style="compact")
            self.notify(f"drill '{safe(drill.name, 60)}' ended after {lasted}", markup=False)
        self._changed()

    def action_maintenance(self) -> None:
        """Mark the selected node or its site in maintenance, or clear a mark."""
        chosen = self.selected_node()
        if chosen is None:
            self.notify("no node selected", severity="warning")
            return
        if self.monitor.store is None:
            self.notify("maintenance marks need the history database", severity="warning")
            return
        index, node = chosen
        site = self.sites[index].name
        now = self.monitor.now()
        try:
            marks = [m for m in self.monitor.maintenance()
                     if m.site.casefold() == site.casefold() and m.until() > now]
        except HistoryError as err:
            self._refused("maintenance", err)
            return

        def answered(request: MaintRequest | None) -> None:
            if request is not None:
                self._maintenance(site, request)

        self.push_screen(MaintScreen(site, node, marks, now), answered)

    def _maintenance(self, site: str, request: MaintRequest) -> None:
        target = safe(site if request.node is None else f"{site}/{request.node}", 80)
        try:
            if request.action == "clear":
                cleared = self.monitor.clear_maintenance(site, request.node)
                said = (f"maintenance of {target} cleared" if cleared
                        else f"{target} had no maintenance mark to clear")
            else:
                mark = self.monitor.set_maintenance(site, request.node, request.seconds,
                                                    request.reason)
                until = until_text(mark.until(), self.monitor.now(), short=False)
                said = f"{target} in maintenance until {until} UTC"
        except (HistoryError, ValueError) as err:
            self._refused("maintenance", err)
            return
        self.notify(said, markup=False)
        self._changed()

    def action_save_svg(self) -> None:
        stamp = file_stamp(self.monitor.now())
        try:
            path = self.save_screenshot(f"castui-{stamp}.svg", str(self.options.screenshot_dir))
        except OSError as err:
            self.notify(f"screenshot not saved: {safe(err)}", severity="error", markup=False)
            return
        self.notify(f"screenshot saved: {safe(path, 300)}", markup=False)
