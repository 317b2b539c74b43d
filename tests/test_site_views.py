"""Where clients are, end to end: node agents and connection skew, the balancer's verdict
beside castui's (a real HAProxy's runtime socket), and who answers through the VIP (X-FEServer
sampled through HAProxy in front of Exchange 2013-style nodes)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from castui.agent import AgentServer, Collector
from castui.engine import Event, Kind, Monitor
from castui.engine.skew import SKIPPED_ROUNDS
from castui.lab.certs import LabCA
from castui.model.errors import LbError
from tests.support.estate import Estate, estate
from tests.support.net import wait_for
from tests.support.procs import require_binary

pytestmark = pytest.mark.integration

TOKEN = "t0ken-for-the-castui-tests-0123456789"


@contextlib.asynccontextmanager
async def monitoring(est: Estate) -> AsyncIterator[tuple[Monitor, list[Event]]]:
    monitor = Monitor(est.config)
    events: list[Event] = []
    monitor.subscribe(events.append)
    stop = asyncio.Event()
    task = asyncio.create_task(monitor.run(stop=stop))
    try:
        yield monitor, events
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


def _kinds(events: list[Event], subject: str | None = None) -> list[str]:
    return [e.kind for e in events if subject is None or e.subject == subject]


@contextlib.contextmanager
def clients(address: str, port: int, count: int) -> Iterator[None]:
    """`count` established TCP connections to address:port, from the test."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.create_connection((address, port), timeout=2)
            socks.append(sock)
        yield
    finally:
        for sock in socks:
            sock.close()


async def test_agents_feed_connection_counts_and_skew(tmp_path: Path, lab_ca: LabCA) -> None:
    require_binary("haproxy")
    require_binary("dnsmasq")
    token_file = tmp_path / "agent.token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    # Three nodes, their agents, 40 held clients and the engine share one loop: a 1 s pace keeps
    # a loaded CI machine from timing a healthy node out (this test is about agents).
    async with estate(tmp_path, lab_ca, interval=1.0, timeout=0.8) as est, \
            contextlib.AsyncExitStack() as stack:
        https = est.config.sites[0].ports.https
        urls = {}
        for name, node in est.nodes.items():
            collector = Collector(ports=[https], addresses=[node.address], processes=())
            agent = AgentServer(collector, TOKEN, host=node.address, port=0)
            await stack.enter_async_context(agent)
            urls[name] = agent.url
        est.reconfigure(f'agent_token_file = "{token_file}"',
                        {name: f'agent = "{url}"' for name, url in urls.items()})
        async with monitoring(est) as (monitor, events):
            cas1 = est.nodes["CAS1"]
            with clients(cas1.address, https, 40):
                def counted() -> bool:
                    nodes = monitor.snapshot().sites[0].nodes
                    return (nodes[0].connections or 0) >= 40 and \
                        all(n.connections is not None for n in nodes)
                await wait_for(counted, 10, what="the agents' counts")
                await wait_for(lambda: Kind.POOL_SKEWED in _kinds(events), 5,
                               what="pool_skewed")
                skewed = next(e for e in events if e.kind == Kind.POOL_SKEWED)
                assert skewed.data["busiest"] == "CAS1"
                assert skewed.detail.startswith("CAS1 holds ")
                site = monitor.snapshot().sites[0]
                assert site.status.name == "WARNING"
                assert any(r.startswith("load skewed: CAS1 holds") for r in site.reasons)
            await wait_for(lambda: Kind.POOL_BALANCED in _kinds(events), 10,
                           what="pool_balanced once the clients left")
        # Agent trouble never touches a node's state.
        assert not {Kind.NODE_DOWN, Kind.NODE_DEGRADED} & set(_kinds(events))


