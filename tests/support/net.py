"""Loopback addresses, free ports and condition waits for tests."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

# A second octet per test process (pytest-xdist workers) and a fresh third octet per block,
# away from the hand-picked 127.0.x.y addresses tests use directly.
_SECOND_OCTET = 100 + os.getpid() % 100
_blocks = itertools.count(1)


@dataclass(frozen=True, slots=True)
class LoopbackBlock:
    """254 loopback addresses (127.S.T.1-254) that no other block in this process hands out."""

    prefix: str

    def addr(self, host: int) -> str:
        if not 1 <= host <= 254:
            raise ValueError(f"host number must be 1-254, not {host}")
        return f"{self.prefix}.{host}"

    def take(self, count: int) -> list[str]:
        return [self.addr(host) for host in range(1, count + 1)]


def loopback_block() -> LoopbackBlock:
    """A new block of loopback addresses, distinct from every earlier one in this process."""
    third = next(_blocks) % 256
    return LoopbackBlock(f"127.{_SECOND_OCTET}.{third}")


def free_ports(address: str, count: int = 1) -> list[int]:
    """`count` distinct ports free for both TCP and UDP on `address` right now."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    held: list[socket.socket] = []
    ports: list[int] = []
    try:
        for _ in range(count * 20):
            if len(ports) == count:
                break
            tcp = socket.socket(family, socket.SOCK_STREAM)
            held.append(tcp)
            tcp.bind((address, 0))
            port = int(tcp.getsockname()[1])
            udp = socket.socket(family, socket.SOCK_DGRAM)
            held.append(udp)
            try:
                udp.bind((address, port))
            except OSError:
                continue
            ports.append(port)
    finally:
        for sock in held:
            sock.close()
    if len(ports) < count:
        raise RuntimeError(f"no {count} free ports on {address}")
    return ports


def free_port(address: str) -> int:
    """A port free for TCP and UDP on `address` (bind port 0, read it, close)."""
    return free_ports(address, 1)[0]


async def wait_for(predicate: Callable[[], bool | Awaitable[bool]],
                   timeout: float,
                   interval: float = 0.02, what: str = "condition") -> None:
    """Poll a sync or async predicate until it holds; AssertionError naming `what` if not."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(interval)


def wait_for_sync(predicate: Callable[[], bool], timeout: float, interval: float = 0.02,
                  what: str = "condition") -> None:
    """The blocking twin of `wait_for`, for fixtures and process start-up."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)
