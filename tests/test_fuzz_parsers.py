"""Every parser of network data, fed random and boundary input: it returns a result or its own
clean error, never raises anything else (issue 12: a 5,000-digit HAProxy count stopped the
monitor).

Each test draws a fixed number of examples from a fixed seed (tests/support/fuzz.py), so a
failure reproduces as is and CI time stays small. Parsers that read from a socket are fuzzed
through one: small hostile servers on loopback answer castui's real probes.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import unicodedata
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any, cast

import dnslib
import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from castui.balancers.haproxy import parse_stat_csv
from castui.config.model import DnsServer
from castui.model.balancer import ServerView
from castui.model.errors import LbError
from castui.model.results import ProbeResult
from castui.probes import HTTP_CHECKS, dns_probe, http_probe, make_http_client
from castui.probes.agent import _Malformed, _parse, _summary
from castui.probes.dcerpc import (
    EPM_SYNTAX,
    NDR_SYNTAX,
    ContextResult,
    PresentationContext,
    RpcError,
    decode_bind,
    decode_bind_ack,
    decode_bind_nak,
    decode_ept_map_request,
    decode_ept_map_response,
    decode_fault,
    decode_request,
    decode_response,
    decode_tower,
    encode_bind,
    encode_bind_ack,
    encode_bind_nak,
    encode_ept_map_request,
    encode_ept_map_response,
    encode_fault,
    encode_request,
    encode_response,
    encode_tcp_tower,
    parse_header,
    read_pdu,
)
from castui.probes.epm import EMSMDB, NSPI, epm_probe
from castui.probes.tls import read_certificate
from tests.support.fuzz import BOUNDARY_TEXT, Fuzzer

ADDRESS = "127.0.59.1"
#: Short: a mutated reply that the peer's library drops makes the probe wait this long.
TIMEOUT = 0.3
#: The longest detail a probe may give (castui.model.text.DEFAULT_LIMIT).
DETAIL_LIMIT = 200


def assert_clean(text: str, limit: int) -> None:
    """One line of at most `limit` characters, with nothing that moves the cursor, changes
    colours or reverses text (control, format and bidi characters)."""
    assert len(text) <= limit, len(text)
    assert not any(unicodedata.category(c) in ("Cc", "Cf") for c in text), ascii(text)


def assert_result(result: object) -> ProbeResult:
    assert isinstance(result, ProbeResult)
    assert_clean(result.detail, DETAIL_LIMIT)
    return result


# -- HAProxy stats CSV (stats page and runtime API alike) -----------------------------------

CSV_HEADER = "# pxname,svname,scur,status,lastchg,downtime,type,check_status,\n"
CSV_ROW = ["https", "CAS1", "4", "UP 2/3", "17", "0", "2", "* L4OK", ""]


def _csv_example(fuzz: Fuzzer) -> str:
    if fuzz.chance(0.3):  # bytes mangled on the way, decoded as the adapter does
        sample = (CSV_HEADER + ",".join(CSV_ROW) + "\n").encode()
        return fuzz.mutate(sample).decode("utf-8", errors="replace")
    rows = []
    for _ in range(fuzz.rng.randint(0, 3)):
        row = [fuzz.text() if fuzz.chance(0.3) else field for field in CSV_ROW]
        if fuzz.chance(0.2):
            row = row[:fuzz.rng.randint(0, len(row))]
        quoted = [f'"{f}"' if fuzz.chance(0.1) else f for f in row]
        rows.append(",".join(quoted))
    header = CSV_HEADER if fuzz.chance(0.9) else "# " + fuzz.text() + "\n"
    return header + "\n".join(rows) + "\n"


def test_haproxy_stats_csv_is_servers_or_an_lb_error() -> None:
    fuzz = Fuzzer(12_01)
    parsed = failed = 0
    for _ in range(600):
        text = _csv_example(fuzz)
        try:
            views = parse_stat_csv(text)
        except LbError as err:
            assert_clean(str(err), 300)
            failed += 1
            continue
        parsed += 1
        for view in views:
            assert isinstance(view, ServerView)
            for name, limit in (("backend", 100), ("server", 100), ("status", 60)):
                assert_clean(getattr(view, name), limit)
            for count in (view.current_sessions, view.last_change_s, view.downtime_s):
                assert count is None or 0 <= count < 10**20
    assert parsed > 100 and failed > 100  # both paths were exercised


# -- agent status JSON -----------------------------------------------------------------------

AGENT_DOC: dict[str, Any] = {
    "agent": "castui", "version": "0.1.0", "host": "CAS1",
    "connections": {"443": {"established": 3, "remotes": 2, "listening": True},
                    "135": {"established": 0, "remotes": 0, "listening": True}},
    "services": {"W3SVC": {"status": "running", "start_type": "automatic",
                           "display_name": "World Wide Web Publishing Service"}},
    "processes": {"w3wp": {"running": True, "pids": 2}},
    "cpu_percent": 12.5, "memory_percent": 40, "errors": {},
    "components": {"ServerWideOffline": {"state": "Inactive", "requesters": {
        "Maintenance": {"state": "Inactive", "since": "2026-12-04T17:00:00Z"}}}},
}


def _poke(fuzz: Fuzzer, doc: Any) -> None:
    """Replace or add one member somewhere in `doc` (a dict), at a random depth."""
    while True:
        key = fuzz.rng.choice([*doc, fuzz.rng.choice(BOUNDARY_TEXT)[:60]])
        inner = doc.get(key)
        if isinstance(inner, dict) and inner and fuzz.chance(0.6):
            doc = inner
            continue
        doc[key] = fuzz.json_value()
        return


def _agent_example(fuzz: Fuzzer) -> bytes:
    pick = fuzz.rng.random()
    if pick < 0.1:
        return fuzz.rng.choice((b"[" * 100_000, b"{}", b"null", b'{"agent": "castui"}',
                                b'{"agent":"castui","connections":{"' + b"9" * 5000 + b'":{}}}',
                                b'{"agent":"castui","cpu_percent":1' + b"0" * 5000 + b"}"))
    doc = copy.deepcopy(AGENT_DOC)
    for _ in range(fuzz.rng.randint(1, 3)):
        _poke(fuzz, doc)
    body = json.dumps(doc).encode()
    return fuzz.mutate(body) if pick > 0.8 else body


def test_agent_status_is_facts_or_malformed() -> None:
    fuzz = Fuzzer(12_02)
    parsed = malformed = 0
    for _ in range(800):
        body = _agent_example(fuzz)
        try:
            facts = _parse(body)
        except _Malformed as err:
            assert_clean(str(err), DETAIL_LIMIT)
            malformed += 1
            continue
        parsed += 1
        texts = [facts["host"], *facts["errors"], *facts["errors"].values(),
                 *facts["services"], *facts["processes"]]
        texts += [v for s in facts["services"].values() for v in s.values() if v]
        for name, component in (facts["components"] or {}).items():
            texts += [name, *component["requesters"]]
        for text in texts:
            assert_clean(text, DETAIL_LIMIT)
        if facts["connections"] is not None:
            assert_clean(_summary(facts), 1000)
    assert parsed > 100 and malformed > 100


# -- DNS replies, through c-ares and the probe -----------------------------------------------

class _Replier(asyncio.DatagramProtocol):
    def __init__(self, reply: Callable[[bytes], bytes | None]) -> None:
        self.reply = reply
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        out = self.reply(data)
        if out is not None and self.transport is not None:
            self.transport.sendto(out, addr)


@contextlib.asynccontextmanager
async def udp_server(reply: Callable[[bytes], bytes | None]) -> AsyncIterator[DnsServer]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: _Replier(reply),
                                                       local_addr=(ADDRESS, 0))
    try:
        yield DnsServer(ADDRESS, int(transport.get_extra_info("sockname")[1]))
    finally:
        transport.close()


async def test_dns_replies_mangled_every_way_are_results() -> None:
    fuzz = Fuzzer(12_03)

    def reply(query: bytes) -> bytes | None:
        try:
            answer = dnslib.DNSRecord.parse(query).reply()
        except dnslib.DNSError:
            return None
        for index in range(fuzz.rng.choice((0, 1, 3, 20))):
            answer.add_answer(dnslib.RR(answer.q.qname, dnslib.QTYPE.A,
                                        rdata=dnslib.A(f"10.0.{index // 250}.{index % 250}"),
                                        ttl=fuzz.rng.choice((0, 60, 2**31 - 1))))
        packed = bytes(answer.pack())
        # The ID and flags stay (else c-ares drops the reply and only the timeout is tested).
        return packed if fuzz.chance(0.1) else fuzz.mutate(packed, keep=4)

    codes = set()
    async with udp_server(reply) as server:
        for _ in range(30):
            result = assert_result(await dns_probe(server, "mail.lab.test", TIMEOUT,
                                                   expect="10.0.0.1"))
            codes.add(result.code)
            assert len(result.facts["addresses"]) <= 20
    assert len(codes) > 1


# -- DCE/RPC: each decoder, then the endpoint mapper probe against a mangling peer ------------

_CONTEXT = PresentationContext(0, EPM_SYNTAX, (NDR_SYNTAX,))
_TOWER = encode_tcp_tower(EMSMDB.syntax, 6001, ADDRESS)
_SAMPLES: dict[str, bytes] = {
    "bind": encode_bind(1, [_CONTEXT]),
    "bind_ack": encode_bind_ack(1, [ContextResult(0, 0, NDR_SYNTAX),
                                    ContextResult(2, 1, EPM_SYNTAX)],
                                secondary_address=b"135", max_xmit=4280, max_recv=4280,
                                assoc_group=7),
    "bind_nak": encode_bind_nak(1, 4),
    "request": encode_request(2, 0, 3, encode_ept_map_request(_TOWER, 4)),
    "response": encode_response(2, 0, encode_ept_map_response([_TOWER, _TOWER], 4, 0)),
    "fault": encode_fault(2, 0, 0x1C010003),
    "tower": _TOWER,
    "ept_map_request": encode_ept_map_request(_TOWER, 4),
    "ept_map_response": encode_ept_map_response([_TOWER], 4, 0),
}
_DECODERS: dict[str, Callable[[bytes], object]] = {
    "bind": decode_bind, "bind_ack": decode_bind_ack, "bind_nak": decode_bind_nak,
    "request": decode_request, "response": decode_response, "fault": decode_fault,
    "tower": decode_tower, "ept_map_request": decode_ept_map_request,
    "ept_map_response": lambda stub: decode_ept_map_response(stub, 4),
}


@pytest.mark.parametrize("kind", sorted(_DECODERS))
def test_dcerpc_decoders_return_or_raise_rpc_error(kind: str) -> None:
    fuzz = Fuzzer(12_04 + sorted(_DECODERS).index(kind))
    decode, sample = _DECODERS[kind], _SAMPLES[kind]
    decoded = rejected = 0
    for _ in range(400):
        data = fuzz.data(200) if fuzz.chance(0.1) else fuzz.mutate(sample)
        for call in (decode, parse_header):
            try:
                call(data)
            except RpcError as err:
                assert_clean(str(err), DETAIL_LIMIT)
                rejected += 1
            else:
                decoded += 1
    assert decoded > 20 and rejected > 50


async def test_endpoint_mapper_probe_against_mangled_replies_gives_results() -> None:
    fuzz = Fuzzer(12_05)

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answers the bind and each ept_map with a mangled (sometimes intact) reply."""
        with contextlib.suppress(RpcError, ConnectionError, TimeoutError):
            header, _ = await asyncio.wait_for(read_pdu(reader), 2.0)
            ack = encode_bind_ack(header.call_id, [ContextResult(0, 0, NDR_SYNTAX)],
                                  secondary_address=b"135", max_xmit=4280, max_recv=4280,
                                  assoc_group=7)
            writer.write(ack if fuzz.chance(0.5) else fuzz.mutate(ack))
            for _ in range(2):
                header, _ = await asyncio.wait_for(read_pdu(reader), 2.0)
                towers = [encode_tcp_tower(EMSMDB.syntax, 1, ADDRESS),
                          encode_tcp_tower(NSPI.syntax, 1, ADDRESS)]
                reply = encode_response(header.call_id, 0,
                                        encode_ept_map_response(towers, 4, 0))
                writer.write(reply if fuzz.chance(0.3) else fuzz.mutate(reply))
            await asyncio.wait_for(reader.read(), 2.0)
        writer.close()

    server = await asyncio.start_server(peer, ADDRESS, 0)
    port = int(server.sockets[0].getsockname()[1])
    codes = set()
    async with server:
        for _ in range(30):
            result = assert_result(await epm_probe(ADDRESS, port, TIMEOUT))
            codes.add(result.code)
    assert len(codes) > 2


