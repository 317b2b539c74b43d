"""HTTP(S) check: GET one Exchange URL from one node and judge the answer (HAProxy's `L6`/`L7`).

The request goes to the node's IP literal, with the Host header and the TLS SNI set to the
name clients use, so a node is checked exactly as the load balancer reaches it and its
certificate is checked against the name users see. `http_probe` makes one request on a fresh
connection (VIP sampling, where each request must be free to land on any node); a round's
checks share one connection (castui.probes.https).

An httpx request (`http_probe`, the agent check) is never cancelled before it is sent (see
`bounded`): httpcore 1.0 leaks what such a cancellation interrupts, a socket mid-handshake that
is never closed, or a new connection that then holds a pool slot for good (encode/httpcore#1093).
httpcore's own timeouts can orphan a connection too, so the engine's runner also replaces a
target's client after a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import ssl
import time
from collections.abc import AsyncGenerator, Coroutine, Iterable, Iterator
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from typing import Any, ClassVar, TypeVar, cast

import httpcore
import httpx

from castui.model.exchange import HttpExpectation
from castui.model.results import Code, Error, ProbeResult
from castui.model.text import clean
from castui.probes.tcp import strerror

#: Most of a body we ever read: enough for OWA's logon page, bounded against a hostile peer.
BODY_LIMIT = 64 * 1024

#: Response headers recorded in `facts["headers"]`; X-FEServer / X-DiagInfo name the CAS that
#: actually answered on Exchange 2013+ (useful when the check went through a VIP); X-BEServer
#: and X-CalculatedBETarget the back end a 2016+ front end proxied to.
_SINGLE_HEADERS = ("x-feserver", "x-diaginfo", "x-beserver", "x-calculatedbetarget", "server")
_HEADER_LIMIT = 120
#: Header values up to this long are cleaned once and remembered (_cleaned).
_CACHED_VALUE = 256
_REPORTED = frozenset((*_SINGLE_HEADERS, "www-authenticate"))
#: Values of a repeated header joined at most (the result is cut at _HEADER_LIMIT anyway).
_MAX_JOINED = 8
_MAX_AUTH_HEADERS = 8
_DETAIL_NAME_LIMIT = 40
#: Exchanges left to end by their own timeouts (a strong reference until they do).
_DETACHED: set[asyncio.Task[Any]] = set()

_T = TypeVar("_T")

USER_AGENT = "castui-check/1.0"

_REQUEST_HEADERS = {
    "Connection": "close",
    "Accept-Encoding": "identity",  # judge the bytes as sent; no decompression of hostile data
    "User-Agent": USER_AGENT,
}

_ErrorDetail = tuple[str, str, str]  # (code, error class, detail)


def tls_context(ca_file: Path | None, tls_verify: bool) -> ssl.SSLContext | bool:
    """What HTTP checks verify certificates with; ValueError (one line) for an unusable ca_file.

    Build it once and hand it to every client: loading a CA bundle is not free.
    """
    if not tls_verify:
        return False
    try:
        return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"ca_file {ca_file}: cannot load CA certificates ({exc})") from exc


def make_http_client(*, ca_file: Path | None = None, tls_verify: bool = True,
                     max_connections: int, verify: ssl.SSLContext | bool | None = None
                     ) -> httpx.AsyncClient:
    """A client for HTTP checks: no keep-alive, no redirects, no cookies, no proxies.

    `verify` (from tls_context) wins over `ca_file`/`tls_verify`. Raises ValueError (one line)
    when `ca_file` cannot be loaded.
    """
    if verify is None:
        verify = tls_context(ca_file, tls_verify)
    return httpx.AsyncClient(
        verify=verify,
        trust_env=False,
        follow_redirects=False,
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=0),
        headers=_REQUEST_HEADERS,
    )


class Phase:
    """Where the request got to, from httpcore's trace events (to tell L4 from L6 from L7)."""

    __slots__ = ("name", "sending")

    _EVENTS: ClassVar[dict[str, str]] = {
        "connection.connect_tcp.started": "connect",
        "connection.connect_tcp.complete": "connected",
        "connection.start_tls.started": "tls",
        "connection.start_tls.complete": "http",
        "http11.send_request_headers.started": "http",
        "http11.receive_response_headers.complete": "body",
    }

    def __init__(self) -> None:
        self.name = "queued"
        #: The request is on its way: from here httpcore survives a cancellation.
        self.sending = False

    async def __call__(self, event: str, info: dict[str, Any]) -> None:
        self.name = self._EVENTS.get(event, self.name)
        if event.endswith(".send_request_headers.started"):
            self.sending = True


