"""dns_probe against a real dnsmasq and against hostile little UDP servers, all on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import cast

import dnslib
import psutil
import pytest

from castui.config.model import DnsServer
from castui.probes import Code, Error, dns_probe
from tests.support.dnsmasq import Dnsmasq
from tests.support.net import free_port, wait_for

DNSMASQ_ADDRESS = "127.0.9.1"
RAW_ADDRESS = "127.0.9.2"
ARRAY = "mail.lab.test"
VIP = "10.1.0.50"
OTHER_VIP = "10.2.0.50"
TIMEOUT = 1.0
SLACK = 0.5


@pytest.fixture
def dnsmasq(tmp_path: Path) -> Iterator[Dnsmasq]:
    records = {ARRAY: [VIP], "multi.lab.test": ["10.1.0.52", "10.1.0.9", "10.1.0.51"],
               "v6only.lab.test": ["::1"]}
    with Dnsmasq(DNSMASQ_ADDRESS, free_port(DNSMASQ_ADDRESS), records, ttl=120,
                 tmpdir=tmp_path) as server:
        yield server


def server_of(dnsmasq: Dnsmasq) -> DnsServer:
    return DnsServer(dnsmasq.address, dnsmasq.port)


Reply = Callable[[bytes], bytes | None]


class _UdpReplier(asyncio.DatagramProtocol):
    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.queries = 0
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self.queries += 1
        out = self.reply(data)
        if out is not None and self.transport is not None:
            self.transport.sendto(out, addr)


@contextlib.asynccontextmanager
async def udp_server(reply: Reply) -> AsyncIterator[tuple[DnsServer, _UdpReplier]]:
    """A UDP "DNS server" on loopback that answers each datagram with `reply(query)`."""
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: _UdpReplier(reply), local_addr=(RAW_ADDRESS, 0))
    try:
        port = int(transport.get_extra_info("sockname")[1])
        yield DnsServer(RAW_ADDRESS, port), protocol
    finally:
        transport.close()


def _reply_with(rcode: int) -> Reply:
    def reply(data: bytes) -> bytes:
        answer = dnslib.DNSRecord.parse(data).reply()
        answer.header.rcode = rcode
        return bytes(answer.pack())
    return reply


# -- a real dnsmasq ---------------------------------------------------------------------


@pytest.mark.integration
async def test_a_records_and_ttl(dnsmasq: Dnsmasq) -> None:
    before = time.time()
    result = await dns_probe(server_of(dnsmasq), ARRAY, TIMEOUT)
    assert result.ok, result.detail
    assert (result.code, result.error) == (Code.DNSOK, None)
    assert result.facts == {"server": f"{DNSMASQ_ADDRESS}:{dnsmasq.port}",
                            "addresses": [VIP], "address_count": 1, "ttl": 120}
    assert result.latency_ms is not None and result.latency_ms > 0
    assert before <= result.started_at <= time.time()


@pytest.mark.integration
async def test_addresses_are_sorted_numerically(dnsmasq: Dnsmasq) -> None:
    result = await dns_probe(server_of(dnsmasq), "multi.lab.test", TIMEOUT, expect="10.1.0.51")
    assert result.ok
    assert result.facts["addresses"] == ["10.1.0.9", "10.1.0.51", "10.1.0.52"]


@pytest.mark.integration
async def test_expected_vip_present(dnsmasq: Dnsmasq) -> None:
    result = await dns_probe(server_of(dnsmasq), ARRAY, TIMEOUT, expect=VIP)
    assert (result.ok, result.code) == (True, Code.DNSOK)


@pytest.mark.integration
async def test_expected_vip_absent_after_repoint(dnsmasq: Dnsmasq) -> None:
    dnsmasq.set_records({ARRAY: [OTHER_VIP]})
    result = await dns_probe(server_of(dnsmasq), ARRAY, TIMEOUT, expect=VIP)
    assert not result.ok
    assert (result.code, result.error) == (Code.DNSOK, Error.MISMATCH)
    assert result.detail == f"answer {OTHER_VIP}, not the VIP {VIP}"
    assert result.facts["addresses"] == [OTHER_VIP]


@pytest.mark.integration
async def test_nxdomain(dnsmasq: Dnsmasq) -> None:
    result = await dns_probe(server_of(dnsmasq), "gone.lab.test", TIMEOUT, expect=VIP)
    assert (result.ok, result.code, result.error) == (False, Code.DNSNX, Error.NXDOMAIN)
    assert result.facts["addresses"] == [] and result.facts["ttl"] is None


@pytest.mark.integration
async def test_name_without_a_records_is_noanswer(dnsmasq: Dnsmasq) -> None:
    result = await dns_probe(server_of(dnsmasq), "v6only.lab.test", TIMEOUT)
    assert (result.ok, result.code, result.error) == (False, Code.DNSFAIL, Error.NOANSWER)


@pytest.mark.integration
async def test_refused_is_a_dns_failure(dnsmasq: Dnsmasq) -> None:
    result = await dns_probe(server_of(dnsmasq), "www.example.com", TIMEOUT)  # not forwarded
    assert (result.ok, result.code, result.error) == (False, Code.DNSFAIL, Error.SERVFAIL)
    assert result.detail == "REFUSED"


@pytest.mark.integration
async def test_many_probes_leave_no_resolver_behind(dnsmasq: Dnsmasq) -> None:
    me = psutil.Process()
    fds, threads = me.num_fds(), me.num_threads()
    results = await asyncio.gather(*(dns_probe(server_of(dnsmasq), ARRAY, TIMEOUT)
                                     for _ in range(50)))
    assert all(r.ok for r in results)
    # c-ares destroys channels (sockets, event threads) on its own thread, shortly after.
    await wait_for(lambda: me.num_fds() <= fds and me.num_threads() <= threads + 1, 3.0,
                   what=f"fds back to {fds} and threads to {threads} (+1 reaper)")


# -- nothing there, and hostile servers -------------------------------------------------


async def test_nothing_listening_is_a_timeout_result() -> None:
    port = free_port(RAW_ADDRESS)
    start = time.monotonic()
    result = await dns_probe(DnsServer(RAW_ADDRESS, port), ARRAY, TIMEOUT)
    assert (result.ok, result.code, result.error) == (False, Code.DNSTOUT, Error.TIMEOUT)
    assert time.monotonic() - start < TIMEOUT + SLACK


async def test_silent_server_times_out_within_the_timeout() -> None:
    async with udp_server(lambda _: None) as (server, replier):
        start = time.monotonic()
        # "localhost" is in /etc/hosts: an answer here would mean the probe looked there.
        result = await dns_probe(server, "localhost", TIMEOUT)
        elapsed = time.monotonic() - start
        assert (result.ok, result.code, result.error) == (False, Code.DNSTOUT, Error.TIMEOUT)
        assert elapsed < TIMEOUT + SLACK
        assert 1 <= replier.queries <= 2


async def test_garbage_reply_is_a_protocol_failure() -> None:
    async with udp_server(lambda query: query[:2] + b"\x81\x80\xff\xff garbage") as (server, _):
        start = time.monotonic()
        result = await dns_probe(server, ARRAY, TIMEOUT)
        assert (result.ok, result.code, result.error) == (False, Code.DNSFAIL, Error.PROTOCOL)
        assert time.monotonic() - start < TIMEOUT


async def test_servfail_is_a_dns_failure() -> None:
    async with udp_server(_reply_with(dnslib.RCODE.SERVFAIL)) as (server, _):
        result = await dns_probe(server, ARRAY, TIMEOUT, expect=VIP)
        assert (result.ok, result.code, result.error) == (False, Code.DNSFAIL, Error.SERVFAIL)
        assert result.detail == "SERVFAIL"


async def test_cname_chain_ttl_is_the_earliest_expiry() -> None:
    """Clients cache the CNAME and the A record: the answer may change when either expires."""
    def reply(data: bytes) -> bytes:
        query = dnslib.DNSRecord.parse(data)
        answer = query.reply()
        answer.add_answer(dnslib.RR(str(query.q.qname), dnslib.QTYPE.CNAME, ttl=30,
                                    rdata=dnslib.CNAME("vip.lab.test")))
        answer.add_answer(dnslib.RR("vip.lab.test", dnslib.QTYPE.A, ttl=600,
                                    rdata=dnslib.A(VIP)))
        return bytes(answer.pack())

    async with udp_server(reply) as (server, _):
        result = await dns_probe(server, ARRAY, TIMEOUT, expect=VIP)
        assert result.ok, result.detail
        assert result.facts["addresses"] == [VIP]
        assert result.facts["ttl"] == 30  # the CNAME expires first


async def test_bad_server_address_is_a_result() -> None:
    result = await dns_probe(DnsServer("dns.lab.invalid", 5353), ARRAY, TIMEOUT)
    assert (result.ok, result.code) == (False, Code.DNSFAIL)
    assert "bad DNS server" in result.detail
