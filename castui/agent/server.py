"""The agent's read-only HTTP service: `GET /v1/status` and `GET /healthz`, token required.

One request per connection, parsed by h11 (as the lab's servers do); answers are rendered here
from fixed text, so nothing a client sends is ever echoed. Every resource a client can hold is
bounded: request head size and time (slowloris), the idle time between head and body, body
size, connections per address and in total, requests per address (token bucket), and the size
of the answer. Idle connections never starve new ones: a client at its own cap is refused, and
when every slot is taken the oldest connection still waiting for its request is dropped. TLS
starts only once a connection is admitted, so a handshake in progress is an idle connection.

Nothing a client sends reaches the log except its address: methods and paths are logged only
when they are ones we know, so a token pasted into a URL (or anywhere else) is never written.

Why this module is a little over 400 lines: admission, reading, answering and lingering share
one connection record and its bounds; apart, each bound would have to be re-checked twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import math
import os
import socket
import ssl
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import h11

from castui.agent.collect import Collector, DirectQuery
from castui.agent.ratelimit import RateLimiter
from castui.agent.token import TokenCheck
from castui.model.aio import drop_clients
from castui.model.text import clean

log = logging.getLogger("castui.agent")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8799
DEFAULT_RATE = 2.0
DEFAULT_BURST = 10
MAX_HEADER_BYTES = 8 * 1024
MAX_BODY_BYTES = 1024
MAX_RESPONSE_BYTES = 64 * 1024
#: The whole request head (and the TLS handshake) must arrive within this many seconds.
HEADER_TIMEOUT = 10.0
#: Once the head is read, the rest of the request (its small body) must follow within this.
BODY_TIMEOUT = 2.0
WRITE_TIMEOUT = 10.0
MAX_CONNECTIONS = 64
MAX_CONNECTIONS_PER_CLIENT = 8
#: Bounds of a bypass-count query (the RPC ports and 443; a balancer's few addresses).
MAX_DIRECT_PORTS = 16
MAX_VIA = 32
_VERSIONS = frozenset({b"1.0", b"1.1"})
#: After refusing a request we did not read to its end, drain this much for this long, so the
#: client reads our answer instead of a connection reset.
_LINGER_BYTES = 64 * 1024
_LINGER_SECONDS = 1.0
#: How long a closing connection may take to say it is closed.
_CLOSE_SECONDS = 2.0
_READ_CHUNK = 4096
_ALLOW = "GET, HEAD"
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS",
                            "TRACE", "CONNECT"})
_ROUTES = ("/v1/status", "/healthz")


class AgentError(Exception):
    """The agent cannot start (address in use, bad address...); one line."""


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    doc: dict[str, Any]
    headers: tuple[tuple[str, str], ...] = ()
    #: The request was not read to its end: drain before closing.
    linger: bool = False


def _error(status: int, message: str, *headers: tuple[str, str],
           linger: bool = False) -> _Answer:
    return _Answer(status, {"error": message}, headers, linger)


@dataclass(eq=False, slots=True)
class _Connection:
    client: str
    writer: asyncio.StreamWriter
    #: Still waiting for its request: the kind of connection that may be dropped for a new one.
    idle: bool = True


class _Refused(Exception):
    """The request is refused before it is complete (malformed, too large)."""

    def __init__(self, answer: _Answer) -> None:
        super().__init__(answer.status)
        self.answer = answer


@dataclass(frozen=True, slots=True)
class _Request:
    method: str
    path: str
    headers: list[tuple[bytes, bytes]]
    query: str = ""

    def header(self, name: bytes) -> list[bytes]:
        return [value for key, value in self.headers if key == name]


class AgentServer:
    """Serve `collector`'s status to clients that present `token`.

    Port 0 picks a free port (see `port` after `start()`); `ssl_context` turns on TLS.
    """

    def __init__(self, collector: Collector, token: str, *, host: str = DEFAULT_HOST,
                 port: int = DEFAULT_PORT, ssl_context: ssl.SSLContext | None = None,
                 rate: float = DEFAULT_RATE, burst: int = DEFAULT_BURST,
                 max_response_bytes: int = MAX_RESPONSE_BYTES,
                 header_timeout: float = HEADER_TIMEOUT) -> None:
        self.collector = collector
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.max_response_bytes = max_response_bytes
        self.header_timeout = header_timeout
        self._check = TokenCheck(token)
        self._limiter = RateLimiter(rate, burst)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        #: Open connections, oldest first (dicts keep insertion order).
        self._connections: dict[asyncio.StreamWriter, _Connection] = {}
        self._per_client: dict[str, int] = {}

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    async def start(self) -> None:
        """Listen; AgentError (one line) if the address cannot be bound."""
        try:
            # Plain TCP: TLS starts in _serve, once the connection is admitted, so a client
            # still in its handshake counts against the caps like any other idle connection.
            self._server = await asyncio.start_server(
                self._accept, self.host, self.port, limit=MAX_HEADER_BYTES)
        except OSError as exc:
            raise AgentError(f"cannot listen on {self.host}:{self.port}: {_reason(exc)}") from None
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop listening and drop every client. Idempotent."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        await drop_clients(self._connections, self._tasks)
        if server is not None:
            await server.wait_closed()

    async def __aenter__(self) -> AgentServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- one connection ------------------------------------------------------------------------

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Admit a connection: the per-client cap first (a client at its cap can displace
        nobody), then the global one, making room by dropping the oldest idle connection."""
        client = _client_address(writer)
        if self._per_client.get(client, 0) >= MAX_CONNECTIONS_PER_CLIENT:
            writer.transport.abort()
            return
        if len(self._connections) >= MAX_CONNECTIONS:
            oldest = next((conn for conn in self._connections.values() if conn.idle), None)
            if oldest is None:  # every slot is busy answering: those end within WRITE_TIMEOUT
                writer.transport.abort()
                return
            self._release(oldest)
            oldest.writer.transport.abort()
            log.debug("%s: idle connection dropped for a new one", clean(oldest.client, 60))
        conn = _Connection(client, writer)
        self._connections[writer] = conn
        self._per_client[client] = self._per_client.get(client, 0) + 1
        task = asyncio.create_task(self._serve(conn, reader), name="castui-agent")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _release(self, conn: _Connection) -> None:
        """Stop counting `conn` (once, whether it ended or was dropped)."""
        if self._connections.pop(conn.writer, None) is None:
            return
        left = self._per_client.get(conn.client, 1) - 1
        if left > 0:
            self._per_client[conn.client] = left
        else:
            self._per_client.pop(conn.client, None)

    async def _serve(self, conn: _Connection, reader: asyncio.StreamReader) -> None:
        client, writer = conn.client, conn.writer
        wait = self._limiter.take(client)
        request: _Request | None = None
        # Over TLS the plain stream is never told it closed: only a TLS stream is waited for.
        closes: asyncio.StreamWriter | None = writer if self.ssl_context is None else None
        try:
            try:
                async with asyncio.timeout(self.header_timeout) as deadline:
                    if self.ssl_context is not None:
                        reader, writer = await _start_tls(writer, self.ssl_context)
                        closes = writer
                    request = await _read_request(reader, deadline)
                conn.idle = False
                answer = await self._answer(request, wait, client)
            except _Refused as refused:
                conn.idle = False
                answer = refused.answer
            body = _encode(answer.doc)
            head_only = request is not None and request.method == "HEAD"
            async with asyncio.timeout(WRITE_TIMEOUT):
                writer.write(_render(answer, len(body)) + (b"" if head_only else body))
                await writer.drain()
            _log_request(client, request, answer.status)
            if answer.linger:
                await _linger(reader, writer)
        except (OSError, TimeoutError):  # ssl.SSLError is an OSError
            pass  # the client left, went quiet before its request was complete, or was dropped
        finally:
            writer.close()
            if closes is not None:
                with contextlib.suppress(OSError, TimeoutError):
                    async with asyncio.timeout(_CLOSE_SECONDS):
                        await closes.wait_closed()
            self._release(conn)

    async def _answer(self, request: _Request, wait: float, client: str) -> _Answer:
        """Rate limit, then token, then method, then route: nothing is told to a client
        without the token but that it needs one."""
        if wait > 0:
            retry = str(max(1, math.ceil(wait)))
            return _error(429, f"too many requests; retry after {retry} s", ("Retry-After", retry))
        if not self._authorised(request):
            return _error(401, "a valid token is required (Authorization: Bearer TOKEN)",
                          ("WWW-Authenticate", 'Bearer realm="castui-agent"'))
        if request.method not in ("GET", "HEAD"):
            return _error(405, "read-only: only GET and HEAD are served", ("Allow", _ALLOW))
        route: Callable[[], Awaitable[dict[str, Any]]] | None = {
            "/v1/status": self.collector.snapshot,
            "/healthz": _healthy,
        }.get(request.path)
        if route is None:
            return _error(404, "no such endpoint (GET /v1/status, GET /healthz)")
        if request.query and request.path == "/v1/status":
            try:
                ports, via = parse_direct_query(request.query)
            except ValueError as err:
                return _error(400, str(err))
            # castui probes the node from the address that asks: its checks are no clients.
            doc = await self.collector.snapshot((ports, (*via, client)))
        else:
            doc = await route()
        size = len(_encode(doc))
        if size > self.max_response_bytes:
            log.error("status of %d bytes is over the %d-byte limit; configure fewer ports, "
                      "services or processes", size, self.max_response_bytes)
            return _error(500, f"status larger than {self.max_response_bytes} bytes")
        return _Answer(200, doc)

    def _authorised(self, request: _Request) -> bool:
        values = request.header(b"authorization")
        if len(values) != 1:
            return False
        scheme, _, credentials = values[0].strip().partition(b" ")
        return scheme.lower() == b"bearer" and self._check.matches(credentials.strip())


