"""A simulated Exchange CAS node on a loopback address, with the faults drills are made of.

Each configured port gets a real listener, so probes, HAProxy and castui see real TCP and TLS:
a crash refuses connections, a blackhole leaves connects hanging, a failed vdir answers 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from functools import partial
from types import TracebackType
from typing import Literal

from castui.config.model import Ports, Profile
from castui.lab.http import IDLE_TIMEOUT, READ_CHUNK, HttpBehaviour, canonical_vdir, serve_http
from castui.lab.netcheck import require_loopback

log = logging.getLogger(__name__)

#: A per-port protocol: gets each accepted connection and owns it until it returns.
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

State = Literal["stopped", "ok", "crashed", "blackholed", "degraded", "slow"]
_Mode = Literal["stopped", "up", "crashed", "blackholed"]

TLS_HANDSHAKE_TIMEOUT = 10.0
CLOSE_TIMEOUT = 2.0
#: Self-connections used to fill a blackhole's accept queue, and how long one may take.
BLACKHOLE_FILL_MAX = 4
BLACKHOLE_FILL_TIMEOUT = 0.2


async def hold_open(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accept and keep the connection, discarding input, until the peer leaves or idles out."""
    del writer  # closed by the caller
    with contextlib.suppress(ConnectionError, TimeoutError):
        while await asyncio.wait_for(reader.read(READ_CHUNK), IDLE_TIMEOUT):
            pass


class _NoHalfClose(asyncio.StreamReaderProtocol):
    """A stream protocol that closes the connection when the peer sends EOF.

    No lab protocol needs half-close, and asyncio's own protocol asks to keep the transport
    open, which on a connection upgraded with start_tls() logs "returning true from
    eof_received() has no effect when using ssl" whenever a client hangs up right after its
    handshake (castui's TLS check does, every round).
    """

    def eof_received(self) -> bool:
        super().eof_received()
        return False


async def _start_server(handler: Handler, sock: socket.socket) -> asyncio.Server:
    """asyncio.start_server() on a bound socket, with _NoHalfClose connections."""
    loop = asyncio.get_running_loop()

    def protocol() -> _NoHalfClose:
        return _NoHalfClose(asyncio.StreamReader(loop=loop), handler, loop=loop)

    return await loop.create_server(protocol, sock=sock)


