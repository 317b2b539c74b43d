"""A target's HTTPS checks of one round over one connection, as a load balancer's would be.

The round opens one TCP + TLS connection to `address`:`port` (SNI and Host the name clients
use). The certificate check reads the certificate of that handshake; the virtual-directory
checks follow one another over it with HTTP/1.1 keep-alive. The connection is closed at the end
of the round and never carried into the next, so every round still proves a fresh connection.

- A request that fails on a reused connection before any byte of an answer came back (the
  server closed it as we sent: the keep-alive race) is sent once more on a new connection.
- An answer with `Connection: close` (or a body cut at BODY_LIMIT) leaves the connection
  closed; the next check opens a new one.
- When the certificate cannot be verified, the certificate check reads it over a connection of
  its own without verification (names, expiry), and every directory check fails with the TLS
  reason, as each would alone.
- A directory that does not answer does not hold the rest: when a check has waited PATIENCE
  of `timeout` for its answer (or the sequence has run for `timeout`), the checks not started
  yet start at once, each on a fresh connection, and each check still has its own `timeout`.
  So a round's HTTPS checks end within connect + (1 + PATIENCE) x timeout when one directory
  hangs, and within connect + 2 x timeout at worst (a server slow on every answer).

Every result carries `facts["phases"]`: `connect_ms` and `tls_ms` (the TCP connect and the TLS
handshake, on the check that opened a connection, else None) and `request_ms` (from the
request handed to the socket to the last bytes of the answer read from it, so castui parsing
them is not counted as the node's time; None when no request was sent). `latency_ms` is their
sum and castui's work around them: the check's own time, from its start (opening a connection
when it had to) to its result, without the checks before it in the round.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import ssl
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import h11
import httpx

from castui.model.exchange import HttpExpectation
from castui.model.results import ProbeResult
from castui.model.text import clean
from castui.probes.http import (
    BODY_LIMIT,
    USER_AGENT,
    answered_by,
    classify_failure,
    header_facts,
    judge,
)
from castui.probes.loopsocket import LoopSocket, open_socket
from castui.probes.tls import read_certificate, reader_context, tls_probe

#: Share of `timeout` a directory check may keep the round's connection waiting before the
#: checks not yet started go on fresh connections of their own.
PATIENCE = 0.25

_READ = 64 * 1024
#: Most of a response head we read (httpcore's bound too).
_HEAD_LIMIT = 100 * 1024
_SILENT = "Server disconnected without sending a response."


class _Connection:
    """One HTTP/1.1 connection over a TLS socket on the loop, its state kept by h11 (the
    protocol layer httpx's own transport uses), requests sent one at a time."""

    __slots__ = ("h11", "read_at", "requests", "sock")

    def __init__(self, sock: LoopSocket) -> None:
        self.sock = sock
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=_HEAD_LIMIT)
        self.requests = 0
        #: When the last bytes came from the socket (time.monotonic()): a request's time
        #: ends there, not after castui parsed them.
        self.read_at = 0.0

    @property
    def usable(self) -> bool:
        """Idle and open, as far as we know (the server may still close it as we send)."""
        return (self.h11.our_state is h11.IDLE and self.h11.their_state is h11.IDLE
                and self.sock.quiet())

    def close(self) -> None:
        # An abort, as HAProxy closes its checks: no close_notify exchange to wait for.
        self.sock.close()

    async def receive(self) -> object:
        """The next h11 event, reading as needed; httpx's exceptions for what goes wrong."""
        while True:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                raise httpx.RemoteProtocolError(str(exc)) from exc
            if event is not h11.NEED_DATA:
                return event
            try:
                data = await self.sock.recv(_READ)
            except OSError as exc:
                raise httpx.ReadError(str(exc)) from exc
            self.read_at = time.monotonic()
            if not data and self.h11.their_state is h11.SEND_RESPONSE:
                raise httpx.RemoteProtocolError(_SILENT)
            self.h11.receive_data(data)


