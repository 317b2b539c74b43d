"""The lab's control API: break and mend a running lab from another shell (`castui lab ctl`).

Plain HTTP/1.1 on a loopback address, one request per connection (h11 parses and frames it):

- `GET /status`: the estate as JSON (`LabEstate.status()`).
- `POST /action` with `Content-Type: application/json` and `{"action": "crash Site-A/CAS2"}`:
  200 `{"ok": true, "applied": "..."}`, or 400 `{"ok": false, "error": "..."}` when the action
  is unknown or names an unknown site or node (nothing is changed then).

Anyone on the machine can reach a loopback port, as with any lab tool; a web page cannot: the
JSON content type makes a browser ask first (CORS preflight), which is refused, and a Host
header that is not an IP literal or localhost (DNS rebinding) is refused too.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import h11
import httpx

from castui.lab.actions import Action, ActionError, parse_action
from castui.lab.estate import LabEstate
from castui.lab.layout import LabError, loopback_address
from castui.model.aio import drop_clients
from castui.model.text import clean

log = logging.getLogger(__name__)

DEFAULT_CONTROL_PORT = 20099
MAX_HEADER_BYTES = 8 * 1024
MAX_BODY_BYTES = 4 * 1024
IDLE_TIMEOUT = 10.0
MAX_CLIENTS = 16
#: Largest reply the client reads: the status of a lab of 254 sites is well below this.
MAX_REPLY_BYTES = 4 * 1024 * 1024
CLIENT_TIMEOUT = 10.0

ActionCallback = Callable[[Action], None]


@dataclass(frozen=True, slots=True)
class ControlAddress:
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self}"


def parse_control_address(text: str, default_host: str) -> ControlAddress:
    """`HOST:PORT`, `[V6]:PORT`, `HOST` or `PORT`, loopback only; LabError if not."""
    host, port_text = default_host, str(DEFAULT_CONTROL_PORT)
    if text.startswith("["):
        inner, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise LabError(f"bad control address {clean(text, 60)!r}: expected [ADDRESS]:PORT")
        host, port_text = inner, rest[1:] or port_text
    elif text.isdigit():
        port_text = text
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    elif text:
        host = text
    if not (port_text.isascii() and port_text.isdigit() and int(port_text) < 65536):
        raise LabError(f"bad control port {clean(port_text, 20)!r}: expected 0-65535")
    return ControlAddress(loopback_address(host), int(port_text))


class ControlServer:
    """Serves the control API for one estate; `on_action` hears every applied action."""

    def __init__(self, estate: LabEstate, address: ControlAddress, *,
                 on_action: ActionCallback | None = None) -> None:
        self.estate = estate
        self.address = address
        self.on_action = on_action
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        """Listen; LabError (one line) if the address cannot be bound. Port 0 picks one."""
        try:
            self._server = await asyncio.start_server(
                self._accept, self.address.host, self.address.port, limit=MAX_HEADER_BYTES)
        except OSError as exc:
            reason = clean(exc.strerror or str(exc))
            raise LabError(f"cannot start the control API on {self.address}: {reason}") from None
        port = int(self._server.sockets[0].getsockname()[1])
        self.address = ControlAddress(self.address.host, port)

    async def stop(self) -> None:
        """Stop listening and drop any client. Idempotent."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        await drop_clients(self._writers, self._tasks)

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._writers) >= MAX_CLIENTS:
            writer.transport.abort()
            return
        self._writers.add(writer)
        task = asyncio.create_task(self._serve(reader, writer), name="lab-control")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)
        try:
            async with asyncio.timeout(IDLE_TIMEOUT):
                status, doc = await self._request(conn, reader)
            body = json.dumps(doc, indent=2).encode() + b"\n"
            headers = [("Content-Type", "application/json"), ("Connection", "close"),
                       ("Content-Length", str(len(body)))]
            if status == 405:
                headers.append(("Allow", str(doc.pop("allow"))))
            reason = HTTPStatus(status).phrase.encode()
            out = conn.send(h11.Response(status_code=status, headers=headers,
                                         reason=reason)) or b""
            out += conn.send(h11.Data(data=body)) or b""
            out += conn.send(h11.EndOfMessage()) or b""
            writer.write(out)
            await writer.drain()
        except (OSError, TimeoutError, h11.LocalProtocolError):
            pass  # the client left or went quiet
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            self._writers.discard(writer)

    async def _request(self, conn: h11.Connection,
                       reader: asyncio.StreamReader) -> tuple[int, dict[str, Any]]:
        try:
            request = await _next(conn, reader)
            if not isinstance(request, h11.Request):
                return 400, _error("expected an HTTP request")
            head = len(request.target) + sum(len(n) + len(v) + 4 for n, v in request.headers)
            if head > MAX_HEADER_BYTES:  # h11's own bound is on what arrives incomplete
                return 431, _error("request headers too large")
            body = await _body(conn, reader)
        except h11.RemoteProtocolError as exc:
            too_big = exc.error_status_hint == 431
            return (431 if too_big else 400), _error("request headers too large" if too_big
                                                     else "malformed HTTP request")
        if body is None:
            return 413, _error(f"request body larger than {MAX_BODY_BYTES} bytes")
        headers = {name.decode("latin-1").lower(): value.decode("latin-1")
                   for name, value in request.headers}
        if not _local_host(headers.get("host", "")):
            return 403, _error("Host must be a loopback address or localhost")
        path = request.target.decode("latin-1").split("?", 1)[0]
        method = request.method.decode("latin-1")
        if path == "/status":
            if method != "GET":
                return 405, {**_error("use GET for /status"), "allow": "GET"}
            return 200, self.estate.status()
        if path == "/action":
            if method != "POST":
                return 405, {**_error("use POST for /action"), "allow": "POST"}
            return await self._action(headers.get("content-type", ""), body)
        return 404, _error(f"no such endpoint {clean(path, 60)!r} (GET /status, POST /action)")

    async def _action(self, content_type: str, body: bytes) -> tuple[int, dict[str, Any]]:
        if content_type.split(";", 1)[0].strip().lower() != "application/json":
            return 415, _error("send the action as application/json: {\"action\": \"...\"}")
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError):
            return 400, _error("body is not JSON")
        text = doc.get("action") if isinstance(doc, dict) else None
        if not isinstance(text, str):
            return 400, _error('expected {"action": "ACTION"}')
        try:
            applied = await self.estate.apply(parse_action(text))
        except ActionError as exc:
            return 400, _error(str(exc))
        if self.on_action is not None:
            self.on_action(applied)
        return 200, {"ok": True, "applied": str(applied)}


