"""The VIP of one lab site: a small TCP load balancer that behaves like the hardware one.

It exists so drills show what operators see in production: the balancer runs its own health
checks on its own schedule (`inter`, `rise`, `fall`, HAProxy's counter), so it lags behind
castui's view of a node; a drained node keeps its open connections but gets no new ones; and
the whole VIP can vanish for a site-failover drill.

Behaviour worth knowing:

- Nodes start UP, as in HAProxy (its default `init-state up`), and the first check decides
  outright: `start()` runs one round before it opens the VIP, so a node that is dead at start
  never gets traffic. From then on a node takes `fall` failed checks to go DOWN and `rise`
  good ones to come back.
- A new connection goes to the node in rotation (UP and not drained) with the fewest open
  connections, ties broken round-robin. If connecting to it fails, the next one is tried once.
- With no node in rotation the client connection is closed at once: the client sees EOF
  right after connecting (HAProxy in TCP mode does the same), not a refusal.
- Bytes are spliced both ways; when either side closes, both are closed (no half-close).
- With `check_path` the health check is a layer-7 one, as Microsoft recommends for Exchange
  2016 and later: an HTTPS GET of that page (e.g. `/owa/healthcheck.htm`) that must answer 200,
  so Managed Availability taking a protocol out (ServerWideOffline) takes the node out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any

from castui.engine.health import Health, HealthCounter
from castui.lab.netcheck import require_loopback

log = logging.getLogger(__name__)

#: Bytes read per splice step; with the writer's drain this bounds memory per connection.
CHUNK = 64 * 1024
#: How long a naturally ending connection may take to flush before it is cut.
CLOSE_GRACE = 2.0
#: Most of a layer-7 check's answer read: the status line is all it judges.
CHECK_READ_BYTES = 1024

ChangeCallback = Callable[[str, str, str], None]


class LabBalancer:
    """A site's VIP: listeners on `vip` for every port, forwarding to the same port on a node."""

    def __init__(self, name: str, vip: str, ports: dict[str, int],
                 backends: list[tuple[str, str]], *, check_port: str = "https",
                 inter: float = 2.0, rise: int = 2, fall: int = 3,
                 connect_timeout: float = 1.0, check_path: str | None = None) -> None:
        require_loopback(vip)
        for _, address in backends:
            require_loopback(address)
        names = [node for node, _ in backends]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"balancer {name}: backends need distinct node names")
        if check_port not in ports:
            raise ValueError(f"balancer {name}: check port {check_port!r} is not in its ports")
        if any(not 0 < port < 65536 for port in ports.values()):
            raise ValueError(f"balancer {name}: ports must be 1-65535")
        if inter <= 0 or connect_timeout <= 0 or rise < 1 or fall < 1:
            raise ValueError(f"balancer {name}: inter, timeout, rise and fall must be positive")
        self.name = name
        self.vip = vip
        self.ports = dict(ports)
        self.check_port = check_port
        self.check_path = check_path
        # Balancers check back ends by address and do not verify their certificates.
        self._check_tls = ssl.create_default_context()
        self._check_tls.check_hostname = False
        self._check_tls.verify_mode = ssl.CERT_NONE
        self.inter = inter
        self.connect_timeout = connect_timeout
        self.on_change: ChangeCallback | None = None
        self._order = names
        self._address = dict(backends)
        self._health = {node: HealthCounter(rise, fall) for node in names}
        self._drained: set[str] = set()
        self._active = dict.fromkeys(names, 0)
        self._cursor = 0
        self._servers: list[asyncio.Server] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._conns: set[asyncio.StreamWriter] = set()
        self._running = False

    # -- state -------------------------------------------------------------------------

    def status(self) -> dict[str, str]:
        """Node -> HAProxy's status text: UP, UP 2/3, DOWN, DOWN 1/2, or DRAIN."""
        return {node: self._text(node) for node in self._order}

    def in_rotation(self) -> list[str]:
        """Nodes a new connection may go to: UP (or not yet checked) and not drained."""
        return [node for node in self._order
                if node not in self._drained and self._health[node].state is not Health.DOWN]

    def active(self) -> dict[str, int]:
        """Node -> connections open through the balancer right now."""
        return dict(self._active)

    def drain(self, node: str) -> None:
        """Stop sending `node` new connections; the open ones carry on."""
        self._change(node, partial(self._drained.add, node))

    def ready(self, node: str) -> None:
        """Undo `drain`."""
        self._change(node, partial(self._drained.discard, node))

    def _text(self, node: str) -> str:
        counter = self._health[node]
        if counter.state is Health.DOWN:
            return counter.text
        if node in self._drained:
            return "DRAIN"
        # Before its first check a node is UP, HAProxy's initial state (module docstring).
        return "UP" if counter.state is Health.UNKNOWN else counter.text

    def _change(self, node: str, action: Callable[[], object]) -> None:
        """Run `action` on `node`'s state and report a changed status text."""
        if node not in self._health:
            raise KeyError(f"balancer {self.name} has no node {node!r}")
        before = self._text(node)
        action()
        after = self._text(node)
        if after != before and self.on_change is not None:
            try:
                self.on_change(node, before, after)
            except Exception:
                log.exception("balancer %s: on_change callback failed", self.name)

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Run a first round of checks, open the VIP listeners, keep checking every `inter`."""
        if self._running:
            return
        await self._check_round()
        await self._listen()
        self._running = True
        self._spawn(self._check_loop(), "checks")

    async def stop(self) -> None:
        """Close listeners, every proxied connection and the health checks. Idempotent."""
        self._running = False
        await self._close_vip()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def fail_vip(self) -> None:
        """The VIP goes away: connections to it are refused and open ones are reset."""
        await self._close_vip()

    async def restore_vip(self) -> None:
        """The VIP comes back on the same ports (no-op unless started and failed)."""
        if self._running and not self._servers:
            await self._listen()

    @property
    def vip_up(self) -> bool:
        return bool(self._servers)

    async def _listen(self) -> None:
        try:
            for port in self.ports.values():
                self._servers.append(
                    await asyncio.start_server(self._accept, self.vip, port, limit=CHUNK))
        except OSError:
            await self._close_vip()
            raise

    async def _close_vip(self) -> None:
        servers, self._servers = self._servers, []
        for server in servers:
            server.close()
        for server in servers:
            await server.wait_closed()
        for writer in list(self._conns):
            writer.transport.abort()

    def _spawn(self, coro: Coroutine[Any, Any, None], what: str) -> asyncio.Task[None]:
        """Start a task the balancer owns, so `stop` can find and cancel it."""
        task = asyncio.create_task(coro, name=f"lab-balancer:{self.name}:{what}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- health checks -----------------------------------------------------------------

    async def _check_loop(self) -> None:
        """A round every `inter`; a late round is not made up for, so `fall` rounds always
        span at least (fall - 1) x inter, the lag operators see on a real balancer."""
        last = time.monotonic()
        while True:
            await asyncio.sleep(max(0.0, last + self.inter - time.monotonic()))
            last = time.monotonic()
            await self._check_round()

    async def _check_round(self) -> None:
        results = await asyncio.gather(*(self._check(node) for node in self._order))
        for node, good in zip(self._order, results, strict=True):
            self._change(node, partial(self._health[node].observe, good))

    async def _check(self, node: str) -> bool:
        """A plain TCP connect to the node's check port, like a hardware balancer's L4 check;
        with `check_path`, an HTTPS GET of it that must answer 200."""
        address, port = self._address[node], self.ports[self.check_port]
        if self.check_path is not None:
            return await self._check_http(address, port, self.check_path)
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setblocking(False)
            try:
                async with asyncio.timeout(self.connect_timeout):
                    await asyncio.get_running_loop().sock_connect(sock, (address, port))
            except (OSError, TimeoutError):
                return False
        return True

    async def _check_http(self, address: str, port: int, path: str) -> bool:
        writer = None
        try:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await asyncio.open_connection(address, port, ssl=self._check_tls)
                writer.write(f"GET {path} HTTP/1.1\r\nHost: {address}\r\n"
                             "Connection: close\r\n\r\n".encode("ascii"))
                await writer.drain()
                status = await reader.readline()
        except (OSError, TimeoutError, ssl.SSLError):
            return False
        finally:
            if writer is not None:
                writer.transport.abort()
        return status.split(b" ", 2)[1:2] == [b"200"]

    # -- forwarding --------------------------------------------------------------------

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        port = writer.get_extra_info("sockname")[1]
        self._conns.add(writer)
        if not self._running or not self._servers:
            writer.transport.abort()
            self._conns.discard(writer)
            return
        self._spawn(self._proxy(reader, writer, port), f"conn:{port}")

    def _pick(self, exclude: set[str]) -> str | None:
        """Least connections first, then round-robin from the node after the last pick."""
        candidates = [node for node in self.in_rotation() if node not in exclude]
        if not candidates:
            return None
        count = len(self._order)

        def rank(node: str) -> tuple[int, int]:
            return self._active[node], (self._order.index(node) - self._cursor) % count

        best = min(candidates, key=rank)
        self._cursor = self._order.index(best) + 1
        return best

    async def _proxy(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter,
                     port: int) -> None:
        backend_w: asyncio.StreamWriter | None = None
        node: str | None = None
        try:
            tried: set[str] = set()
            for _ in range(2):  # the chosen node, then the next one once
                node = self._pick(tried)
                if node is None:
                    return
                tried.add(node)
                self._active[node] += 1
                try:
                    async with asyncio.timeout(self.connect_timeout):
                        backend_r, backend_w = await asyncio.open_connection(
                            self._address[node], port, limit=CHUNK)
                    break
                except (OSError, TimeoutError):
                    self._active[node] -= 1
                    node = None
            if backend_w is None:
                return
            self._conns.add(backend_w)
            await _splice(client_r, client_w, backend_r, backend_w)
        finally:
            if node is not None:
                self._active[node] -= 1
            for writer in (client_w, backend_w):
                if writer is not None:
                    await _close(writer)
                    self._conns.discard(writer)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until EOF or an error on either side; drain keeps the write buffer bounded."""
    with contextlib.suppress(OSError):
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()


async def _splice(a_r: asyncio.StreamReader, a_w: asyncio.StreamWriter,
                  b_r: asyncio.StreamReader, b_w: asyncio.StreamWriter) -> None:
    """Copy both ways until either direction ends, then stop the other."""
    owner = asyncio.current_task()
    name = f"{owner.get_name()}:pipe" if owner is not None else "pipe"
    pipes = [asyncio.create_task(_pipe(a_r, b_w), name=name),
             asyncio.create_task(_pipe(b_r, a_w), name=name)]
    try:
        await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pipe in pipes:
            pipe.cancel()
        await asyncio.gather(*pipes, return_exceptions=True)


async def _close(writer: asyncio.StreamWriter) -> None:
    """Close after flushing what is buffered, but cut the connection if that stalls."""
    writer.close()
    try:
        async with asyncio.timeout(CLOSE_GRACE):
            await writer.wait_closed()
    except (OSError, TimeoutError):
        writer.transport.abort()
