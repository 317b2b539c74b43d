"""TCP connect check: does the port complete a handshake? (HAProxy's `L4` check.)

It sends no data and closes at once, like a load balancer's plain TCP check. It has to be
cheap (thousands per second on one core), so it drives a raw non-blocking socket on the
event loop instead of building a transport and a protocol per probe.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import struct
import time

from castui.model import times
from castui.model.results import Code, Error, ProbeResult

#: SO_LINGER on, 0 s: close with a RST and leave no TIME_WAIT behind (HAProxy does the same),
#: so thousands of checks per second do not exhaust ephemeral ports.
_LINGER_RST = struct.pack("ii", 1, 0)

IN_PROGRESS = (errno.EINPROGRESS, errno.EAGAIN, errno.EWOULDBLOCK, errno.EALREADY)

_RESET = (errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE)

_UNREACHABLE = {
    errno.ENETUNREACH: "network unreachable",
    errno.EHOSTUNREACH: "host unreachable",
    errno.EHOSTDOWN: "host down",
    errno.ENETDOWN: "network down",
    errno.EADDRNOTAVAIL: "address not available",
}


def strerror(err: int) -> str:
    """Lower-case OS error text for details, never failing on odd numbers."""
    try:
        return os.strerror(err).lower()
    except ValueError:
        return f"error {err}"


def _on_writable(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


async def wait_connected(sock: socket.socket, timeout: float) -> int:
    """Wait until the pending connect settles; return its errno (0 = connected).

    On loopback, and on a fast link, the handshake has often settled by the time connect()
    returns: the kernel is asked first, so the time measured is the connect's own, not that
    of the event loop's next turn (and no turn is spent on it)."""
    err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if err:
        return err
    try:
        sock.getpeername()
        return 0
    except OSError:  # not connected yet
        pass
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[None] = loop.create_future()
    fd = sock.fileno()
    loop.add_writer(fd, _on_writable, fut)
    try:
        async with asyncio.timeout(timeout):
            await fut
    finally:
        loop.remove_writer(fd)
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)


def refusal(err: int) -> tuple[str, str]:
    """(error class, detail) for a connect errno other than success."""
    if err == errno.ECONNREFUSED:
        return Error.REFUSED, "connection refused"
    if err in _RESET:
        return Error.RESET, "connection reset"
    if err in _UNREACHABLE:
        return Error.UNREACHABLE, _UNREACHABLE[err]
    return Error.OTHER, strerror(err)


async def tcp_probe(address: str, port: int, timeout: float) -> ProbeResult:
    """Connect to `address` (an IP literal) and `port`, then close without sending anything.

    facts: {"address": address, "port": port}.
    """
    started = time.time()
    facts = {"address": address, "port": port}
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        # An IP literal only: a name would make connect() block on a resolver.
        socket.inet_pton(family, address)
        if not 0 < port < 65536:
            raise ValueError
    except (OSError, ValueError, TypeError):
        return ProbeResult(False, Code.L4CON, f"bad address {address!r} port {port!r}",
                           None, Error.OTHER, facts, started)
    try:
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:  # out of file descriptors, for one
        return ProbeResult(False, Code.L4CON, f"no socket: {strerror(exc.errno or 0)}",
                           None, Error.OTHER, facts, started)
    t0 = time.monotonic()
    try:
        sock.setblocking(False)
        err = sock.connect_ex((address, port))
        if err in IN_PROGRESS:
            err = await wait_connected(sock, timeout)
        latency = (time.monotonic() - t0) * 1000
        if err == 0:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
            took = times.latency(latency, style="detail")
            return ProbeResult(True, Code.L4OK, f"connected in {took}", latency, None, facts,
                               started)
        error, detail = refusal(err)
        return ProbeResult(False, Code.L4CON, detail, latency, error, facts, started)
    except TimeoutError:
        return ProbeResult(False, Code.L4TOUT, f"no answer in {timeout:g} s",
                           (time.monotonic() - t0) * 1000, Error.TIMEOUT, facts, started)
    except OSError as exc:
        error, detail = refusal(exc.errno or 0)
        return ProbeResult(False, Code.L4CON, detail, (time.monotonic() - t0) * 1000,
                           error, facts, started)
    finally:
        sock.close()
