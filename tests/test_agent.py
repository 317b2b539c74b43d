"""`castui agent` in process: real connections counted through psutil, real HTTP on loopback.

Only the Windows service manager is stood in for (see test_windows_services_*): it does not
exist on the machines these tests run on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import psutil
import pytest

from castui.agent import AgentError, AgentServer, Collector, RateLimiter
from castui.agent.server import MAX_RESPONSE_BYTES
from castui.lab.certs import LabCA
from tests.support.net import free_port, loopback_block, wait_for

#: Client source addresses: connections from these are what the agent must count.
CLIENT_A = "127.0.60.11"
CLIENT_B = "127.0.60.12"


@pytest.fixture
def token() -> str:
    return secrets.token_urlsafe(32)


@contextlib.asynccontextmanager
async def running_agent(token: str, collector: Collector | None = None,
                        **options: Any) -> AsyncIterator[AgentServer]:
    """An agent on a fresh loopback address and a free port, stopped on exit."""
    server = AgentServer(collector or Collector(ports=[free_port("127.0.0.1")], max_age=0.1),
                         token, host=loopback_block().addr(1), port=0, **options)
    async with server:
        yield server


def client(source: str | None = None, **options: Any) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(local_address=source, **options)
    return httpx.AsyncClient(transport=transport, trust_env=False, timeout=5)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@contextlib.asynccontextmanager
async def service_listener(host: str, port: int) -> AsyncIterator[None]:
    """A TCP service that holds every connection until the client closes it."""
    writers: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        with contextlib.suppress(OSError):
            await reader.read()
        writer.close()

    server = await asyncio.start_server(hold, host, port)
    try:
        yield
    finally:
        server.close()
        for writer in writers:
            writer.transport.abort()
        await server.wait_closed()


async def connect_from(source: str, host: str, port: int) -> asyncio.StreamWriter:
    _, writer = await asyncio.open_connection(host, port, local_addr=(source, 0))
    return writer


# -- connection counts ---------------------------------------------------------------------------


async def test_counts_connections_per_port_and_distinct_remotes(token: str) -> None:
    service_host = loopback_block().addr(1)
    service_port, idle_port = free_port(service_host), free_port("127.0.0.1")
    collector = Collector(ports=[service_port, idle_port], max_age=0.05)
    async with service_listener(service_host, service_port), \
            running_agent(token, collector, rate=1000, burst=1000) as agent, client() as http:

        async def counts() -> dict[str, Any]:
            response = await http.get(f"{agent.url}/v1/status", headers=bearer(token))
            assert response.status_code == 200
            doc: dict[str, Any] = response.json()
            return doc["connections"]

        writers = [await connect_from(CLIENT_A, service_host, service_port),
                   await connect_from(CLIENT_A, service_host, service_port),
                   await connect_from(CLIENT_B, service_host, service_port)]
        expected = {"established": 3, "remotes": 2, "listening": True}
        await wait_for(lambda: _matches(counts, str(service_port), expected), 5,
                       interval=0.1, what="3 connections from 2 clients")
        assert (await counts())[str(idle_port)] == {"established": 0, "remotes": 0,
                                                    "listening": False}
        for writer in writers:
            writer.close()
        gone = {"established": 0, "remotes": 0, "listening": True}
        await wait_for(lambda: _matches(counts, str(service_port), gone), 5,
                       interval=0.1, what="the counts to drop back to zero")


async def _matches(counts: Any, port: str, expected: dict[str, Any]) -> bool:
    found: dict[str, Any] = await counts()
    return found[port] == expected


async def test_status_reports_load_and_processes(token: str) -> None:
    me = psutil.Process().name()
    collector = Collector(ports=[free_port("127.0.0.1")], processes=[me, "no-such-proc-x7"])
    async with running_agent(token, collector) as agent, client() as http:
        response = await http.get(f"{agent.url}/v1/status", headers=bearer(token))
    doc = response.json()
    assert response.headers["content-type"] == "application/json"
    assert doc["agent"] == "castui"
    assert doc["processes"][me]["running"] is True
    assert doc["processes"][me]["pids"] >= 1
    assert doc["processes"]["no-such-proc-x7"] == {"running": False, "pids": 0}
    assert 0 <= doc["cpu_percent"] <= 100
    assert 0 < doc["memory_percent"] < 100
    assert doc["services"] == {}  # no service manager here, and none was injected
    assert doc["errors"] == {}


# -- Windows services ----------------------------------------------------------------------------


class FakeService:
    """Stands in for psutil.WindowsService (this OS has no service manager)."""

    def __init__(self, name: str, status: str, start_type: str) -> None:
        self._name, self._status, self._start_type = name, status, start_type

    def name(self) -> str:
        return self._name

    def display_name(self) -> str:
        return f"Microsoft Exchange {self._name}\x1b[31m"

    def status(self) -> str:
        return self._status

    def start_type(self) -> str:
        return self._start_type


FAKE_SERVICES = {
    "MSExchangeRPC": FakeService("MSExchangeRPC", "running", "automatic"),
    "W3SVC": FakeService("W3SVC", "stopped", "automatic"),
    "MSExchangeIMAP4": FakeService("MSExchangeIMAP4", "stopped", "disabled"),
}


def fake_win_service_get(name: str) -> FakeService:
    """Behaves as psutil.win_service_get: NoSuchProcess for an unknown service (psutil's
    documented behaviour), AccessDenied when not allowed to query."""
    if name == "LockedSvc":
        raise psutil.AccessDenied(pid=None, name=name, msg="not enough privileges")
    if name == "BrokenSvc":
        raise OSError(1053, "the service did not respond")
    if name not in FAKE_SERVICES:
        raise psutil.NoSuchProcess(pid=None, name=name, msg=f"service {name!r} does not exist")
    return FAKE_SERVICES[name]


async def test_windows_services_branch_with_stood_in_service_manager(token: str) -> None:
    """The Windows branch, with psutil's WindowsService objects stood in because this OS is
    not Windows: states and start types as reported, unknown services `missing`, services we
    may not query `unknown` with the reason."""
    collector = Collector(ports=[free_port("127.0.0.1")],
                          services=["MSExchangeRPC", "W3SVC", "MSExchangeIMAP4",
                                    "MSExchangeAB", "LockedSvc", "BrokenSvc"],
                          win_service_get=fake_win_service_get)
    async with running_agent(token, collector) as agent, client() as http:
        response = await http.get(f"{agent.url}/v1/status", headers=bearer(token))
    services = response.json()["services"]
    assert services["MSExchangeRPC"] == {"status": "running", "start_type": "automatic",
                                         "display_name": "Microsoft Exchange MSExchangeRPC"}
    assert services["W3SVC"]["status"] == "stopped"
    assert services["MSExchangeIMAP4"]["start_type"] == "disabled"
    assert services["MSExchangeAB"] == {"status": "missing", "start_type": None,
                                        "display_name": None}
    assert services["LockedSvc"]["status"] == "unknown"
    assert services["LockedSvc"]["error"] == "access denied"
    assert services["BrokenSvc"]["status"] == "unknown"
    assert "did not respond" in services["BrokenSvc"]["error"]
    assert list(services) == ["MSExchangeRPC", "W3SVC", "MSExchangeIMAP4", "MSExchangeAB",
                              "LockedSvc", "BrokenSvc"]


# -- security ------------------------------------------------------------------------------------


async def test_token_missing_wrong_and_right(token: str) -> None:
    async with running_agent(token) as agent, client() as http:
        url = f"{agent.url}/v1/status"
        missing = await http.get(url)
        wrong = await http.get(url, headers=bearer(token[:-1] + ("x" if token[-1] != "x"
                                                                  else "y")))
        basic = await http.get(url, headers={"Authorization": f"Basic {token}"})
        in_query = await http.get(f"{url}?token={token}")
        right = await http.get(url, headers=bearer(token))
        health = await http.get(f"{agent.url}/healthz")
        health_ok = await http.get(f"{agent.url}/healthz", headers=bearer(token))
    for refused in (missing, wrong, basic, in_query, health):
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert "connections" not in refused.text
    assert right.status_code == 200
    assert "connections" in right.json()
    assert health_ok.json() == {"ok": True}


async def test_read_only_get_and_head(token: str) -> None:
    async with running_agent(token, rate=100, burst=100) as agent, client() as http:
        url = f"{agent.url}/v1/status"
        for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
            response = await http.request(method, url, headers=bearer(token), content=b"{}")
            assert response.status_code == 405, method
            assert "GET" in response.headers["allow"]
        anonymous_post = await http.post(url, content=b"{}")
        head = await http.head(url, headers=bearer(token))
        unknown = await http.get(f"{agent.url}/v1/shutdown", headers=bearer(token))
    assert anonymous_post.status_code == 401  # the token comes first, always
    assert head.status_code == 200
    assert int(head.headers["content-length"]) > 0
    assert head.content == b""
    assert unknown.status_code == 404


async def test_rate_limit_per_client(token: str) -> None:
    async with running_agent(token, rate=0.05, burst=5) as agent, \
            client(CLIENT_A) as hammer, client(CLIENT_B) as other:
        url = f"{agent.url}/v1/status"
        statuses = []
        for _ in range(20):
            response = await hammer.get(url, headers=bearer(token))
            statuses.append(response.status_code)
            if response.status_code == 429:
                break
        assert statuses == [200] * 5 + [429]
        assert int(response.headers["retry-after"]) >= 1
        guessing = await hammer.get(url, headers=bearer("guess-" + token))
        assert guessing.status_code == 429  # token guessing is throttled too
        assert (await other.get(url, headers=bearer(token))).status_code == 200


def test_rate_limiter_refills_at_its_rate() -> None:
    now = [100.0]
    limiter = RateLimiter(rate=2.0, burst=2, clock=lambda: now[0])
    assert [limiter.take("a"), limiter.take("a")] == [0.0, 0.0]
    assert limiter.take("a") == pytest.approx(0.5)
    now[0] += 0.5
    assert limiter.take("a") == 0.0  # one token came back in half a second at 2/s
    assert limiter.take("b") == 0.0  # every client has its own bucket


def test_rate_limiter_memory_is_bounded() -> None:
    limiter = RateLimiter(rate=1.0, burst=1, max_clients=3, clock=lambda: 0.0)
    for client_id in ("a", "b", "c", "d"):
        limiter.take(client_id)
    assert limiter.take("d") > 0  # remembered
    assert limiter.take("a") == 0.0  # forgotten: the oldest client went first


async def raw_exchange(host: str, port: int, data: bytes) -> bytes:
    """Send `data` as is and read the whole answer (the agent closes after one)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


