"""A two-site estate driven without a network, on a frozen clock, for console snapshots.

The real engine runs: a Monitor built from a real config folds fixed probe results, round after
round, at fixed instants (`Monitor.complete_round`). Only the probes are replaced, so every
latency, time and event is identical on every run and the screen can be compared to the byte.
"""

from __future__ import annotations

import dataclasses
import html
import re
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from rich.cells import cell_len
from textual.app import App
from textual.pilot import Pilot

from castui.config import Config, parse_config
from castui.engine.monitor import Monitor
from castui.engine.targets import CheckSpec, Target
from castui.history import EventStore
from castui.model.balancer import ServerView
from castui.model.events import Event, Kind
from castui.model.results import Code, Error, ProbeResult
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

#: Terminal sizes the console is tested at: roomy, and the 80x24 an SSH session may have.
WIDE = (160, 48)
SMALL = (80, 24)
#: Generous bound for something the console does within one or two refresh ticks.
PROMPT = 5.0


#: Deep checks and where the clients are: Site-A is Exchange 2013 behind an HAProxy with node
#: agents, two resolvers and the service names its certificates must cover; Site-B has an
#: HAProxy too. `{tmp}` holds the agents' token file; nothing here is ever contacted.
DEEP_CONFIG = """
[defaults]
interval = 2
timeout = 1.5
rise = 2
fall = 3

[[sites]]
name = "Site-A"
array_fqdn = "outlook.site-a.corp.local"
vip = "127.0.61.50"
dns_servers = ["127.0.60.53:20053", "127.0.60.54:20053"]
profile = "exchange2013"
service_names = ["mail.corp.local"]
agent_token_file = "{tmp}/agent.token"
ports = {{ epm = 20135, https = 20443, http = 20080, mapi = 59531, ab = 59532 }}

[[sites.nodes]]
name = "CAS1"
address = "127.0.61.21"
fqdn = "cas1.site-a.corp.local"
agent = "https://127.0.61.21:8799"

[[sites.nodes]]
name = "CAS2"
address = "127.0.61.22"
fqdn = "cas2.site-a.corp.local"
agent = "https://127.0.61.22:8799"

[[sites.nodes]]
name = "CAS3"
address = "127.0.61.23"
fqdn = "cas3.site-a.corp.local"
agent = "https://127.0.61.23:8799"

[sites.lb]
type = "haproxy"
socket = "{tmp}/site-a-haproxy.sock"
backend = "https"

[[sites]]
name = "Site-B"
array_fqdn = "outlook.site-b.corp.local"
vip = "127.0.62.50"
dns_servers = ["127.0.60.53:20053"]
profile = "exchange2010"
ports = {{ epm = 20135, https = 20443, http = 20080, mapi = 59531, ab = 59532 }}
nodes = [
  {{ name = "CAS4", address = "127.0.62.21", fqdn = "cas4.site-b.corp.local" }},
  {{ name = "CAS5", address = "127.0.62.22", fqdn = "cas5.site-b.corp.local" }},
]

[sites.lb]
type = "haproxy"
socket = "{tmp}/site-b-haproxy.sock"
backend = "https"
"""

#: Exchange 2016+: Site-A behind a per-vdir layer-7 HAProxy, with node agents that report
#: Exchange's server component states (stood in: no registry here). `{tmp}` as above.
EX16_CONFIG = """
[defaults]
interval = 2
timeout = 1.5
rise = 2
fall = 3

[[sites]]
name = "Site-A"
array_fqdn = "mail.site-a.corp.local"
vip = "127.0.61.50"
dns_servers = ["127.0.60.53:20053"]
profile = "exchange2016"
lb_scope = "vdir"
agent_token_file = "{tmp}/agent.token"
ports = {{ https = 20443, http = 20080 }}

[[sites.nodes]]
name = "EX1"
address = "127.0.61.21"
fqdn = "ex1.site-a.corp.local"
agent = "https://127.0.61.21:8799"

[[sites.nodes]]
name = "EX2"
address = "127.0.61.22"
fqdn = "ex2.site-a.corp.local"
agent = "https://127.0.61.22:8799"

[[sites.nodes]]
name = "EX3"
address = "127.0.61.23"
fqdn = "ex3.site-a.corp.local"
agent = "https://127.0.61.23:8799"

[sites.lb]
type = "haproxy"
socket = "{tmp}/site-a-haproxy.sock"
backend = "https"
"""
#: Every server component Active, as a healthy node's agent reports them.
ACTIVE = {name: {"state": "Active", "requesters": {"HealthApi": "Active"}}
          for name in ("ServerWideOffline", "HubTransport", "OwaProxy", "EwsProxy",
                       "EcpProxy", "MapiProxy")}

