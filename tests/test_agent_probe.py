"""castui.probes.agent against a real `castui agent` (and against servers that are not one)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from castui.agent import AgentServer, Collector
from castui.lab.certs import LabCA
from castui.model.results import Code, Error
from castui.probes.agent import agent_probe
from castui.probes.http import make_http_client
from tests.support.net import free_port, loopback_block
from tests.test_agent import fake_win_service_get

TIMEOUT = 3.0


@pytest.fixture
def token() -> str:
    return secrets.token_urlsafe(32)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with make_http_client(ca_file=None, tls_verify=True, max_connections=16) as client:
        yield client


@contextlib.asynccontextmanager
async def agent(token: str, collector: Collector, **options: object) -> AsyncIterator[str]:
    server = AgentServer(collector, token, host=loopback_block().addr(1), port=0,
                         **options)  # type: ignore[arg-type]
    async with server:
        yield server.url


@contextlib.asynccontextmanager
async def fake_agent(status: int, body: bytes) -> AsyncIterator[str]:
    """An HTTP server that is not a castui agent: it answers `status` and `body` to anything."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n"
                         "Connection: close\r\n\r\n".encode() + body)
            await writer.drain()
        writer.close()

    host = loopback_block().addr(1)
    server = await asyncio.start_server(answer, host, 0)
    try:
        yield f"http://{host}:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


async def test_ok_with_connection_facts(token: str, http: httpx.AsyncClient) -> None:
    host = loopback_block().addr(1)
    port = free_port(host)
    served: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served.append(writer)

    listener = await asyncio.start_server(hold, host, port)
    _, conn_a = await asyncio.open_connection(host, port, local_addr=("127.0.60.11", 0))
    _, conn_b = await asyncio.open_connection(host, port, local_addr=("127.0.60.12", 0))
    try:
        async with agent(token, Collector(ports=[port, 443])) as url:
            result = await agent_probe(http, url, token, TIMEOUT)
    finally:
        for writer in (conn_a, conn_b, *served):
            writer.close()
        listener.close()
        await listener.wait_closed()
    assert result.ok, result.detail
    assert result.code == Code.L7OK
    assert result.facts["connections"][port] == {"established": 2, "remotes": 2,
                                                 "listening": True}
    assert set(result.facts["connections"]) == {port, 443}
    assert isinstance(result.facts["cpu_percent"], float)
    assert 0 < result.facts["memory_percent"] < 100
    assert result.detail.startswith("2 connections on 1 ports")
    assert result.latency_ms is not None


async def test_detail_names_automatic_services_that_are_not_running(
        token: str, http: httpx.AsyncClient) -> None:
    """Service objects stood in (this OS is not Windows); see test_agent.FakeService."""
    collector = Collector(ports=[free_port("127.0.0.1")], win_service_get=fake_win_service_get,
                          services=["MSExchangeRPC", "W3SVC", "MSExchangeIMAP4"])
    async with agent(token, collector) as url:
        result = await agent_probe(http, url, token, TIMEOUT)
    assert result.ok
    assert result.detail.endswith("; automatic but not running: W3SVC")  # IMAP4 is disabled
    assert result.facts["services"]["W3SVC"]["status"] == "stopped"


async def test_wrong_token(token: str, http: httpx.AsyncClient) -> None:
    async with agent(token, Collector(ports=[443])) as url:
        result = await agent_probe(http, url, "not-the-token-0123456789", TIMEOUT)
    assert not result.ok
    assert result.detail == "agent refused the token (401)"
    assert result.code == Code.L7STS
    assert result.error == Error.STATUS


async def test_token_never_in_result(token: str, http: httpx.AsyncClient) -> None:
    async with agent(token, Collector(ports=[443])) as url:
        good = await agent_probe(http, url, token, TIMEOUT)
    down = await agent_probe(http, url, token, TIMEOUT)
    assert good.ok and not down.ok
    assert token not in repr(good) and token not in repr(down)


async def test_rate_limited(token: str, http: httpx.AsyncClient) -> None:
    async with agent(token, Collector(ports=[443]), rate=0.01, burst=1) as url:
        first = await agent_probe(http, url, token, TIMEOUT)
        second = await agent_probe(http, url, token, TIMEOUT)
    assert first.ok
    assert not second.ok
    assert second.detail.startswith("agent rate-limited castui (429, retry after ")


async def test_agent_down(token: str, http: httpx.AsyncClient) -> None:
    host = loopback_block().addr(1)
    result = await agent_probe(http, f"http://{host}:{free_port(host)}", token, TIMEOUT)
    assert not result.ok
    assert result.error == Error.REFUSED
    assert result.code == Code.L4CON
    assert result.detail == "agent: connection refused"


@pytest.mark.parametrize(("body", "why"), [
    (b"<html>hello</html>", "agent answer unusable: not JSON"),
    (b'{"status": "ok"}', "agent answer unusable: not a castui agent status"),
    (b'{"agent": "castui", "connections": {"443": {"established": -1, "remotes": 0}}}',
     "agent answer unusable: established is not a count"),
    (b'{"agent": "castui", "connections": {"http": {"established": 1, "remotes": 1}}}',
     "agent answer unusable: bad port 'http'"),
    (b'{"agent": "castui", "connections": {}, "cpu_percent": "high"}',
     "agent answer unusable: cpu_percent is not a percentage"),
    (b'{"agent": "castui", "connections": null, "errors": {"connections": "access denied"}}',
     "agent cannot read connections: access denied"),
])
async def test_unusable_answers(http: httpx.AsyncClient, body: bytes, why: str) -> None:
    async with fake_agent(200, body) as url:
        result = await agent_probe(http, url, "t" * 32, TIMEOUT)
    assert not result.ok
    assert result.detail == why
    assert result.code == Code.L7RSP
    assert result.error == Error.CONTENT


async def test_hostile_strings_are_cleaned(http: httpx.AsyncClient) -> None:
    body = (b'{"agent": "castui", "host": "cas1\\u001b[2J", "connections": {},'
            b' "services": {"W3SVC\\u001b[31m": {"status": "stopped\\r\\nx",'
            b' "start_type": "automatic"}}}')
    async with fake_agent(200, body) as url:
        result = await agent_probe(http, url, "t" * 32, TIMEOUT)
    assert result.ok
    assert result.facts["host"] == "cas1"
    assert result.facts["services"] == {"W3SVC": {"status": "stopped x",
                                                  "start_type": "automatic",
                                                  "display_name": None}}


async def test_over_tls_with_the_configured_ca(token: str, lab_ca: LabCA,
                                               tmp_path: Path) -> None:
    host = loopback_block().addr(1)
    server = AgentServer(Collector(ports=[443]), token, host=host, port=0,
                         ssl_context=lab_ca.issue(host))
    ca_file = lab_ca.write_ca(tmp_path / "ca.pem")
    async with server, make_http_client(ca_file=ca_file, tls_verify=True,
                                        max_connections=4) as client:
        trusted = await agent_probe(client, server.url, token, TIMEOUT)
        async with make_http_client(ca_file=None, tls_verify=True,
                                    max_connections=4) as untrusting:
            untrusted = await agent_probe(untrusting, server.url, token, TIMEOUT)
    assert trusted.ok, trusted.detail
    assert not untrusted.ok
    assert untrusted.code == Code.L6RSP
    assert untrusted.detail.startswith("agent: certificate verify failed")