def parse_direct_query(query: str) -> DirectQuery:
    """`direct_ports=135,443&via=10.1.0.5,10.1.0.6`: which ports count and which addresses are
    the balancer's. ValueError with a fixed-text reason (the query is never echoed)."""
    try:
        fields = urllib.parse.parse_qs(query, strict_parsing=True, max_num_fields=2)
    except ValueError:
        raise ValueError("bad query (expected direct_ports=...&via=...)") from None
    if set(fields) != {"direct_ports", "via"} or any(len(v) != 1 for v in fields.values()):
        raise ValueError("bad query (expected direct_ports=...&via=...)")
    ports_text, via_text = fields["direct_ports"][0].split(","), fields["via"][0].split(",")
    if not 0 < len(ports_text) <= MAX_DIRECT_PORTS or not 0 < len(via_text) <= MAX_VIA:
        raise ValueError(f"direct_ports takes 1-{MAX_DIRECT_PORTS} ports, via 1-{MAX_VIA} "
                         "addresses")
    if not all(p.isascii() and p.isdigit() and 0 < int(p) < 65536 for p in ports_text):
        raise ValueError("direct_ports must be port numbers")
    try:
        via = tuple(str(ipaddress.ip_address(a)) for a in via_text)
    except ValueError:
        raise ValueError("via must be IP addresses") from None
    return tuple(int(p) for p in ports_text), via