async def test_oversized_requests_refused(token: str) -> None:
    async with running_agent(token, rate=100, burst=100) as agent:
        big_head = (b"GET /v1/status HTTP/1.1\r\nHost: agent\r\n"
                    + b"X-Pad: " + b"a" * 20000 + b"\r\n\r\n")
        big_body = (b"GET /v1/status HTTP/1.1\r\nHost: agent\r\n"
                    b"Content-Length: 10000000\r\n\r\n")
        garbage = b"\x16\x03\x01 not http at all\r\n\r\n"
        head_answer = await raw_exchange(agent.host, agent.port, big_head)
        body_answer = await raw_exchange(agent.host, agent.port, big_body)
        garbage_answer = await raw_exchange(agent.host, agent.port, garbage)
    assert head_answer.startswith(b"HTTP/1.1 431 ")
    assert body_answer.startswith(b"HTTP/1.1 413 ")
    assert garbage_answer.startswith(b"HTTP/1.1 400 ")


async def test_slow_client_is_dropped_and_others_served(token: str) -> None:
    async with running_agent(token, header_timeout=0.5) as agent, client() as http:
        reader, writer = await asyncio.open_connection(agent.host, agent.port)
        writer.write(b"GET /v1/status HTTP/1.1\r\nHost: agent\r\n")  # never finished
        await writer.drain()
        served = await http.get(f"{agent.url}/healthz", headers=bearer(token))
        assert served.status_code == 200
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed, nothing answered
        writer.close()


