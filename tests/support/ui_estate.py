"""A two-site estate driven without a network, on a frozen clock, for console snapshots.

The real engine runs: a Monitor built from a real config folds fixed probe results, round after
round, at fixed instants (`Monitor.complete_round`). Only the probes are replaced, so every
latency, time and event is identical on every run and the screen can be compared to the byte.
"""

from __future__ import annotations

import io
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from rich.console import Console
from textual.app import App
from textual.pilot import Pilot

from castui.config import Config, parse_config
from castui.engine.events import Event, Kind
from castui.engine.monitor import Monitor
from castui.engine.targets import CheckSpec, Target
from castui.history import EventStore
from castui.probes.result import Code, Error, ProbeResult
from castui.ui import ConsoleApp, ConsoleOptions

T0 = datetime(2026, 11, 21, 8, 0, 0, tzinfo=UTC)
#: A fixed "local" zone for the header, whatever the machine's.
LOCAL = timezone(timedelta(hours=1), "CET")
INTERVAL = 2.0
ROUND_S = 0.31

CONFIG = """
[defaults]
interval = 2
timeout = 1.5
rise = 2
fall = 3

[[sites]]
name = "Site-A"
array_fqdn = "outlook.site-a.corp.local"
vip = "127.0.61.50"
dns_servers = ["127.0.60.53:20053"]
profile = "exchange2010"
ports = { epm = 20135, https = 20443, http = 20080, mapi = 59531, ab = 59532 }
nodes = [
  { name = "CAS1", address = "127.0.61.21", fqdn = "cas1.site-a.corp.local" },
  { name = "CAS2", address = "127.0.61.22", fqdn = "cas2.site-a.corp.local" },
  { name = "CAS3", address = "127.0.61.23", fqdn = "cas3.site-a.corp.local" },
]

[[sites]]
name = "Site-B"
array_fqdn = "outlook.site-b.corp.local"
vip = "127.0.62.50"
dns_servers = ["127.0.60.53:20053"]
profile = "exchange2010"
ports = { epm = 20135, https = 20443, http = 20080, mapi = 59531, ab = 59532 }
nodes = [
  { name = "CAS4", address = "127.0.62.21", fqdn = "cas4.site-b.corp.local" },
  { name = "CAS5", address = "127.0.62.22", fqdn = "cas5.site-b.corp.local" },
]
"""


