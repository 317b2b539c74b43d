"""DCE/RPC connection-oriented PDUs, just enough for a bind and an ept_map over ncacn_ip_tcp.

Written from The Open Group's C706 (chapter 12, appendices I, L, N) and Microsoft's MS-RPCE
(2.2.1.1.x towers, 2.2.2 PDUs). Both directions are here, so the probe and the lab responder
(castui.lab.epm) speak the same bytes; Samba's endpoint mapper keeps both honest in the tests.

Only little-endian NDR is spoken (every Windows and Samba peer uses it). Every decoder checks
bounds and raises RpcError with a one-line reason: nothing indexes past a buffer, and nothing a
peer sends can make a decoder loop or allocate more than the frame it already read.

Why this module is longer than 400 lines: it is one wire format, its encoders beside the
decoders that must mirror them byte for byte; split, the pairs would drift apart.
"""

from __future__ import annotations

import asyncio
import ipaddress
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol
from uuid import UUID


class PduType(IntEnum):
    """The PTYPE byte of the PDUs used here."""

    REQUEST = 0
    RESPONSE = 2
    FAULT = 3
    BIND = 11
    BIND_ACK = 12
    BIND_NAK = 13


PFC_FIRST_FRAG = 0x01
PFC_LAST_FRAG = 0x02
PFC_OBJECT_UUID = 0x80
SINGLE_FRAG = PFC_FIRST_FRAG | PFC_LAST_FRAG

HEADER_LEN = 16
#: The largest PDU we accept. Our bind offers 4280-byte fragments; 8 KiB leaves room for a
#: peer that ignores that, and bounds what a hostile one can make us buffer.
MAX_FRAG = 8192
OUR_FRAG = 4280
#: Integer little-endian, ASCII characters, IEEE floats.
DREP_LE = b"\x10\x00\x00\x00"

EPT_MAP_OPNUM = 3
EPT_S_NOT_REGISTERED = 0x16C9A0D6
NCA_S_OP_RNG_ERROR = 0x1C010002
NCA_S_UNK_IF = 0x1C010003
NCA_S_PROTO_ERROR = 0x1C01000B
NCA_S_FAULT_NDR = 0x000006F7

FAULTS = {
    0x00000005: "access denied",
    NCA_S_FAULT_NDR: "bad stub data",
    NCA_S_OP_RNG_ERROR: "operation number out of range",
    NCA_S_UNK_IF: "unknown interface",
    NCA_S_PROTO_ERROR: "protocol error",
}
BIND_NAK_REASONS = {
    0: "reason not specified",
    1: "temporary congestion",
    2: "local limit exceeded",
    3: "called presentation address unknown",
    4: "protocol version not supported",
    5: "default context not supported",
    6: "user data not readable",
    7: "no presentation service access point available",
    8: "authentication type not recognized",
    9: "invalid checksum",
}
RESULT_ACCEPTANCE = 0
RESULT_USER_REJECTION = 1
RESULT_PROVIDER_REJECTION = 2
CONTEXT_RESULTS = {0: "acceptance", 1: "user rejection", 2: "provider rejection",
                   3: "negotiate ack"}
REASON_ABSTRACT_SYNTAX = 1
REASON_TRANSFER_SYNTAXES = 2
PROVIDER_REASONS = {0: "reason not specified", 1: "abstract syntax not supported",
                    2: "proposed transfer syntaxes not supported", 3: "local limit exceeded"}

#: Tower floor protocol identifiers (C706 appendix I, MS-RPCE 2.2.1.1.x).
FLOOR_UUID = 0x0D
FLOOR_NCACN = 0x0B
FLOOR_TCP = 0x07
FLOOR_IP = 0x09
MAX_FLOORS = 16


class RpcError(Exception):
    """A PDU we cannot accept; str() is a one-line reason fit for a check's detail."""


def describe(code: int, names: dict[int, str]) -> str:
    """'<name>' for a known code, else the number (hex for 32-bit status codes)."""
    return names.get(code, f"0x{code:08x}" if code > 0xFFFF else f"code {code}")


