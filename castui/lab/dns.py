"""The lab's internal DNS: the authoritative server for the lab zone, so `array_fqdn` can be
re-pointed mid-drill (site failover) and castui's DNS check sees it on the next query.

dnslib does the wire format; this module only decides the answer:

- A for a known name: its addresses with the zone TTL (a known name with no addresses, or any
  other type, is NOERROR with no data);
- a name inside the zone that is not known: NXDOMAIN, authoritative;
- a name outside the zone, or a class other than IN: REFUSED (the lab resolves nothing else);
- an unparsable datagram, or a response, is dropped; a UDP reply over 512 bytes is sent
  truncated (TC) so the client retries over TCP, which is served on the same port.

Negative answers carry the zone's SOA, whose serial goes up with every change.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from typing import cast

from dnslib import QTYPE, RCODE, RR, SOA, A, DNSRecord

from castui.lab.netcheck import require_loopback
from castui.model.aio import drop_clients

log = logging.getLogger(__name__)

#: Classic DNS over UDP without EDNS: larger answers go truncated.
UDP_LIMIT = 512
#: DNS over TCP frames a message with a two-byte length.
TCP_LIMIT = 65535
#: A TCP client that stays silent this long is dropped.
TCP_IDLE = 10.0
#: Queries one TCP connection may ask before it is closed.
TCP_MAX_QUERIES = 100

_IN = 1
_OPCODE_QUERY = 0


def normalize(name: str) -> str:
    """Lower-case, no trailing dot; ValueError for something that is not a DNS name."""
    name = name.strip().rstrip(".").lower()
    labels = name.split(".")
    if not name or len(name) > 253 or any(not 0 < len(label) < 64 for label in labels):
        raise ValueError(f"not a DNS name: {name!r}")
    return name


class LabDNS:
    """An authoritative DNS server for one zone, on a loopback address (UDP and TCP)."""

    def __init__(self, address: str, port: int, *, zone: str = "corp.local",
                 ttl: int = 300) -> None:
        require_loopback(address)
        if not 0 <= port < 65536:
            raise ValueError(f"port must be 0-65535, not {port}")
        if not 0 <= ttl < 2**31:
            raise ValueError(f"ttl must be 0-2147483647, not {ttl}")
        self.address = address
        self.port = port
        self.zone = normalize(zone)
        self.ttl = ttl
        self._records: dict[str, list[str]] = {}
        self._serial = 1
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._conns: set[asyncio.StreamWriter] = set()

    # -- the zone ----------------------------------------------------------------------

    @property
    def records(self) -> dict[str, list[str]]:
        """A copy of the zone's names and their addresses (change it with set_a/remove)."""
        return {name: list(addresses) for name, addresses in self._records.items()}

    def set_a(self, name: str, addresses: list[str]) -> None:
        """Point `name` at `addresses` (IPv4) from the next query on. [] = name, no address."""
        key = self._in_zone(name)
        for address in addresses:
            try:
                ipaddress.IPv4Address(address)
            except ValueError:
                raise ValueError(f"not an IPv4 address: {address!r}") from None
        self._records[key] = list(addresses)
        self._serial += 1

    def remove(self, name: str) -> None:
        """Forget `name`: queries for it get NXDOMAIN. Unknown names are ignored."""
        if self._records.pop(self._in_zone(name), None) is not None:
            self._serial += 1

    def _in_zone(self, name: str) -> str:
        key = normalize(name)
        if not self._inside(key):
            raise ValueError(f"{name!r} is outside the lab zone {self.zone}")
        return key

    def _inside(self, name: str) -> bool:
        return name == self.zone or name.endswith("." + self.zone)

    def _exists(self, name: str) -> bool:
        """The apex, a known name, or a name with known names below it."""
        return (name == self.zone or name in self._records
                or any(known.endswith("." + name) for known in self._records))

    # -- answering ---------------------------------------------------------------------

    def respond(self, data: bytes, limit: int | None = None) -> bytes | None:
        """The packed reply to one packed query, or None to drop it (garbage, or not a query).

        `limit` is the largest reply the transport takes (UDP); over it, the reply is
        sent truncated.
        """
        try:
            request = DNSRecord.parse(data)
            if request.header.qr:
                return None
            reply = self._answer(request)
            packed = cast(bytes, reply.pack())
        except Exception as exc:  # dnslib raises more than DNSError on some garbage
            log.debug("lab dns: dropped a query: %s", exc)
            return None
        if limit is not None and len(packed) > limit:
            short = reply.truncate()
            # dnslib's truncate() drops the question too; resolvers (c-ares) then reject the
            # reply as garbled instead of asking again over TCP (RFC 2181 s. 9 keeps it).
            for question in reply.questions:
                short.add_question(question)
            packed = cast(bytes, short.pack())
        return packed

    def _answer(self, request: DNSRecord) -> DNSRecord:
        reply = request.reply(ra=0, aa=1)
        reply.header.tc = 0  # reply() copies the query's flag bits and rcode
        reply.header.rcode = RCODE.NOERROR
        if request.header.opcode != _OPCODE_QUERY:
            return self._fail(reply, RCODE.NOTIMP)
        if len(request.questions) != 1:
            return self._fail(reply, RCODE.FORMERR)
        question = request.q
        try:
            name = normalize(str(question.qname))
        except ValueError:  # the root, for one: not ours
            return self._fail(reply, RCODE.REFUSED)
        if question.qclass != _IN or not self._inside(name):
            return self._fail(reply, RCODE.REFUSED)
        if not self._exists(name):
            reply.header.rcode = RCODE.NXDOMAIN
            reply.add_auth(self._soa())
            return reply
        if question.qtype in (QTYPE.A, QTYPE.ANY):
            for address in self._records.get(name, []):
                reply.add_answer(RR(question.qname, QTYPE.A, rdata=A(address), ttl=self.ttl))
        elif question.qtype == QTYPE.SOA and name == self.zone:
            reply.add_answer(self._soa())
        if not reply.rr:
            reply.add_auth(self._soa())  # NOERROR, no data
        return reply

    @staticmethod
    def _fail(reply: DNSRecord, rcode: int) -> DNSRecord:
        reply.header.aa = 0
        reply.header.rcode = rcode
        return reply

    def _soa(self) -> RR:
        soa = SOA(f"ns.{self.zone}", f"hostmaster.{self.zone}",
                  (self._serial, 3600, 600, 86400, self.ttl))
        return RR(self.zone, QTYPE.SOA, rdata=soa, ttl=self.ttl)

    # -- serving -----------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on UDP and TCP `address:port` (port 0: one free port for both)."""
        if self._udp is not None:
            return
        loop = asyncio.get_running_loop()
        self._udp, _ = await loop.create_datagram_endpoint(
            lambda: _UdpServer(self), local_addr=(self.address, self.port))
        self.port = self._udp.get_extra_info("sockname")[1]
        try:
            self._tcp = await asyncio.start_server(self._accept, self.address, self.port)
        except OSError:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Close both listeners and any TCP client. Idempotent."""
        if self._udp is not None:
            protocol = cast(_UdpServer, self._udp.get_protocol())
            self._udp.close()
            await protocol.closed  # the socket itself closes a loop turn later
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()
            self._tcp = None
        await drop_clients(self._conns, self._tasks)

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._conns.add(writer)
        task = asyncio.create_task(self._serve_tcp(reader, writer), name="lab-dns:tcp")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve_tcp(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        """DNS over TCP: two-byte length, message; several per connection, bounded."""
        try:
            for _ in range(TCP_MAX_QUERIES):
                async with asyncio.timeout(TCP_IDLE):
                    size = int.from_bytes(await reader.readexactly(2), "big")
                    data = await reader.readexactly(size)
                reply = self.respond(data, TCP_LIMIT)
                if reply is None:
                    return
                writer.write(len(reply).to_bytes(2, "big") + reply)
                await writer.drain()
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            self._conns.discard(writer)


class _UdpServer(asyncio.DatagramProtocol):
    """Hands each datagram to the zone; sends the reply back unless it is to be dropped."""

    def __init__(self, dns: LabDNS) -> None:
        self._dns = dns
        self._transport: asyncio.DatagramTransport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        reply = self._dns.respond(data, UDP_LIMIT)
        if reply is not None and self._transport is not None:
            self._transport.sendto(reply, addr)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def error_received(self, exc: Exception) -> None:
        """An ICMP error for an earlier reply (the client left): nothing to do."""
        log.debug("lab dns: %s", exc)
