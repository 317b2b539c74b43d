"""The lab DNS: authoritative answers for the lab zone, re-pointable mid-drill."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from dnslib import QTYPE, RCODE, DNSRecord

from castui.config.model import DnsServer
from castui.lab.dns import LabDNS
from castui.model.results import Code, Error
from castui.probes.dns import dns_probe
from tests.support.net import free_port

ADDRESS = "127.0.9.53"
ARRAY = "outlook.corp.local"
VIP_A, VIP_B = "127.0.9.50", "127.0.9.60"


@pytest.fixture
async def dns() -> AsyncIterator[LabDNS]:
    server = LabDNS(ADDRESS, free_port(ADDRESS))
    server.set_a(ARRAY, [VIP_A])
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def query(dns: LabDNS, name: str, qtype: str = "A", *, tcp: bool = False) -> DNSRecord:
    """Ask with dnslib's own blocking client, in a thread so the server's loop keeps running."""
    request = DNSRecord.question(name, qtype)
    raw = await asyncio.to_thread(request.send, dns.address, dns.port, tcp=tcp, timeout=2)
    reply = DNSRecord.parse(raw)
    assert reply.header.id == request.header.id
    return reply


def addresses(reply: DNSRecord) -> list[str]:
    return [str(rr.rdata) for rr in reply.rr if rr.rtype == QTYPE.A]


async def test_known_name_answers_its_addresses_with_the_zone_ttl(dns: LabDNS) -> None:
    reply = await query(dns, ARRAY)
    assert reply.header.rcode == RCODE.NOERROR
    assert reply.header.aa == 1
    assert addresses(reply) == [VIP_A]
    assert [rr.ttl for rr in reply.rr] == [300]
    assert addresses(await query(dns, "OUTLOOK.Corp.Local.")) == [VIP_A]


async def test_set_a_repoints_the_name_for_the_next_query(dns: LabDNS) -> None:
    dns.set_a(ARRAY, [VIP_B])
    assert addresses(await query(dns, ARRAY)) == [VIP_B]
    dns.set_a(ARRAY, [VIP_A, VIP_B])
    assert addresses(await query(dns, ARRAY)) == [VIP_A, VIP_B]
    view = dns.records
    view[ARRAY].append("127.0.9.99")
    assert dns.records == {ARRAY: [VIP_A, VIP_B]}


async def test_unknown_name_in_the_zone_is_an_authoritative_nxdomain(dns: LabDNS) -> None:
    reply = await query(dns, "nosuch.corp.local")
    assert reply.header.rcode == RCODE.NXDOMAIN
    assert reply.header.aa == 1
    assert [rr.rtype for rr in reply.auth] == [QTYPE.SOA]
    dns.remove(ARRAY)
    assert (await query(dns, ARRAY)).header.rcode == RCODE.NXDOMAIN


async def test_names_outside_the_zone_are_refused(dns: LabDNS) -> None:
    for name in ("outlook.contoso.com", "corp.local.evil.example", "local"):
        reply = await query(dns, name)
        assert reply.header.rcode == RCODE.REFUSED, name
        assert not reply.rr


async def test_other_types_of_a_known_name_are_noerror_without_data(dns: LabDNS) -> None:
    reply = await query(dns, ARRAY, "AAAA")
    assert reply.header.rcode == RCODE.NOERROR
    assert reply.rr == []
    dns.set_a("mail.site-b.corp.local", [VIP_B])
    parent = await query(dns, "site-b.corp.local")  # exists, only as a parent
    assert (parent.header.rcode, parent.rr) == (RCODE.NOERROR, [])
    dns.set_a(ARRAY, [])
    empty = await query(dns, ARRAY)
    assert (empty.header.rcode, empty.rr) == (RCODE.NOERROR, [])


async def test_garbage_is_dropped_and_the_next_query_answered(dns: LabDNS) -> None:
    def exchange() -> bytes:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(2)
            sock.connect((dns.address, dns.port))
            for junk in (b"", b"\x00", b"\xff" * 11, b"garbage that is not dns at all" * 10,
                         DNSRecord.question(ARRAY).reply().pack()):  # a response, not a query
                sock.send(junk)
            request = DNSRecord.question(ARRAY)
            sock.send(request.pack())
            raw = sock.recv(4096)  # the first thing back must be the answer
            assert DNSRecord.parse(raw).header.id == request.header.id
            return raw

    assert addresses(DNSRecord.parse(await asyncio.to_thread(exchange))) == [VIP_A]


async def test_tcp_carries_what_udp_must_truncate(dns: LabDNS) -> None:
    many = [f"127.0.9.{host}" for host in range(100, 140)]
    dns.set_a(ARRAY, many)
    over_udp = await query(dns, ARRAY)
    assert over_udp.header.tc == 1
    over_tcp = await query(dns, ARRAY, tcp=True)
    assert (over_tcp.header.tc, addresses(over_tcp)) == (0, many)


async def test_castui_probe_reads_the_lab_dns(dns: LabDNS) -> None:
    server = DnsServer(dns.address, dns.port)
    result = await dns_probe(server, ARRAY, 2, expect=VIP_A)
    assert (result.ok, result.code) == (True, Code.DNSOK), result.detail
    assert result.facts["addresses"] == [VIP_A]
    assert result.facts["ttl"] == 300

    dns.set_a(ARRAY, [VIP_B])  # site failover: the array name moves to the other VIP
    moved = await dns_probe(server, ARRAY, 2, expect=VIP_A)
    assert (moved.ok, moved.error) == (False, Error.MISMATCH)
    assert moved.facts["addresses"] == [VIP_B]

    missing = await dns_probe(server, "nosuch.corp.local", 2)
    assert (missing.ok, missing.code) == (False, Code.DNSNX)
    outside = await dns_probe(server, "outlook.contoso.com", 2)
    assert (outside.ok, outside.code) == (False, Code.DNSFAIL)


async def test_stop_frees_the_port_for_a_new_server(dns: LabDNS) -> None:
    await dns.stop()
    again = LabDNS(dns.address, dns.port)
    again.set_a(ARRAY, [VIP_B])
    await again.start()
    try:
        assert addresses(await query(again, ARRAY)) == [VIP_B]
        assert addresses(await query(again, ARRAY, tcp=True)) == [VIP_B]
    finally:
        await again.stop()
    await again.stop()  # idempotent


async def test_port_zero_takes_one_free_port_for_udp_and_tcp() -> None:
    server = LabDNS(ADDRESS, 0, zone="site-b.example")
    server.set_a("mail.site-b.example", [VIP_B])
    await server.start()
    try:
        assert server.port != 0
        assert addresses(await query(server, "mail.site-b.example", tcp=True)) == [VIP_B]
        assert (await query(server, ARRAY)).header.rcode == RCODE.REFUSED
    finally:
        await server.stop()


def test_bad_input_is_refused_with_a_clear_error() -> None:
    with pytest.raises(ValueError, match="loopback"):
        LabDNS("192.0.2.1", 5353)
    server = LabDNS(ADDRESS, 5353)
    with pytest.raises(ValueError, match="outside the lab zone"):
        server.set_a("outlook.contoso.com", [VIP_A])
    with pytest.raises(ValueError, match="not an IPv4 address"):
        server.set_a(ARRAY, ["outlook"])
    with pytest.raises(ValueError, match="not a DNS name"):
        server.set_a("bad..corp.local", [VIP_A])
    assert server.records == {}


async def test_castui_probe_reads_an_answer_too_large_for_udp(dns: LabDNS) -> None:
    """The truncated UDP reply keeps its question, so c-ares asks again over TCP instead of
    calling the reply garbled."""
    many = [f"127.0.9.{host}" for host in range(100, 140)]
    dns.set_a(ARRAY, many)
    result = await dns_probe(DnsServer(dns.address, dns.port), ARRAY, 2)
    assert (result.ok, result.code) == (True, Code.DNSOK), result.detail
    assert "+36 more" in result.detail