def _error(message: str) -> dict[str, Any]:
    return {"ok": False, "error": message}


def _local_host(host: str) -> bool:
    """Host header names a loopback IP literal or localhost (with any port)."""
    name = host.strip()
    if name.startswith("["):
        name = name[1:].partition("]")[0]
    elif name.count(":") == 1:
        name = name.partition(":")[0]
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


async def _next(conn: h11.Connection, reader: asyncio.StreamReader) -> object:
    """The next h11 event, reading as needed (each read makes progress, so this ends)."""
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        conn.receive_data(await reader.read(MAX_HEADER_BYTES))


async def _body(conn: h11.Connection, reader: asyncio.StreamReader) -> bytes | None:
    """The request body, or None if it is larger than MAX_BODY_BYTES."""
    chunks: list[bytes] = []
    size = 0
    while True:
        event = await _next(conn, reader)
        if isinstance(event, h11.Data):
            size += len(event.data)
            if size > MAX_BODY_BYTES:
                return None
            chunks.append(bytes(event.data))
        elif isinstance(event, h11.EndOfMessage):
            return b"".join(chunks)
        else:
            raise h11.RemoteProtocolError("connection closed mid-request")


# -- the client (`castui lab ctl`) ----------------------------------------------------------


class ControlError(Exception):
    """The control API could not be reached or gave no usable answer; one line."""


class ActionRejected(Exception):
    """The lab refused an action (unknown action, site or node); one line from the lab."""


def _call(address: ControlAddress, method: str, path: str,
          payload: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    try:
        with httpx.Client(trust_env=False, timeout=CLIENT_TIMEOUT) as client, \
                client.stream(method, f"{address.url}{path}", json=payload) as response:
            data = b""
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) > MAX_REPLY_BYTES:
                    raise ControlError(f"{address}: reply larger than {MAX_REPLY_BYTES} bytes")
    except httpx.ConnectError:
        raise ControlError(f"no lab control API on {address} (is `castui lab` running? "
                           "--control picks another address)") from None
    except httpx.HTTPError as exc:
        raise ControlError(f"{address}: {clean(str(exc) or type(exc).__name__, 100)}") from None
    try:
        doc = json.loads(data)
    except ValueError:
        raise ControlError(f"{address}: the reply is not JSON (not a castui lab?)") from None
    if not isinstance(doc, dict):
        raise ControlError(f"{address}: unexpected reply (not a castui lab?)")
    return response.status_code, doc


def send_action(address: ControlAddress, text: str) -> str:
    """Apply an action on the lab at `address`; the action as applied.

    ActionRejected if the lab refused it, ControlError if the lab could not be asked.
    """
    status, doc = _call(address, "POST", "/action", {"action": text})
    if status == 200 and doc.get("ok") is True:
        return clean(str(doc.get("applied", text)))
    raise ActionRejected(clean(str(doc.get("error") or f"HTTP {status}")))


def fetch_status(address: ControlAddress) -> dict[str, Any]:
    """The lab's status document; ControlError if it could not be fetched."""
    status, doc = _call(address, "GET", "/status")
    if status != 200:
        raise ControlError(f"{address}: {clean(str(doc.get('error') or status))}")
    return doc
