"""Balancer checks that would lie: a real HAProxy checking the lab's exchange2016 nodes.

The loose backend checks `/` without pinning the status: HAProxy counts the 302 Exchange 2013+
answers there as healthy, so it would keep a node Exchange took out of service. The strict one
checks `/owa/healthcheck.htm` with `http-check expect status 200`. castui reads both through
HAProxy's runtime API (`check_code`) and warns about the loose one only.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from pathlib import Path

import pytest

from castui.config import Config, Ports, parse_config
from castui.config.model import Balancer
from castui.engine.monitor import Monitor
from castui.lab.certs import LabCA
from castui.lab.node import LabNode
from castui.model.events import Event, Kind
from tests.support.haproxy import HAProxy
from tests.support.net import free_ports, loopback_block, wait_for
from tests.support.procs import require_binary

CONFIG = """
[defaults]
tls_verify = false

[[sites]]
name = "Site-A"
array_fqdn = "mail.site-a.corp.local"
vip = "{vip}"
profile = "exchange2016"
nodes = [
  {{ name = "CAS1", address = "{cas1}", ports = {{ https = {https1} }} }},
  {{ name = "CAS2", address = "{cas2}", ports = {{ https = {https2} }} }},
]
"""
#: Without `timeout check` HAProxy gives a check `inter` (200 ms here) to answer; the lab nodes
#: share the test's event loop with castui's round, so on a loaded machine a check could time
#: out, and a timed-out check has no check_code for castui to read.
CHECKS = {
    "loose": ["option httpchk GET /", "timeout check 2s"],
    "strict": ["option httpchk GET /owa/healthcheck.htm", "http-check expect status 200",
               "timeout check 2s"],
}


@pytest.mark.integration
async def test_the_loose_backend_warns_and_the_strict_one_does_not(
        tmp_path: Path, lab_ca: LabCA) -> None:
    require_binary("haproxy")
    block = loopback_block()
    vip = block.addr(50)
    nodes = [LabNode(name, block.addr(20 + i), Ports(epm=0, https=0, http=0),
                     profile="exchange2016",
                     ssl_context=lab_ca.issue(f"{name.lower()}.corp.local"))
             for i, name in enumerate(("CAS1", "CAS2"), start=1)]
    async with contextlib.AsyncExitStack() as stack:
        for node in nodes:
            await node.start()
            stack.push_async_callback(node.stop)
        servers = [(n.name, n.address, n.ports.https) for n in nodes]
        ports = dict(zip(CHECKS, free_ports(vip, 2), strict=True))
        lb = stack.enter_context(HAProxy(
            vip, dict.fromkeys(CHECKS, servers), frontend_ports=ports, inter_ms=200, rise=1,
            fall=2, tmpdir=tmp_path, check_lines=CHECKS, check_ssl=tuple(CHECKS)))
        await wait_for(lambda: all(lb.server_status(b, n.name) == "UP"
                                   for b in CHECKS for n in nodes), 10,
                       what="both backends to pass their checks")
        base = parse_config(CONFIG.format(vip=vip, cas1=nodes[0].address,
                                          https1=nodes[0].ports.https, cas2=nodes[1].address,
                                          https2=nodes[1].ports.https), "estate.toml")

        def watching(backend: str) -> Config:
            lb_config = Balancer(type="haproxy", socket=str(lb.socket_path), backend=backend)
            return replace(base, sites=(replace(base.sites[0], lb=lb_config),))

        found = {}
        # As `castui check --rounds 3` does: a sweep, then the balancer, three times. One read
        # can land just after a check HAProxy lost to a loaded machine (no check_code then);
        # three reads must all stay quiet for the strict backend.
        for backend in CHECKS:
            monitor = Monitor(watching(backend))
            events: list[Event] = []
            monitor.subscribe(events.append)
            await monitor.run(rounds=3)
            reasons = monitor.snapshot().sites[0].reasons
            found[backend] = ([e for e in events if e.kind == Kind.LB_CHECK_LOOSE],
                              [r for r in reasons if r.startswith("lb_check_loose")])
        [event], [reason] = found["loose"]
        assert event.site == "Site-A" and event.data == {"backend": "loose"}
        assert event.detail.startswith("backend loose: server CAS1 passes its health check "
                                       "on HTTP 302")
        assert "http-check expect status 200" in event.detail
        assert reason.startswith("lb_check_loose: backend loose: server CAS1 passes")
        assert found["strict"] == ([], []), "a pinned healthcheck page is not loose"