async def test_response_size_is_bounded(token: str) -> None:
    ports = list(range(40000, 40064))
    names = [f"process-{i:02d}-" + "x" * 200 for i in range(64)]
    big = Collector(ports=ports, processes=names)
    async with running_agent(token, big) as agent, client() as http:
        largest = await http.get(f"{agent.url}/v1/status", headers=bearer(token))
    assert largest.status_code == 200
    assert len(largest.content) <= MAX_RESPONSE_BYTES
    async with running_agent(token, max_response_bytes=200) as agent, client() as http:
        capped = await http.get(f"{agent.url}/v1/status", headers=bearer(token))
    assert capped.status_code == 500
    assert len(capped.content) < 200
    with pytest.raises(ValueError, match="at most 64 ports"):
        Collector(ports=range(1, 66))


async def test_tls(token: str, lab_ca: LabCA) -> None:
    host = loopback_block().addr(1)
    server = AgentServer(Collector(ports=[free_port(host)]), token, host=host, port=0,
                         ssl_context=lab_ca.issue(host))
    async with server:
        assert server.url.startswith("https://")
        async with client(verify=lab_ca.client_context()) as https:
            response = await https.get(f"{server.url}/v1/status", headers=bearer(token))
        assert response.status_code == 200
        assert response.json()["agent"] == "castui"
        async with client() as plain:
            with pytest.raises(httpx.HTTPError):
                await plain.get(f"http://{host}:{server.port}/v1/status", headers=bearer(token))


