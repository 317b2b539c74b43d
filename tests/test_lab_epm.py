"""The lab's endpoint mapper answers binds and ept_map like a CAS server's port 135, and
shrugs off garbage: a raw DCE/RPC client on a real lab node's epm port."""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import AsyncIterator
from uuid import UUID

import pytest

from castui.config.model import Ports
from castui.lab.certs import LabCA
from castui.lab.epm import EpmResponder, for_node
from castui.lab.node import LabNode
from castui.probes.dcerpc import (
    EPM_SYNTAX,
    EPT_S_NOT_REGISTERED,
    NCA_S_OP_RNG_ERROR,
    NCA_S_UNK_IF,
    NDR_SYNTAX,
    REASON_ABSTRACT_SYNTAX,
    REASON_TRANSFER_SYNTAXES,
    RESULT_ACCEPTANCE,
    RESULT_PROVIDER_REJECTION,
    SINGLE_FRAG,
    Header,
    PduType,
    PresentationContext,
    SyntaxId,
    Tower,
    decode_bind_ack,
    decode_ept_map_response,
    decode_fault,
    decode_response,
    decode_tower,
    encode_bind,
    encode_ept_map_request,
    encode_request,
    encode_tcp_tower,
    read_pdu,
)
from castui.probes.epm import EMSMDB, LSARPC, NSPI, RpcInterface

NODE_ADDRESS = "127.0.57.1"
PLAIN_ADDRESS = "127.0.57.2"
IO_TIMEOUT = 2.0
NDR64 = SyntaxId(UUID("71710533-beba-4937-8319-b5dbef9ccc36"), 1, 0)


@pytest.fixture
async def node(lab_ca: LabCA) -> AsyncIterator[LabNode]:
    """A lab node on free ports, mapi and ab included, serving the lab endpoint mapper."""
    lab = LabNode("CAS01", NODE_ADDRESS, Ports(epm=0, https=0, http=0, mapi=0, ab=0),
                  ssl_context=lab_ca.issue("cas01.corp.local"))
    lab.set_handler("epm", for_node(lab))
    async with lab:
        yield lab


