"""Exchange's own maintenance state, from the node agent to the monitor.

Windows' registry cannot run here. The agent's Windows branch is tested with stood-in registry
data: a fake winreg-like reader handed to the Collector, holding values in Exchange's layout
(`HKLM\\SOFTWARE\\Microsoft\\ExchangeServer\\v15\\ServerComponentStates\\<Component>`, one
`<version>:<state>:<ticks>` string per requester). End to end, a real `castui agent` runs on
loopback with CASTUI_AGENT_COMPONENTS_FILE (the documented test seam: a JSON file in the same
layout read in place of the registry) beside the lab's exchange2016 nodes.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from castui.agent import Collector
from castui.agent.components import COMPONENT_STATES_KEY, parse_value
from castui.cli.agent import COMPONENTS_FILE_ENV
from castui.config import Config
from castui.engine.alerts import is_alert
from castui.lab.actions import parse_action
from castui.lab.certs import LabCA
from castui.lab.layout import LabTiming
from castui.model.events import Kind
from tests.support.lab import watched_lab
from tests.support.net import free_ports, loopback_block, wait_for
from tests.support.procs import ManagedProcess

REPO = Path(__file__).resolve().parent.parent
#: 2026-12-04T17:00:00Z in .NET ticks (100 ns since 0001-01-01).
TICKS = 1796403600 * 10_000_000 + 621355968000000000
PACE = LabTiming(interval=1.0, timeout=0.8, rise=2, fall=3, lb_inter=0.2, lb_rise=2,
                 lb_fall=2, lb_timeout=0.2)


class FakeRegistry:
    """Stands in for HKEY_LOCAL_MACHINE through winreg (Windows only): keys -> string values."""

    def __init__(self, keys: dict[str, dict[str, str]]) -> None:
        self.keys = keys

    def subkeys(self, path: str) -> list[str]:
        prefix = path + "\\"
        return [key.removeprefix(prefix) for key in self.keys if key.startswith(prefix)]

    def strings(self, path: str) -> dict[str, str]:
        return self.keys.get(path, {})


def key(component: str) -> str:
    return f"{COMPONENT_STATES_KEY}\\{component}"


def test_the_windows_branch_reads_each_component_and_its_requesters() -> None:
    registry = FakeRegistry({
        key("ServerWideOffline"): {"Maintenance": f"1:0:{TICKS}", "HealthApi": f"1:1:{TICKS}"},
        key("HubTransport"): {"Maintenance": f"1:2:{TICKS}"},
        key("OwaProxy"): {"HealthApi": f"1:1:{TICKS}"},
        key("EwsProxy"): {},
        key("RpsProxy"): {"Functional": "Inactive:x", "Deployment": f"1:Inactive:{TICKS}"},
    })
    doc = Collector(ports=(443,), services=(), registry=registry).collect()
    found = doc["components"]
    assert found["ServerWideOffline"] == {"state": "Inactive", "requesters": {
        "Maintenance": {"state": "Inactive", "since": "2026-12-04T17:00:00Z"},
        "HealthApi": {"state": "Active", "since": "2026-12-04T17:00:00Z"}}}
    assert found["HubTransport"]["state"] == "Draining"
    assert found["OwaProxy"]["state"] == "Active"
    assert found["EwsProxy"] == {"state": "Active", "requesters": {}}, "no entry is Active"
    # A value Exchange would not parse is skipped, as Exchange skips it.
    assert list(found["RpsProxy"]["requesters"]) == ["Deployment"]
    assert found["RpsProxy"]["state"] == "Inactive"
    assert "components" not in doc["errors"]


def test_off_windows_the_field_is_absent() -> None:
    assert sys.platform != "win32"
    doc = Collector(ports=(443,), services=()).collect()
    assert "components" not in doc


def test_a_registry_that_fails_costs_only_its_part() -> None:
    class Broken(FakeRegistry):
        def subkeys(self, path: str) -> list[str]:
            raise PermissionError("access is denied")

    doc = Collector(ports=(443,), services=(), registry=Broken({})).collect()
    assert doc["components"] is None
    assert doc["errors"]["components"] == "PermissionError: access is denied"
    assert doc["connections"] is not None


def test_values_parse_as_exchange_writes_them() -> None:
    assert parse_value(f"1:0:{TICKS}") == ("Inactive", "2026-12-04T17:00:00Z")
    assert parse_value(f"1:Draining:{TICKS}") == ("Draining", "2026-12-04T17:00:00Z")
    for bad in ("", "0:0:1", "1:7:1", "1:0", "1:0:-5", "x:0:1", "1:0:" + "9" * 30):
        assert parse_value(bad) is None, bad


def components_file(path: Path, **inactive: tuple[str, str]) -> None:
    """The test seam's JSON: every component Active (HealthApi) but those given as
    (requester, state number)."""
    doc = {name: {"HealthApi": f"1:1:{TICKS}"}
           for name in ("ServerWideOffline", "HubTransport", "OwaProxy", "EwsProxy", "EcpProxy")}
    for name, (requester, state) in inactive.items():
        doc[name][requester] = f"1:{state}:{TICKS}"
    path.with_suffix(".tmp").write_text(json.dumps(doc))
    path.with_suffix(".tmp").replace(path)


async def test_exchange_maintenance_drops_the_node_as_expected_without_an_alert(
        lab_ca: LabCA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    states = tmp_path / "components.json"
    components_file(states)
    token = tmp_path / "agent.token"
    token.write_text(secrets.token_urlsafe(32) + "\n")
    token.chmod(0o600)
    host = loopback_block().addr(1)
    [port] = free_ports(host, 1)
    log = tmp_path / "agent.log"
    monkeypatch.setenv(COMPONENTS_FILE_ENV, str(states))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO),
                                                     os.environ.get("PYTHONPATH", "")]))
    agent = ManagedProcess(
        [sys.executable, "-m", "castui", "agent", "--listen", f"{host}:{port}",
         "--token-file", str(token), "--verbose"], log_path=log,
        ready=lambda: "listening on" in log.read_text(errors="replace"),
        stop_signals=((signal.SIGTERM, 5.0),))

    def with_agent(config: Config) -> Config:
        site = config.sites[0]
        nodes = tuple(replace(n, agent=f"http://{host}:{port}", agent_token_file=token)
                      if n.name == "CAS2" else n for n in site.nodes)
        return replace(config, sites=(replace(site, nodes=nodes),))

    with agent:
        assert "a test seam" in log.read_text()
        async with watched_lab(tmp_path, lab_ca, sites=("Site-A",), profile="exchange2016",
                               timing=PACE, configure=with_agent) as watched:
            monitor = watched.monitor
            await wait_for(lambda: monitor.snapshot().sites[0].nodes[1].components_known, 10,
                           what="the agent's component states")
            # Set-ServerComponentState CAS2 -Component ServerWideOffline -State Inactive
            # -Requester Maintenance: the registry says so and the pages stop answering 200.
            components_file(states, ServerWideOffline=("Maintenance", "0"),
                            HubTransport=("Maintenance", "2"))
            offline_at = time.monotonic()
            await watched.estate.apply(parse_action("offline Site-A/CAS2"))
            down = await watched.until("Site-A", "CAS2", Kind.NODE_DOWN,
                                       watched.detection_bound())
            assert time.monotonic() - offline_at <= watched.detection_bound()
            assert down.data["exchange_maintenance"] == \
                "Exchange says ServerWideOffline Inactive (Maintenance)"
            assert not is_alert(down)
            assert not [a for a in monitor.alerts if a.event.subject == "CAS2"], \
                "an expected drop raises no alert"
            node = monitor.snapshot().sites[0].nodes[1]
            assert node.maintenance_by == "Exchange says ServerWideOffline Inactive (Maintenance)"
            assert node.maintenance is None
            stored = [e for e in watched.events if e.kind == Kind.NODE_DOWN]
            assert stored == [down]
            # Back online, but a failed CU left EcpProxy Inactive (Deployment).
            components_file(states, EcpProxy=("Deployment", "0"))
            await watched.estate.apply(parse_action("online Site-A/CAS2 ServerWideOffline"))
            await watched.estate.apply(parse_action("online Site-A/CAS2 HubTransport"))
            await watched.estate.apply(parse_action("offline Site-A/CAS2 EcpProxy"))
            await watched.until("Site-A", "CAS2", Kind.NODE_UP, watched.detection_bound() * 2)
            reason = "CAS2: component EcpProxy (Deployment) Inactive outside maintenance"
            await wait_for(lambda: reason in monitor.snapshot().sites[0].reasons, 10,
                           what="the left-Inactive warning")
            assert not monitor.snapshot().sites[0].nodes[1].in_maintenance
