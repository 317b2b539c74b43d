"""The lab VIP: spreads connections, follows its own health checks, drains, fails over."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator

import psutil
import pytest

from castui.lab.balancer import LabBalancer
from castui.lab.netcheck import require_loopback
from tests.support.net import free_ports, wait_for

VIP = "127.0.9.50"
NODES = {"CAS1": "127.0.9.21", "CAS2": "127.0.9.22", "CAS3": "127.0.9.23"}
INTER = 0.1


class Backend:
    """A stand-in CAS node: says its name on connect, then echoes lines until EOF."""

    def __init__(self, name: str, address: str, ports: list[int]) -> None:
        self.name, self.address, self.ports = name, address, ports
        self.servers: list[asyncio.Server] = []
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        for port in self.ports:
            self.servers.append(await asyncio.start_server(self._serve, self.address, port))

    async def stop(self) -> None:
        for server in self.servers:
            server.close()
            await server.wait_closed()
        self.servers = []
        for writer in list(self.writers):
            writer.transport.abort()
        await wait_for(lambda: not self.writers, 2, what=f"{self.name} connections to end")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        try:
            writer.write(f"{self.name}\n".encode())
            await writer.drain()
            while line := await reader.readline():
                writer.write(line)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()
            self.writers.discard(writer)


class Client:
    """One connection through the VIP."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Client:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(VIP, port), 2)
        return cls(reader, writer)

    async def line(self) -> str:
        """The next line, or '' on EOF or reset."""
        try:
            return (await asyncio.wait_for(self.reader.readline(), 2)).decode().strip()
        except ConnectionError:
            return ""

    async def echo(self, text: str) -> str:
        self.writer.write(f"{text}\n".encode())
        await self.writer.drain()
        return await self.line()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


async def ask(port: int) -> str:
    """Connect through the VIP, read which node answered, hang up."""
    client = await Client.open(port)
    try:
        return await client.line()
    finally:
        await client.close()


class Lab:
    def __init__(self) -> None:
        https, epm = free_ports(VIP, 2)
        self.ports = {"https": https, "epm": epm}
        self.backends = {name: Backend(name, address, [https, epm])
                         for name, address in NODES.items()}
        self.lb = LabBalancer("site-a", VIP, self.ports, list(NODES.items()),
                              inter=INTER, rise=2, fall=3, connect_timeout=0.5)
        self.changes: list[tuple[str, str, str]] = []
        self.lb.on_change = lambda node, old, new: self.changes.append((node, old, new))

    def changes_of(self, node: str) -> list[tuple[str, str]]:
        return [(old, new) for name, old, new in self.changes if name == node]

    async def spread(self, count: int, port: str = "https") -> Counter[str]:
        return Counter([await ask(self.ports[port]) for _ in range(count)])


@pytest.fixture
async def lab() -> AsyncIterator[Lab]:
    lab = Lab()
    for backend in lab.backends.values():
        await backend.start()
    await lab.lb.start()
    try:
        yield lab
    finally:
        await lab.lb.stop()
        for backend in lab.backends.values():
            await backend.stop()


def balancer_tasks() -> list[asyncio.Task[object]]:
    return [task for task in asyncio.all_tasks() if task.get_name().startswith("lab-balancer")]


async def test_connections_spread_over_every_node(lab: Lab) -> None:
    assert lab.lb.status() == {"CAS1": "UP", "CAS2": "UP", "CAS3": "UP"}
    counts = await lab.spread(30)
    assert set(counts) == set(NODES)
    assert min(counts.values()) >= 5, counts
    assert set(await lab.spread(6, "epm")) == set(NODES)


async def test_least_connections_evens_out_concurrent_clients(lab: Lab) -> None:
    clients = [await Client.open(lab.ports["https"]) for _ in range(30)]
    try:
        names = [await client.line() for client in clients]
        assert Counter(names) == {"CAS1": 10, "CAS2": 10, "CAS3": 10}
        assert lab.lb.active() == {"CAS1": 10, "CAS2": 10, "CAS3": 10}
        # Bytes go both ways through the splice.
        assert await clients[0].echo("hello through the vip") == "hello through the vip"
        # The node whose clients left gets the next ones, not the next in turn.
        for client, name in zip(clients, names, strict=True):
            if name == "CAS2":
                await client.close()
        await wait_for(lambda: lab.lb.active()["CAS2"] == 0, 2, what="CAS2 connections to end")
        clients += [await Client.open(lab.ports["https"]) for _ in range(5)]
        assert [await client.line() for client in clients[-5:]] == ["CAS2"] * 5
    finally:
        for client in clients:
            await client.close()
    await wait_for(lambda: sum(lab.lb.active().values()) == 0, 2, what="connections to end")


async def test_dead_node_goes_down_after_fall_checks_and_back_after_rise(lab: Lab) -> None:
    stopped = time.monotonic()
    await lab.backends["CAS2"].stop()
    # Still UP for the balancer, but a refused connect moves on to the next node.
    assert set(await lab.spread(9)) <= {"CAS1", "CAS3"}
    await wait_for(lambda: lab.lb.status()["CAS2"] == "DOWN", 3, what="CAS2 DOWN")
    assert time.monotonic() - stopped >= 2 * INTER  # fall=3: it lags behind the failure
    assert lab.changes_of("CAS2") == [("UP", "UP 2/3"), ("UP 2/3", "UP 1/3"),
                                      ("UP 1/3", "DOWN")]
    assert lab.lb.in_rotation() == ["CAS1", "CAS3"]
    assert set(await lab.spread(12)) == {"CAS1", "CAS3"}

    await lab.backends["CAS2"].start()
    await wait_for(lambda: lab.lb.status()["CAS2"] == "UP", 3, what="CAS2 back UP")
    assert lab.changes_of("CAS2")[3:] == [("DOWN", "DOWN 1/2"), ("DOWN 1/2", "UP")]
    assert "CAS2" in await lab.spread(12)
    assert not [c for c in lab.changes if c[0] != "CAS2"]