async def test_bind_failure_is_one_line(token: str) -> None:
    host = loopback_block().addr(1)
    with socket.socket() as holder:
        holder.bind((host, 0))
        holder.listen()
        taken = holder.getsockname()[1]
        server = AgentServer(Collector(), token, host=host, port=taken)
        with pytest.raises(AgentError, match=r"^cannot listen on .*: address already in use$"):
            await server.start()


# -- the token never reaches a log ---------------------------------------------------------------


@pytest.fixture
def agent_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG, logger="castui.agent")
    yield caplog


async def test_token_never_logged(token: str, agent_log: pytest.LogCaptureFixture,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    async with running_agent(token, rate=100, burst=100) as agent, client() as http:
        url = f"{agent.url}/v1/status"
        await http.get(url, headers=bearer(token))
        await http.get(url, headers=bearer(token + "x"))
        await http.get(f"{agent.url}/{token}", headers=bearer(token))
        await http.get(f"{url}?token={token}")
        await http.post(url, headers=bearer(token), content=token.encode())
        await raw_exchange(agent.host, agent.port,
                           f"{token} /v1/status HTTP/1.1\r\nHost: a\r\n\r\n".encode())
        await raw_exchange(agent.host, agent.port,
                           f"GET /v1/status HTTP/1.1\r\nAuthorization: Bearer {token}\x01\r\n"
                           "\r\n".encode())
    out, err = capsys.readouterr()
    logged = "\n".join(record.getMessage() for record in agent_log.records
                       if record.name.startswith("castui"))
    assert " 401" in logged and " 405" in logged and " 400" in logged  # refusals are logged
    assert "GET /v1/status 200" in logged
    assert token not in logged
    assert token not in out + err
    assert all(token not in str(record.args) for record in agent_log.records)


# -- protocol strictness -------------------------------------------------------------------------


async def test_http2_request_line_and_ambiguous_length_refused(token: str) -> None:
    """Only HTTP/1.0 and 1.1 are spoken; a request framed two ways (request smuggling's tool)
    is refused, not read one of the two ways."""
    auth = f"Authorization: Bearer {token}\r\nHost: agent\r\n"
    async with running_agent(token, rate=100, burst=100) as agent:
        http2 = await raw_exchange(agent.host, agent.port,
                                   f"GET /healthz HTTP/2.0\r\n{auth}\r\n".encode())
        http12 = await raw_exchange(agent.host, agent.port,
                                    f"GET /healthz HTTP/1.2\r\n{auth}\r\n".encode())
        both = await raw_exchange(agent.host, agent.port,
                                  f"GET /healthz HTTP/1.1\r\n{auth}Content-Length: 5\r\n"
                                  "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n".encode())
        fine = await raw_exchange(agent.host, agent.port,
                                  f"GET /healthz HTTP/1.0\r\n{auth}\r\n".encode())
    assert http2.startswith(b"HTTP/1.1 400 ")
    assert http12.startswith(b"HTTP/1.1 400 ")
    assert both.startswith(b"HTTP/1.1 400 ")
    assert fine.startswith(b"HTTP/1.1 200 ")


# -- idle connections never starve new ones ------------------------------------------------------

#: Connections the agent holds at once, and per client address (docs/agent.md).
SLOTS, PER_CLIENT = 64, 8


HALF_HEAD = b"GET /healthz HTTP/1.1\r\nHost: agent\r\n"


async def hold_idle(source: str, agent: AgentServer, send: bytes = HALF_HEAD) -> tuple[
        asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection from `source` that sends `send` (half a request head) and then nothing
    (the agent may already have refused it: its reader then shows the close)."""
    reader, writer = await asyncio.open_connection(agent.host, agent.port,
                                                   local_addr=(source, 0))
    with contextlib.suppress(ConnectionError):
        writer.write(send)
        await writer.drain()
    return reader, writer


async def closed_unanswered(reader: asyncio.StreamReader, within: float = 5) -> bool:
    """True once the agent closes (or resets) the connection without a word."""
    try:
        return await asyncio.wait_for(reader.read(), within) == b""
    except ConnectionResetError:
        return True


async def finish_request(token: str, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> bytes:
    """Complete a held request and read the answer: proof the connection was still served."""
    writer.write(f"Authorization: Bearer {token}\r\n\r\n".encode())
    await writer.drain()
    return await asyncio.wait_for(reader.read(), 5)


@contextlib.asynccontextmanager
async def idle_flood(agent: AgentServer, sources: list[str], each: int,
                     send: bytes = HALF_HEAD) -> AsyncIterator[
        list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]:
    """`each` idle connections from every source, opened in order; all closed on exit."""
    held: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    try:
        for _ in range(each):
            for source in sources:
                held.append(await hold_idle(source, agent, send))
        yield held
    finally:
        for _, writer in held:
            writer.transport.abort()


async def test_idle_connections_do_not_starve_a_new_client(token: str) -> None:
    """90 idle connections from one attacker's 9 addresses (past every address's cap, and
    past the 64 slots) do not keep another client out: it is served at once, not after the
    10 s head timeout."""
    block = loopback_block()
    attacker, monitor = block.take(SLOTS // PER_CLIENT + 1), block.addr(200)
    async with running_agent(token, rate=1000, burst=1000) as agent, \
            idle_flood(agent, attacker, PER_CLIENT + 2), client(monitor, retries=0) as http:
        http.timeout = httpx.Timeout(2)
        served = await http.get(f"{agent.url}/healthz", headers=bearer(token))
        assert served.status_code == 200


async def test_oldest_idle_connection_dropped_first(token: str) -> None:
    block = loopback_block()
    sources = block.take(SLOTS // PER_CLIENT)
    async with running_agent(token, rate=1000, burst=1000) as agent, \
            idle_flood(agent, sources, PER_CLIENT) as held, client(block.addr(200)) as http:
        served = await http.get(f"{agent.url}/healthz", headers=bearer(token))
        assert served.status_code == 200
        oldest, second, newest = held[0], held[1], held[-1]
        assert await closed_unanswered(oldest[0])
        assert (await finish_request(token, *second)).startswith(b"HTTP/1.1 200 ")
        assert (await finish_request(token, *newest)).startswith(b"HTTP/1.1 200 ")


async def test_client_at_its_cap_cannot_displace_others(token: str) -> None:
    """A client at its per-client cap (8) is refused before the global limit is looked at:
    its 64 further connections are each closed unanswered, and none pushes out another
    client's connection, nor one of its own."""
    block = loopback_block()
    others, greedy = block.take(SLOTS // PER_CLIENT - 1), block.addr(100)
    async with running_agent(token, rate=1000, burst=1000) as agent, \
            idle_flood(agent, others, PER_CLIENT) as held, \
            idle_flood(agent, [greedy], PER_CLIENT) as own, \
            idle_flood(agent, [greedy], SLOTS) as refused:
        for reader, _ in refused:
            assert await closed_unanswered(reader)
        assert (await finish_request(token, *held[0])).startswith(b"HTTP/1.1 200 ")
        assert (await finish_request(token, *own[0])).startswith(b"HTTP/1.1 200 ")


async def test_request_body_must_follow_its_head_promptly(token: str) -> None:
    """Once the head is read, the body gets a much shorter idle time than the 10 s head limit."""
    async with running_agent(token) as agent:
        reader, writer = await asyncio.open_connection(agent.host, agent.port)
        try:
            writer.write(f"GET /healthz HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {token}"
                         "\r\nContent-Length: 10\r\n\r\n".encode())
            await writer.drain()
            assert await closed_unanswered(reader, within=5)
        finally:
            writer.close()


async def test_tls_handshakes_count_against_the_caps(token: str, lab_ca: LabCA) -> None:
    """Connections that never start their TLS handshake (they send nothing) are idle
    connections too: a client's ninth is closed at once, and a full house still lets a new
    client in."""
    block = loopback_block()
    host = block.addr(1)
    server = AgentServer(Collector(ports=[free_port(host)]), token, host=host, port=0,
                         ssl_context=lab_ca.issue(host), rate=1000, burst=1000)
    async with server, idle_flood(server, [block.addr(2)], PER_CLIENT + 4, b"") as own:
        for reader, _ in own[PER_CLIENT:]:
            assert await closed_unanswered(reader)
        async with idle_flood(server, block.take(SLOTS // PER_CLIENT + 2)[2:], PER_CLIENT,
                              b""), \
                client(block.addr(200), verify=lab_ca.client_context()) as https:
            response = await https.get(f"{server.url}/healthz", headers=bearer(token))
    assert response.status_code == 200