async def test_balancer_verdict_beside_castuis_and_lb_disagrees(
        tmp_path: Path, lab_ca: LabCA) -> None:
    require_binary("haproxy")
    require_binary("dnsmasq")
    async with estate(tmp_path, lab_ca) as est:
        est.reconfigure(f'[sites.lb]\ntype = "haproxy"\nsocket = "{est.haproxy.socket_path}"')
        async with monitoring(est) as (monitor, events):
            def lb_known() -> bool:
                return all(n.lb is not None for n in monitor.snapshot().sites[0].nodes)
            await wait_for(lb_known, 10, what="the balancer's view")
            assert [n.lb.status for n in monitor.snapshot().sites[0].nodes  # type: ignore[union-attr]
                    ] == ["UP", "UP", "UP"]
            # Half-dead: EWS fails, the balancer's TCP check still passes, it keeps routing.
            await est.nodes["CAS1"].fail("ews")
            d = est.config.defaults
            grace = 2 * d.interval * d.fall
            await wait_for(lambda: Kind.LB_DISAGREES in _kinds(events, "CAS1"),
                           grace + d.fall * d.interval + 3, what="lb_disagrees")
            event = next(e for e in events if e.kind == Kind.LB_DISAGREES)
            assert "UP" in event.detail and "DEGRADED" in event.detail.upper()
            assert monitor.alerts.unacknowledged >= 2  # node_degraded and lb_disagrees
            await est.nodes["CAS1"].restore()
            await wait_for(lambda: Kind.LB_AGREES in _kinds(events, "CAS1"), 10,
                           what="lb_agrees")
            with pytest.raises(LbError, match="lb_admin = true"):
                await monitor.set_lb_state("Site-A", "CAS2", "drain")


async def test_balancer_mark_down_is_dated_by_its_own_last_change(
        tmp_path: Path, lab_ca: LabCA) -> None:
    """A drill asks when the balancer took a crashed node out: `lb_down` carries HAProxy's
    own time of change (from lastchg), between the crash and castui's reading of it."""
    require_binary("haproxy")
    require_binary("dnsmasq")
    async with estate(tmp_path, lab_ca) as est:
        est.reconfigure(f'[sites.lb]\ntype = "haproxy"\nsocket = "{est.haproxy.socket_path}"')
        async with monitoring(est) as (monitor, events):
            await wait_for(lambda: all(n.lb is not None and n.lb.status == "UP"
                                       for n in monitor.snapshot().sites[0].nodes), 10,
                           what="the balancer's view, every server UP")
            crashed = datetime.now(UTC)
            await est.nodes["CAS2"].crash()
            d = est.config.defaults
            await wait_for(lambda: Kind.LB_DOWN in _kinds(events, "CAS2"),
                           d.fall * d.interval + 3 * d.interval + 5, what="lb_down")
            down = next(e for e in events if e.kind == Kind.LB_DOWN)
            changed = datetime.fromisoformat(down.data["changed_at"])
            # lastchg counts whole seconds: the change is dated to within a second.
            assert crashed - timedelta(seconds=1) <= changed <= down.time
            assert down.data["lb_status"].startswith("DOWN") and "CAS2" in down.detail
            await est.nodes["CAS2"].restore()
            await wait_for(lambda: Kind.LB_UP in _kinds(events, "CAS2"), 15, what="lb_up")
            assert _kinds(events, "CAS1").count(Kind.LB_DOWN) == 0


#: Interval of the VIP-sampling test, in seconds.
SAMPLING_PACE = 1.0


async def test_vip_sampling_sees_every_up_node_and_not_a_drained_one(
        tmp_path: Path, lab_ca: LabCA) -> None:
    require_binary("haproxy")
    require_binary("dnsmasq")
    # Exchange 2013: eight healthcheck.htm checks per node and six samples through the VIP, all
    # fresh TLS; at 1 s a loaded CI box does not time healthy nodes out (which would restart
    # the count of rounds CAS2 went unseen).
    async with estate(tmp_path, lab_ca, profile="exchange2013", interval=SAMPLING_PACE,
                      timeout=0.8) as est, monitoring(est) as (monitor, events):
        def sampled(nodes: set[str]) -> bool:
            answered = monitor.snapshot().sites[0].answered_by or {}
            return set(answered) == nodes
        await wait_for(lambda: sampled({"CAS1", "CAS2", "CAS3"}), 10,
                       what="answers from every node through the VIP")
        est.haproxy.command("set server https/CAS2 state drain")
        await wait_for(lambda: sampled({"CAS1", "CAS3"}), 10, what="CAS2 drained away")
        # castui still sees CAS2 UP; never answering through the VIP is worth a warning.
        await wait_for(lambda: Kind.VIP_SKIPS_NODE in _kinds(events),
                       2 * SKIPPED_ROUNDS * SAMPLING_PACE + 5, what="vip_skips_node")
        assert next(e for e in events if e.kind == Kind.VIP_SKIPS_NODE).data["node"] == "CAS2"
        assert monitor.states["Site-A/CAS2"].status_text == "UP"