#: Days a certificate has left in the pictures (the warning starts under 30).
CERT_DAYS = 12
#: What HAProxy says when its socket is missing, as castui's adapter words it.
NO_SOCKET = ("HAProxy socket /run/haproxy/site-b.sock: no such socket (is HAProxy running, "
             "with 'stats socket' in its global section?)")


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
    if spec.kind == "epm":
        mapped = {"MSExchangeRPC": 59531, "MSExchangeAB": 59532}
        return ProbeResult(True, Code.EPMOK, "bind accepted; " + ", ".join(
            f"{service} -> {port}" for service, port in mapped.items()), latency,
            facts={"address": target.address, "port": spec.port, "bind": "accepted",
                   "mapped": mapped, "not_registered": [],
                   "mapped_tcp": dict.fromkeys(mapped, Code.L4OK)})
    if spec.kind == "tls":
        return certificate(target, spec, 400)
    return ProbeResult(True, f"{spec.kind.upper()}OK", "fine", latency)


def certificate(target: Target, spec: CheckSpec, days: int) -> ProbeResult:
    """A valid certificate covering every name asked for, with `days` left."""
    names = list(spec.names) or [target.host or target.address]
    until = (T0 + timedelta(days=days)).date().isoformat()
    return ProbeResult(True, Code.TLSOK, f"valid {days} more days for {', '.join(names)}",
                       _latency(target.key, spec.name), None,
                       {"names": names, "not_before": "2026-01-05T00:00:00+00:00",
                        "not_after": f"{until}T00:00:00+00:00", "days_left": days,
                        "missing": []},
                       warning=f"expires in {days} days" if days < 30 else None)


def expiring(target: Target, spec: CheckSpec) -> ProbeResult:
    """A certificate with CERT_DAYS left: passes, with a warning."""
    return certificate(target, spec, CERT_DAYS)