def _reason(exc: OSError) -> str:
    """`address already in use`, not asyncio's long `error while attempting to bind...`."""
    if exc.errno and exc.errno > 0 and not isinstance(exc, socket.gaierror):
        return os.strerror(exc.errno).lower()
    return clean(exc.strerror or str(exc), 100).lower()


async def _healthy() -> dict[str, Any]:
    return {"ok": True}


async def _start_tls(plain: asyncio.StreamWriter, context: ssl.SSLContext) -> tuple[
        asyncio.StreamReader, asyncio.StreamWriter]:
    """The server side of a TLS handshake on an admitted connection, as a new stream pair.

    Not StreamWriter.start_tls: on Python 3.11 it breaks (AttributeError) when the client
    leaves right after its handshake, which the loop reports as no transport at all.
    """
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=MAX_HEADER_BYTES)
    protocol = asyncio.StreamReaderProtocol(reader)
    transport = await loop.start_tls(plain.transport, protocol, context, server_side=True)
    if transport is None:
        raise ConnectionResetError("the client left during the TLS handshake")
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)


def _client_address(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return "?"


async def _next_event(conn: h11.Connection, reader: asyncio.StreamReader) -> object:
    """The next h11 event; each read makes progress or ends the connection, so this ends."""
    for _ in range((MAX_HEADER_BYTES + MAX_BODY_BYTES) * 2):
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        conn.receive_data(await reader.read(_READ_CHUNK))
    raise _Refused(_error(400, "malformed request", linger=True))


async def _read_request(reader: asyncio.StreamReader, deadline: asyncio.Timeout) -> _Request:
    """A complete request: head and (small, discarded) body; _Refused if it is not one.

    Once the head is in, `deadline` is brought forward to BODY_TIMEOUT from now (never later):
    a client that sent a head and went quiet holds its slot for seconds, not the head's ten.
    """
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)
    try:
        event = await _next_event(conn, reader)
        if not isinstance(event, h11.Request):
            raise OSError("connection closed before a request")
        head = len(event.target) + sum(len(n) + len(v) + 4 for n, v in event.headers)
        if head > MAX_HEADER_BYTES:  # h11's own bound is on what arrives incomplete
            raise _Refused(_error(431, "request head too large", linger=True))
        if event.http_version not in _VERSIONS:
            raise _Refused(_error(400, "only HTTP/1.0 and HTTP/1.1 are served", linger=True))
        path, _, query = event.target.decode("ascii", "replace").partition("?")
        request = _Request(event.method.decode("ascii", "replace").upper(), path,
                           list(event.headers), query)
        lengths = request.header(b"content-length")
        if lengths and request.header(b"transfer-encoding"):  # framed two ways: smuggling
            raise _Refused(_error(400, "both Content-Length and Transfer-Encoding",
                                  linger=True))
        if lengths and int(lengths[0]) > MAX_BODY_BYTES:
            raise _Refused(_error(413, "request body too large", linger=True))
        when = asyncio.get_running_loop().time() + BODY_TIMEOUT
        deadline.reschedule(min(when, deadline.when() or when))
        size = 0
        while not isinstance(event, h11.EndOfMessage):
            event = await _next_event(conn, reader)
            if isinstance(event, h11.Data):
                size += len(event.data)
                if size > MAX_BODY_BYTES:
                    raise _Refused(_error(413, "request body too large", linger=True))
            elif not isinstance(event, h11.EndOfMessage):
                raise OSError("connection closed mid-request")
        return request
    except h11.RemoteProtocolError as exc:  # its text may quote the request: never shown
        if exc.error_status_hint == 431:
            raise _Refused(_error(431, "request head too large", linger=True)) from None
        raise _Refused(_error(400, "malformed request", linger=True)) from None


