"""A connected non-blocking socket, plain or TLS, read and written on the event loop directly.

asyncio's streams and its TLS transport are general machinery: a transport, a protocol and a
stream per layer, flow control, buffers copied between them, a future per read. A check does
one small exchange at a time and knows when it waits for an answer, so the HTTPS round and the
endpoint mapper's exchange call the socket (an `ssl.SSLSocket` for TLS, which runs OpenSSL on
the socket itself) and wait on the loop only when it would block: about a fifth less CPU a
round, measured (docs/performance.md). The TCP check does the same for its connect.

The reader callback stays registered while a check waits for answer after answer and removes
itself when data arrives with nobody waiting, so an idle socket never spins the loop.
"""

from __future__ import annotations

import asyncio
import socket
import ssl

from castui.probes.tcp import IN_PROGRESS, strerror, wait_connected


async def open_socket(address: str, port: int, timeout: float) -> socket.socket:
    """A connected non-blocking TCP socket to an IP literal; OSError (errno set) when the
    connect fails, TimeoutError when it does not settle in `timeout`."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        # Each request goes out at once, not held until the last segment is acknowledged
        # (asyncio's transports set this too): a peer's delayed ACK would add 40 ms.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        err = sock.connect_ex((address, port))
        if err in IN_PROGRESS:
            err = await wait_connected(sock, timeout)
        if err:
            raise OSError(err, strerror(err))
    except BaseException:
        sock.close()
        raise
    return sock


#: What readexactly asks the socket for at least.
_READ = 64 * 1024


class LoopSocket:
    """`sock` (connected, non-blocking; an SSLSocket made with do_handshake_on_connect=False
    for TLS) driven from coroutines. `close()` aborts: no TLS close_notify, as HAProxy closes
    its checks."""

    __slots__ = ("_armed", "_buffer", "_fd", "_loop", "_waiter", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._fd = sock.fileno()
        self._loop = asyncio.get_running_loop()
        self._waiter: asyncio.Future[None] | None = None
        self._armed = False
        self._buffer = bytearray()  # read by readexactly beyond what it returned

    async def handshake(self) -> None:
        """The TLS handshake; ssl's own exceptions when it fails."""
        assert isinstance(self.sock, ssl.SSLSocket)
        while True:
            try:
                self.sock.do_handshake()
                return
            except ssl.SSLWantReadError:
                await self._readable()
            except ssl.SSLWantWriteError:
                await self._writable()

    async def recv(self, size: int) -> bytes:
        """Up to `size` bytes as soon as any arrive; b"" at the end of the stream."""
        while True:
            try:
                return self.sock.recv(size)
            except (BlockingIOError, ssl.SSLWantReadError):
                await self._readable()
            except ssl.SSLWantWriteError:
                await self._writable()

    async def readexactly(self, size: int) -> bytes:
        """`size` bytes; asyncio.IncompleteReadError (with what came) if the stream ends
        first, as asyncio.StreamReader.readexactly."""
        while len(self._buffer) < size:
            data = await self.recv(max(size - len(self._buffer), _READ))
            if not data:
                partial, self._buffer = bytes(self._buffer), bytearray()
                raise asyncio.IncompleteReadError(partial, size)
            self._buffer += data
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        return out

    async def send(self, data: bytes) -> None:
        """All of `data`."""
        view = memoryview(data)
        while view:
            try:
                view = view[self.sock.send(view):]
            except (BlockingIOError, ssl.SSLWantWriteError):
                await self._writable()
            except ssl.SSLWantReadError:
                await self._readable()

    def quiet(self) -> bool:
        """Nothing came from the peer since the last read: no data, no end of stream (an idle
        keep-alive connection the server has not closed, as far as the kernel knows)."""
        if self._buffer:
            return False
        try:
            self.sock.recv(1)
        except (BlockingIOError, ssl.SSLWantReadError):
            return True
        except OSError:
            return False
        return False

    def close(self) -> None:
        if self._armed:
            self._loop.remove_reader(self._fd)
            self._armed = False
        self.sock.close()

    async def _readable(self) -> None:
        waiter = self._waiter = self._loop.create_future()
        if not self._armed:
            self._loop.add_reader(self._fd, self._on_readable)
            self._armed = True
        try:
            await waiter
        finally:
            self._waiter = None

    def _on_readable(self) -> None:
        waiter = self._waiter
        if waiter is None:  # nobody reads now: stop the loop calling until someone waits
            self._loop.remove_reader(self._fd)
            self._armed = False
        elif not waiter.done():
            waiter.set_result(None)

    async def _writable(self) -> None:
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._loop.add_writer(self._fd, _wake, waiter)
        try:
            await waiter
        finally:
            self._loop.remove_writer(self._fd)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