@dataclass(frozen=True, slots=True)
class SyntaxId:
    """An interface or transfer syntax: UUID and version (p_syntax_id_t)."""

    uuid: UUID
    major: int
    minor: int

    def encode(self) -> bytes:
        return self.uuid.bytes_le + struct.pack("<HH", self.major, self.minor)

    def __str__(self) -> str:
        return f"{self.uuid} v{self.major}.{self.minor}"


EPM_SYNTAX = SyntaxId(UUID("e1af8308-5d1f-11c9-91a4-08002b14a0fa"), 3, 0)
NDR_SYNTAX = SyntaxId(UUID("8a885d04-1ceb-11c9-9fe8-08002b104860"), 2, 0)


class _Reader:
    """Bounded little-endian reads over bytes; overruns raise RpcError naming the field."""

    def __init__(self, data: bytes, start: int = 0, end: int | None = None,
                 base: int | None = None) -> None:
        self.data = data
        self.pos = start
        self.base = start if base is None else base  # where alignment is counted from
        self.end = len(data) if end is None else min(end, len(data))

    def take(self, size: int, what: str) -> bytes:
        if size < 0 or self.pos + size > self.end:
            raise RpcError(f"truncated {what}")
        chunk = self.data[self.pos:self.pos + size]
        self.pos += size
        return chunk

    def u8(self, what: str) -> int:
        return int(self.take(1, what)[0])

    def u16(self, what: str) -> int:
        return int.from_bytes(self.take(2, what), "little")

    def u32(self, what: str) -> int:
        return int.from_bytes(self.take(4, what), "little")

    def syntax(self, what: str) -> SyntaxId:
        raw = self.take(20, what)
        major, minor = struct.unpack_from("<HH", raw, 16)
        return SyntaxId(UUID(bytes_le=raw[:16]), major, minor)

    def align(self, boundary: int, what: str) -> None:
        """Skip padding to `boundary`, counted from the start of the NDR stream or PDU."""
        self.take(-(self.pos - self.base) % boundary, what)


# -- header and framing ---------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Header:
    """The 16-byte common header of a connection-oriented PDU."""

    ptype: int
    flags: int
    frag_length: int
    auth_length: int
    call_id: int

    @property
    def type_name(self) -> str:
        try:
            return PduType(self.ptype).name.lower()
        except ValueError:
            return f"PDU type {self.ptype}"


def parse_header(data: bytes, max_frag: int = MAX_FRAG) -> Header:
    """Check version, data representation and frag_length bounds of a PDU's first 16 bytes."""
    if len(data) < HEADER_LEN:
        raise RpcError(f"short PDU header ({len(data)} bytes)")
    vers, minor, ptype, flags = data[0], data[1], data[2], data[3]
    if (vers, minor) != (5, 0):
        raise RpcError(f"not a DCE/RPC v5.0 PDU (version bytes 0x{vers:02x} 0x{minor:02x})")
    if data[4] & 0xF0 != 0x10:
        raise RpcError("big-endian data representation not supported")
    frag_length, auth_length, call_id = struct.unpack_from("<HHI", data, 8)
    if frag_length < HEADER_LEN:
        raise RpcError(f"frag_length {frag_length} is shorter than the header")
    if frag_length > max_frag:
        raise RpcError(f"frag_length {frag_length} exceeds {max_frag}")
    if auth_length and HEADER_LEN + 8 + auth_length > frag_length:
        raise RpcError(f"auth_length {auth_length} does not fit frag_length {frag_length}")
    return Header(ptype, flags, frag_length, auth_length, call_id)


class ExactReader(Protocol):
    """What read_pdu reads from: asyncio's StreamReader (the lab) or a LoopSocket (the
    probe)."""

    async def readexactly(self, n: int) -> bytes: ...


async def read_pdu(reader: ExactReader, max_frag: int = MAX_FRAG) -> tuple[Header, bytes]:
    """Read exactly one PDU (header, then frag_length bytes). Callers bound it in time."""
    try:
        head = await reader.readexactly(HEADER_LEN)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            raise RpcError("connection closed without a reply") from None
        raise RpcError(f"connection closed after {len(exc.partial)} bytes of a "
                       "PDU header") from None
    header = parse_header(head, max_frag)
    try:
        body = await reader.readexactly(header.frag_length - HEADER_LEN)
    except asyncio.IncompleteReadError as exc:
        raise RpcError(f"truncated {header.type_name}: connection closed after "
                       f"{HEADER_LEN + len(exc.partial)} of {header.frag_length} bytes") from None
    return header, head + body