def _encode(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode() + b"\n"


def _render(answer: _Answer, length: int) -> bytes:
    """The response head; every header value is our own text."""
    reason = HTTPStatus(answer.status).phrase
    headers = [("Content-Type", "application/json"), ("Content-Length", str(length)),
               ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff"),
               ("Connection", "close"), *answer.headers]
    head = f"HTTP/1.1 {answer.status} {reason}\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in headers) + "\r\n"
    return head.encode("ascii")


async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Half-close and drain (bounded) so the client reads the answer rather than a reset."""
    if writer.can_write_eof():
        writer.write_eof()
    drained = 0
    with contextlib.suppress(TimeoutError, OSError):
        async with asyncio.timeout(_LINGER_SECONDS):
            while drained < _LINGER_BYTES:
                data = await reader.read(_READ_CHUNK)
                if not data:
                    break
                drained += len(data)


def _log_request(client: str, request: _Request | None, status: int) -> None:
    """One line per request, from fixed vocabularies only (never the client's own text)."""
    method = request.method if request is not None and request.method in _KNOWN_METHODS \
        else "-"
    path = request.path if request is not None and request.path in _ROUTES else "-"
    level = logging.DEBUG if status == 200 else logging.WARNING
    log.log(level, "%s %s %s %d", clean(client, 60), method, path, status)
