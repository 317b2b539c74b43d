"""`GET /metrics` on the engine's event loop: Prometheus text exposition of the snapshot.

One request per connection, parsed by h11 (as castui's other small servers do). The reading is
taken on the loop, where the engine's state is consistent; rendering it runs in a worker thread,
so a scrape holds the loop only for the snapshot. Requests, headers and connections are bounded;
nothing a client sends is echoed or logged, so a token pasted anywhere is never written out.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
from collections.abc import Callable
from http import HTTPStatus

import h11
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from castui.agent.token import TokenCheck, TokenError, read_token
from castui.engine.monitor import Monitor
from castui.metrics.collector import CastuiCollector, EventCounter, Reading, read_monitor
from castui.metrics.options import MetricsError, MetricsOptions, check_exposure, tls_context
from castui.model.aio import drop_clients
from castui.model.text import clean

MAX_HEADER_BYTES = 8 * 1024
#: The request head (and the TLS handshake) must arrive within this many seconds.
HEADER_TIMEOUT = 10.0
WRITE_TIMEOUT = 10.0
MAX_CLIENTS = 16
_READ_CHUNK = 4096


def exposition(reading: Reading) -> bytes:
    """The text exposition (format 0.0.4, which every Prometheus reads) of one reading, through
    prometheus_client's own writer."""
    return generate_latest(CastuiCollector(lambda: reading))


class MetricsServer:
    """Serves `/metrics` from `read()`; `token` and `ssl_context` guard it when set."""

    def __init__(self, read: Callable[[], Reading], *, host: str, port: int,
                 token: str | None = None, ssl_context: ssl.SSLContext | None = None) -> None:
        self._read = read
        self.host = host
        self.port = port
        self._check = TokenCheck(token) if token is not None else None
        self.ssl_context = ssl_context
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}/metrics"

    async def start(self) -> None:
        """Listen; MetricsError (one line) if the address cannot be bound."""
        try:
            self._server = await asyncio.start_server(
                self._accept, self.host, self.port, ssl=self.ssl_context,
                ssl_handshake_timeout=HEADER_TIMEOUT if self.ssl_context else None,
                limit=MAX_HEADER_BYTES)
        except OSError as exc:
            raise MetricsError(f"cannot serve metrics on {clean(self.host, 60)}:{self.port}: "
                               f"{_reason(exc)}") from None
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop listening and drop every client. Idempotent."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()
        await drop_clients(self._writers, self._tasks)

    async def __aenter__(self) -> MetricsServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._writers) >= MAX_CLIENTS:
            writer.transport.abort()
            return
        self._writers.add(writer)
        task = asyncio.create_task(self._serve(reader, writer), name="castui-metrics")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)
        try:
            async with asyncio.timeout(HEADER_TIMEOUT):
                request = await _request(conn, reader)
            status, headers, body = await self._answer(request)
            head = isinstance(request, h11.Request) and request.method == b"HEAD"
            out = conn.send(h11.Response(
                status_code=status, reason=HTTPStatus(status).phrase.encode(),
                headers=[*headers, ("Content-Length", str(len(body))),
                         ("Connection", "close")])) or b""
            if not head:
                out += conn.send(h11.Data(data=body)) or b""
            out += conn.send(h11.EndOfMessage()) or b""
            writer.write(out)
            async with asyncio.timeout(WRITE_TIMEOUT):
                await writer.drain()
        except (OSError, TimeoutError, h11.LocalProtocolError, ssl.SSLError):
            pass  # the client left, went quiet or spoke nonsense
        finally:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()
            self._writers.discard(writer)

    async def _answer(self, request: h11.Request | int
                      ) -> tuple[int, list[tuple[str, str]], bytes]:
        text = [("Content-Type", "text/plain; charset=utf-8")]
        if isinstance(request, int):
            return request, text, b"bad request\n"
        if self._check is not None and not self._authorized(request):
            return 401, [*text, ("WWW-Authenticate", 'Bearer realm="castui metrics"')], \
                b"a Bearer token is required\n"
        path = request.target.split(b"?", 1)[0]
        if path != b"/metrics":
            return 404, text, b"castui serves /metrics only\n"
        if request.method not in (b"GET", b"HEAD"):
            return 405, [*text, ("Allow", "GET, HEAD")], b"use GET\n"
        reading = self._read()  # on the loop: the engine's state is consistent here
        body = await asyncio.to_thread(exposition, reading)
        return 200, [("Content-Type", CONTENT_TYPE_PLAIN_0_0_4)], body

    def _authorized(self, request: h11.Request) -> bool:
        assert self._check is not None
        for name, value in request.headers:
            if name == b"authorization":
                scheme, _, presented = value.partition(b" ")
                if scheme.lower() == b"bearer" and self._check.matches(presented.strip()):
                    return True
        return False


def _reason(exc: OSError) -> str:
    """`address already in use`, not asyncio's long `error while attempting to bind...`."""
    if exc.errno and exc.errno > 0 and not isinstance(exc, socket.gaierror):
        return os.strerror(exc.errno).lower()
    return clean(exc.strerror or str(exc), 100).lower()


async def _request(conn: h11.Connection, reader: asyncio.StreamReader) -> h11.Request | int:
    """The request head, or the status to refuse it with (400, 431)."""
    try:
        while True:
            event = conn.next_event()
            if isinstance(event, h11.Request):
                return event
            if event is not h11.NEED_DATA:
                return 400
            data = await reader.read(_READ_CHUNK)
            conn.receive_data(data)
            if not data:
                return 400
    except h11.RemoteProtocolError as exc:
        return 431 if exc.error_status_hint == 431 else 400


def metrics_server(options: MetricsOptions, monitor: Monitor) -> MetricsServer:
    """The server `options` describe over `monitor`, counting its events from now on.

    MetricsError (one line) when the options break the security rule or a file is unusable.
    Call it before the monitor runs, so the counter sees `monitor_started`.
    """
    check_exposure(options)
    token = None
    if options.token_file is not None:
        try:
            token = read_token(options.token_file)
        except TokenError as err:
            raise MetricsError(f"--metrics-token-file: {err}") from None
    context = None
    if options.tls_cert is not None and options.tls_key is not None:
        context = tls_context(options.tls_cert, options.tls_key)
    counter = EventCounter(site.name for site in monitor.config.sites)
    monitor.subscribe(counter)
    return MetricsServer(lambda: read_monitor(monitor, counter), host=options.host,
                         port=options.port, token=token, ssl_context=context)
