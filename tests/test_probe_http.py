"""http_probe against lab CAS nodes and against hostile little servers, all on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import TracebackType

import httpx
import pytest

from castui.config.model import Ports, Profile
from castui.lab.certs import LabCA
from castui.lab.node import LabNode
from castui.probes import (
    HTTP_CHECKS,
    Code,
    Error,
    HttpExpectation,
    ProbeResult,
    http_probe,
    make_http_client,
)
from tests.support.net import wait_for

NODE_ADDRESS = "127.0.8.1"
RAW_ADDRESS = "127.0.8.2"
NODE_FQDN = "cas01.lab.test"
ARRAY_FQDN = "mail.lab.test"
TIMEOUT = 1.0
SLACK = 0.5

OWA_2010 = HTTP_CHECKS["exchange2010"][0]
EWS_2010 = next(c for c in HTTP_CHECKS["exchange2010"] if c.name == "ews")
OWA_2013 = HTTP_CHECKS["exchange2013"][0]
AUTH_401 = HttpExpectation("ews", "/EWS/Exchange.asmx", 401, www_authenticate=True)


@pytest.fixture
async def client(ca_file: Path) -> AsyncIterator[httpx.AsyncClient]:
    http = make_http_client(ca_file=ca_file, tls_verify=True, max_connections=32)
    try:
        yield http
    finally:
        await http.aclose()


def _node(lab_ca: LabCA, profile: Profile, *names: str) -> LabNode:
    return LabNode("CAS01", NODE_ADDRESS, Ports(epm=0, https=0, http=0), profile=profile,
                   ssl_context=lab_ca.issue(*names), fqdn=NODE_FQDN)


@pytest.fixture
async def node2010(lab_ca: LabCA) -> AsyncIterator[LabNode]:
    async with _node(lab_ca, "exchange2010", NODE_FQDN, ARRAY_FQDN) as node:
        yield node


@pytest.fixture
async def node2013(lab_ca: LabCA) -> AsyncIterator[LabNode]:
    async with _node(lab_ca, "exchange2013", NODE_FQDN, ARRAY_FQDN) as node:
        yield node


async def probe(client: httpx.AsyncClient, port: int, expect: HttpExpectation, *,
                scheme: str = "https", address: str = NODE_ADDRESS,
                host: str | None = ARRAY_FQDN,
                timeout: float = TIMEOUT) -> ProbeResult:
    return await http_probe(client, scheme=scheme, address=address, port=port, expect=expect,
                            host=host, timeout=timeout)


# -- lab nodes --------------------------------------------------------------------------


@pytest.mark.parametrize("expect", HTTP_CHECKS["exchange2010"], ids=lambda e: e.name)
async def test_healthy_2010_node_passes_every_check(client: httpx.AsyncClient,
                                                     node2010: LabNode,
                                                     expect: HttpExpectation) -> None:
    before = time.time()
    result = await probe(client, node2010.ports.https, expect)
    assert result.ok, result.detail
    assert (result.code, result.error) == (Code.L7OK, None)
    assert result.facts["status"] == expect.status
    assert result.facts["url"] == expect.path
    assert result.latency_ms is not None and result.latency_ms > 0
    assert before <= result.started_at <= time.time()
    if expect.www_authenticate:
        assert result.facts["headers"]["www-authenticate"] == ["Negotiate", "NTLM"]
        assert result.detail == "HTTP 401 (Negotiate, NTLM)"
    else:
        assert result.detail == "HTTP 200 logon form"


@pytest.mark.parametrize("expect", HTTP_CHECKS["exchange2013"], ids=lambda e: e.name)
async def test_healthy_2013_node_passes_healthcheck_and_names_the_cas(
        client: httpx.AsyncClient, node2013: LabNode, expect: HttpExpectation) -> None:
    result = await probe(client, node2013.ports.https, expect)
    assert result.ok, result.detail
    assert result.code == Code.L7OK
    assert result.facts["headers"]["x-feserver"] == "CAS01"
    assert result.facts["headers"]["x-diaginfo"] == "CAS01"
    assert result.detail == "HTTP 200 200 OK via CAS01"


async def test_failed_vdir_fails_only_that_check(client: httpx.AsyncClient,
                                                 node2010: LabNode) -> None:
    await node2010.fail("ews")
    ews = await probe(client, node2010.ports.https, EWS_2010)
    owa = await probe(client, node2010.ports.https, OWA_2010)
    assert (ews.ok, ews.code, ews.error) == (False, Code.L7STS, Error.STATUS)
    assert ews.facts["status"] == 503
    assert ews.detail.startswith("HTTP 503 Service Unavailable")
    assert (owa.ok, owa.code) == (True, Code.L7OK)


async def test_2013_failed_vdir_still_names_the_cas(client: httpx.AsyncClient,
                                                   node2013: LabNode) -> None:
    await node2013.fail("owa")
    result = await probe(client, node2013.ports.https, OWA_2013)
    assert (result.code, result.facts["status"]) == (Code.L7STS, 503)
    assert result.facts["headers"]["x-feserver"] == "CAS01"
    assert "via CAS01" in result.detail


async def test_crashed_node_is_refused(client: httpx.AsyncClient, node2010: LabNode) -> None:
    await node2010.crash()
    result = await probe(client, node2010.ports.https, OWA_2010)
    assert (result.ok, result.code, result.error) == (False, Code.L4CON, Error.REFUSED)
    assert result.facts["status"] is None


async def test_blackholed_node_times_out_within_the_timeout(client: httpx.AsyncClient,
                                                           node2010: LabNode) -> None:
    await node2010.blackhole()
    start = time.monotonic()
    result = await probe(client, node2010.ports.https, OWA_2010)
    elapsed = time.monotonic() - start
    assert (result.ok, result.code, result.error) == (False, Code.L4TOUT, Error.TIMEOUT)
    assert TIMEOUT <= elapsed < TIMEOUT + SLACK


async def test_slow_node_is_an_l7_timeout(client: httpx.AsyncClient, node2010: LabNode) -> None:
    await node2010.slow(int(TIMEOUT * 1000 * 3))
    start = time.monotonic()
    result = await probe(client, node2010.ports.https, OWA_2010)
    assert (result.code, result.error) == (Code.L7TOUT, Error.TIMEOUT)
    assert time.monotonic() - start < TIMEOUT + SLACK


async def test_certificate_not_covering_the_name_is_a_tls_failure(
        client: httpx.AsyncClient, lab_ca: LabCA, ca_file: Path) -> None:
    async with _node(lab_ca, "exchange2010", NODE_FQDN) as node:  # not mail.lab.test
        result = await probe(client, node.ports.https, OWA_2010)
        assert (result.ok, result.code, result.error) == (False, Code.L6RSP, Error.TLS)
        assert result.detail.startswith("certificate verify failed: Hostname mismatch")
        assert ARRAY_FQDN in result.detail

        # The node's own name is covered: same server, same client, passes.
        assert (await probe(client, node.ports.https, OWA_2010, host=NODE_FQDN)).ok

        lenient = make_http_client(ca_file=ca_file, tls_verify=False, max_connections=4)
        try:
            unverified = await probe(lenient, node.ports.https, OWA_2010)
        finally:
            await lenient.aclose()
        assert (unverified.ok, unverified.code) == (True, Code.L7OK)


async def test_certificate_from_unknown_ca_is_a_tls_failure(node2010: LabNode) -> None:
    stranger = make_http_client(ca_file=None, tls_verify=True, max_connections=4)
    try:
        result = await probe(stranger, node2010.ports.https, OWA_2010)
    finally:
        await stranger.aclose()
    assert (result.code, result.error) == (Code.L6RSP, Error.TLS)
    assert result.detail.startswith("certificate verify failed")


async def test_tls_to_a_plain_http_port_is_a_tls_failure(client: httpx.AsyncClient,
                                                         node2010: LabNode) -> None:
    result = await probe(client, node2010.ports.http, OWA_2010)
    assert (result.code, result.error) == (Code.L6RSP, Error.TLS)


async def test_plain_http_port_redirect_is_a_status_failure(client: httpx.AsyncClient,
                                                            node2010: LabNode) -> None:
    result = await probe(client, node2010.ports.http, OWA_2010, scheme="http")
    assert (result.code, result.facts["status"]) == (Code.L7STS, 302)
    assert result.detail == "HTTP 302 Found, expected 200"


async def test_peer_closing_during_the_handshake_is_a_tls_failure(
        client: httpx.AsyncClient) -> None:
    """What IIS does when no certificate binding matches the SNI name: it drops the line."""
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)  # the ClientHello has arrived
        writer.transport.abort()

    server = await asyncio.start_server(hang_up, RAW_ADDRESS, 0)
    try:
        port = int(server.sockets[0].getsockname()[1])
        result = await probe(client, port, OWA_2010, address=RAW_ADDRESS)
    finally:
        server.close()
        await server.wait_closed()
    assert (result.ok, result.code, result.error) == (False, Code.L6RSP, Error.TLS)
    assert result.detail.startswith("TLS handshake failed")


def test_unreadable_ca_file_is_a_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-ca.pem"
    bad.write_text("hello\n")
    with pytest.raises(ValueError, match="cannot load CA certificates"):
        make_http_client(ca_file=bad, tls_verify=True, max_connections=4)


# -- hostile and odd peers ----------------------------------------------------------------

Behaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_head(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5.0)


class RawServer:
    """A loopback server whose answer is whatever `behaviour` writes (raw bytes)."""

    def __init__(self, behaviour: Behaviour, ssl_context: ssl.SSLContext | None = None) -> None:
        self._behaviour = behaviour
        self._ssl = ssl_context
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.heads: list[bytes] = []
        self.finished = 0  # connections whose handler ended (peer closed, or done)
        self.port = 0

    async def _on_connect(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            self.heads.append(await read_head(reader))
            await self._behaviour(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError, ssl.SSLError):
            pass
        except asyncio.CancelledError:
            return
        finally:
            self.finished += 1
            self._tasks.discard(task)
            writer.close()

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._on_connect, RAW_ADDRESS, 0,
                                                  ssl=self._ssl)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2.0)
        await self._server.wait_closed()


async def until_closed(reader: asyncio.StreamReader) -> None:
    """Say nothing; return when the client hangs up (the test's exit cancels us otherwise)."""
    while await reader.read(1024):
        pass


def answer(head: bytes, body: bytes = b"") -> Behaviour:
    async def behave(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(head + body)
        await writer.drain()
    return behave


async def raw_probe(client: httpx.AsyncClient, server: RawServer, expect: HttpExpectation, *,
                    timeout: float = TIMEOUT) -> ProbeResult:
    return await probe(client, server.port, expect, scheme="http", address=RAW_ADDRESS,
                       timeout=timeout)


async def test_garbage_instead_of_http_is_a_protocol_error(client: httpx.AsyncClient) -> None:
    async with RawServer(answer(b"SSH-2.0-OpenSSH_9.6\r\n\x1b[2J\x00\xff garbage\r\n\r\n")) as srv:
        result = await raw_probe(client, srv, OWA_2010)
    assert (result.ok, result.code, result.error) == (False, Code.L7RSP, Error.PROTOCOL)
    assert "\x1b" not in result.detail and "\x00" not in result.detail


async def test_silent_close_is_a_protocol_error(client: httpx.AsyncClient) -> None:
    async with RawServer(answer(b"")) as srv:
        result = await raw_probe(client, srv, OWA_2010)
    assert (result.code, result.error) == (Code.L7RSP, Error.PROTOCOL)
    assert result.detail == "connection closed without an HTTP answer"


async def test_hostile_fe_server_header_is_data(client: httpx.AsyncClient) -> None:
    head = (b"HTTP/1.1 200 OK\r\nX-FEServer: [red]pwned\x1b[31m\r\n"
            b"X-DiagInfo: \x1b]0;title\x07CAS09\r\nContent-Length: 6\r\n\r\n")
    async with RawServer(answer(head, b"200 OK")) as srv:
        result = await raw_probe(client, srv, OWA_2013)
    assert result.ok, result.detail
    assert result.facts["headers"]["x-feserver"] == "[red]pwned"
    assert result.facts["headers"]["x-diaginfo"] == "CAS09"
    assert result.detail == "HTTP 200 200 OK via [red]pwned, diag CAS09"
    assert "\x1b" not in result.detail


async def test_huge_header_value_is_bounded(client: httpx.AsyncClient) -> None:
    head = b"HTTP/1.1 200 OK\r\nX-FEServer: " + b"A" * 8000 + b"\r\nContent-Length: 6\r\n\r\n"
    async with RawServer(answer(head, b"200 OK")) as srv:
        result = await raw_probe(client, srv, OWA_2013)
    assert result.ok
    assert len(result.facts["headers"]["x-feserver"]) <= 120
    assert len(result.detail) < 100


async def test_body_is_read_only_up_to_64_kib(client: httpx.AsyncClient) -> None:
    """A 10 MB page whose logon form sits at the end: never read, so the check fails fast."""
    body = b"x" * (10 * 1024 * 1024) + b'<form name="logonForm" action="/owa/auth.owa">'
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
    async with RawServer(answer(head, body)) as srv:
        start = time.monotonic()
        result = await raw_probe(client, srv, OWA_2010, timeout=5.0)
        elapsed = time.monotonic() - start
        await wait_for(lambda: srv.finished == 1, 2.0, what="server to see the probe leave")
    assert (result.code, result.error) == (Code.L7RSP, Error.CONTENT)
    assert result.detail == "HTTP 200 without the logon form"
    assert elapsed < 1.0


async def test_endless_body_does_not_hold_the_probe(client: httpx.AsyncClient) -> None:
    async def endless(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"<form name=logonForm>" + b"y" * 4000
        for _ in range(100_000):  # far more than 64 KiB; ends when the probe hangs up
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()

    async with RawServer(endless) as srv:
        result = await raw_probe(client, srv, OWA_2010, timeout=3.0)
        await wait_for(lambda: srv.finished == 1, 2.0, what="server to see the probe leave")
    assert (result.ok, result.code) == (True, Code.L7OK)


async def test_headers_then_stall_is_an_l7_timeout(client: httpx.AsyncClient) -> None:
    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n<html>")
        await writer.drain()
        await until_closed(reader)

    async with RawServer(stall) as srv:
        start = time.monotonic()
        result = await raw_probe(client, srv, OWA_2010)
        elapsed = time.monotonic() - start
        await wait_for(lambda: srv.finished == 1, 2.0, what="the probe to hang up")
    assert (result.ok, result.code, result.error) == (False, Code.L7TOUT, Error.TIMEOUT)
    assert result.facts["status"] == 200
    assert result.detail == "body not complete in 1 s"
    assert TIMEOUT <= elapsed < TIMEOUT + SLACK


async def test_200_without_the_logon_form(client: httpx.AsyncClient) -> None:
    body = b"<html><body>Welcome to IIS</body></html>"
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
    async with RawServer(answer(head, body)) as srv:
        result = await raw_probe(client, srv, OWA_2010)
    assert (result.ok, result.code, result.error) == (False, Code.L7RSP, Error.CONTENT)
    assert result.detail == "HTTP 200 without the logon form"


async def test_healthcheck_body_must_start_with_200_ok(client: httpx.AsyncClient) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n"
    async with RawServer(answer(head, b"Maintenance")) as srv:
        result = await raw_probe(client, srv, OWA_2013)
    assert (result.code, result.error) == (Code.L7RSP, Error.CONTENT)


async def test_401_without_www_authenticate_fails(client: httpx.AsyncClient) -> None:
    head = b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n"
    async with RawServer(answer(head)) as srv:
        result = await raw_probe(client, srv, AUTH_401)
    assert (result.code, result.error) == (Code.L7RSP, Error.CONTENT)
    assert result.detail == "HTTP 401 without WWW-Authenticate"


async def test_200_where_401_expected_is_a_status_failure(client: httpx.AsyncClient) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    async with RawServer(answer(head)) as srv:
        result = await raw_probe(client, srv, AUTH_401)
    assert (result.code, result.error) == (Code.L7STS, Error.STATUS)
    assert result.detail == "HTTP 200 OK, expected 401"


async def test_request_goes_to_the_ip_with_host_and_sni_of_the_name(
        client: httpx.AsyncClient, lab_ca: LabCA) -> None:
    context = lab_ca.issue(ARRAY_FQDN)
    seen_sni: list[str | None] = []

    def record_sni(_sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        seen_sni.append(name)

    context.sni_callback = record_sni
    head = b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Negotiate\r\nContent-Length: 0\r\n\r\n"
    async with RawServer(answer(head), ssl_context=context) as srv:
        result = await probe(client, srv.port, AUTH_401, address=RAW_ADDRESS)
        second = await probe(client, srv.port, AUTH_401, address=RAW_ADDRESS)
    assert result.ok and second.ok, result.detail
    assert seen_sni == [ARRAY_FQDN, ARRAY_FQDN]  # a fresh TLS handshake per check
    request = srv.heads[0].decode().lower()
    assert request.startswith("get /ews/exchange.asmx http/1.1\r\n")
    assert f"host: {ARRAY_FQDN}\r\n" in request
    assert "connection: close\r\n" in request


async def test_cookies_are_never_sent_back(client: httpx.AsyncClient) -> None:
    head = (b"HTTP/1.1 200 OK\r\nSet-Cookie: X-BackEndCookie=abc; path=/\r\n"
            b"Content-Length: 6\r\n\r\n")
    async with RawServer(answer(head, b"200 OK")) as srv:
        for _ in range(2):
            assert (await raw_probe(client, srv, OWA_2013)).ok
    assert all(b"cookie" not in h.lower() for h in srv.heads)


async def test_proxy_settings_from_the_environment_are_ignored(
        monkeypatch: pytest.MonkeyPatch, ca_file: Path) -> None:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(var, "http://127.0.8.250:9")
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n"
    http = make_http_client(ca_file=ca_file, tls_verify=True, max_connections=4)
    try:
        async with RawServer(answer(head, b"200 OK")) as srv:
            result = await raw_probe(http, srv, OWA_2013)
    finally:
        await http.aclose()
    assert result.ok, result.detail


async def test_probe_never_raises_for_a_bad_address(client: httpx.AsyncClient) -> None:
    result = await probe(client, 443, OWA_2010, address="not an address")
    assert not result.ok
    assert result.code == Code.L4CON


async def test_cancelled_probe_leaves_no_connection(client: httpx.AsyncClient) -> None:
    async def stall(reader: asyncio.StreamReader, _: asyncio.StreamWriter) -> None:
        await until_closed(reader)

    async with RawServer(stall) as srv:
        task = asyncio.create_task(raw_probe(client, srv, OWA_2010, timeout=30))
        await wait_for(lambda: len(srv.heads) == 1, 2.0, what="the request to arrive")
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await wait_for(lambda: srv.finished == 1, 2.0, what="the server to see the close")


class TlsStall:
    """A loopback server that takes each ClientHello and never answers it (a CAS too busy to
    finish handshakes); counts the connections the client has closed."""

    def __init__(self) -> None:
        self.closed = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        with contextlib.suppress(ConnectionError):
            await until_closed(reader)
        self.closed += 1

    async def __aenter__(self) -> TlsStall:
        self._server = await asyncio.start_server(self._hold, RAW_ADDRESS, 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.transport.abort()
        await self._server.wait_closed()


async def test_handshake_timeout_closes_the_connection(client: httpx.AsyncClient) -> None:
    """A probe that times out mid-handshake must not leave its socket open (httpcore closes
    it only when its own timeout fires, not when the probe's deadline cancels it)."""
    async with TlsStall() as stall:
        results = await asyncio.gather(*(probe(client, stall.port, OWA_2010,
                                               address=RAW_ADDRESS, timeout=0.3)
                                          for _ in range(3)))
        assert [r.code for r in results] == [Code.L6TOUT] * 3
        await wait_for(lambda: stall.closed == 3, 5.0, what="castui to close all 3 sockets")


async def test_timeouts_under_contention_do_not_starve_the_client(
        ca_file: Path, node2010: LabNode) -> None:
    """A per-target client has as many connections as the target has HTTP checks. Probes
    timing out while others wait for a connection must not leave the pool full: once the
    node answers again, the next probe through the same client passes."""
    http = make_http_client(ca_file=ca_file, tls_verify=True, max_connections=1)
    try:
        async with TlsStall() as stall:
            for _ in range(3):
                results = await asyncio.gather(*(probe(http, stall.port, OWA_2010,
                                                       address=RAW_ADDRESS, timeout=0.3)
                                                 for _ in range(2)))
                assert not any(r.ok for r in results)
        healthy = await probe(http, node2010.ports.https, OWA_2010)
    finally:
        await http.aclose()
    assert healthy.ok, healthy.detail

