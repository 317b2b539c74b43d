"""A lab endpoint mapper: answers a DCE/RPC bind and ept_map like a CAS server's TCP 135.

So a lab node's epm port does what a real one does: it accepts a bind to the endpoint mapper
interface with a proper bind_ack, rejects other interfaces, and maps EMSMDB and NSPI to the
node's mapi and ab ports (EPT_S_NOT_REGISTERED for anything it does not serve). It speaks
through the probe's codec (castui.probes.dcerpc), which Samba checks in the tests.

Plug it into a node with `node.set_handler("epm", for_node(node))`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING
from uuid import UUID

from castui.lab.http import IDLE_TIMEOUT
from castui.probes.dcerpc import (
    EPM_SYNTAX,
    EPT_MAP_OPNUM,
    EPT_S_NOT_REGISTERED,
    NCA_S_FAULT_NDR,
    NCA_S_OP_RNG_ERROR,
    NCA_S_UNK_IF,
    NDR_SYNTAX,
    OUR_FRAG,
    REASON_ABSTRACT_SYNTAX,
    REASON_TRANSFER_SYNTAXES,
    RESULT_ACCEPTANCE,
    RESULT_PROVIDER_REJECTION,
    SINGLE_FRAG,
    ContextResult,
    Header,
    PduType,
    PresentationContext,
    RpcError,
    SyntaxId,
    decode_bind,
    decode_ept_map_request,
    decode_request,
    decode_tower,
    encode_bind_ack,
    encode_ept_map_response,
    encode_fault,
    encode_response,
    encode_tcp_tower,
    read_pdu,
)
from castui.probes.epm import EMSMDB, NSPI, RpcInterface, pinned_ports

if TYPE_CHECKING:
    from castui.lab.node import LabNode

log = logging.getLogger(__name__)

#: PDUs answered per connection: a probe needs three; a peer that keeps going is cut off.
MAX_PDUS = 64
#: ept_map's max_towers is [range(0, 500)] in the IDL.
MAX_TOWERS_ALLOWED = 500
_NO_SYNTAX = SyntaxId(UUID(int=0), 0, 0)

#: Interface name -> port, or a callable giving it at each request (ports can change).
Endpoints = Mapping[str, int] | Callable[[], Mapping[str, int]]


class EpmResponder:
    """A LabNode handler: bind, then ept_map for `interfaces` from the current `endpoints`.

    An interface absent from `endpoints` (or not in `interfaces`) answers
    EPT_S_NOT_REGISTERED. `address` is the IPv4 address put in the towers.
    """

    def __init__(self, endpoints: Endpoints, *, address: str = "0.0.0.0",
                 interfaces: Sequence[RpcInterface] = (EMSMDB, NSPI)) -> None:
        self._endpoints = endpoints
        self._address = str(ipaddress.IPv4Address(address))
        self._interfaces = tuple(interfaces)

    async def __call__(self, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter) -> None:
        """Serve one connection until the peer leaves, idles out or sends something wrong."""
        bound: set[int] = set()
        try:
            for _ in range(MAX_PDUS):
                header, data = await asyncio.wait_for(read_pdu(reader), IDLE_TIMEOUT)
                reply = self.answer(header, data, bound)
                if reply is None:
                    return
                writer.write(reply)
                await writer.drain()
        except (RpcError, OSError) as exc:  # OSError covers resets and idle timeouts
            log.debug("lab epm: closing the connection: %s", exc)
        finally:
            writer.close()

    def answer(self, header: Header, data: bytes, bound: set[int]) -> bytes | None:
        """The reply to one PDU, or None to close the connection. Updates `bound` contexts."""
        if header.flags & SINGLE_FRAG != SINGLE_FRAG:
            return None  # a real client's bind and ept_map fit in one fragment
        if header.ptype == PduType.BIND:
            return self._bind_ack(header, data, bound)
        if header.ptype == PduType.REQUEST:
            request = decode_request(data)
            if request.context_id not in bound:
                return encode_fault(header.call_id, request.context_id, NCA_S_UNK_IF)
            if request.opnum != EPT_MAP_OPNUM:
                return encode_fault(header.call_id, request.context_id, NCA_S_OP_RNG_ERROR)
            try:
                stub = self._ept_map(request.stub)
            except RpcError:
                return encode_fault(header.call_id, request.context_id, NCA_S_FAULT_NDR)
            return encode_response(header.call_id, request.context_id, stub)
        return None

    def _bind_ack(self, header: Header, data: bytes, bound: set[int]) -> bytes:
        bind = decode_bind(data)
        results = []
        for context in bind.contexts:
            result = self._accept(context)
            if result.result == RESULT_ACCEPTANCE:
                bound.add(context.context_id)
            results.append(result)
        return encode_bind_ack(header.call_id, results, secondary_address=b"135",
                               max_xmit=min(bind.max_xmit, OUR_FRAG) or OUR_FRAG,
                               max_recv=min(bind.max_recv, OUR_FRAG) or OUR_FRAG,
                               assoc_group=secrets.randbelow(0xFFFF) + 1)

    @staticmethod
    def _accept(context: PresentationContext) -> ContextResult:
        abstract = context.abstract
        if abstract.uuid != EPM_SYNTAX.uuid or abstract.major != EPM_SYNTAX.major:
            return ContextResult(RESULT_PROVIDER_REJECTION, REASON_ABSTRACT_SYNTAX, _NO_SYNTAX)
        if NDR_SYNTAX not in context.transfers:
            return ContextResult(RESULT_PROVIDER_REJECTION, REASON_TRANSFER_SYNTAXES,
                                 _NO_SYNTAX)
        return ContextResult(RESULT_ACCEPTANCE, 0, NDR_SYNTAX)

    def _ept_map(self, stub: bytes) -> bytes:
        """The ept_map response stub: one tower, or none and EPT_S_NOT_REGISTERED."""
        raw, max_towers = decode_ept_map_request(stub)
        if raw is None or max_towers > MAX_TOWERS_ALLOWED:
            raise RpcError("no map tower, or max_towers out of range")
        wanted = decode_tower(raw).interface
        endpoints = self._endpoints() if callable(self._endpoints) else self._endpoints
        for iface in self._interfaces:
            syntax = iface.syntax
            if (syntax.uuid, syntax.major) != (wanted.uuid, wanted.major):
                continue
            port = endpoints.get(iface.name)
            if port and wanted.minor <= syntax.minor and max_towers:
                tower = encode_tcp_tower(syntax, port, self._address)
                return encode_ept_map_response([tower], max_towers, 0)
        return encode_ept_map_response([], max_towers, EPT_S_NOT_REGISTERED)


def for_node(node: LabNode) -> EpmResponder:
    """A responder mapping EMSMDB and NSPI to `node`'s mapi and ab ports, as they are now.

    The ports are read at each ept_map, so a node bound on port 0 (or restored) maps right.
    """
    ip = ipaddress.ip_address(node.address)
    return EpmResponder(lambda: pinned_ports(node.ports),
                        address=node.address if ip.version == 4 else "0.0.0.0")