def _pdu(ptype: PduType, call_id: int, body: bytes, flags: int = SINGLE_FRAG) -> bytes:
    frag_length = HEADER_LEN + len(body)
    if frag_length > 0xFFFF:
        raise ValueError(f"PDU of {frag_length} bytes does not fit one fragment")
    return (struct.pack("<BBBB4sHHI", 5, 0, ptype, flags, DREP_LE, frag_length, 0, call_id)
            + body)


def _body_end(pdu: bytes) -> int:
    """Where the PDU body ends: before the auth verifier and its 8-byte sec_trailer."""
    header = parse_header(pdu, max_frag=0xFFFF)
    end = min(header.frag_length, len(pdu))
    return end - (header.auth_length + 8 if header.auth_length else 0)


def _pad4(size: int) -> bytes:
    return b"\x00" * (-size % 4)


# -- bind, bind_ack, bind_nak ----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class PresentationContext:
    """One proposed context of a bind: an abstract syntax and the transfer syntaxes offered."""

    context_id: int
    abstract: SyntaxId
    transfers: tuple[SyntaxId, ...]


@dataclass(frozen=True, slots=True)
class ContextResult:
    """The answer to one proposed context (p_result_t)."""

    result: int
    reason: int
    transfer: SyntaxId


@dataclass(frozen=True, slots=True)
class Bind:
    max_xmit: int
    max_recv: int
    contexts: tuple[PresentationContext, ...]


@dataclass(frozen=True, slots=True)
class BindAck:
    max_xmit: int
    max_recv: int
    assoc_group: int
    secondary_address: bytes
    results: tuple[ContextResult, ...]



def encode_bind(call_id: int, contexts: Sequence[PresentationContext],
                max_frag: int = OUR_FRAG) -> bytes:
    body = struct.pack("<HHIB3x", max_frag, max_frag, 0, len(contexts))
    for ctx in contexts:
        body += struct.pack("<HBx", ctx.context_id, len(ctx.transfers)) + ctx.abstract.encode()
        body += b"".join(syntax.encode() for syntax in ctx.transfers)
    return _pdu(PduType.BIND, call_id, body)


def decode_bind(pdu: bytes) -> Bind:
    r = _Reader(pdu, HEADER_LEN, _body_end(pdu))
    max_xmit, max_recv = r.u16("bind"), r.u16("bind")
    r.u32("bind")  # assoc_group_id
    count = r.u8("bind context list")
    r.take(3, "bind context list")
    contexts = []
    for _ in range(count):
        context_id = r.u16("bind context")
        n_transfers = r.u8("bind context")
        r.take(1, "bind context")
        abstract = r.syntax("abstract syntax")
        transfers = tuple(r.syntax("transfer syntax") for _ in range(n_transfers))
        contexts.append(PresentationContext(context_id, abstract, transfers))
    return Bind(max_xmit, max_recv, tuple(contexts))


def encode_bind_ack(call_id: int, results: Sequence[ContextResult], *,
                    secondary_address: bytes, max_xmit: int, max_recv: int,
                    assoc_group: int) -> bytes:
    sec = secondary_address + b"\x00"
    body = struct.pack("<HHIH", max_xmit, max_recv, assoc_group, len(sec)) + sec
    body += _pad4(HEADER_LEN + len(body))
    body += struct.pack("<B3x", len(results))
    for res in results:
        body += struct.pack("<HH", res.result, res.reason) + res.transfer.encode()
    return _pdu(PduType.BIND_ACK, call_id, body)