class _Phases:
    """Where a check got to (queued, http, body: to tell L4 from L6 from L7) and the phase
    times it measured."""

    __slots__ = ("connect_ms", "name", "request_ms", "tls_ms")

    def __init__(self) -> None:
        self.name = "queued"
        self.connect_ms: float | None = None
        self.tls_ms: float | None = None
        self.request_ms: float | None = None

    def facts(self) -> dict[str, float | None]:
        return {key: None if value is None else round(value, 3) for key, value in
                (("connect_ms", self.connect_ms), ("tls_ms", self.tls_ms),
                 ("request_ms", self.request_ms))}


class _Failed(Exception):
    """Opening a connection failed: the exception, in the phase it happened."""

    def __init__(self, exc: BaseException, phase: str) -> None:
        super().__init__(str(exc))
        self.exc = exc
        self.phase = phase


class HttpsRound:
    """One round of a target's HTTPS checks (see the module's docstring)."""

    def __init__(self, *, address: str, port: int, host: str | None,
                 verify: ssl.SSLContext | None, timeout: float) -> None:
        self.address = address
        self.port = port
        self.host = host
        self._context = verify or reader_context()
        self.timeout = timeout
        self._host = (host or _literal(address)).encode("idna")
        self._connection: _Connection | None = None
        self._peer_der: bytes | None = None

    async def run(self, *, tls: str | None, names: Sequence[str], warn_days: int,
                  vdirs: Sequence[tuple[str, HttpExpectation]]) -> dict[str, ProbeResult]:
        """The certificate check named `tls` (if any) and `vdirs`, keyed by check name."""
        try:
            return await self._run(tls, names, warn_days, vdirs)
        finally:
            await self._close()

    async def _run(self, tls: str | None, names: Sequence[str], warn_days: int,
                   vdirs: Sequence[tuple[str, HttpExpectation]]) -> dict[str, ProbeResult]:
        if tls is None:  # each directory check opens the connection when it needs one
            return await self._sequence(vdirs, _Phases())
        results: dict[str, ProbeResult] = {}
        started = time.time()
        phases = _Phases()
        t0 = time.monotonic()
        failed: _Failed | None = None
        try:
            async with asyncio.timeout(self.timeout):
                await self._open(phases)
        except _Failed as exc:
            failed = exc
        except TimeoutError as exc:
            failed = _Failed(exc, phases.name)
        if failed is not None:
            latency = (time.monotonic() - t0) * 1000
            code, error, detail = classify_failure(failed.exc, failed.phase, self.timeout)
            results[tls] = await self._unverified(failed, names, warn_days, phases, latency,
                                                  started)
            for name, expect in vdirs:
                results[name] = ProbeResult(False, code, detail, latency, error,
                                            {"status": None, "headers": {},
                                             "url": expect.path, "phases": _Phases().facts()},
                                            started)
            return results
        result = read_certificate(self._peer_der, names, warn_days, datetime.now(UTC),
                                  (time.monotonic() - t0) * 1000, started)
        results[tls] = _with_phases(result, phases)
        results.update(await self._sequence(vdirs, _Phases()))
        return results

    async def _unverified(self, failed: _Failed, names: Sequence[str], warn_days: int,
                          phases: _Phases, latency: float, started: float) -> ProbeResult:
        """The certificate check when the round's handshake failed: read the certificate
        without verifying it when verification was what failed, else report the failure."""
        if any(isinstance(e, ssl.SSLCertVerificationError) for e in _causes(failed.exc)):
            result = await tls_probe(self.address, self.port, self.timeout,
                                     server_name=self.host, names=names, warn_days=warn_days)
            return _with_phases(result, _Phases())
        code, error, detail = classify_failure(failed.exc, failed.phase, self.timeout)
        return ProbeResult(False, code, detail, latency, error, {"phases": phases.facts()},
                           started)

    async def _open(self, phases: _Phases) -> None:
        """A new connection for this round (the old one closed), its phases timed."""
        await self._close()
        t0 = time.monotonic()
        phases.name = "connect"
        try:  # connected as the TCP check connects, so connect_ms is the TCP handshake alone
            sock = await open_socket(self.address, self.port, self.timeout)
        except OSError as exc:
            raise _Failed(exc, "connect") from exc
        t1 = time.monotonic()
        phases.connect_ms = (t1 - t0) * 1000
        phases.name = "tls"
        try:
            # A node known by address only is verified against that address (as curl would),
            # so its certificate must carry it; no SNI is sent for an address.
            tls = self._context.wrap_socket(sock, server_hostname=self.host or self.address,
                                            do_handshake_on_connect=False)
        except BaseException:
            sock.close()
            raise
        connection = LoopSocket(tls)
        try:
            await connection.handshake()
        except (OSError, ssl.SSLError) as exc:
            connection.close()
            raise _Failed(exc, "tls") from exc
        except BaseException:
            connection.close()
            raise
        phases.tls_ms = (time.monotonic() - t1) * 1000
        phases.name = "queued"
        if self._peer_der is None:
            self._peer_der = tls.getpeercert(binary_form=True)
        self._connection = _Connection(connection)

    async def _close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            connection.close()

    async def _sequence(self, vdirs: Sequence[tuple[str, HttpExpectation]],
                        phases: _Phases) -> dict[str, ProbeResult]:
        """The directory checks one after another on the connection. When one has not
        answered within PATIENCE of `timeout`, or the sequence has run for `timeout`, the
        ones not started yet start at once, each on its own connection."""
        loop = asyncio.get_running_loop()
        until = loop.time() + self.timeout
        results: dict[str, ProbeResult] = {}
        current, since = 0, loop.time()  # the check under way, and when it started
        given_up = False

        async def in_turn(phases: _Phases) -> None:
            nonlocal current, since
            for index, (name, expect) in enumerate(vdirs):
                if given_up:
                    return
                current, since = index, loop.time()
                results[name] = await self._check(expect, phases)
                phases = _Phases()

        sequence = asyncio.ensure_future(in_turn(phases))
        try:
            while True:  # one wait in all, unless a check is slow
                due = min(since + PATIENCE * self.timeout, until)
                done, _ = await asyncio.wait({sequence}, timeout=max(due - loop.time(), 0))
                if done:
                    sequence.result()
                    return results
                if loop.time() >= min(since + PATIENCE * self.timeout, until):
                    break
            given_up = True
            rest = vdirs[current + 1:]
            found = await asyncio.gather(*(self._alone(expect) for _, expect in rest))
            await sequence
        finally:
            sequence.cancel()
        results.update(zip((name for name, _ in rest), found, strict=True))
        return results

    async def _alone(self, expect: HttpExpectation) -> ProbeResult:
        """A directory check on a connection of its own (the round's is held up)."""
        own = HttpsRound(address=self.address, port=self.port, host=self.host,
                         verify=self._context, timeout=self.timeout)
        try:
            return await own._check(expect, _Phases())
        finally:
            await own._close()

    async def _check(self, expect: HttpExpectation, phases: _Phases) -> ProbeResult:
        """GET `expect.path` over the round's connection (a new one if it is closed), once
        more on a new connection after a keep-alive race."""
        started = time.time()
        t0 = time.monotonic()
        facts: dict[str, Any] = {"status": None, "headers": {}, "url": expect.path}
        try:
            async with asyncio.timeout(self.timeout):
                reused = await self._ready(phases)
                try:
                    answer = await self._get(expect, phases, facts)
                except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                    if not reused or phases.name == "body" or not _raced(exc):
                        raise
                    phases.name = "queued"
                    await self._open(phases)
                    answer = await self._get(expect, phases, facts)
        except Exception as exc:  # everything network-side becomes a result
            await self._close()  # a connection in an unknown state is never reused
            phase, cause = ((exc.phase, exc.exc) if isinstance(exc, _Failed)
                            else (phases.name, exc))
            code, error, detail = classify_failure(cause, phase, self.timeout)
            detail += answered_by(facts["headers"])
            facts["phases"] = phases.facts()
            return ProbeResult(False, code, detail, (time.monotonic() - t0) * 1000, error,
                               facts, started)
        status, reason, body = answer
        facts["phases"] = phases.facts()
        ok, code, err, detail = judge(expect, status, reason, body, facts["headers"])
        detail += answered_by(facts["headers"])
        return ProbeResult(ok, code, detail, (time.monotonic() - t0) * 1000, err, facts,
                           started)

    async def _ready(self, phases: _Phases) -> bool:
        """Make sure a usable connection is open; whether it served a request before (only
        then can the server have closed it as we spoke)."""
        connection = self._connection
        if connection is not None and connection.usable:
            return connection.requests > 0
        await self._open(phases)
        return False

    async def _get(self, expect: HttpExpectation, phases: _Phases,
                   facts: dict[str, Any]) -> tuple[int, str, bytes]:
        """(status, reason, body) of GET `expect.path`; headers noted in `facts`. The
        connection stays open only when the answer was read whole and both sides keep it."""
        connection = self._connection
        assert connection is not None
        connection.requests += 1
        phases.name = "http"
        request = (connection.h11.send(_request(self._host, expect.path))
                   + (connection.h11.send(h11.EndOfMessage()) or b""))
        t0 = time.monotonic()
        try:
            await connection.sock.send(request)
        except OSError as exc:
            raise httpx.WriteError(str(exc)) from exc
        response = await connection.receive()
        while isinstance(response, h11.InformationalResponse):  # 1xx: the answer follows
            response = await connection.receive()
        if not isinstance(response, h11.Response):
            raise httpx.RemoteProtocolError(_SILENT)
        phases.name = "body"
        facts["status"] = response.status_code
        facts["headers"] = header_facts(response.headers.raw_items())
        chunks: list[bytes] = []
        size = 0
        while size < BODY_LIMIT:
            event = await connection.receive()
            if isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
                size += len(event.data)
            elif isinstance(event, h11.EndOfMessage):
                break
            else:
                raise httpx.RemoteProtocolError("connection closed within the body")
        if connection.h11.our_state is h11.DONE and connection.h11.their_state is h11.DONE:
            connection.h11.start_next_cycle()
        else:  # Connection: close, or a body we did not read whole
            await self._close()
        phases.request_ms = (max(connection.read_at, t0) - t0) * 1000
        reason = clean(response.reason.decode("latin-1"), 40)
        return response.status_code, reason, b"".join(chunks)[:BODY_LIMIT]


@functools.lru_cache(maxsize=4096)
def _request(host: bytes, path: str) -> h11.Request:
    """The GET a check sends: h11 validates a request's headers when it is made, so each
    (host, path) is made once (the events are immutable)."""
    return h11.Request(method=b"GET", target=path.encode("ascii", "replace"),
                       headers=[(b"Host", host), (b"Accept-Encoding", b"identity"),
                                (b"User-Agent", USER_AGENT.encode())])


def _raced(exc: BaseException) -> bool:
    """Did the server close a reused connection before any byte of an answer came back?"""
    if isinstance(exc, httpx.RemoteProtocolError):
        return str(exc) == _SILENT
    cause = next((e for e in _causes(exc) if isinstance(e, OSError) and e.errno), None)
    return cause is not None and cause.errno in (errno.ECONNRESET, errno.EPIPE)


def _causes(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(out) < 16:
        out.append(current)
        current = current.__cause__ or current.__context__
    return out


def _literal(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def _with_phases(result: ProbeResult, phases: _Phases) -> ProbeResult:
    return ProbeResult(result.ok, result.code, result.detail, result.latency_ms, result.error,
                       {**result.facts, "phases": phases.facts()}, result.started_at,
                       result.warning)

