"""The lab CAS node answers like Exchange and shows each fault the way a real outage does."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import psutil
import pytest

from castui.config.model import Ports, Profile
from castui.lab.certs import LabCA
from castui.lab.node import LabNode
from castui.model.exchange import HTTP_CHECKS
from tests.support.net import wait_for

ALL_PORTS = Ports(epm=0, https=0, http=0, mapi=0, ab=0)
MakeNode = Callable[..., Awaitable[LabNode]]


@pytest.fixture
async def make_node(lab_ca: LabCA) -> AsyncIterator[MakeNode]:
    nodes: list[LabNode] = []

    async def make(address: str, profile: Profile = "exchange2010", name: str = "CAS01",
                   ports: Ports = ALL_PORTS) -> LabNode:
        fqdn = f"{name.lower()}.corp.local"
        node = LabNode(name, address, ports, profile=profile, ssl_context=lab_ca.issue(fqdn),
                       fqdn=fqdn)
        nodes.append(node)
        await node.start()
        return node

    yield make
    for node in nodes:
        await node.stop()


@pytest.fixture
async def client(lab_ca: LabCA) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(verify=lab_ca.client_context(), timeout=3.0) as http:
        yield http


async def get(client: httpx.AsyncClient, node: LabNode, path: str,
              within: float = 3.0) -> httpx.Response:
    """GET over HTTPS to the node's address, with Host and SNI set to its FQDN."""
    assert node.fqdn is not None
    return await client.get(f"https://{node.address}:{node.ports.https}{path}",
                            headers={"Host": node.fqdn}, timeout=within,
                            extensions={"sni_hostname": node.fqdn})


