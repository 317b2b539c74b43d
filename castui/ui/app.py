"""The console app: lays the screen out, subscribes to the engine, hands snapshots to the panels.

Data flows one way. The engine (running in this event loop) calls back on events, alerts and
completed rounds; those become Textual messages that only mark what changed (ui.refresh). A
refresh timer then redraws at most a few times a second, and only what is on screen: nothing
while the display is frozen (`p`) or a modal is up (but a node's details, which follow the
engine), and no hidden site panel. The app never opens a socket and never decides a state: that
is the engine's, read from its snapshot. What flows back are the user's commands, asked in
ui.flows and sent to the engine as explicit calls; the engine's bell notifiers ring the
console's bell.

Why this module is longer than 400 lines: it is the one Textual App, and Textual calls a key's
action and a message's handler as methods of the App, so each of the ~55 keys and messages
needs a method here. Each is a few lines that hand the work on: the redraw throttle to
ui.refresh, the engine subscription to ui.feed, alert toasts to ui.toasts, the timeline to
ui.timeline_feed, the layout rule to ui.layout, the full-screen lists to ui.screens.records,
and every command to ui.flows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import partial

from rich.console import RenderableType
from textual import events, work
from textual.app import App, ComposeResult, SystemCommand
from textual.containers import Horizontal, Vertical
from textual.filter import LineFilter, NoColor
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Input
from textual.worker import Worker, WorkerState

from castui.engine.monitor import Monitor
from castui.engine.snapshot import EstateSnapshot
from castui.engine.timeline import ZOOMS
from castui.history.store import EventStore
from castui.model.balancer import AdminState
from castui.model.errors import HistoryError
from castui.model.events import SUBJECT_DNS, SUBJECT_VIP
from castui.model.times import file_stamp
from castui.ui import keys
from castui.ui.feed import EngineFeed
from castui.ui.flows.alerts import AcknowledgeFlow
from castui.ui.flows.balancer import LB_GROUP, BalancerFlow
from castui.ui.flows.drills import DrillFlow
from castui.ui.flows.maintenance import MaintenanceFlow
from castui.ui.layout import arrange, site_panel
from castui.ui.messages import AlertRaised, EngineEvent, RoundsDone
from castui.ui.options import ConsoleOptions
from castui.ui.palette import use_palette
from castui.ui.refresh import Refresh
from castui.ui.screens.help import HelpScreen
from castui.ui.screens.node_detail import NodeDetailScreen
from castui.ui.screens.records import Record, RecordsScreen, alert_records, event_records
from castui.ui.terminal import CHECK_INTERVAL, TerminalWatch
from castui.ui.timeline_feed import show_timeline
from castui.ui.toasts import AlertToasts
from castui.ui.widgets.alert_list import AlertList
from castui.ui.widgets.event_log import EventLog
from castui.ui.widgets.header import HeaderInfo, StatusHeader
from castui.ui.widgets.node_filter import NodeFilter
from castui.ui.widgets.node_table import NodeTable
from castui.ui.widgets.site_panel import SitePanel
from castui.ui.widgets.site_tabs import SiteTabs, Tab
from castui.ui.widgets.timeline import TimelinePanel, TimelineView
from castui.ui.words import safe

log = logging.getLogger(__name__)
#: The filter that drops every colour (stateless, so one serves every frame).
NO_COLOUR = NoColor()


class ConsoleApp(App[int]):
    """The castui console over a Monitor (started here unless `run_engine` is False)."""

    CSS_PATH = "console.tcss"
    TITLE = "castui"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = keys.BINDINGS

    def __init__(self, monitor: Monitor, *, store: EventStore | None = None,
                 options: ConsoleOptions | None = None) -> None:
        # Palette colours are ANSI names, sent as such: the terminal's own red is red at every
        # colour depth (Textual's default turns them into its theme's RGB, which 16-colour
        # terminals then draw as the nearest of their colours: magenta for red).
        super().__init__(ansi_color=True)
        self.monitor = monitor
        self.store = store
        self.options = options or ConsoleOptions()
        #: No colour at all: NO_COLOR (Textual then drops every colour), or a terminal with
        #: none (TERM=dumb), which Textual would otherwise draw in 24-bit colour.
        self.colourless = self.no_color or self.console.color_system is None
        use_palette(monochrome=self.colourless)
        self.sites = monitor.config.sites
        self.multi_site = len(self.sites) > 1
        self.feed = EngineFeed(self, monitor, store,
                               history_events=self.options.history_events)
        self.site_index = 0
        self.tabs_mode = False
        self.frozen = False
        #: The feed's event count when the display was frozen.
        self._frozen_at = 0
        self.node_filter = ""
        #: `P`: only the troubled nodes (the snapshot's verdict), untroubled sites folded.
        self.problems_only = False
        self.zoom_index = 0
        self.panels: list[SitePanel] = []
        self.header = StatusHeader(local_tz=self.options.local_tz, id="header")
        self.tabs = SiteTabs(id="site-tabs")
        self.sites_box = Vertical(id="sites")
        self.filter = NodeFilter(id="filter")
        self.timeline = TimelinePanel(id="timeline-panel")
        self.event_log = EventLog(with_site=self.multi_site, id="events")
        self.alert_list = AlertList(with_site=self.multi_site, id="alerts")
        self.refresh_flags = Refresh()
        self.toasts = AlertToasts(self, multi_site=self.multi_site, bell=self.options.bell,
                                  in_view=self._alerts_in_view)
        self.acknowledging = AcknowledgeFlow(self, monitor, self._alerts_changed)
        self.drills = DrillFlow(self, monitor, self._changed, self.options.local_tz)
        self.maintaining = MaintenanceFlow(self, monitor, self._changed)
        self.balancing = BalancerFlow(self, monitor, self._changed)
        self._snapshot: EstateSnapshot | None = None
        #: Set by `exit`: late messages while shutting down draw nothing.
        self.closing = False
        self._stop = asyncio.Event()
        self._terminal = TerminalWatch(self._terminal_gone)

    def get_line_filters(self) -> Sequence[LineFilter]:
        """Textual's filters, and no colour at all on a terminal without (TERM=dumb)."""
        filters = list(super().get_line_filters())
        if self.colourless and not self.no_color:
            filters.append(NO_COLOUR)
        return filters

    def exit(self, result: int | None = None, return_code: int = 0,
             message: RenderableType | None = None) -> None:
        """Exit, drawing nothing more."""
        self.closing = True
        super().exit(result, return_code, message)

    # -- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield self.header
        with self.sites_box:
            yield self.tabs
            yield self.filter
            snapshot = self.monitor.snapshot()
            for index, (site, view) in enumerate(zip(self.sites, snapshot.sites, strict=True)):
                self.panels.append(site_panel(index, site, view))
                yield self.panels[-1]
        with Horizontal(id="lower"):
            with Vertical(id="left"):
                yield self.timeline
                yield self.event_log
            yield self.alert_list
        yield Footer()

    def on_mount(self) -> None:
        self.feed.attach()
        self.monitor.set_bell(self.bell)
        self.monitor.take_up_drill()  # one an earlier run left open, its recorder gone
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
        """Sites stacked, or under tabs when they do not fit (ui.layout), then drawn."""
        if self.closing or not self.screen_stack:  # a late message while shutting down
            return
        plan = arrange([panel.rows_needed for panel in self.panels], self.size.height,
                       self.site_index, filter_shown=bool(self.filter.display))
        self.tabs_mode = self.tabs.display = plan.tabs
        for panel, shown, height in zip(self.panels, plan.shown, plan.heights, strict=True):
            panel.display = shown
            panel.styles.height = height
        self.sites_box.styles.height = plan.box_height
        self.refresh_flags.sites = True
        self.refresh_flags.timeline_changed()
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
        elif event.worker.group == LB_GROUP:  # not the balancer's refusal (a notify): a bug
            log.error("balancer change failed", exc_info=error)
            self.notify(safe(repr(error), 300), title="balancer change failed",
                        severity="error", markup=False)

    def on_site_panel_lines_changed(self, message: SitePanel.LinesChanged) -> None:
        self.relayout()

    def on_site_panel_opened(self, message: SitePanel.Opened) -> None:
        """Enter on a site's DNS or VIP line: its details, like a node's."""
        index = self.panels.index(message.panel)
        self._open_details(index, message.subject)

    def on_timeline_view_resized(self, message: TimelineView.Resized) -> None:
        """New strips at the new width at once, not at the next timeline tick."""
        self.refresh_flags.timeline_changed()
        self.render_now()

    def on_rounds_done(self, message: RoundsDone) -> None:
        self.feed.rounds_seen()
        self.refresh_flags.round_done()

    def on_engine_event(self, message: EngineEvent) -> None:
        self.feed.add(message.event)
        self.refresh_flags.event()

    def on_alert_raised(self, message: AlertRaised) -> None:
        """Toasted with the others raised by the next refresh tick (ui.toasts)."""
        self.toasts.add(message.alert)
        self.refresh_flags.alerts = True

    # -- drawing --------------------------------------------------------------------------

    def _tick(self) -> None:
        self.toasts.flush()
        self.render_now()
        self._show_details()

    def catch_up(self) -> None:
        """Toast pending alerts and draw everything now, without waiting for a tick.

        For pictures of a known state (snapshot tests, screenshots): the result does not
        depend on when the refresh timer last fired.
        """
        self.toasts.flush()
        self.render_now(force=True)
        self._show_details()

    @property
    def drawing(self) -> bool:
        """False while frozen, under a modal or shutting down: then nothing is drawn."""
        if self.closing or self.frozen or not self.panels or not self.screen_stack:
            return False
        return not isinstance(self.screen, ModalScreen)

    def render_now(self, *, force: bool = False) -> None:
        """Redraw what changed (all of it with `force`), unless the display is not visible;
        while frozen, only the header (the live status, and what came since the freeze)."""
        if not self.drawing:
            if self.frozen and not self.closing and self.screen_stack:
                self._show_header(self.monitor.snapshot(), self.monitor.now())
            return
        flags = self.refresh_flags
        now = self.monitor.now()
        new_second = flags.new_second(now)
        with self.batch_update():
            if flags.sites or force or self._snapshot is None:
                self._snapshot = self.monitor.snapshot()
            snapshot = self._snapshot
            if flags.sites or force or new_second:
                self._show_sites(snapshot, now)
            self._show_header(snapshot, now)
            if unlogged := self.feed.take_unlogged():
                self.event_log.add(unlogged)
            if flags.take_alerts(force):
                self.alert_list.show(self.monitor.alerts)
            if flags.take_timeline(force):
                sites = [self.sites[index].name for index in self._shown_sites()]
                order = {view.name: view.problems if self.problems_only else view.by_trouble
                         for view in snapshot.sites}
                show_timeline(self.timeline, self.monitor, self.store, sites, self.feed.events,
                              ZOOMS[self.zoom_index], now, order)
        flags.sites = False

    def _alerts_in_view(self) -> bool:
        """Is an alert list on screen and kept current (then alerts need no toast)?"""
        screen = self.screen if self.screen_stack else None
        if isinstance(screen, RecordsScreen):
            return screen.view == "alerts" and not self.frozen
        return self.drawing and self.alert_list.display and self.alert_list.size.height > 1

    def _show_details(self) -> None:
        """The node detail pane and the full-screen lists follow the engine while they are up
        (unless frozen)."""
        if self.closing or self.frozen or not self.screen_stack:
            return
        screen = self.screen
        if isinstance(screen, NodeDetailScreen):
            snapshot = self.monitor.snapshot()
            screen.show(snapshot.sites[screen.site_index], self.monitor.now(), self.size.width)
        elif isinstance(screen, RecordsScreen):
            screen.show(self._records(screen))

    def _records(self, screen: RecordsScreen) -> list[Record]:
        if screen.view == "events":
            return event_records(self.feed.events, with_site=self.multi_site)
        return alert_records(self.monitor.alerts, with_site=self.multi_site)

    def _show_header(self, snapshot: EstateSnapshot, now: datetime) -> None:
        nodes = [node for site in snapshot.sites for node in site.nodes]
        drill = self.monitor.drill
        shown = {self.sites[index].name for index in self._shown_sites()}
        self.header.show(HeaderInfo(
            status=snapshot.headline, now=now, pending=snapshot.pending,
            new_since_freeze=self.feed.count - self._frozen_at if self.frozen else 0,
            in_pool=sum(n.in_pool() for n in nodes),
            nodes=len(nodes), unacked=self.monitor.alerts.unacknowledged,
            slowest_round=snapshot.slowest_round, interval=snapshot.interval,
            lagging=snapshot.lagging, frozen=self.frozen,
            node_filter=self.node_filter, drill=drill.name if drill else None,
            drill_s=(now - drill.started).total_seconds() if drill else 0.0,
            worst_site=snapshot.worst_site if snapshot.worst_site not in shown else None,
            problems_only=self.problems_only))

    def _show_sites(self, snapshot: EstateSnapshot, now: datetime) -> None:
        for panel, view in zip(self.panels, snapshot.sites, strict=True):
            # A hidden tab is drawn when it is switched to; with problems only, every panel
            # is kept current (whether it folds decides the layout).
            if panel.display or self.problems_only:
                panel.show(view, now, self.node_filter, self.problems_only)
        if self.tabs_mode:
            self.tabs.show(
                [Tab(view.name, view.status) for view in snapshot.sites], self.site_index)

    def _shown_sites(self) -> list[int]:
        return [self.site_index] if self.tabs_mode else list(range(len(self.sites)))

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
        if action in ("next_site", "previous_site", "details", "drill", "events", "alerts",
                      "clear_filter"):
            return not modal
        if action in ("lb_state", "maintenance"):
            return not modal or isinstance(self.screen, NodeDetailScreen)
        return True

    async def action_quit(self) -> None:
        self._stop.set()
        self.exit(0)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:  # type: ignore[type-arg]
        """The command palette (`:`, ctrl+p): every action and view of the console by name."""
        for title, what, action in keys.palette_commands(keys.BINDINGS):
            yield SystemCommand(title, what, partial(self.run_action, action))

    def action_repaint(self) -> None:
        """Ctrl-L: every cell written again (a `wall` message or line noise goes)."""
        self.screen.refresh(repaint=True, layout=True)
        self.refresh_flags.everything()
        self.render_now(force=True)

    def action_clear_filter(self) -> None:
        if self.node_filter:
            self.filter.value = ""
            self.node_filter = ""
            self._close_filter()

    def _open_records(self, screen: RecordsScreen) -> None:
        screen.show(self._records(screen))
        self.push_screen(screen)

    def action_events(self) -> None:
        self._open_records(RecordsScreen("events"))

    def action_alerts(self) -> None:
        self._open_records(RecordsScreen("alerts", ack=self._ack_one))

    def _ack_one(self, alert_id: int) -> bool:
        done = bool(self.monitor.acknowledge([alert_id]))
        self._alerts_changed()
        self._show_details()
        return done

    def action_help(self) -> None:
        self.push_screen(HelpScreen([("Console", keys.BINDINGS),
                                     ("In lists and tables", keys.TABLE_MOVES),
                                     ("Full-screen events and alerts",
                                      RecordsScreen.BINDINGS),
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
            self.refresh_flags.sites = True
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
            self.refresh_flags.timeline_changed()
            self.render_now()

    def action_zoom_in(self) -> None:
        self._zoom(-1)

    def action_zoom_out(self) -> None:
        self._zoom(+1)

    def action_ack(self) -> None:
        self.acknowledging.one(self.alert_list)

    def action_ack_all(self) -> None:
        self.acknowledging.all()

    def action_freeze(self) -> None:
        self.frozen = not self.frozen
        if self.frozen:  # the one thing drawn while frozen: the header, live
            self._frozen_at = self.feed.count
            self.render_now()
        else:
            self.render_now(force=True)

    def action_problems(self) -> None:
        self.problems_only = not self.problems_only
        self.refresh_flags.everything()
        self.render_now()
        self.relayout()

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

    def _chosen(self) -> tuple[int, str] | None:
        """The selected node, or None after saying there is none."""
        chosen = self.selected_node()
        if chosen is None:
            self.notify("no node selected", severity="warning")
        return chosen

    def action_details(self) -> None:
        if (chosen := self._chosen()) is None:
            return
        self._open_details(*chosen)

    def _open_details(self, index: int, node: str) -> None:
        site = self.sites[index]
        screen = NodeDetailScreen(index, site.name, node, site.lb)
        screen.show(self.monitor.snapshot().sites[index], self.monitor.now(), self.size.width)
        self.push_screen(screen)

    def action_lb_state(self, state: AdminState) -> None:
        """Drain / ready the selected node on its site's balancer (ui.flows.balancer)."""
        if (chosen := self._chosen()) is None:
            return
        index, node = chosen
        site = self.sites[index]
        if node in (SUBJECT_VIP, SUBJECT_DNS):
            self.notify("drain and ready are for nodes", severity="warning")
            return
        self.balancing.ask(site.name, node, site.lb, state)

    def action_drill(self) -> None:
        """Start a drill, or end the running one (ui.flows.drills)."""
        self.drills.ask()

    def action_maintenance(self) -> None:
        """Mark the selected node or its site in maintenance, or clear a mark
        (ui.flows.maintenance)."""
        if (chosen := self._chosen()) is None:
            return
        index, node = chosen
        self.maintaining.ask(self.sites[index].name, node)

    def _changed(self) -> None:
        """Show what a command changed now, not at the next tick."""
        self.refresh_flags.everything()
        self.render_now()

    def _alerts_changed(self) -> None:
        self.refresh_flags.alerts = True
        self.render_now()

    def action_save_svg(self) -> None:
        stamp = file_stamp(self.monitor.now())
        try:
            path = self.save_screenshot(f"castui-{stamp}.svg", str(self.options.screenshot_dir))
        except OSError as err:
            self.notify(f"screenshot not saved: {safe(err)}", severity="error", markup=False)
            return
        self.notify(f"screenshot saved: {safe(path, 300)}", markup=False)