async def bounded(exchange: Coroutine[Any, Any, _T], phase: Phase, timeout: float) -> _T:
    """`exchange` (an httpx request traced by `phase`), or TimeoutError after `timeout` s.

    The exchange runs in its own task. If the deadline (or a caller's cancellation) comes before
    the request is on its way, it is left to end by httpx's own timeouts (each phase at most
    `timeout`), which close what they opened: cancelled while queued, connecting, or between
    the handshake and the request, httpcore 1.0 leaves the socket or the new connection
    holding a pool slot for good. Once the request is sent it is cancelled, which httpcore
    handles. The caller hears at the deadline either way.
    """
    task = asyncio.ensure_future(exchange)
    try:
        async with asyncio.timeout(timeout):
            return await asyncio.shield(task)
    finally:
        if not task.done():
            if phase.sending:
                task.cancel()
            _DETACHED.add(task)
            task.add_done_callback(_forget)


def _forget(task: asyncio.Task[Any]) -> None:
    _DETACHED.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: a detached exchange's failure was already reported


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, its causes and contexts, and members of exception groups (bounded)."""
    todo, seen = [exc], 0
    while todo and seen < 32:
        current = todo.pop(0)
        seen += 1
        yield current
        if isinstance(current, BaseExceptionGroup):
            todo.extend(current.exceptions)
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)


def _os_error(exc: BaseException) -> OSError | None:
    return next((e for e in _chain(exc) if isinstance(e, OSError) and e.errno), None)


def _tls_reason(exc: BaseException) -> str | None:
    """A short TLS failure reason if `exc` was caused by one."""
    for e in _chain(exc):
        if isinstance(e, ssl.SSLCertVerificationError):
            return f"certificate verify failed: {clean(str(e.verify_message), 80)}"
        if isinstance(e, ssl.SSLError):
            return f"TLS handshake failed: {clean(str(e.reason or e), 80)}"
    return None


def _connect_failure(exc: BaseException, phase: str) -> _ErrorDetail:
    """A failure before any HTTP was exchanged: refused, reset, unreachable or TLS."""
    tls = _tls_reason(exc)
    if tls is not None:
        return Code.L6RSP, Error.TLS, tls
    oserr = _os_error(exc)
    if phase == "tls":  # IIS drops the line when no certificate binding matches the SNI name
        how = "reset" if oserr is not None and oserr.errno == errno.ECONNRESET else "closed"
        return Code.L6RSP, Error.TLS, f"TLS handshake failed: connection {how} by the peer"
    if oserr is None:
        return Code.L4CON, Error.OTHER, clean(str(exc), 80) or "connection failed"
    if oserr.errno == errno.ECONNREFUSED:
        return Code.L4CON, Error.REFUSED, "connection refused"
    if oserr.errno in (errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE):
        return Code.L4CON, Error.RESET, "connection reset"
    if oserr.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EHOSTDOWN, errno.ENETDOWN):
        return Code.L4CON, Error.UNREACHABLE, strerror(oserr.errno)
    return Code.L4CON, Error.OTHER, strerror(oserr.errno or 0)


def _timeout_failure(phase: str, timeout: float) -> _ErrorDetail:
    within = f"in {timeout:g} s"
    if phase in ("queued", "connect"):
        return Code.L4TOUT, Error.TIMEOUT, f"no connection {within}"
    if phase == "tls":
        return Code.L6TOUT, Error.TIMEOUT, f"TLS handshake not done {within}"
    if phase == "body":
        return Code.L7TOUT, Error.TIMEOUT, f"body not complete {within}"
    return Code.L7TOUT, Error.TIMEOUT, f"no HTTP answer {within}"


def classify_failure(exc: BaseException, phase: str, timeout: float) -> _ErrorDetail:
    """Classify anything httpx (or the deadline) raised."""
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return _timeout_failure(phase, timeout)
    if isinstance(exc, httpx.ConnectError) or phase in ("queued", "connect", "tls"):
        return _connect_failure(exc, phase)
    if isinstance(exc, httpx.RemoteProtocolError | httpcore.RemoteProtocolError):
        text = str(exc)
        if "without sending" in text or "disconnected" in text:
            return Code.L7RSP, Error.PROTOCOL, "connection closed without an HTTP answer"
        return Code.L7RSP, Error.PROTOCOL, f"not HTTP: {clean(text, 80)}"
    if isinstance(exc, httpx.ReadError | httpx.WriteError | httpcore.ReadError
                  | httpcore.WriteError):
        return Code.L7RSP, Error.RESET, "connection lost during the HTTP exchange"
    return Code.L7RSP, Error.PROTOCOL, clean(f"{type(exc).__name__}: {exc}", 100)


def header_facts(pairs: Iterable[tuple[str | bytes, str | bytes]]) -> dict[str, Any]:
    """The headers castui reports, from (name, value) pairs, names in any case: httpx's
    `Headers.multi_items()` or h11's `raw_items()`. Values are network text: cleaned, bounded; a
    header sent more than once is joined with ", " (httpx's `get`), WWW-Authenticate listed."""
    found: dict[str, list[str | bytes]] = {}
    for raw, value in pairs:
        name = (raw.decode("latin-1") if isinstance(raw, bytes) else raw).lower()
        if name in _REPORTED:
            found.setdefault(name, []).append(value)
    facts: dict[str, Any] = {}
    for name in _SINGLE_HEADERS:
        values = found.get(name)
        if values:
            facts[name] = _cleaned(values[0] if len(values) == 1
                                   else ", ".join(map(_text, values[:_MAX_JOINED])))
    auth = found.get("www-authenticate")
    if auth:
        facts["www-authenticate"] = [_cleaned(v) for v in auth[:_MAX_AUTH_HEADERS]]
    return facts


def _cleaned(value: str | bytes) -> str:
    """A header value cleaned and bounded; a node repeats the same few values answer after
    answer, so the short ones are cleaned once each (the cache holds short keys only)."""
    if len(value) > _CACHED_VALUE:
        return clean(value, _HEADER_LIMIT)
    return _cleaned_short(value)


@functools.lru_cache(maxsize=1024)
def _cleaned_short(value: str | bytes) -> str:
    return clean(value, _HEADER_LIMIT)


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def answered_by(headers: dict[str, Any]) -> str:
    """' via CAS01' (and the X-DiagInfo server when it differs) for details, or ''."""
    fe = headers.get("x-feserver")
    diag = headers.get("x-diaginfo")
    parts = []
    if fe:
        parts.append(f"via {clean(fe, _DETAIL_NAME_LIMIT)}")
    if diag and diag != fe:
        parts.append(f"diag {clean(diag, _DETAIL_NAME_LIMIT)}")
    return (" " + ", ".join(parts)) if parts else ""


def judge(expect: HttpExpectation, status: int, reason: str, body: bytes,
           headers: dict[str, Any]) -> tuple[bool, str, str | None, str]:
    """(ok, code, error, detail) for a complete answer."""
    if status != expect.status:
        text = f"HTTP {status} {reason}".rstrip()
        return False, Code.L7STS, Error.STATUS, f"{text}, expected {expect.status}"
    if expect.www_authenticate and status == 401 and not headers.get("www-authenticate"):
        return False, Code.L7RSP, Error.CONTENT, "HTTP 401 without WWW-Authenticate"
    if expect.body == "logon_form":
        lower = body.lower()
        if b"<form" not in lower or (b"logonform" not in lower and b"auth.owa" not in lower):
            return False, Code.L7RSP, Error.CONTENT, f"HTTP {status} without the logon form"
        return True, Code.L7OK, None, f"HTTP {status} logon form"
    if expect.body == "healthcheck":
        stripped = body.strip()
        if not stripped.startswith(b"200 OK"):
            return (False, Code.L7RSP, Error.CONTENT,
                    f"HTTP {status} without 200 OK: {clean(stripped, 40)!r}")
        return True, Code.L7OK, None, f"HTTP {status} 200 OK"
    auth = headers.get("www-authenticate")
    if auth:
        schemes = list(dict.fromkeys(v.split(" ", 1)[0] for v in auth if v))
        return True, Code.L7OK, None, f"HTTP {status} ({', '.join(schemes)})"
    return True, Code.L7OK, None, f"HTTP {status}"


async def _read_body(response: httpx.Response) -> bytes:
    """At most BODY_LIMIT bytes of the body; the rest is never read."""
    chunks: list[bytes] = []
    size = 0
    raw = cast(AsyncGenerator[bytes, None], response.aiter_raw())
    async with contextlib.aclosing(raw) as stream:
        async for chunk in stream:
            chunks.append(chunk)
            size += len(chunk)
            if size >= BODY_LIMIT:
                break
    return b"".join(chunks)[:BODY_LIMIT]


async def http_probe(client: httpx.AsyncClient, *, scheme: str, address: str, port: int,
                     expect: HttpExpectation, host: str | None,
                     timeout: float) -> ProbeResult:
    """GET `expect.path` from `address`:`port`, presenting `host` (Host header and SNI).

    facts: {"status": int | None, "headers": {"x-feserver", "x-diaginfo", "server",
    "www-authenticate": [...]} (those present, cleaned), "url": path}.
    """
    started = time.time()
    t0 = time.monotonic()
    literal = f"[{address}]" if ":" in address else address
    url = f"{scheme}://{literal}:{port}{expect.path}"
    phase = Phase()
    extensions: dict[str, Any] = {"trace": phase}
    headers: dict[str, str] = {}
    if host:
        headers["Host"] = host
        if scheme == "https":
            extensions["sni_hostname"] = host
    facts: dict[str, Any] = {"status": None, "headers": {}, "url": expect.path}
    seen: dict[str, Any] = {}  # what the exchange learnt, copied into facts when we answer

    async def get() -> tuple[int, str, bytes]:
        async with client.stream("GET", url, headers=headers, extensions=extensions,
                                 timeout=httpx.Timeout(timeout)) as response:
            seen["status"] = response.status_code
            seen["headers"] = header_facts(response.headers.multi_items())
            return response.status_code, clean(response.reason_phrase, 40), \
                await _read_body(response)

    try:
        status, reason, body = await bounded(get(), phase, timeout)
    except Exception as exc:  # everything network-side becomes a result
        facts.update(seen)
        code, error, detail = classify_failure(exc, phase.name, timeout)
        latency = (time.monotonic() - t0) * 1000
        detail += answered_by(facts["headers"])
        return ProbeResult(False, code, detail, latency, error, facts, started)
    facts.update(seen)
    latency = (time.monotonic() - t0) * 1000
    ok, code, err, detail = judge(expect, status, reason, body, facts["headers"])
    detail += answered_by(facts["headers"])
    return ProbeResult(ok, code, detail, latency, err, facts, started)