async def test_drained_node_keeps_its_connections_but_gets_no_new_ones(lab: Lab) -> None:
    held = [await Client.open(lab.ports["https"]) for _ in range(3)]
    try:
        on_cas1 = next(c for c, name in zip(held, [await c.line() for c in held], strict=True)
                       if name == "CAS1")
        lab.lb.drain("CAS1")
        assert lab.lb.status()["CAS1"] == "DRAIN"
        assert lab.lb.in_rotation() == ["CAS2", "CAS3"]
        assert set(await lab.spread(12)) == {"CAS2", "CAS3"}
        assert await on_cas1.echo("still here") == "still here"
        # Health checks go on meanwhile: another node dies and goes DOWN, CAS1 stays DRAIN.
        await lab.backends["CAS3"].stop()
        await wait_for(lambda: lab.lb.status()["CAS3"] == "DOWN", 3, what="CAS3 DOWN")
        assert lab.lb.status()["CAS1"] == "DRAIN"
        assert set(await lab.spread(4)) == {"CAS2"}
        lab.lb.ready("CAS1")
        assert lab.lb.status()["CAS1"] == "UP"
        assert "CAS1" in await lab.spread(6)
        assert lab.changes_of("CAS1") == [("UP", "DRAIN"), ("DRAIN", "UP")]
    finally:
        for client in held:
            await client.close()


async def test_no_node_in_rotation_closes_the_client_at_once(lab: Lab) -> None:
    for name in NODES:
        lab.lb.drain(name)
    started = time.monotonic()
    assert await ask(lab.ports["https"]) == ""
    assert time.monotonic() - started < 1
    for name in NODES:
        lab.lb.ready(name)
        await lab.backends[name].stop()
    await wait_for(lambda: lab.lb.in_rotation() == [], 3, what="every node DOWN")
    assert set(lab.lb.status().values()) == {"DOWN"}
    started = time.monotonic()
    assert await ask(lab.ports["epm"]) == ""
    assert time.monotonic() - started < 1


async def test_failed_vip_refuses_and_resets_until_restored(lab: Lab) -> None:
    open_client = await Client.open(lab.ports["https"])
    assert await open_client.line() in NODES
    await lab.lb.fail_vip()
    assert not lab.lb.vip_up
    for port in lab.ports.values():
        with pytest.raises(ConnectionRefusedError):
            await ask(port)
    assert await open_client.line() == ""  # the VIP took its connections with it
    await open_client.close()
    await lab.lb.restore_vip()
    assert await ask(lab.ports["https"]) in NODES
    assert await ask(lab.ports["epm"]) in NODES


def _sockets_on(address: str) -> list[object]:
    return [conn for conn in psutil.Process().net_connections("inet")
            if (conn.laddr and conn.laddr.ip == address)
            or (conn.raddr and conn.raddr.ip == address)]


async def test_stop_leaves_no_socket_or_task_behind(lab: Lab) -> None:
    clients = [await Client.open(lab.ports["https"]) for _ in range(6)]
    assert {await client.line() for client in clients} == set(NODES)
    assert balancer_tasks()
    await lab.lb.stop()
    assert balancer_tasks() == []
    for port in lab.ports.values():
        with pytest.raises(ConnectionRefusedError):
            await ask(port)
    for client in clients:
        assert await client.line() == ""
        await client.close()
    assert _sockets_on(VIP) == []
    await wait_for(lambda: not any(b.writers for b in lab.backends.values()), 2,
                   what="backend side of proxied connections to close")
    await lab.lb.stop()  # idempotent


async def test_restarts_after_stop(lab: Lab) -> None:
    await lab.lb.stop()
    await lab.lb.start()
    assert await ask(lab.ports["https"]) in NODES


@pytest.mark.parametrize("address", ["127.0.9.50", "127.255.255.254", "::1"])
def test_loopback_addresses_pass(address: str) -> None:
    require_loopback(address)


@pytest.mark.parametrize("address", ["10.0.0.1", "0.0.0.0", "::", "localhost", "::ffff:127.0.0.1"])
def test_other_addresses_are_refused(address: str) -> None:
    with pytest.raises(ValueError, match="lab binds loopback addresses only"):
        require_loopback(address)
    with pytest.raises(ValueError, match="loopback"):
        LabBalancer("x", "127.0.9.50", {"https": 443}, [("CAS1", address)])


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="check port"):
        LabBalancer("x", VIP, {"epm": 135}, [("CAS1", "127.0.9.21")])
    with pytest.raises(ValueError, match="distinct"):
        LabBalancer("x", VIP, {"https": 443}, [("CAS1", "127.0.9.21"), ("CAS1", "127.0.9.22")])
    with pytest.raises(KeyError, match="CAS9"):
        LabBalancer("x", VIP, {"https": 443}, [("CAS1", "127.0.9.21")]).drain("CAS9")