def decode_bind_ack(pdu: bytes) -> BindAck:
    r = _Reader(pdu, HEADER_LEN, _body_end(pdu), base=0)  # padding counts from the PDU start
    max_xmit, max_recv, assoc_group = r.u16("bind_ack"), r.u16("bind_ack"), r.u32("bind_ack")
    sec_len = r.u16("bind_ack secondary address")
    secondary = r.take(sec_len, "bind_ack secondary address").rstrip(b"\x00")
    r.align(4, "bind_ack padding")
    count = r.u8("bind_ack result list")
    r.take(3, "bind_ack result list")
    results = []
    for _ in range(count):
        result, reason = r.u16("bind_ack result"), r.u16("bind_ack result")
        results.append(ContextResult(result, reason, r.syntax("bind_ack result")))
    return BindAck(max_xmit, max_recv, assoc_group, secondary, tuple(results))


def encode_bind_nak(call_id: int, reason: int) -> bytes:
    """A bind_nak that offers protocol version 5.0 only."""
    return _pdu(PduType.BIND_NAK, call_id, struct.pack("<HBBB", reason, 1, 5, 0))


def decode_bind_nak(pdu: bytes) -> int:
    """The provider reject reason."""
    return _Reader(pdu, HEADER_LEN, _body_end(pdu)).u16("bind_nak")


# -- request, response, fault ----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Request:
    context_id: int
    opnum: int
    stub: bytes


def encode_request(call_id: int, context_id: int, opnum: int, stub: bytes) -> bytes:
    body = struct.pack("<IHH", len(stub), context_id, opnum) + stub
    return _pdu(PduType.REQUEST, call_id, body)


def decode_request(pdu: bytes) -> Request:
    header = parse_header(pdu, max_frag=0xFFFF)
    r = _Reader(pdu, HEADER_LEN, _body_end(pdu))
    r.u32("request")  # alloc_hint
    context_id, opnum = r.u16("request"), r.u16("request")
    if header.flags & PFC_OBJECT_UUID:
        r.take(16, "request object UUID")
    return Request(context_id, opnum, r.take(r.end - r.pos, "request"))


def encode_response(call_id: int, context_id: int, stub: bytes) -> bytes:
    body = struct.pack("<IHBx", len(stub), context_id, 0) + stub
    return _pdu(PduType.RESPONSE, call_id, body)


def decode_response(pdu: bytes) -> bytes:
    """The stub data of a response."""
    r = _Reader(pdu, HEADER_LEN, _body_end(pdu))
    r.take(8, "response")  # alloc_hint, p_cont_id, cancel_count, reserved
    return r.take(r.end - r.pos, "response")


def encode_fault(call_id: int, context_id: int, status: int) -> bytes:
    return _pdu(PduType.FAULT, call_id, struct.pack("<IHBxII", 0, context_id, 0, status, 0))


def decode_fault(pdu: bytes) -> int:
    """The fault's status code."""
    r = _Reader(pdu, HEADER_LEN, _body_end(pdu))
    r.take(8, "fault")
    return r.u32("fault status")


# -- protocol towers -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Tower:
    """What an ncacn_ip_tcp tower says: interface, transfer syntax, TCP port and IPv4 address."""

    interface: SyntaxId
    transfer: SyntaxId | None
    port: int | None
    address: str | None


def _floor(lhs: bytes, rhs: bytes) -> bytes:
    return struct.pack("<H", len(lhs)) + lhs + struct.pack("<H", len(rhs)) + rhs


def _uuid_floor(syntax: SyntaxId) -> bytes:
    lhs = bytes([FLOOR_UUID]) + syntax.uuid.bytes_le + struct.pack("<H", syntax.major)
    return _floor(lhs, struct.pack("<H", syntax.minor))


def encode_tcp_tower(interface: SyntaxId, port: int = 0, address: str = "0.0.0.0") -> bytes:
    """The five floors of an ncacn_ip_tcp tower: interface, NDR, RPC CO, TCP port, IPv4."""
    floors = [
        _uuid_floor(interface),
        _uuid_floor(NDR_SYNTAX),
        _floor(bytes([FLOOR_NCACN]), b"\x00\x00"),
        _floor(bytes([FLOOR_TCP]), struct.pack(">H", port)),
        _floor(bytes([FLOOR_IP]), ipaddress.IPv4Address(address).packed),
    ]
    return struct.pack("<H", len(floors)) + b"".join(floors)