class FrozenClock:
    """A clock that moves only when told."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def _latency(key: str, check: str) -> float:
    """A stable, plausible latency per check (ms)."""
    return 0.8 + (zlib.crc32(f"{key}/{check}".encode()) % 90) / 10


def healthy(target: Target, spec: CheckSpec, answer: list[str] | None = None) -> ProbeResult:
    latency = _latency(target.key, spec.name)
    if spec.kind == "tcp":
        return ProbeResult(True, Code.L4OK, "connected", latency)
    if spec.kind == "dns":
        addresses = answer if answer is not None else [target.address]
        ok = target.address in addresses
        return ProbeResult(ok, Code.DNSOK, f"{target.host} -> {','.join(addresses)}", latency,
                           None if ok else Error.MISMATCH,
                           {"server": spec.name, "addresses": addresses, "ttl": 300})
    if spec.kind == "http" and spec.expect is not None:
        status = spec.expect.status
        detail = "HTTP 200 logon form" if status == 200 else f"HTTP {status} (Negotiate, NTLM)"
        return ProbeResult(True, Code.L7OK, detail, latency, facts={"status": status})
    return ProbeResult(True, f"{spec.kind.upper()}OK", "fine", latency)  # epm, tls, ...


def refused(target: Target, spec: CheckSpec) -> ProbeResult:
    return ProbeResult(False, Code.L4CON, "connection refused", 0.2, Error.REFUSED)


def status_503(target: Target, spec: CheckSpec) -> ProbeResult:
    return ProbeResult(False, Code.L7STS, "HTTP 503 Service Unavailable, expected 401",
                       _latency(target.key, spec.name), Error.STATUS, {"status": 503})


Fault = Callable[[Target, CheckSpec], ProbeResult]


@dataclass
class Driver:
    """Feeds the monitor a round of every target per interval, with the faults in force."""

    monitor: Monitor
    clock: FrozenClock
    #: target key -> fault for all its checks, or (check name -> fault).
    faults: dict[str, Fault | dict[str, Fault]] = field(default_factory=dict)
    #: site name -> what its DNS answers (default: its own VIP).
    answers: dict[str, list[str]] = field(default_factory=dict)

    def round(self) -> None:
        for key, state in self.monitor.states.items():
            target = state.target
            fault = self.faults.get(key)
            results = {}
            for spec in target.checks:
                rule = fault.get(spec.name) if isinstance(fault, dict) else fault
                if rule is not None:
                    results[spec.name] = rule(target, spec)
                else:
                    results[spec.name] = healthy(target, spec, self.answers.get(target.site))
            self.monitor.complete_round(key, results, ROUND_S)

    def run(self, seconds: float) -> None:
        """Rounds an interval apart for `seconds`, the clock moving with them."""
        for _ in range(int(seconds / INTERVAL)):
            self.clock.advance(INTERVAL)
            self.round()


def config() -> Config:
    return parse_config(CONFIG, "snapshot.toml")


def new_driver(store: EventStore | None = None) -> Driver:
    clock = FrozenClock()
    monitor = Monitor(config(), store=store, clock=clock)
    return Driver(monitor, clock)


def app_for(driver: Driver, **options: Any) -> ConsoleApp:
    """A console over the driven monitor: no engine task, a fixed local zone."""
    settings = ConsoleOptions(run_engine=False, local_tz=LOCAL, **options)
    return ConsoleApp(driver.monitor, store=driver.monitor.store, options=settings)


# -- the pictures -------------------------------------------------------------------------


def started(driver: Driver) -> None:
    """The events `Monitor.run` starts with, one per site."""
    for site in driver.monitor.config.sites:
        driver.monitor.emit(Event(driver.clock(), site.name, "monitor", Kind.MONITOR_STARTED,
                                  f"watching {len(site.nodes)} nodes, VIP {site.vip}"))


def steady(driver: Driver) -> None:
    """Four minutes of a healthy estate."""
    started(driver)
    driver.run(240)


def node_out(driver: Driver) -> None:
    """CAS2 crashes and leaves the pool; CAS4 turns half-dead (EWS answers 503)."""
    driver.faults["Site-A/CAS2"] = refused
    driver.run(30)
    driver.faults["Site-B/CAS4"] = {"ews": status_503}
    driver.run(16)


def dr_switchover(driver: Driver) -> None:
    """Site-A's datacentre is lost: nodes and VIP gone, its array FQDN moved to Site-B's VIP."""
    for name in ("CAS1", "CAS2", "CAS3", "vip"):
        driver.faults[f"Site-A/{name}"] = refused
    driver.run(20)
    driver.answers["Site-A"] = ["127.0.62.50"]
    driver.run(24)


#: Picture name -> what happens in it after four steady minutes (while the console watches).
PICTURES: dict[str, Callable[[Driver], None] | None] = {
    "steady": None, "node_out": node_out, "dr_switchover": dr_switchover}


# -- reading the screen ---------------------------------------------------------------------


def screen_text(app: App[Any]) -> str:
    """The screen as plain text, exactly as composed (what `export_screenshot` draws)."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True,
                      force_terminal=True, color_system=None, legacy_windows=False,
                      safe_box=False)
    console.print(app.screen._compositor.render_update(
        full=True, screen_stack=app._background_screens))
    return console.export_text()


async def until(pilot: Pilot[Any], predicate: Callable[[], bool], timeout: float,
                what: str) -> None:
    """Let the app run until `predicate` holds; AssertionError naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await pilot.pause(0.02)


def toasts(app: App[Any]) -> list[str]:
    """The text of every toast on screen."""
    return [toast.render().plain for toast in app.screen.query("Toast")]  # type: ignore[union-attr]