class Client:
    """A raw DCE/RPC connection: send a PDU, read the one that answers it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, address: str, port: int) -> Client:
        return cls(*await asyncio.wait_for(asyncio.open_connection(address, port), IO_TIMEOUT))

    async def call(self, pdu: bytes) -> tuple[Header, bytes]:
        self.writer.write(pdu)
        await self.writer.drain()
        return await asyncio.wait_for(read_pdu(self.reader), IO_TIMEOUT)

    async def bind(self, abstract: SyntaxId = EPM_SYNTAX,
                   transfers: tuple[SyntaxId, ...] = (NDR_SYNTAX,)) -> tuple[Header, bytes]:
        return await self.call(encode_bind(1, [PresentationContext(0, abstract, transfers)]))

    async def ept_map(self, iface: RpcInterface, call_id: int = 2,
                      opnum: int = 3) -> tuple[Header, bytes]:
        stub = encode_ept_map_request(encode_tcp_tower(iface.syntax), 4)
        return await self.call(encode_request(call_id, 0, opnum, stub))

    async def closed_by_peer(self) -> bool:
        """True once the responder has closed the connection (EOF), within IO_TIMEOUT."""
        data = await asyncio.wait_for(self.reader.read(), IO_TIMEOUT)
        return data == b""

    def close(self) -> None:
        self.writer.close()


@pytest.fixture
async def client(node: LabNode) -> AsyncIterator[Client]:
    conn = await Client.connect(node.address, node.ports.epm)
    yield conn
    conn.close()


async def mapped(client: Client, iface: RpcInterface) -> tuple[list[Tower], int]:
    header, data = await client.ept_map(iface)
    assert header.ptype == PduType.RESPONSE
    towers, status = decode_ept_map_response(decode_response(data), 4)
    return [decode_tower(raw) for raw in towers], status


async def test_bind_to_the_endpoint_mapper_gets_a_proper_bind_ack(client: Client) -> None:
    header, data = await client.bind()
    assert (header.ptype, header.call_id, header.flags) == (PduType.BIND_ACK, 1, SINGLE_FRAG)
    ack = decode_bind_ack(data)
    assert ack.secondary_address == b"135"
    assert len(ack.results) == 1
    assert (ack.results[0].result, ack.results[0].transfer) == (RESULT_ACCEPTANCE, NDR_SYNTAX)
    assert 0 < ack.max_recv <= 4280 and 0 < ack.max_xmit <= 4280
    assert ack.assoc_group != 0


@pytest.mark.parametrize(("abstract", "transfers", "reason"), [
    (EMSMDB.syntax, (NDR_SYNTAX,), REASON_ABSTRACT_SYNTAX),
    (SyntaxId(EPM_SYNTAX.uuid, 4, 0), (NDR_SYNTAX,), REASON_ABSTRACT_SYNTAX),
    (EPM_SYNTAX, (NDR64,), REASON_TRANSFER_SYNTAXES),
], ids=["other-interface", "other-major-version", "no-ndr"])
async def test_other_contexts_are_rejected_by_the_provider(
        client: Client, abstract: SyntaxId, transfers: tuple[SyntaxId, ...],
        reason: int) -> None:
    header, data = await client.bind(abstract, transfers)
    assert header.ptype == PduType.BIND_ACK
    result = decode_bind_ack(data).results[0]
    assert (result.result, result.reason) == (RESULT_PROVIDER_REJECTION, reason)


async def test_ept_map_points_emsmdb_and_nspi_at_the_nodes_mapi_and_ab_ports(
        node: LabNode, client: Client) -> None:
    await client.bind()
    for iface, port in ((EMSMDB, node.ports.mapi), (NSPI, node.ports.ab)):
        towers, status = await mapped(client, iface)
        assert status == 0
        assert [(t.interface, t.transfer, t.port, t.address) for t in towers] == [
            (iface.syntax, NDR_SYNTAX, port, NODE_ADDRESS)]


async def test_other_interfaces_are_not_registered(client: Client) -> None:
    await client.bind()
    assert await mapped(client, LSARPC) == ([], EPT_S_NOT_REGISTERED)


async def test_a_node_without_pinned_ports_registers_nothing(lab_ca: LabCA) -> None:
    lab = LabNode("CAS02", PLAIN_ADDRESS, Ports(epm=0, https=0, http=0),
                  ssl_context=lab_ca.issue("cas02.corp.local"))
    lab.set_handler("epm", for_node(lab))
    async with lab:
        conn = await Client.connect(lab.address, lab.ports.epm)
        try:
            await conn.bind()
            assert await mapped(conn, EMSMDB) == ([], EPT_S_NOT_REGISTERED)
            assert await mapped(conn, NSPI) == ([], EPT_S_NOT_REGISTERED)
        finally:
            conn.close()


async def test_a_static_mapping_leaves_absent_interfaces_unregistered() -> None:
    responder = EpmResponder({"NSPI": 6004}, address=PLAIN_ADDRESS)
    server = await asyncio.start_server(responder, PLAIN_ADDRESS, 0)
    try:
        conn = await Client.connect(PLAIN_ADDRESS, int(server.sockets[0].getsockname()[1]))
        try:
            await conn.bind()
            assert await mapped(conn, EMSMDB) == ([], EPT_S_NOT_REGISTERED)
            towers, status = await mapped(conn, NSPI)
            assert (status, [t.port for t in towers]) == (0, [6004])
        finally:
            conn.close()
    finally:
        server.close()
        await server.wait_closed()


async def test_requests_before_a_bind_or_for_other_operations_fault(client: Client) -> None:
    header, data = await client.ept_map(EMSMDB, call_id=7)
    assert (header.ptype, header.call_id) == (PduType.FAULT, 7)
    assert decode_fault(data) == NCA_S_UNK_IF
    await client.bind()
    header, data = await client.ept_map(EMSMDB, opnum=2)
    assert (header.ptype, decode_fault(data)) == (PduType.FAULT, NCA_S_OP_RNG_ERROR)


@pytest.mark.parametrize("junk", [
    b"GET / HTTP/1.1\r\nHost: cas01\r\n\r\n",
    struct.pack("<BBBB4sHHI", 5, 0, 11, 3, b"\x10\0\0\0", 60, 0, 1) + b"\0" * 10,
    struct.pack("<BBBB4sHHI", 5, 0, 11, 3, b"\x10\0\0\0", 65535, 0, 1),
    struct.pack("<BBBB4sHHI", 5, 0, 11, 3, b"\x10\0\0\0", 20, 0, 1) + b"\xff" * 4,
    struct.pack("<BBBB4sHHI", 5, 0, 11, 1, b"\x10\0\0\0", 16, 0, 1),
], ids=["http", "truncated-then-eof", "oversized", "bind-body-lies", "first-fragment-only"])
async def test_garbage_closes_the_connection_and_the_responder_carries_on(
        node: LabNode, junk: bytes, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    conn = await Client.connect(node.address, node.ports.epm)
    try:
        conn.writer.write(junk)
        if junk.endswith(b"\0" * 10):
            conn.writer.write_eof()
        assert await conn.closed_by_peer()
    finally:
        conn.close()
    again = await Client.connect(node.address, node.ports.epm)
    try:
        header, _ = await again.bind()
        assert header.ptype == PduType.BIND_ACK
    finally:
        again.close()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