class LabNode:
    """One CAS server: epm/https/http (and mapi/ab if set) listeners on a loopback address."""

    def __init__(self, name: str, address: str, ports: Ports, *,
                 profile: Profile = "exchange2010", ssl_context: ssl.SSLContext,
                 fqdn: str | None = None) -> None:
        ip = require_loopback(address)
        self.name = name
        self.address = address
        self.ports = ports
        self.profile: Profile = profile
        self.fqdn = fqdn
        self._family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        self._ssl_context = ssl_context
        host = fqdn or (f"[{address}]" if ip.version == 6 else address)
        self.http = HttpBehaviour(name=name, profile=profile, host=host,
                                  https_port=ports.https)
        self._handlers: dict[str, Handler] = {
            "epm": hold_open,
            "https": self._serve_https,
            "http": partial(serve_http, behaviour=self.http, tls=False),
            "mapi": hold_open,
            "ab": hold_open,
        }
        self._mode: _Mode = "stopped"
        self._servers: list[asyncio.Server] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._blackhole_socks: list[socket.socket] = []

    # -- status -------------------------------------------------------------------------

    @property
    def state(self) -> State:
        """What a status view shows: the listener state first, then HTTP-level faults."""
        if self._mode != "up":
            return self._mode
        if self.http.failed_vdirs:
            return "degraded"
        if self.http.delay_ms:
            return "slow"
        return "ok"

    def set_ssl_context(self, context: ssl.SSLContext) -> None:
        """Serve another certificate (e.g. an expired one) from the next TLS connection on."""
        self._ssl_context = context

    def set_handler(self, port_name: str, handler: Handler) -> None:
        """Plug a protocol into a port (e.g. an endpoint-mapper responder on epm)."""
        if port_name not in self._handlers:
            raise ValueError(f"unknown port name {port_name!r}")
        self._handlers[port_name] = handler

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Bind every configured port; port 0 picks a free one, kept for later restores."""
        if self._mode == "up":
            return
        await self._close_all()
        await self._bind()
        self._mode = "up"

    async def stop(self) -> None:
        """Close listeners, client connections and blackhole sockets. Safe to repeat."""
        await self._close_all()
        self._mode = "stopped"

    async def __aenter__(self) -> LabNode:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    # -- faults -------------------------------------------------------------------------

    async def crash(self) -> None:
        """The server is down: every port refuses connections, open ones are dropped."""
        await self._close_all()
        self._mode = "crashed"

    async def blackhole(self) -> None:
        """The server vanished from the network: TCP connects hang until the client gives up."""
        await self._close_all()
        try:
            await asyncio.gather(*(self._blackhole_port(port)
                                   for _, port in self.ports.tcp_checks()))
        except BaseException:
            self._close_blackholes()
            raise
        self._mode = "blackholed"

    async def fail(self, vdir: str) -> None:
        """Half-dead: ports stay open but `vdir` (name or check name) answers 503."""
        self.http.failed_vdirs.add(canonical_vdir(vdir))

    async def slow(self, ms: int) -> None:
        """Delay every HTTP answer by `ms`; TCP and TLS still complete at once."""
        if ms < 0:
            raise ValueError(f"delay must be >= 0 ms, not {ms}")
        self.http.delay_ms = ms

    def set_component(self, component: str | None, state: str) -> None:
        """Set-ServerComponentState: `component` (Exchange's name) Active, Inactive or Draining.
        None and Active: every component back to Active, as a clean end of maintenance."""
        if component is None:
            if state != "Active":
                raise ValueError("name the component to make it " + state)
            self.http.components.clear()
        elif state == "Active":
            self.http.components.pop(component, None)
        else:
            self.http.components[component] = state

    async def restore(self) -> None:
        """Back to healthy, on the same ports. Server component states are Exchange's own
        (they survive a reboot): `online` sets them back."""
        self.http.failed_vdirs.clear()
        self.http.delay_ms = 0
        if self._mode != "up":
            await self._close_all()
            await self._bind()
            self._mode = "up"

    def connections(self) -> list[tuple[tuple[str, int], socket.socket]]:
        """(client address, the node's socket) of each connection it holds open: what a test
        asks of the server side (its socket options)."""
        return [(w.get_extra_info("peername")[:2], w.get_extra_info("socket"))
                for w in self._writers if w.get_extra_info("socket") is not None]

    # -- internals ----------------------------------------------------------------------

    def _socket(self, port: int) -> socket.socket:
        # IPPROTO_TCP named, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says
        # TCP, and without it an answer written while the TLS 1.3 tickets are unacknowledged
        # waits for the client's delayed ACK (40 ms on Linux).
        sock = socket.socket(self._family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.address, port))
        except OSError as exc:
            sock.close()
            raise OSError(exc.errno, f"lab node {self.name}: cannot bind "
                                     f"{self.address}:{port}: {exc.strerror}") from None
        sock.setblocking(False)
        return sock

    async def _bind(self) -> None:
        try:
            for port_name, port in self.ports.tcp_checks():
                sock = self._socket(port)
                server = await _start_server(self._on_connect(port_name), sock)
                self._servers.append(server)
                if port == 0:
                    actual = int(sock.getsockname()[1])
                    self.ports = dataclasses.replace(self.ports, **{port_name: actual})
        except BaseException:
            await self._close_all()
            raise
        self.http.https_port = self.ports.https

    def _on_connect(self, port_name: str) -> Handler:
        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            if task is not None:
                self._tasks.add(task)
            self._writers.add(writer)
            try:
                await self._handlers[port_name](reader, writer)
            except asyncio.CancelledError:
                # The node closed this connection. End the task normally: Python 3.11's
                # stream callback calls exception() on a cancelled task and logs an error.
                pass
            except Exception:
                log.exception("lab node %s: %s handler failed", self.name, port_name)
            finally:
                if task is not None:
                    self._tasks.discard(task)
                self._writers.discard(writer)
                writer.close()
        return on_connect

    async def _serve_https(self, reader: asyncio.StreamReader,
                           writer: asyncio.StreamWriter) -> None:
        """TLS is started here, not by the server, so a half-open handshake is tracked too.

        Reading is paused first, in the handler's first step: a ClientHello read into the
        plain stream before start_tls() would be lost to TLS and the handshake would hang.
        This step runs before the loop reads the new socket (asyncio queues it first).
        """
        if isinstance(writer.transport, asyncio.ReadTransport):
            writer.transport.pause_reading()
        try:
            await asyncio.wait_for(writer.start_tls(self._ssl_context), TLS_HANDSHAKE_TIMEOUT)
        except (ssl.SSLError, ConnectionError, TimeoutError, OSError) as exc:
            log.debug("lab node %s: TLS handshake failed: %r", self.name, exc)
            return
        await serve_http(reader, writer, self.http, tls=True)

    async def _blackhole_port(self, port: int) -> None:
        """A listener that is never accept()ed, its one-slot queue filled by ourselves.

        Linux drops a SYN when the accept queue is full, so a client's connect neither
        succeeds nor is refused: it retransmits SYNs until its own timeout.
        """
        listener = self._socket(port)
        self._blackhole_socks.append(listener)
        listener.listen(0)
        loop = asyncio.get_running_loop()
        target = (self.address, port)
        for _ in range(BLACKHOLE_FILL_MAX):
            filler = socket.socket(self._family, socket.SOCK_STREAM)
            filler.setblocking(False)
            try:
                await asyncio.wait_for(loop.sock_connect(filler, target), BLACKHOLE_FILL_TIMEOUT)
            except TimeoutError:
                filler.close()
                return  # the queue is full: connects now hang
            except BaseException:
                filler.close()
                raise
            self._blackhole_socks.append(filler)
        raise RuntimeError(f"lab node {self.name}: could not blackhole {self.address}:{port}, "
                           "the kernel kept accepting connections")

    def _close_blackholes(self) -> None:
        for sock in self._blackhole_socks:
            sock.close()
        self._blackhole_socks.clear()

    async def _close_all(self) -> None:
        servers, self._servers = self._servers, []
        for server in servers:
            server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT)
        for server in servers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), CLOSE_TIMEOUT)
        self._close_blackholes()
