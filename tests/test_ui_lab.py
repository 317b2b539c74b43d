"""The console on a live lab estate: real CAS nodes, VIP and DNS on loopback, real probes.

The lab's servers, the engine and the console share one event loop, as in `castui demo`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from castui.engine.monitor import Monitor
from castui.engine.timeline import Mark
from castui.history import EventStore
from castui.lab.actions import parse_action
from castui.lab.certs import LabCA
from castui.lab.estate import LabEstate
from castui.lab.layout import LabTiming
from castui.ui import ConsoleApp, ConsoleOptions, run_console_async
from tests.support.lab import SLACK, running_lab
from tests.support.net import wait_for
from tests.support.ui_estate import alert_rows, cell, screen_text, until

SIZE = (160, 48)
#: The lab, the engine and the console share one loop (and the machine other tests): a pace
#: that keeps a loaded 2-core box from flapping healthy nodes.
# The lab's balancer checks get room too: on a loaded CI machine a 0.1 s connect timeout
# dropped every node from the VIP.
STEADY = LabTiming(interval=1.0, timeout=0.8, rise=2, fall=3, lb_inter=0.2, lb_rise=2,
                   lb_fall=3, lb_timeout=0.5)
#: Exchange 2013 probes eight healthcheck.htm vdirs per node (eight TLS handshakes): a slower
#: round keeps a loaded CI machine from timing healthy nodes out of the pool while it starts.
STEADY_2013 = LabTiming(interval=2.0, timeout=1.5, rise=2, fall=3, lb_inter=0.3, lb_rise=2,
                        lb_fall=3, lb_timeout=0.8)


@dataclass
class Live:
    estate: LabEstate
    app: ConsoleApp
    pilot: Pilot[Any]
    monitor: Monitor

    def detection_bound(self) -> float:
        d = self.monitor.config.defaults
        return d.fall * d.interval + d.timeout + SLACK


@contextlib.asynccontextmanager
async def live_console(tmp: Path, ca: LabCA, *, timing: LabTiming = STEADY,
                       profile: str = "exchange2010") -> AsyncIterator[Live]:
    async with running_lab(ca, timing=timing, profile=profile) as estate:  # type: ignore[arg-type]
        config = estate.config(tmp / "lab.toml")
        with EventStore(tmp / "history.sqlite3") as store:
            monitor = Monitor(config, store=store)
            app = ConsoleApp(monitor, store=store,
                             options=ConsoleOptions(refresh_s=0.25, screenshot_dir=tmp))
            async with app.run_test(size=SIZE, notifications=True) as pilot:
                def outside() -> list[str]:
                    """Targets not in the pool, with their failing checks (for a flake's cause)."""
                    return [f"{key}={state.state} ("
                            + "; ".join(f"{name} {c.last.code} {c.last.detail}"
                                        for name, c in state.checks.items()
                                        if c.last is not None and not c.last.ok)[:400] + ")"
                            for key, state in monitor.states.items()
                            if state.state not in ("up", "degraded")]

                try:
                    await until(pilot, lambda: not outside(), 30, "every target in the pool")
                except AssertionError as exc:
                    raise AssertionError(f"{exc}; still out: {', '.join(outside())}") from None
                yield Live(estate, app, pilot, monitor)


def lane(app: ConsoleApp, subject: str) -> tuple[Mark, ...]:
    for row in app.timeline.view.rows:
        if getattr(row, "subject", None) == subject:
            return row.buckets  # type: ignore[union-attr]
    raise AssertionError(f"no timeline lane for {subject}")


async def test_a_node_crash_reaches_toast_table_and_timeline_in_time(
        tmp_path: Path, lab_ca: LabCA) -> None:
    async with live_console(tmp_path, lab_ca) as live:
        app = live.app
        await until(live.pilot, lambda: "3/3 nodes in pool" in screen_text(app), 5,
                    "a healthy Site-A on screen")
        await live.pilot.press("A")  # whatever a loaded machine raised while starting up
        crashed = time.monotonic()
        await live.estate.apply(parse_action("crash Site-A/CAS2"))

        def on_screen() -> bool:
            return (any("CAS2 out of pool" in t for t in alert_rows(app))
                    and "DOWN" in cell(app, 0, "CAS2", "pool")
                    and lane(app, "CAS2")[-1] is Mark.OUT)

        await until(live.pilot, on_screen, live.detection_bound(),
                    "CAS2 out of the pool in the alert list, the table and the timeline")
        assert time.monotonic() - crashed <= live.detection_bound()
        assert "CAS2 out of pool" in screen_text(app)  # the event list and the alert list
        assert any(a.event.subject == "CAS2" and not a.acknowledged
                   for a in live.monitor.alerts)


async def test_r_probes_every_target_before_its_next_slot(tmp_path: Path,
                                                          lab_ca: LabCA) -> None:
    slow = LabTiming(interval=5.0, timeout=1.0, rise=1, fall=1, lb_inter=0.5, lb_rise=1,
                     lb_fall=1, lb_timeout=0.2)
    async with live_console(tmp_path, lab_ca, timing=slow) as live:
        before = {key: state.rounds for key, state in live.monitor.states.items()}
        pressed = time.monotonic()
        await live.pilot.press("r")
        await until(live.pilot, lambda: all(s.rounds > before[k]
                                            for k, s in live.monitor.states.items()),
                    3.0, "a round of every target")
        assert time.monotonic() - pressed < 3.0  # well before the 5 s interval


async def test_hostile_server_names_show_literally(tmp_path: Path, lab_ca: LabCA) -> None:
    """An X-FEServer of `[red]pwned` stays text; an ANSI escape in it never reaches the
    terminal. The VIP line names the CASes that answered through the VIP, from that header
    (VIP sampling: `answers: … · [red]pwned[/red] 6`)."""
    # Exchange 2013 sends X-FEServer.
    async with live_console(tmp_path, lab_ca, timing=STEADY_2013,
                            profile="exchange2013") as live:
        app = live.app
        for node in live.estate.sites["Site-A"].nodes.values():
            node.http.fe_server = "[red]pwned[/red]\x1b[31m\x1b]0;owned\x07"
        shown: list[str] = []

        def vip_line_names_it() -> bool:
            shown[:] = [screen_text(app)]
            return "· [red]pwned[/red] " in shown[0]

        await until(live.pilot, vip_line_names_it, 10,
                    "the VIP line naming the hostile server literally")
        assert "\x1b" not in shown[0] and "\x07" not in shown[0] and "owned" not in shown[0]

        await live.estate.apply(parse_action("fail Site-A/CAS1 ews"))
        def degraded() -> list[str]:
            return [line.plain for line in app.event_log.lines
                    if "CAS1 degraded" in line.plain and "ews" in line.plain]

        await until(live.pilot, lambda: bool(degraded()), live.detection_bound(),
                    "CAS1 degraded (ews) in the event list")
        (line,) = degraded()
        assert "via [red]pwned[/red]" in line and "\x1b" not in line and "owned" not in line
        assert "\x1b" not in screen_text(app)


async def test_the_console_shares_its_loop_with_the_lab_and_stops_on_request(
        tmp_path: Path, lab_ca: LabCA) -> None:
    """What `castui demo` does: lab servers, engine and console in one loop; a stop event (its
    Ctrl-C or --duration) ends the console, and the side tasks end with it."""
    async with running_lab(lab_ca, timing=STEADY) as estate:
        config = estate.config(tmp_path / "lab.toml")
        monitor = Monitor(config)
        stop = asyncio.Event()
        side_cancelled = asyncio.Event()

        async def side_task() -> None:  # a scenario, say
            try:
                await asyncio.sleep(3600)
            finally:
                side_cancelled.set()

        async def stop_when_watching() -> None:
            await wait_for(lambda: all(s.rounds >= 1 for s in monitor.states.values()), 15,
                           what="every target probed through the console's engine")
            stop.set()

        status = await asyncio.wait_for(
            run_console_async(monitor, extra=[side_task(), stop_when_watching()], stop=stop,
                              headless=True, size=SIZE), 30)
        assert status == 0
        assert side_cancelled.is_set()
