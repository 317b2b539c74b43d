"""epm_probe against the lab's endpoint mapper, scripted hostile peers, and Samba's real one."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Literal

import pytest

from castui.config.model import Ports
from castui.lab.certs import LabCA
from castui.lab.epm import EpmResponder, for_node
from castui.lab.node import LabNode
from castui.model.results import Code, Error
from castui.probes.dcerpc import (
    EPM_SYNTAX,
    EPT_S_NOT_REGISTERED,
    NCA_S_UNK_IF,
    NDR_SYNTAX,
    PFC_FIRST_FRAG,
    REASON_ABSTRACT_SYNTAX,
    RESULT_ACCEPTANCE,
    RESULT_PROVIDER_REJECTION,
    ContextResult,
    Header,
    PduType,
    PresentationContext,
    decode_bind_ack,
    decode_bind_nak,
    encode_bind,
    encode_bind_ack,
    encode_bind_nak,
    encode_ept_map_response,
    encode_fault,
    encode_response,
    encode_tcp_tower,
    read_pdu,
)
from castui.probes.epm import EMSMDB, LSARPC, NSPI, epm_probe, pinned_ports
from tests.support.net import free_port
from tests.support.samba import SambaEpm

NODE_ADDRESS = "127.0.58.1"
PEER_ADDRESS = "127.0.58.2"
CLOSED_ADDRESS = "127.0.58.3"
SAMBA_ADDRESS = "127.0.58.135"
TIMEOUT = 0.5
SLACK = 0.5
HOLD = 10.0  # how long a silent peer waits for the probe to leave (it never should take this)

# -- building blocks ---------------------------------------------------------------------------


def header(ptype: int, frag_length: int, call_id: int = 1, flags: int = 3) -> bytes:
    return struct.pack("<BBBB4sHHI", 5, 0, ptype, flags, b"\x10\0\0\0", frag_length, 0,
                       call_id)


def bind_ack(result: int = RESULT_ACCEPTANCE, reason: int = 0) -> bytes:
    transfer = NDR_SYNTAX if result == RESULT_ACCEPTANCE else EPM_SYNTAX
    return encode_bind_ack(1, [ContextResult(result, reason, transfer)],
                           secondary_address=b"135", max_xmit=4280, max_recv=4280,
                           assoc_group=0x1234)


def ept_map_reply(call_id: int, port: int | None, status: int = 0, flags: int = 3) -> bytes:
    towers = [] if port is None else [encode_tcp_tower(EMSMDB.syntax, port, PEER_ADDRESS)]
    pdu = bytearray(encode_response(call_id, 0, encode_ept_map_response(towers, 4, status)))
    pdu[3] = flags
    return bytes(pdu)


Step = bytes | None  # bytes: answer the next PDU with these; None: read it and say nothing


Ending = Literal["hold", "close", "reset"]


class ScriptedPeer:
    """A TCP server that answers each PDU it reads with the next step of a script, then
    holds the connection open in silence until the client leaves, closes it, or resets it."""

    def __init__(self, steps: Sequence[Step], ending: Ending = "hold") -> None:
        self.steps = list(steps)
        self.ending = ending
        self.tasks: set[asyncio.Task[None]] = set()

    async def __call__(self, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        try:
            for step in self.steps:
                await asyncio.wait_for(read_pdu(reader), HOLD)
                if step is not None:
                    writer.write(step)
                    await writer.drain()
            if self.ending == "hold":
                await asyncio.wait_for(reader.read(), HOLD)  # until the probe closes
            elif self.ending == "reset":  # SO_LINGER 0: close() sends a RST, not a FIN
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
        except (ConnectionError, TimeoutError):
            pass
        finally:
            writer.close()
            self.tasks.discard(task)


@pytest.fixture
async def scripted() -> AsyncIterator[Callable[..., Awaitable[int]]]:
    """Start scripted peers on PEER_ADDRESS; each call returns the port of a new one."""
    servers: list[tuple[asyncio.Server, ScriptedPeer]] = []

    async def start(steps: Sequence[Step], ending: Ending = "hold") -> int:
        peer = ScriptedPeer(steps, ending)
        server = await asyncio.start_server(peer, PEER_ADDRESS, 0)
        servers.append((server, peer))
        return int(server.sockets[0].getsockname()[1])

    yield start
    for server, peer in servers:
        server.close()
        for task in list(peer.tasks):
            task.cancel()
        await server.wait_closed()


@pytest.fixture
async def node(lab_ca: LabCA) -> AsyncIterator[LabNode]:
    lab = LabNode("CAS01", NODE_ADDRESS, Ports(epm=0, https=0, http=0, mapi=0, ab=0),
                  ssl_context=lab_ca.issue("cas01.corp.local"))
    lab.set_handler("epm", for_node(lab))
    async with lab:
        yield lab


@contextlib.asynccontextmanager
async def responder_server(responder: EpmResponder,
                           address: str = NODE_ADDRESS) -> AsyncIterator[int]:
    server = await asyncio.start_server(responder, address, 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


# -- against the lab responder -----------------------------------------------------------------


async def test_lab_node_binds_and_maps_to_its_mapi_and_ab_ports(node: LabNode) -> None:
    before = time.time()
    result = await epm_probe(node.address, node.ports.epm, TIMEOUT)
    assert (result.ok, result.code, result.error) == (True, Code.EPMOK, None)
    mapi, ab = node.ports.mapi, node.ports.ab
    assert result.detail == f"bind accepted; MSExchangeRPC -> {mapi}, MSExchangeAB -> {ab}"
    assert result.facts["bind"] == "accepted"
    assert result.facts["secondary_address"] == "135"
    assert result.facts["mapped"] == {"MSExchangeRPC": mapi, "MSExchangeAB": ab}
    assert result.facts["mapped_tcp"] == {"MSExchangeRPC": "L4OK", "MSExchangeAB": "L4OK"}
    assert result.facts["not_registered"] == []
    assert result.latency_ms is not None and 0 < result.latency_ms < TIMEOUT * 1000
    assert before <= result.started_at <= time.time()


async def test_pinned_ports_that_match_pass(node: LabNode) -> None:
    result = await epm_probe(node.address, node.ports.epm, TIMEOUT,
                             pinned=pinned_ports(node.ports))
    assert result.code == Code.EPMOK


async def test_a_mapped_port_off_its_pin_is_flagged(node: LabNode) -> None:
    mapi = node.ports.mapi
    assert mapi is not None
    pinned = {"EMSMDB": mapi + 1, "NSPI": node.ports.ab or 0}
    result = await epm_probe(node.address, node.ports.epm, TIMEOUT, pinned=pinned)
    assert (result.ok, result.code, result.error) == (False, Code.EPMRSP, Error.MISMATCH)
    assert result.detail == (f"MSExchangeRPC maps to {mapi}, pinned {mapi + 1}; "
                             f"MSExchangeAB -> {node.ports.ab}")


async def test_pinned_ports_come_from_a_nodes_mapi_and_ab() -> None:
    assert pinned_ports(Ports(mapi=59531, ab=59532)) == {"EMSMDB": 59531, "NSPI": 59532}
    assert pinned_ports(Ports(ab=6004)) == {"NSPI": 6004}


async def test_emsmdb_not_registered_names_msexchangerpc(node: LabNode) -> None:
    ab = node.ports.ab
    assert ab is not None
    async with responder_server(EpmResponder({"NSPI": ab}, address=NODE_ADDRESS)) as port:
        result = await epm_probe(NODE_ADDRESS, port, TIMEOUT)
    assert (result.ok, result.code, result.error) == (False, Code.EPMNREG, Error.STATUS)
    assert result.detail == ("MSExchangeRPC not registered with the endpoint mapper; "
                             f"MSExchangeAB -> {ab}")
    assert result.facts["not_registered"] == ["MSExchangeRPC"]
    assert result.facts["mapped"] == {"MSExchangeAB": ab}


async def test_nothing_registered_names_both_services() -> None:
    async with responder_server(EpmResponder({})) as port:
        result = await epm_probe(NODE_ADDRESS, port, TIMEOUT)
    assert result.code == Code.EPMNREG
    assert result.detail == ("MSExchangeRPC and MSExchangeAB not registered with the "
                             "endpoint mapper")


async def test_a_mapped_port_that_refuses_fails_the_check() -> None:
    dead = free_port(CLOSED_ADDRESS)
    async with responder_server(EpmResponder({"EMSMDB": dead}), CLOSED_ADDRESS) as port:
        result = await epm_probe(CLOSED_ADDRESS, port, TIMEOUT, interfaces=(EMSMDB,))
    assert (result.ok, result.code, result.error) == (False, Code.L4CON, Error.REFUSED)
    assert result.detail == f"MSExchangeRPC -> {dead}: connection refused"
    assert result.facts["mapped"] == {"MSExchangeRPC": dead}
    assert result.facts["mapped_tcp"] == {"MSExchangeRPC": "L4CON"}


async def test_connection_refused_is_l4con() -> None:
    result = await epm_probe(CLOSED_ADDRESS, free_port(CLOSED_ADDRESS), TIMEOUT)
    assert (result.ok, result.code, result.error) == (False, Code.L4CON, Error.REFUSED)
    assert result.facts["bind"] is None


@pytest.mark.parametrize(("address", "port"), [("cas01.corp.local", 135), (NODE_ADDRESS, 0)])
async def test_a_bad_target_is_a_result_not_an_exception(address: str, port: int) -> None:
    result = await epm_probe(address, port, TIMEOUT)
    assert (result.ok, result.code, result.error) == (False, Code.L4CON, Error.OTHER)


# -- against hostile or broken peers -----------------------------------------------------------

HOSTILE: list[tuple[str, list[Step], Ending, str, str]] = [
    # (id, script, what the peer does after it, code, detail)
    ("garbage", [b"HTTP/1.1 400 Bad Request\r\n\r\n"], "hold", Code.EPMRSP,
     "not a DCE/RPC v5.0 PDU (version bytes 0x48 0x54)"),
    ("closed", [None], "close", Code.EPMRSP, "connection closed without a reply"),
    ("reset", [None], "reset", Code.EPMRSP, "connection reset during the exchange"),
    ("truncated-header", [header(12, 60)[:10]], "close", Code.EPMRSP,
     "connection closed after 10 bytes of a PDU header"),
    ("truncated-pdu", [bind_ack()[:40]], "close", Code.EPMRSP,
     "truncated bind_ack: connection closed after 40 of 60 bytes"),
    ("frag-length-65535", [header(12, 65535)], "hold", Code.EPMRSP,
     "frag_length 65535 exceeds 8192"),
    ("frag-length-too-short", [header(12, 8)], "hold", Code.EPMRSP,
     "frag_length 8 is shorter than the header"),
    ("big-endian", [b"\x05\x00\x0c\x03\x00\x00\x00\x00" + bind_ack()[8:]], "hold", Code.EPMRSP,
     "big-endian data representation not supported"),
    ("bind-nak", [encode_bind_nak(1, 4)], "hold", Code.EPMNAK,
     "bind_nak: protocol version not supported"),
    ("context-rejected", [bind_ack(RESULT_PROVIDER_REJECTION, 1)], "hold", Code.EPMNAK,
     "context rejected: abstract syntax not supported"),
    ("bind-ack-lies", [header(12, 30) + b"\xb8\x10\xb8\x10\0\0\0\0\xff\x00\x31\x33\x35\x00"],
     "hold", Code.EPMRSP, "truncated bind_ack secondary address"),
    ("wrong-call-id", [bind_ack()[:12] + b"\x09\0\0\0" + bind_ack()[16:]], "hold", Code.EPMRSP,
     "bind_ack to the bind has call_id 9, expected 1"),
    ("response-to-bind", [ept_map_reply(1, 6001)], "hold", Code.EPMRSP,
     "response in reply to the bind"),
    ("multi-fragment", [bind_ack(), ept_map_reply(2, 6001, flags=PFC_FIRST_FRAG)], "hold",
     Code.EPMRSP, "multi-fragment response to ept_map MSExchangeRPC not supported (flags 0x01)"),
    ("fault", [bind_ack(), encode_fault(2, 0, NCA_S_UNK_IF)], "hold", Code.EPMRSP,
     "fault in reply to ept_map MSExchangeRPC: unknown interface"),
    ("odd-status", [bind_ack(), ept_map_reply(2, None, status=5)], "hold", Code.EPMRSP,
     "ept_map MSExchangeRPC failed: status 0x00000005"),
    ("ok-without-tower", [bind_ack(), ept_map_reply(2, None)], "hold", Code.EPMRSP,
     "ept_map MSExchangeRPC returned no TCP endpoint"),
    ("too-many-towers",
     [bind_ack(), encode_response(2, 0, bytes(20) + struct.pack("<IIII", 9, 9, 0, 9))], "hold",
     Code.EPMRSP, "inconsistent tower array (num_towers 9, max 9, offset 0, count 9; "
                  "asked for 4)"),
    ("tower-floors-lie",
     [bind_ack(), encode_response(2, 0, bytes(20) + struct.pack("<IIIII", 1, 4, 0, 1, 3)
                                  + struct.pack("<II", 8, 8) + b"\x05\x00\x13\x00\x0d\x01\x02\x03"
                                  + struct.pack("<I", 0))], "hold",
     Code.EPMRSP, "truncated tower floor 1"),
    ("tower-past-the-stub",
     [bind_ack(), encode_response(2, 0, bytes(20) + struct.pack("<IIIII", 1, 4, 0, 1, 3)
                                  + struct.pack("<II", 5000, 5000))], "hold",
     Code.EPMRSP, "truncated tower"),
]


@pytest.mark.parametrize(("script", "ending", "code", "detail"),
                         [case[1:] for case in HOSTILE], ids=[case[0] for case in HOSTILE])
async def test_hostile_peers_fail_with_a_reason_and_promptly(
        scripted: Callable[..., Awaitable[int]], script: list[Step], ending: Ending,
        code: str, detail: str) -> None:
    port = await scripted(script, ending)
    start = time.monotonic()
    result = await epm_probe(PEER_ADDRESS, port, TIMEOUT, interfaces=(EMSMDB,))
    assert time.monotonic() - start < TIMEOUT + SLACK
    assert (result.ok, result.code, result.detail) == (False, code, detail)
    assert result.error is not None


@pytest.mark.parametrize(("script", "detail"), [
    ([None], "no reply to the bind in 0.5 s"),
    ([header(12, 200)], "no reply to the bind in 0.5 s"),  # a header, then silence
    ([bind_ack(), header(2, 1000, call_id=2)], "no reply to ept_map in 0.5 s"),
], ids=["silent", "header-then-silence", "bound-then-silence"])
async def test_silence_after_connecting_is_epmtout_at_the_timeout(
        scripted: Callable[..., Awaitable[int]], script: list[Step], detail: str) -> None:
    port = await scripted(script)
    start = time.monotonic()
    result = await epm_probe(PEER_ADDRESS, port, TIMEOUT)
    elapsed = time.monotonic() - start
    assert (result.ok, result.code, result.error) == (False, Code.EPMTOUT, Error.TIMEOUT)
    assert result.detail == detail
    assert TIMEOUT <= elapsed < TIMEOUT + SLACK


async def test_not_registered_reply_from_a_scripted_peer_is_epmnreg(
        scripted: Callable[..., Awaitable[int]]) -> None:
    port = await scripted([bind_ack(), ept_map_reply(2, None, EPT_S_NOT_REGISTERED),
                           ept_map_reply(3, None, EPT_S_NOT_REGISTERED)])
    result = await epm_probe(PEER_ADDRESS, port, TIMEOUT, interfaces=(EMSMDB, NSPI))
    assert result.code == Code.EPMNREG


# -- against Samba's endpoint mapper -----------------------------------------------------------


@pytest.fixture
def samba(tmp_path: Path) -> Iterator[SambaEpm]:
    with SambaEpm(SAMBA_ADDRESS, tmp_path) as server:
        yield server


@pytest.mark.integration
async def test_samba_binds_maps_lsarpc_and_has_no_emsmdb(samba: SambaEpm) -> None:
    result = await epm_probe(samba.address, samba.port, 2.0, interfaces=(LSARPC, EMSMDB))
    assert result.facts["bind"] == "accepted"
    assert result.facts["secondary_address"] == "135"
    lsarpc = result.facts["mapped"].get("lsarpc")
    assert isinstance(lsarpc, int) and lsarpc >= 1024, result.detail  # a dynamic port
    assert result.facts["mapped_tcp"] == {"lsarpc": "L4OK"}
    assert (result.ok, result.code) == (False, Code.EPMNREG)
    assert result.detail == ("MSExchangeRPC not registered with the endpoint mapper; "
                             f"lsarpc -> {lsarpc}")

    only_lsarpc = await epm_probe(samba.address, samba.port, 2.0, interfaces=(LSARPC,))
    assert (only_lsarpc.ok, only_lsarpc.code) == (True, Code.EPMOK)
    assert only_lsarpc.detail == f"bind accepted; lsarpc -> {lsarpc}"

    exchange = await epm_probe(samba.address, samba.port, 2.0)
    assert exchange.code == Code.EPMNREG
    assert exchange.facts["not_registered"] == ["MSExchangeRPC", "MSExchangeAB"]


@pytest.mark.integration
async def test_samba_rejections_decode_as_the_probe_reports_them(samba: SambaEpm) -> None:
    """Samba, not our own responder, proves the decoders read real rejections."""

    async def first_reply(pdu: bytes) -> tuple[Header, bytes]:
        reader, writer = await asyncio.open_connection(samba.address, samba.port)
        try:
            writer.write(pdu)
            return await asyncio.wait_for(read_pdu(reader), 2.0)
        finally:
            writer.close()

    head, data = await first_reply(encode_bind(1, [PresentationContext(0, EMSMDB.syntax,
                                                                       (NDR_SYNTAX,))]))
    result = decode_bind_ack(data).results[0]
    assert (head.ptype, head.call_id) == (PduType.BIND_ACK, 1)
    assert (result.result, result.reason) == (RESULT_PROVIDER_REJECTION, REASON_ABSTRACT_SYNTAX)

    version_4 = b"\x04" + encode_bind(1, [PresentationContext(0, EPM_SYNTAX, (NDR_SYNTAX,))])[1:]
    head, data = await first_reply(version_4)
    assert (head.ptype, decode_bind_nak(data)) == (PduType.BIND_NAK, 4)