def _uuid_lhs(lhs: bytes, rhs: bytes) -> SyntaxId | None:
    if len(lhs) != 19 or lhs[0] != FLOOR_UUID or len(rhs) != 2:
        return None
    return SyntaxId(UUID(bytes_le=lhs[1:17]), int.from_bytes(lhs[17:19], "little"),
                    int.from_bytes(rhs, "little"))


def decode_tower(data: bytes) -> Tower:
    """Parse the floors of a tower (lengths little-endian, port and address big-endian)."""
    r = _Reader(data)
    count = r.u16("tower floor count")
    if not 1 <= count <= MAX_FLOORS:
        raise RpcError(f"tower with {count} floors")
    floors = []
    for index in range(count):
        lhs = r.take(r.u16(f"tower floor {index + 1}"), f"tower floor {index + 1}")
        rhs = r.take(r.u16(f"tower floor {index + 1}"), f"tower floor {index + 1}")
        floors.append((lhs, rhs))
    interface = _uuid_lhs(*floors[0])
    if interface is None:
        raise RpcError("tower does not start with an interface floor")
    transfer = _uuid_lhs(*floors[1]) if count > 1 else None
    port = address = None
    for lhs, rhs in floors[2:]:
        if lhs == bytes([FLOOR_TCP]) and len(rhs) == 2:
            port = int.from_bytes(rhs, "big")
        elif lhs == bytes([FLOOR_IP]) and len(rhs) == 4:
            address = str(ipaddress.IPv4Address(rhs))
    return Tower(interface, transfer, port, address)


# -- ept_map stubs (NDR) ---------------------------------------------------------------------

_NULL_HANDLE = b"\x00" * 20


def _twr(tower: bytes) -> bytes:
    """A twr_t: conformance (max count), tower_length, the octets, padding to 4."""
    return struct.pack("<II", len(tower), len(tower)) + tower + _pad4(len(tower))


def encode_ept_map_request(tower: bytes, max_towers: int) -> bytes:
    """ept_map's [in] stub: a nil object UUID, the map tower, a null handle, max_towers."""
    return (struct.pack("<I", 1) + bytes(16)  # object: pointer to the nil UUID
            + struct.pack("<I", 2) + _twr(tower)  # map_tower: pointer to a twr_t
            + _NULL_HANDLE + struct.pack("<I", max_towers))


def _read_twr(r: _Reader) -> bytes:
    max_count, length = r.u32("tower"), r.u32("tower")
    if max_count != length:
        raise RpcError(f"tower length {length} differs from its array size {max_count}")
    tower = r.take(length, "tower")
    r.align(4, "tower padding")
    return tower


def decode_ept_map_request(stub: bytes) -> tuple[bytes | None, int]:
    """(map tower, max_towers) of an ept_map request; the tower is None for a null pointer."""
    r = _Reader(stub)
    if r.u32("ept_map object"):
        r.take(16, "ept_map object")
    tower = _read_twr(r) if r.u32("ept_map tower") else None
    r.take(20, "ept_map handle")
    return tower, r.u32("ept_map max_towers")


def encode_ept_map_response(towers: Sequence[bytes], max_towers: int, status: int) -> bytes:
    stub = _NULL_HANDLE + struct.pack("<IIII", len(towers), max_towers, 0, len(towers))
    stub += b"".join(struct.pack("<I", 3 + index) for index in range(len(towers)))
    stub += b"".join(_twr(tower) for tower in towers)
    return stub + struct.pack("<I", status)


def decode_ept_map_response(stub: bytes, max_towers: int) -> tuple[list[bytes], int]:
    """(towers, status) of an ept_map response, checked against the max_towers we asked."""
    r = _Reader(stub)
    r.take(20, "ept_map handle")
    num_towers = r.u32("ept_map num_towers")
    max_count, offset, actual = r.u32("tower array"), r.u32("tower array"), r.u32("tower array")
    if num_towers > max_towers or actual != num_towers or offset != 0 or actual > max_count:
        raise RpcError(f"inconsistent tower array (num_towers {num_towers}, max {max_count}, "
                       f"offset {offset}, count {actual}; asked for {max_towers})")
    pointers = [r.u32("tower pointer") for _ in range(actual)]
    towers = [_read_twr(r) for pointer in pointers if pointer]
    return towers, r.u32("ept_map status")