# -- HTTP answers, through httpx and the probe ----------------------------------------------

HTTP_SAMPLE = (b"HTTP/1.1 401 Unauthorized\r\nServer: Microsoft-IIS/7.5\r\n"
               b"X-FEServer: CAS1\r\nX-DiagInfo: CAS1\r\nWWW-Authenticate: Negotiate\r\n"
               b"WWW-Authenticate: NTLM\r\nContent-Length: 11\r\n\r\n200 OK body")


def _http_example(fuzz: Fuzzer) -> bytes:
    if fuzz.chance(0.3):
        name = fuzz.rng.choice((b"X-FEServer", b"Content-Length", b"WWW-Authenticate",
                                b"Transfer-Encoding", b"Server"))
        value = fuzz.text().encode("utf-8", "replace")[:90_000]
        status = fuzz.rng.choice((b"200 OK", b"401 x", b"999999999999 Big", b"-1 No", b""))
        return (b"HTTP/1.1 " + status + b"\r\n" + name + b": " + value
                + b"\r\nContent-Length: 6\r\n\r\n200 OK")
    return fuzz.mutate(HTTP_SAMPLE)


async def test_http_answers_mangled_every_way_are_results() -> None:
    fuzz = Fuzzer(12_06)

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, TimeoutError, asyncio.IncompleteReadError,
                                 asyncio.LimitOverrunError):
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2.0)
            writer.write(_http_example(fuzz))
            await writer.drain()
        writer.close()

    checks = HTTP_CHECKS["exchange2010"] + HTTP_CHECKS["exchange2013"]
    server = await asyncio.start_server(peer, ADDRESS, 0)
    port = int(server.sockets[0].getsockname()[1])
    client = make_http_client(tls_verify=False, max_connections=4)
    codes = set()
    try:
        async with server:
            for index in range(40):
                result = assert_result(await http_probe(
                    client, scheme="http", address=ADDRESS, port=port,
                    expect=checks[index % len(checks)], host="mail.lab.test", timeout=TIMEOUT))
                codes.add(result.code)
                for value in result.facts["headers"].values():
                    for text in value if isinstance(value, list) else [value]:
                        assert_clean(text, DETAIL_LIMIT)
    finally:
        await client.aclose()
    assert len(codes) > 2


# -- the TLS certificate reader ---------------------------------------------------------------

def test_certificates_mangled_every_way_are_results() -> None:
    fuzz = Fuzzer(12_07)
    issued = trustme.CA().issue_cert("cas1.corp.local", "mail.corp.local", "10.1.0.50")
    der = x509.load_pem_x509_certificate(issued.cert_chain_pems[0].bytes()).public_bytes(
        serialization.Encoding.DER)
    now = datetime.now(UTC)
    codes = set()
    for _ in range(400):
        data = fuzz.data(300) if fuzz.chance(0.05) else fuzz.mutate(der)
        result = assert_result(read_certificate(data, ["mail.corp.local"], 30, now, 1.0, 0.0))
        codes.add(result.code)
        for name in result.facts.get("names", []):
            assert_clean(name, 255)
    assert len(codes) > 1

