"""A loopback webhook receiver for tests: real HTTP/1.1 (h11), scripted answers, recorded POSTs."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType

import h11

from castui.model.aio import drop_clients

READ_SIZE = 65536


@dataclass(frozen=True, slots=True)
class Received:
    """One request as the receiver saw it."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes


class WebhookReceiver:
    """Answer the n-th request with `statuses[n]` (then `default`); `hang`: never answer.

    Keeps connections alive like a real server, and counts the open ones so a test can see a
    client close its sockets. With `tls` (a server context) it serves HTTPS.
    """

    def __init__(self, host: str, *, statuses: Sequence[int] = (), default: int = 200,
                 hang: bool = False, tls: ssl.SSLContext | None = None) -> None:
        self.host = host
        self._tls = tls
        self.requests: list[Received] = []
        self.open_connections = 0
        self._statuses = list(statuses)
        self._default = default
        self._hang = hang
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    def url(self, path: str = "/hook") -> str:
        scheme = "https" if self._tls else "http"
        return f"{scheme}://{self.host}:{self.port}{path}"

    async def __aenter__(self) -> WebhookReceiver:
        self._server = await asyncio.start_server(self._serve, self.host, 0, ssl=self._tls)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        assert self._server is not None
        self._server.close()
        await drop_clients(self._writers, self._tasks)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        self.open_connections += 1
        try:
            await self._converse(reader, writer)
        except (ConnectionError, h11.ProtocolError):
            pass
        finally:
            self.open_connections -= 1
            self._writers.discard(writer)
            self._tasks.discard(task)
            writer.close()

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)
        request: h11.Request | None = None
        body = bytearray()
        for _ in range(10_000):  # events on one connection; far more than any test sends
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await reader.read(READ_SIZE))
            elif isinstance(event, h11.Request):
                request, body = event, bytearray()
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert request is not None
                self.requests.append(Received(
                    request.method.decode(), request.target.decode(),
                    {k.decode().lower(): v.decode() for k, v in request.headers}, bytes(body)))
                if self._hang:
                    await asyncio.Event().wait()  # until the test stops the receiver
                await self._answer(conn, writer)
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return  # the client asked to close
                conn.start_next_cycle()
            else:  # ConnectionClosed
                return

    async def _answer(self, conn: h11.Connection, writer: asyncio.StreamWriter) -> None:
        status = self._statuses.pop(0) if self._statuses else self._default
        content = b'{"ok": true}' if status < 300 else b'{"error": "scripted"}'
        writer.write(conn.send(h11.Response(status_code=status, headers=[
            ("Content-Type", "application/json"), ("Content-Length", str(len(content)))])))
        writer.write(conn.send(h11.Data(data=content)))
        writer.write(conn.send(h11.EndOfMessage()))
        await writer.drain()
