"""A scripted HTTPS server on loopback: keep-alive connections that misbehave on cue.

Each request is answered as `decide(connection, request, path)` says (connection and request
numbers from 1, request counted per connection): `ANSWER` (200 with Managed Availability's
`200 OK` body, connection kept), `CLOSE_HEADER` (the same with `Connection: close`, then
closed), `ANSWER_THEN_CLOSE` (answered as if kept alive, then closed at once), `DROP` (closed
without an answer: the keep-alive race) or `HANG` (never answered; held until the client goes).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

ANSWER = "answer"
CLOSE_HEADER = "close-header"
ANSWER_THEN_CLOSE = "answer-then-close"
DROP = "drop"
HANG = "hang"

_BODY = b"200 OK\r\n"
_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n" % len(_BODY)

Decide = Callable[[int, int, str], str]


@dataclass
class Seen:
    """What the server saw: connections accepted, and each request as (connection, n, path)."""

    connections: int = 0
    requests: list[tuple[int, int, str]] = field(default_factory=list)


@contextlib.asynccontextmanager
async def scripted_https(address: str, context: ssl.SSLContext,
                         decide: Decide) -> AsyncIterator[tuple[int, Seen]]:
    """The server's port and what it saw; stopped (and its handlers ended) on exit."""
    seen = Seen()
    handlers: set[asyncio.Task[None]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        seen.connections += 1
        number = seen.connections
        try:
            for count in range(1, 100):  # bounded: no test sends a hundred requests
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10.0)
                path = head.split(b" ", 2)[1].decode("latin-1")
                seen.requests.append((number, count, path))
                how = decide(number, count, path)
                if how == DROP:
                    return
                if how == HANG:
                    while await asyncio.wait_for(reader.read(1024), 10.0):
                        pass
                    return
                close = b"Connection: close\r\n" if how == CLOSE_HEADER else b""
                writer.write(_HEAD + close + b"\r\n" + _BODY)
                await writer.drain()
                if how != ANSWER:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError, ssl.SSLError,
                asyncio.CancelledError):
            return
        finally:
            handlers.discard(task)
            writer.transport.abort()

    server = await asyncio.start_server(serve, address, 0, ssl=context)
    try:
        yield int(server.sockets[0].getsockname()[1]), seen
    finally:
        server.close()
        for task in list(handlers):
            task.cancel()
        if handlers:
            await asyncio.wait(handlers, timeout=2.0)
        await server.wait_closed()
