"""tcp_probe against real sockets on loopback: open, closed, black-holed, and under load."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator

import psutil
import pytest

from castui.probes import Code, Error, tcp_probe
from tests.support.net import free_port, wait_for

ADDRESS = "127.0.7.1"
CLOSED_ADDRESS = "127.0.7.2"
BLACKHOLE_ADDRESS = "127.0.7.3"
SLACK = 0.5


@pytest.fixture
async def open_port() -> AsyncIterator[int]:
    """An asyncio server that accepts and drops every connection."""

    async def on_connect(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(on_connect, ADDRESS, 0, backlog=1024)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
def blackholed_port() -> Iterator[int]:
    """A listener never accept()ed whose one-slot accept queue we fill: new connects hang."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    fillers: list[socket.socket] = []
    try:
        listener.bind((BLACKHOLE_ADDRESS, 0))
        listener.listen(0)
        port = int(listener.getsockname()[1])
        for _ in range(4):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            fillers.append(filler)
            filler.settimeout(0.2)
            try:
                filler.connect((BLACKHOLE_ADDRESS, port))
            except TimeoutError:
                break  # the queue is full
        else:
            pytest.fail("the kernel kept accepting connections; cannot build a blackhole")
        yield port
    finally:
        for sock in fillers:
            sock.close()
        listener.close()


async def test_open_port_is_l4ok(open_port: int) -> None:
    before = time.time()
    result = await tcp_probe(ADDRESS, open_port, 1.0)
    assert result.ok
    assert result.code == Code.L4OK
    assert result.error is None
    assert result.detail.startswith("connected in ")
    assert result.latency_ms is not None and 0 <= result.latency_ms < 1000
    assert before <= result.started_at <= time.time()
    assert result.facts == {"address": ADDRESS, "port": open_port}


async def test_closed_port_is_refused() -> None:
    port = free_port(CLOSED_ADDRESS)
    result = await tcp_probe(CLOSED_ADDRESS, port, 1.0)
    assert not result.ok
    assert (result.code, result.error) == (Code.L4CON, Error.REFUSED)
    assert result.detail == "connection refused"
    assert result.latency_ms is not None


async def test_blackholed_port_times_out_within_the_timeout(blackholed_port: int) -> None:
    timeout = 0.4
    start = time.monotonic()
    result = await tcp_probe(BLACKHOLE_ADDRESS, blackholed_port, timeout)
    elapsed = time.monotonic() - start
    assert not result.ok
    assert (result.code, result.error) == (Code.L4TOUT, Error.TIMEOUT)
    assert result.detail == "no answer in 0.4 s"
    assert timeout <= elapsed < timeout + SLACK


@pytest.mark.parametrize("address", ["mail.lab.invalid", "999.1.1.1", ""])
async def test_bad_address_is_a_result_not_an_exception(address: str) -> None:
    result = await tcp_probe(address, 443, 0.5)
    assert not result.ok
    assert (result.code, result.error) == (Code.L4CON, Error.OTHER)
    assert "bad address" in result.detail


async def test_bad_port_is_a_result_not_an_exception() -> None:
    result = await tcp_probe(ADDRESS, 70000, 0.5)
    assert (result.ok, result.code) == (False, Code.L4CON)


def _open_sockets() -> int:
    return len(psutil.Process().net_connections(kind="tcp"))


async def test_many_probes_leak_no_sockets(open_port: int, blackholed_port: int) -> None:
    closed = free_port(CLOSED_ADDRESS)
    me = psutil.Process()
    fds_before, socks_before = me.num_fds(), _open_sockets()
    results = await asyncio.gather(
        *(tcp_probe(ADDRESS, open_port, 1.0) for _ in range(200)),
        *(tcp_probe(CLOSED_ADDRESS, closed, 1.0) for _ in range(50)),
        *(tcp_probe(BLACKHOLE_ADDRESS, blackholed_port, 0.2) for _ in range(20)),
    )
    assert [r.code for r in results] == [Code.L4OK] * 200 + [Code.L4CON] * 50 + [Code.L4TOUT] * 20
    assert me.num_fds() <= fds_before
    assert _open_sockets() <= socks_before


async def test_cancelled_probe_closes_its_socket(blackholed_port: int) -> None:
    me = psutil.Process()
    fds_before = me.num_fds()
    tasks = [asyncio.create_task(tcp_probe(BLACKHOLE_ADDRESS, blackholed_port, 5.0))
             for _ in range(20)]
    await wait_for(lambda: me.num_fds() > fds_before, 5, what="the probes' sockets to open")
    for task in tasks:
        task.cancel()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(o, asyncio.CancelledError) for o in outcomes)
    assert me.num_fds() <= fds_before