async def connect_outcome(address: str, port: int, within: float = 0.5) -> str:
    """'connected', 'refused' or 'timeout' for a plain TCP connect."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(address, port), within)
    except TimeoutError:
        return "timeout"
    except ConnectionRefusedError:
        return "refused"
    writer.close()
    await writer.wait_closed()
    return "connected"


async def outcomes(node: LabNode) -> dict[str, str]:
    """The connect outcome of every port of the node, tried at the same time."""
    checks = node.ports.tcp_checks()
    results = await asyncio.gather(*(connect_outcome(node.address, port) for _, port in checks))
    return {name: result for (name, _), result in zip(checks, results, strict=True)}


async def test_exchange2010_answers_every_profile_check(make_node: MakeNode,
                                                        client: httpx.AsyncClient) -> None:
    node = await make_node("127.0.6.1")
    for check in HTTP_CHECKS["exchange2010"]:
        response = await get(client, node, check.path)
        assert response.status_code == check.status, check
        assert response.headers["server"] == "Microsoft-IIS/7.5"
        assert response.headers["x-powered-by"] == "ASP.NET"
        assert "x-feserver" not in response.headers
        if check.www_authenticate:
            assert response.headers.get_list("www-authenticate") == ["Negotiate", "NTLM"]
    logon = await get(client, node, "/owa/auth/logon.aspx")
    assert '<form action="/owa/auth.owa" method="POST" name="logonForm"' in logon.text
    assert 'name="username"' in logon.text and 'name="password"' in logon.text
    assert logon.headers["content-type"].startswith("text/html")


async def test_every_connection_the_node_accepts_sends_without_nagle(
        make_node: MakeNode) -> None:
    """TCP_NODELAY on each accepted connection: without it an answer written while the TLS
    1.3 tickets are unacknowledged waits for the client's delayed ACK (40 ms on Linux), and
    every latency figure measured against the lab carries it."""
    node = await make_node("127.0.6.9")
    seen: dict[str, int] = {}
    for name, port in node.ports.tcp_checks():
        _, writer = await asyncio.open_connection(node.address, port)
        me = writer.get_extra_info("sockname")[:2]
        try:
            def mine(me: tuple[str, int] = me) -> list[socket.socket]:
                return [sock for peer, sock in node.connections() if peer == me]
            await wait_for(lambda: bool(mine()), 5, what=f"the node to accept on {name}")
            (sock,) = mine()
            seen[name] = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        finally:
            writer.close()
            await writer.wait_closed()
    assert len(seen) == len(node.ports.tcp_checks()) and all(seen.values()), seen


async def test_exchange2010_redirects_and_unknown_paths(make_node: MakeNode,
                                                        client: httpx.AsyncClient) -> None:
    node = await make_node("127.0.6.2")
    for path in ("/owa", "/owa/"):
        response = await get(client, node, path)
        assert response.status_code == 302
        assert response.headers["location"].startswith(
            "https://cas01.corp.local/owa/auth/logon.aspx?url=")
    assert (await get(client, node, "/nothing/here")).status_code == 404
    assert (await get(client, node, "/owa/healthcheck.htm")).status_code != 200
    plain = await client.get(f"http://{node.address}:{node.ports.http}/owa")
    assert plain.status_code == 302
    assert plain.headers["location"] == f"https://{node.address}:{node.ports.https}/owa"


async def test_exchange2013_healthchecks_name_the_node(make_node: MakeNode,
                                                       client: httpx.AsyncClient) -> None:
    node = await make_node("127.0.6.3", profile="exchange2013", name="CAS13")
    for check in HTTP_CHECKS["exchange2013"]:
        response = await get(client, node, check.path)
        assert response.status_code == check.status, check
        assert response.text == "200 OK<br/>CAS13"
        assert response.headers["x-feserver"] == "CAS13"
        assert response.headers["x-diaginfo"] == "CAS13"
        assert response.headers["server"] == "Microsoft-IIS/8.5"
    assert (await get(client, node, "/ews/HEALTHCHECK.HTM")).text == "200 OK<br/>CAS13"
    logon = await get(client, node, "/owa/auth/logon.aspx")
    assert logon.status_code == 200 and "logonForm" in logon.text
    assert logon.headers["x-feserver"] == "CAS13"
    ews = await get(client, node, "/EWS/Exchange.asmx")
    assert ews.status_code == 401 and ews.headers["x-feserver"] == "CAS13"


async def test_hostile_feserver_override_is_sent_verbatim(make_node: MakeNode,
                                                          client: httpx.AsyncClient) -> None:
    node = await make_node("127.0.6.4", profile="exchange2013")
    node.http.fe_server = "\x1b[31m[red]pwned"
    response = await get(client, node, "/owa/healthcheck.htm")
    assert response.headers["x-feserver"] == "\x1b[31m[red]pwned"
    assert response.text == "200 OK<br/>\x1b[31m[red]pwned"


async def test_certificates_verify_only_for_their_names(lab_ca: LabCA,
                                                        client: httpx.AsyncClient) -> None:
    cases = {
        "good": lab_ca.issue("cas01.corp.local"),
        "mismatched": lab_ca.issue_mismatched("cas01.corp.local"),
        "expired": lab_ca.issue_expired("cas01.corp.local"),
        "future": lab_ca.issue_not_yet_valid("cas01.corp.local"),
    }
    for index, (case, context) in enumerate(cases.items(), start=10):
        node = LabNode("CAS01", f"127.0.6.{index}", Ports(epm=0, https=0, http=0),
                       ssl_context=context, fqdn="cas01.corp.local")
        async with node:
            if case == "good":
                assert (await get(client, node, "/owa/auth/logon.aspx")).status_code == 200
            else:
                with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                    await get(client, node, "/owa/auth/logon.aspx")


async def test_certificate_can_be_swapped_while_serving(lab_ca: LabCA, make_node: MakeNode,
                                                        client: httpx.AsyncClient) -> None:
    node = await make_node("127.0.6.14")
    assert (await get(client, node, "/owa/auth/logon.aspx")).status_code == 200
    node.set_ssl_context(lab_ca.issue_expired("cas01.corp.local"))
    async with httpx.AsyncClient(verify=lab_ca.client_context()) as fresh:
        with pytest.raises(httpx.ConnectError, match="certificate has expired"):
            await get(fresh, node, "/owa/auth/logon.aspx")


async def test_certificate_may_cover_an_ip_literal(lab_ca: LabCA) -> None:
    node = LabNode("CAS01", "127.0.6.15", Ports(epm=0, https=0, http=0),
                   ssl_context=lab_ca.issue("127.0.6.15"))
    async with node, httpx.AsyncClient(verify=lab_ca.client_context()) as http:
        response = await http.get(f"https://127.0.6.15:{node.ports.https}/owa/auth/logon.aspx")
        assert response.status_code == 200


async def test_crash_refuses_and_restore_serves_on_the_same_ports(
        make_node: MakeNode, client: httpx.AsyncClient) -> None:
    node = await make_node("127.0.6.20")
    ports = node.ports
    assert set((await outcomes(node)).values()) == {"connected"}
    await node.crash()
    assert node.state == "crashed"
    assert set((await outcomes(node)).values()) == {"refused"}
    await node.restore()
    assert node.state == "ok"
    assert node.ports == ports
    assert set((await outcomes(node)).values()) == {"connected"}
    assert (await get(client, node, "/owa/auth/logon.aspx")).status_code == 200
    for _ in range(3):  # repeated cycles rebind at once (SO_REUSEADDR)
        await node.crash()
        await node.restore()
    assert (await get(client, node, "/owa/auth/logon.aspx")).status_code == 200


async def test_blackhole_makes_connects_hang(make_node: MakeNode,
                                             client: httpx.AsyncClient) -> None:
    node = await make_node("127.0.6.21")
    await node.blackhole()
    assert node.state == "blackholed"
    assert set((await outcomes(node)).values()) == {"timeout"}
    started = time.monotonic()
    with pytest.raises(httpx.ConnectTimeout):
        await get(client, node, "/owa/auth/logon.aspx", within=0.5)
    assert time.monotonic() - started >= 0.45
    await node.restore()
    assert set((await outcomes(node)).values()) == {"connected"}
    assert (await get(client, node, "/owa/auth/logon.aspx")).status_code == 200


async def test_restore_closes_blackhole_self_connections(make_node: MakeNode) -> None:
    node = await make_node("127.0.6.22")
    await node.blackhole()
    await node.restore()
    await node.stop()
    leftovers = [conn for conn in psutil.Process().net_connections(kind="tcp")
                 if node.address in (conn.laddr.ip if conn.laddr else None,
                                     conn.raddr.ip if conn.raddr else None)
                 and conn.status != psutil.CONN_TIME_WAIT]
    assert leftovers == []


async def test_failed_vdir_answers_503_while_others_work(make_node: MakeNode,
                                                         client: httpx.AsyncClient) -> None:
    node = await make_node("127.0.6.23")
    await node.fail("ews")
    assert node.state == "degraded"
    assert (await get(client, node, "/EWS/Exchange.asmx")).status_code == 503
    assert (await get(client, node, "/ews/anything")).status_code == 503
    assert (await get(client, node, "/owa/auth/logon.aspx")).status_code == 200
    assert (await get(client, node, "/OAB/")).status_code == 401
    await node.fail("EAS")
    assert (await get(client, node, "/Microsoft-Server-ActiveSync")).status_code == 503
    await node.fail("OWA")
    assert (await get(client, node, "/owa/auth/logon.aspx")).status_code == 503
    assert await connect_outcome(node.address, node.ports.https) == "connected"
    await node.restore()
    assert node.state == "ok"
    assert (await get(client, node, "/EWS/Exchange.asmx")).status_code == 401


async def test_failed_vdir_kills_its_2013_healthcheck(make_node: MakeNode,
                                                      client: httpx.AsyncClient) -> None:
    node = await make_node("127.0.6.24", profile="exchange2013")
    await node.fail("mapihttp")
    assert (await get(client, node, "/mapi/healthcheck.htm")).status_code == 503
    assert (await get(client, node, "/owa/healthcheck.htm")).status_code == 200
    with pytest.raises(ValueError, match="unknown virtual directory"):
        await node.fail("exchange")


async def test_slow_delays_answers_not_connects(make_node: MakeNode,
                                                client: httpx.AsyncClient) -> None:
    node = await make_node("127.0.6.25")
    await node.slow(400)
    assert node.state == "slow"
    started = time.monotonic()
    assert await connect_outcome(node.address, node.ports.https) == "connected"
    assert time.monotonic() - started < 0.3
    started = time.monotonic()
    assert (await get(client, node, "/owa/auth/logon.aspx")).status_code == 200
    assert time.monotonic() - started >= 0.4
    await node.restore()
    started = time.monotonic()
    assert (await get(client, node, "/owa/auth/logon.aspx")).status_code == 200
    assert time.monotonic() - started < 0.4


@pytest.mark.parametrize("address", ["10.1.2.3", "0.0.0.0", "::", "192.168.0.1", "localhost"])
def test_refuses_non_loopback_addresses(lab_ca: LabCA, address: str) -> None:
    with pytest.raises(ValueError, match="lab binds loopback addresses only"):
        LabNode("CAS01", address, ALL_PORTS, ssl_context=lab_ca.issue("cas01.corp.local"))


async def test_ipv6_loopback_is_allowed(lab_ca: LabCA) -> None:
    node = LabNode("CAS01", "::1", Ports(epm=0, https=0, http=0),
                   ssl_context=lab_ca.issue("::1"))
    async with node:
        assert await connect_outcome("::1", node.ports.https) == "connected"


async def test_stop_closes_listeners_and_open_connections(make_node: MakeNode) -> None:
    node = await make_node("127.0.6.26")
    reader, writer = await asyncio.open_connection(node.address, node.ports.epm)
    await node.stop()
    assert await asyncio.wait_for(reader.read(1), 2.0) == b""
    writer.close()
    assert set((await outcomes(node)).values()) == {"refused"}
    listening = [conn for conn in psutil.net_connections(kind="tcp")
                 if conn.status == psutil.CONN_LISTEN and conn.laddr
                 and conn.laddr.ip == node.address]
    assert listening == []
    await node.stop()
    assert node.state == "stopped"


async def test_garbage_gets_400_and_the_connection_closed(make_node: MakeNode) -> None:
    node = await make_node("127.0.6.27")
    reader, writer = await asyncio.open_connection(node.address, node.ports.http)
    writer.write(b"\x16\x03\x01 not http at all\r\n\r\n")
    reply = await asyncio.wait_for(reader.read(), 2.0)
    writer.close()
    assert reply.startswith(b"HTTP/1.1 400 ")
    assert b"connection: close" in reply.lower()


async def test_oversized_headers_are_refused(make_node: MakeNode) -> None:
    node = await make_node("127.0.6.28")
    reader, writer = await asyncio.open_connection(node.address, node.ports.http)
    writer.write(b"GET /owa HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n")
    reply = await asyncio.wait_for(reader.read(), 2.0)
    writer.close()
    assert reply.startswith(b"HTTP/1.1 431 ")


async def test_keep_alive_until_connection_close(make_node: MakeNode) -> None:
    node = await make_node("127.0.6.29")
    reader, writer = await asyncio.open_connection(node.address, node.ports.http)
    writer.write(b"GET /owa HTTP/1.1\r\nHost: a\r\n\r\n"
                 b"GET /ews HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    reply = await asyncio.wait_for(reader.read(), 2.0)  # EOF only after the second answer
    writer.close()
    assert reply.count(b"HTTP/1.1 302 Found") == 2


async def test_a_protocol_handler_can_be_plugged_into_a_port(make_node: MakeNode) -> None:
    node = await make_node("127.0.6.30")

    async def hello(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello from epm")
        await writer.drain()

    node.set_handler("epm", hello)
    reader, writer = await asyncio.open_connection(node.address, node.ports.epm)
    assert await asyncio.wait_for(reader.read(), 2.0) == b"hello from epm"
    writer.close()
    with pytest.raises(ValueError, match="unknown port name"):
        node.set_handler("smtp", hello)


async def test_client_context_trusts_only_the_lab_ca(lab_ca: LabCA) -> None:
    context = lab_ca.client_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert len(context.get_ca_certs()) == 1