def agent(target: Target, spec: CheckSpec, established: int) -> ProbeResult:
    """A node agent reporting `established` client connections on the HTTPS port."""
    facts = {"connections": {"443": {"established": established,
                                     "remotes": max(established // 3, 1), "listening": True},
                             "135": {"established": 0, "remotes": 0, "listening": True}},
             "services": {"MSExchangeRPC": {"status": "running", "start_type": "automatic",
                                            "display_name": "RPC Client Access"}},
             "processes": {}, "cpu_percent": 4.0 + established / 10, "memory_percent": 41.0,
             "host": target.subject.lower(), "errors": {}, "url": f"{spec.url}/v1/status"}
    return ProbeResult(True, Code.L7OK, f"{established} connections on 1 ports, cpu "
                       f"{facts['cpu_percent']:.0f}%, mem 41%", _latency(target.key, "agent"),
                       facts=facts)


def sample(target: Target, spec: CheckSpec, answered: dict[str, int]) -> ProbeResult:
    """VIP samples answered by these nodes (X-FEServer names, counts)."""
    shown = ", ".join(f"{name} {n}" for name, n in sorted(answered.items())) or "nobody"
    return ProbeResult(bool(answered), Code.L7OK if answered else Code.L7RSP,
                       f"answered by {shown}", facts={"answered_by": dict(answered),
                                                      "samples": spec.count, "failed": 0})


def refused(target: Target, spec: CheckSpec) -> ProbeResult:
    return ProbeResult(False, Code.L4CON, "connection refused", 0.2, Error.REFUSED)


def status_503(target: Target, spec: CheckSpec) -> ProbeResult:
    return ProbeResult(False, Code.L7STS, "HTTP 503 Service Unavailable, expected 401",
                       _latency(target.key, spec.name), Error.STATUS, {"status": 503})


def healthcheck_503(target: Target, spec: CheckSpec) -> ProbeResult:
    """A 2013+ healthcheck page out of service (its component Inactive)."""
    return ProbeResult(False, Code.L7STS, "HTTP 503 Service Unavailable, expected 200",
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
    #: resolver (its check name) -> what it answers, over the site's answer.
    resolver_answers: dict[str, list[str]] = field(default_factory=dict)
    #: node key -> established client connections its agent reports (default 25).
    clients: dict[str, int] = field(default_factory=dict)
    #: site name -> the X-FEServer names answering its VIP's samples (default: every node).
    answering: dict[str, dict[str, int]] = field(default_factory=dict)
    #: site name -> what its balancer says, node by node, or why it cannot be read.
    balancer: dict[str, dict[str, ServerView] | str] = field(default_factory=dict)
    #: node key -> Exchange's server component states its agent reports (none by default).
    components: dict[str, dict[str, Any]] = field(default_factory=dict)

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
                    results[spec.name] = self._healthy(target, spec)
            self.monitor.complete_round(key, results, ROUND_S)
        self._balancers()

    def _healthy(self, target: Target, spec: CheckSpec) -> ProbeResult:
        if spec.kind == "agent":
            result = agent(target, spec, self.clients.get(target.key, 25))
            if target.key in self.components:
                facts = {**result.facts, "components": self.components[target.key]}
                result = dataclasses.replace(result, facts=facts)
            return result
        if spec.kind == "sample":
            nodes = {n.name: 2 for s in self.monitor.config.sites if s.name == target.site
                     for n in s.nodes}
            return sample(target, spec, self.answering.get(target.site, nodes))
        answer = self.resolver_answers.get(spec.name, self.answers.get(target.site))
        return healthy(target, spec, answer)

    def _balancers(self) -> None:
        """What `Monitor.run`'s balancer loop would have read, folded in through the site's
        own comparisons (the engine's lb_disagrees / lb_agrees rule)."""
        for site, said in self.balancer.items():
            watch = self.monitor.sites[site]
            if isinstance(said, str):
                watch.lb_error, watch.lb_views = said, {}
                continue
            watch.lb_error = None
            for node in watch.site.nodes:
                view = said.get(node.name)
                watch.lb_views[node.name] = view
                state = self.monitor.states[f"{site}/{node.name}"].state
                event = watch.comparisons[node.name].observe(state, view, self.clock())
                if event is not None:
                    self.monitor.emit(event)

    def run(self, seconds: float) -> None:
        """Rounds an interval apart for `seconds`, the clock moving with them."""
        for _ in range(int(seconds / INTERVAL)):
            self.clock.advance(INTERVAL)
            self.round()


def config() -> Config:
    return parse_config(CONFIG, "snapshot.toml")


#: Who is at the keyboard in the pictures (acknowledgements, drills, maintenance marks).
USER = "alice"


def new_monitor(config: Config, store: EventStore | None, clock: FrozenClock) -> Monitor:
    """A monitor on the frozen clock, with a fixed user whatever the machine's login."""
    monitor = Monitor(config, store=store, clock=clock)
    monitor.user = USER
    return monitor


def new_driver(store: EventStore | None = None, clock: FrozenClock | None = None) -> Driver:
    clock = clock or FrozenClock()
    return Driver(new_monitor(config(), store, clock), clock)


def deep_config(tmp: Path, *, lb_admin: bool = False) -> Config:
    """DEEP_CONFIG with its token file written under `tmp` (and lb_admin as asked)."""
    token = tmp / "agent.token"
    token.write_text("t0ken-for-the-console-pictures-0123456789\n")
    token.chmod(0o600)
    parsed = parse_config(DEEP_CONFIG.format(tmp=tmp), str(tmp / "deep.toml"))
    return dataclasses.replace(parsed, defaults=dataclasses.replace(parsed.defaults,
                                                                    lb_admin=lb_admin))


def new_deep_driver(tmp: Path, store: EventStore | None = None, *,
                    lb_admin: bool = False) -> Driver:
    """A driver over DEEP_CONFIG, every balancer saying UP for every node."""
    clock = FrozenClock()
    monitor = new_monitor(deep_config(tmp, lb_admin=lb_admin), store, clock)
    driver = Driver(monitor, clock)
    for site in monitor.config.sites:
        driver.balancer[site.name] = {node.name: lb_view(node.name, "UP")
                                      for node in site.nodes}
    return driver


def new_ex16_driver(tmp: Path, store: EventStore | None = None) -> Driver:
    """A driver over EX16_CONFIG: the balancer says UP, every agent every component Active."""
    clock = FrozenClock()
    token = tmp / "agent.token"
    token.write_text("t0ken-for-the-console-pictures-0123456789\n")
    token.chmod(0o600)
    config = parse_config(EX16_CONFIG.format(tmp=tmp), str(tmp / "ex16.toml"))
    driver = Driver(new_monitor(config, store, clock), clock)
    site = config.sites[0]
    driver.balancer[site.name] = {node.name: lb_view(node.name, "UP") for node in site.nodes}
    driver.components.update({f"{site.name}/{node.name}": ACTIVE for node in site.nodes})
    return driver


def lb_view(node: str, status: str, sessions: int = 25) -> ServerView:
    """HAProxy's line for a node's server in backend `https`."""
    check = "L4OK" if status.startswith(("UP", "DRAIN", "NOLB")) else "L4CON"
    return ServerView("https", node, status, check, sessions, 1200, 0)


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


def deep_trouble(driver: Driver) -> None:
    """On a DEEP_CONFIG estate: CAS2 was drained on the balancer for patching (castui sees it
    UP; the VIP stops answering from it), its certificate expires in 12 days, one resolver
    already answers Site-B's VIP (a half-finished DNS move), the clients sit on CAS1; Site-B's
    balancer cannot be read and CAS4's certificate expires soon too."""
    views = driver.balancer["Site-A"]
    assert isinstance(views, dict)
    views["CAS2"] = lb_view("CAS2", "DRAIN", sessions=4)
    driver.answering["Site-A"] = {"CAS1": 3, "CAS3": 3}
    driver.clients.update({"Site-A/CAS1": 140, "Site-A/CAS2": 4, "Site-A/CAS3": 70})
    driver.faults["Site-A/CAS2"] = {"tls": expiring}
    driver.faults["Site-B/CAS4"] = {"tls": expiring}
    driver.resolver_answers["127.0.60.54:20053"] = ["127.0.62.50"]
    driver.balancer["Site-B"] = NO_SOCKET
    driver.run(30)


def drill_maintenance(driver: Driver) -> None:
    """A drill is running; CAS2 was marked in maintenance for 45 minutes and is being patched
    (down, expected: no alert); CAS4 keeps bouncing and is flapping (one alert for it)."""
    monitor = driver.monitor
    monitor.start_drill("dr-test")
    driver.run(40)
    monitor.set_maintenance("Site-A", "CAS2", 45 * 60, "kernel patch")
    driver.run(10)
    driver.faults["Site-A/CAS2"] = refused
    driver.run(20)
    for _ in range(3):
        driver.faults["Site-B/CAS4"] = refused
        driver.run(6)
        del driver.faults["Site-B/CAS4"]
        driver.run(4)


#: Picture name -> what happens in it after four steady minutes (while the console watches).
PICTURES: dict[str, Callable[[Driver], None] | None] = {
    "steady": None, "node_out": node_out, "dr_switchover": dr_switchover,
    "drill_maintenance": drill_maintenance}
#: The same, on a DEEP_CONFIG estate.
DEEP_PICTURES: dict[str, Callable[[Driver], None]] = {"deep_trouble": deep_trouble}


def exchange_maintenance(driver: Driver) -> None:
    """On an EX16_CONFIG estate: EX2 is patched the Exchange way (HubTransport Draining, then
    ServerWideOffline Inactive by Maintenance: its healthcheck pages answer 503 and the
    balancer drops it, expected, no alert); Managed Availability took EWS out on EX3 (HealthApi),
    so with one pool per vdir EX3 is partly out."""
    draining = {**ACTIVE, "HubTransport": {"state": "Draining",
                                           "requesters": {"Maintenance": "Draining"}}}
    driver.components["Site-A/EX2"] = draining
    driver.run(10)
    driver.components["Site-A/EX2"] = {**draining, "ServerWideOffline": {
        "state": "Inactive", "requesters": {"Maintenance": "Inactive", "HealthApi": "Active"}}}
    driver.faults["Site-A/EX2"] = dict.fromkeys(
        ("owa", "ecp", "ews", "autodiscover", "rpc", "oab", "eas", "mapihttp", "powershell"),
        healthcheck_503)
    views = driver.balancer["Site-A"]
    assert isinstance(views, dict)
    views["EX2"] = lb_view("EX2", "DOWN", sessions=0)
    driver.components["Site-A/EX3"] = {**ACTIVE, "EwsProxy": {
        "state": "Inactive", "requesters": {"HealthApi": "Inactive"}}}
    driver.faults["Site-A/EX3"] = {"ews": healthcheck_503}
    driver.run(20)


EX16_PICTURES: dict[str, Callable[[Driver], None]] = {
    "exchange_maintenance": exchange_maintenance}


# -- reading the screen ---------------------------------------------------------------------


def screen_text(app: App[Any]) -> str:
    """The screen as plain text, exactly as composed: read back from the SVG screenshot Textual
    exports (its public way to show the composed screen), one line per terminal row."""
    width, height = app.size
    rows: list[list[tuple[int, str]]] = [[] for _ in range(height)]
    for x, row, text in _SVG_TEXT.findall(app.export_screenshot()):
        rows[int(row)].append((round(float(x) / _SVG_CHAR_WIDTH), _svg_unescape(text)))
    lines = []
    for parts in rows:
        line = ""
        for column, text in sorted(parts):
            line += " " * (column - cell_len(line)) + text
        lines.append(line + " " * (width - cell_len(line)))
    return "\n".join(lines)


#: A run of text in Rich's SVG export: its x in pixels, its terminal row, its text.
_SVG_TEXT = re.compile(r'<text [^>]*\bx="([^"]+)"[^>]*clip-path="url\(#[^)]*-line-(\d+)\)"'
                       r"[^>]*>([^<]*)</text>")
#: Rich draws a cell 0.61 of its 20-pixel font size wide.
_SVG_CHAR_WIDTH = 20 * 0.61


def _svg_unescape(text: str) -> str:
    """Rich writes spaces as &#160; and ends each row with its newline."""
    return html.unescape(text).replace("\xa0", " ").replace("\n", "")


async def until(pilot: Pilot[Any], predicate: Callable[[], bool], timeout: float,
                what: str, *, interval: float = 0.02) -> None:
    """Let the app run until `predicate` holds; AssertionError naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await pilot.pause(interval)


async def drawn(app: ConsoleApp, pilot: Pilot[Any], *, laid_out: bool = False) -> None:
    """Until the first picture is on screen: every shown site's node table filled and, with
    `laid_out`, every panel grown to the lines it needs."""
    await until(pilot, lambda: all(panel.table.row_count for panel in app.panels
                                   if panel.display), PROMPT, "the node tables")
    if laid_out:
        await until(pilot, lambda: all(panel.outer_size.height == panel.rows_needed
                                       for panel in app.panels if panel.display),
                    PROMPT, "the panels laid out")


def cell(app: ConsoleApp, site: int, node: str, column: str) -> str:
    """What the node table of the `site`-th panel shows for `node` in `column`."""
    return str(app.panels[site].table.get_cell(node, column))


#: Walks down a table looking for a node: the trouble order can move rows during a walk (a
#: node's first rounds still coming in), so the walk starts again from the top.
_WALKS = 5


async def select_node(pilot: Pilot[Any], app: ConsoleApp, site: int, node: str) -> None:
    """Move the `site`-th table's cursor to `node` with the keys (g, then j), whatever the
    trouble order put where."""
    table = app.panels[site].table
    for _ in range(_WALKS):
        await pilot.press("g")
        for _ in range(table.row_count):
            if table.selected() == node:
                return
            await pilot.press("j")
    raise AssertionError(f"{node} is not in the table: {table.selected()}")


def alert_rows(app: ConsoleApp) -> list[str]:
    """The alert list's sentences, newest first, as drawn."""
    table = app.alert_list
    return [str(table.get_row_at(i)[-1]) for i in range(table.row_count)]


def toasts(app: App[Any]) -> list[str]:
    """The text of every toast on screen."""
    return [toast.render().plain for toast in app.screen.query("Toast")]  # type: ignore[union-attr]


def rows(app: ConsoleApp, site: int) -> list[str]:
    """The node names of the `site`-th table, top to bottom, as drawn."""
    table = app.panels[site].table
    return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
