"""A balancer that sends what does not parse: its trouble is shown, the monitor goes on.

Issue 12: one stats row with a 5,000-digit `scur` stopped the whole monitor. Here a real
estate (lab nodes, HAProxy in front of them, dnsmasq) is watched by castui's real monitor
while its `[sites.lb]` stats page is a small HTTP server on loopback serving that row.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from castui.engine import Event, Monitor
from castui.lab.certs import LabCA
from castui.model.events import Kind
from tests.support.estate import estate
from tests.support.net import loopback_block, wait_for
from tests.support.procs import require_binary

pytestmark = pytest.mark.integration

HEADER = "# pxname,svname,scur,status,lastchg,downtime,type,check_status,\n"
HOSTILE = HEADER + "https,CAS1," + "9" * 5000 + ",UP,17,0,2,L4OK,\n"
SANE = HEADER + "".join(f"https,CAS{i},3,UP,17,0,2,L4OK,\n" for i in (1, 2, 3))
WAIT = 10.0


class StatsPage:
    """An HTTP server on loopback answering every request with `body` (changeable)."""

    def __init__(self, body: str) -> None:
        self.body = body
        self.requests = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError, TimeoutError):
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2.0)
            self.requests += 1
            body = self.body.encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                         b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
            await writer.drain()
        writer.close()


@contextlib.asynccontextmanager
async def stats_page(body: str) -> AsyncIterator[tuple[StatsPage, str]]:
    page = StatsPage(body)
    host = loopback_block().addr(70)
    server = await asyncio.start_server(page.handle, host, 0)
    port = int(server.sockets[0].getsockname()[1])
    async with server:
        yield page, f"http://{host}:{port}/"


async def test_a_5000_digit_count_is_the_balancers_trouble_and_the_monitor_goes_on(
        tmp_path: Path, lab_ca: LabCA) -> None:
    require_binary("haproxy")
    require_binary("dnsmasq")
    async with estate(tmp_path, lab_ca) as est, stats_page(HOSTILE) as (page, url):
        config = est.reconfigure(f'[sites.lb]\ntype = "haproxy"\nstats_url = "{url}"')
        monitor = Monitor(config)
        events: list[Event] = []
        monitor.subscribe(events.append)
        stop = asyncio.Event()
        task = asyncio.create_task(monitor.run(stop=stop))
        try:
            def kinds() -> list[str]:
                return [e.kind for e in events if e.subject == "lb"]

            await wait_for(lambda: Kind.LB_UNREACHABLE in kinds(), WAIT,
                           what="the balancer's trouble")
            trouble = next(e for e in events if e.kind == Kind.LB_UNREACHABLE)
            assert "line 2: scur is not a count" in trouble.detail
            assert len(trouble.detail) < 300
            site = monitor.snapshot().sites[0]
            assert site.lb_error == trouble.detail
            assert all(node.lb is None for node in site.nodes)

            # Still reading: a later sane reply is used, which only a running monitor can do.
            read = page.requests
            await wait_for(lambda: page.requests > read, WAIT, what="another balancer read")
            assert not task.done()
            page.body = SANE
            await wait_for(lambda: Kind.LB_REACHABLE in kinds(), WAIT, what="lb_reachable")
            await wait_for(lambda: all(n.lb is not None for n in monitor.snapshot().sites[0].nodes),
                           WAIT, what="the balancer's verdict beside every node")
            assert monitor.snapshot().sites[0].lb_error is None
            assert not any(e.kind == Kind.NODE_DOWN for e in events)
        finally:
            stop.set()
            await asyncio.wait_for(task, 5)
