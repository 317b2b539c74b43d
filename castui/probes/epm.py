"""Endpoint-mapper check: bind to the EPM, ept_map Exchange's RPC interfaces, TCP-check the ports.

A load balancer that only sees TCP 135 accept a connection cannot tell a working RPC endpoint
mapper from a port that merely listens. This check binds to the endpoint mapper interface, asks
it (ept_map, opnum 3) where RPC Client Access (EMSMDB) and the Address Book (NSPI) listen, and
TCP-checks those ports, all within one timeout.

Why our own codec (castui.probes.dcerpc) rather than impacket's epm module: impacket's
licence (a modified Apache licence) would do, but it talks over blocking sockets, so each
probe would hold a thread and the engine's asyncio timeouts could not cancel it; and it is
large, pulling in pyOpenSSL, pycryptodomex, ldap3, flask and more for what is, over
ncacn_ip_tcp, a bind and one ept_map request/response: a few hundred lines of struct packing
from C706 and MS-RPCE. Owning the decoder also lets it be defensive by design: every length
is bounds-checked and a malformed, short, oversized or multi-fragment reply is a failed check
with a reason. Samba's endpoint mapper in the tests keeps the encoder honest.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from castui.config.model import Ports
from castui.model.results import Code, Error, ProbeResult
from castui.model.text import clean
from castui.probes.dcerpc import (
    BIND_NAK_REASONS,
    CONTEXT_RESULTS,
    EPM_SYNTAX,
    EPT_MAP_OPNUM,
    EPT_S_NOT_REGISTERED,
    FAULTS,
    NDR_SYNTAX,
    PROVIDER_REASONS,
    RESULT_ACCEPTANCE,
    SINGLE_FRAG,
    Header,
    PduType,
    PresentationContext,
    RpcError,
    SyntaxId,
    decode_bind_ack,
    decode_bind_nak,
    decode_ept_map_response,
    decode_fault,
    decode_response,
    decode_tower,
    describe,
    encode_bind,
    encode_ept_map_request,
    encode_request,
    encode_tcp_tower,
    read_pdu,
)
from castui.probes.loopsocket import LoopSocket, open_socket
from castui.probes.tcp import refusal, tcp_probe

#: How many towers ept_map may return; we use the first one with a TCP port.
MAX_TOWERS = 4
EPM_CONTEXT_ID = 0
#: The least time a mapped port's TCP check gets, even when the exchange used up the timeout.
MIN_TCP_TIMEOUT = 0.01


@dataclass(frozen=True)
class RpcInterface:
    """An RPC interface to look up, and the Windows service that registers it (for messages)."""

    name: str
    uuid: str
    version: tuple[int, int]
    service: str

    @property
    def syntax(self) -> SyntaxId:
        return SyntaxId(UUID(self.uuid), *self.version)


EMSMDB = RpcInterface("EMSMDB", "a4f1db00-ca47-1067-b31f-00dd010662da", (0, 81), "MSExchangeRPC")
NSPI = RpcInterface("NSPI", "f5cc5a18-4264-101a-8c59-08002b2f8426", (56, 0), "MSExchangeAB")
LSARPC = RpcInterface("LSARPC", "12345778-1234-abcd-ef00-0123456789ab", (0, 0), "lsarpc")

#: Which pinned port of a node's config (`mapi`, `ab`) each interface should map to.
PINNED_BY_PORT = {"mapi": EMSMDB, "ab": NSPI}


def pinned_ports(ports: Ports) -> dict[str, int]:
    """The `pinned` argument for a node's ports: interface name -> pinned port, if set."""
    pinned = {}
    for port_name, iface in PINNED_BY_PORT.items():
        port = getattr(ports, port_name)
        if port is not None:
            pinned[iface.name] = port
    return pinned


class _Failed(Exception):
    """Ends the exchange with a failed check."""

    def __init__(self, code: str, detail: str, error: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.error = error


@dataclass(frozen=True, slots=True)
class _Verdict:
    ok: bool
    code: str
    detail: str
    error: str | None = None


def _check_frame(header: Header, data: bytes, call_id: int, what: str) -> None:
    """One whole fragment answering our call: we do not reassemble multi-fragment replies."""
    if header.flags & SINGLE_FRAG != SINGLE_FRAG:
        raise RpcError(f"multi-fragment {header.type_name} to {what} not supported "
                       f"(flags 0x{header.flags:02x})")
    if header.call_id != call_id:
        raise RpcError(f"{header.type_name} to {what} has call_id {header.call_id}, "
                       f"expected {call_id}")
    if header.ptype == PduType.FAULT:
        raise RpcError(f"fault in reply to {what}: {describe(decode_fault(data), FAULTS)}")


class _Session:
    """One connection to the endpoint mapper: a bind, then one ept_map per interface.

    Results accumulate in `facts`; a failure raises _Failed or RpcError. `connected` tells
    a connect that timed out (L4TOUT) from a reply that did not come (EPMTOUT).
    """

    def __init__(self, facts: dict[str, Any]) -> None:
        self.facts = facts
        self.connected = False
        self._call_id = 0
        self._sock: LoopSocket | None = None

    async def run(self, address: str, port: int, interfaces: Sequence[RpcInterface],
                  timeout: float) -> None:
        self._sock = LoopSocket(await open_socket(address, port, timeout))
        self.connected = True
        try:
            await self._bind()
            for iface in interfaces:
                await self._map(iface)
        finally:
            self._sock.close()

    async def _call(self, pdu: bytes, what: str) -> tuple[Header, bytes]:
        assert self._sock is not None
        await self._sock.send(pdu)
        header, data = await read_pdu(self._sock)
        _check_frame(header, data, self._call_id, what)
        return header, data

    async def _bind(self) -> None:
        self._call_id += 1
        context = PresentationContext(EPM_CONTEXT_ID, EPM_SYNTAX, (NDR_SYNTAX,))
        header, data = await self._call(encode_bind(self._call_id, [context]), "the bind")
        if header.ptype == PduType.BIND_NAK:
            reason = describe(decode_bind_nak(data), BIND_NAK_REASONS)
            self.facts["bind"] = f"nak: {reason}"
            raise _Failed(Code.EPMNAK, f"bind_nak: {reason}", Error.PROTOCOL)
        if header.ptype != PduType.BIND_ACK:
            raise RpcError(f"{header.type_name} in reply to the bind")
        ack = decode_bind_ack(data)
        if not ack.results:
            raise RpcError("bind_ack without a context result")
        result = ack.results[0]
        if result.result != RESULT_ACCEPTANCE:
            reason = describe(result.reason, PROVIDER_REASONS)
            kind = describe(result.result, CONTEXT_RESULTS)
            self.facts["bind"] = f"rejected: {reason}"
            detail = (f"context rejected: {reason}" if kind == "provider rejection"
                      else f"context rejected ({kind}): {reason}")
            raise _Failed(Code.EPMNAK, detail, Error.PROTOCOL)
        if result.transfer != NDR_SYNTAX:
            raise RpcError(f"bind accepted with transfer syntax {result.transfer}, not NDR")
        self.facts["bind"] = "accepted"
        self.facts["secondary_address"] = clean(ack.secondary_address, 32)

    async def _map(self, iface: RpcInterface) -> None:
        self._call_id += 1
        stub = encode_ept_map_request(encode_tcp_tower(iface.syntax), MAX_TOWERS)
        pdu = encode_request(self._call_id, EPM_CONTEXT_ID, EPT_MAP_OPNUM, stub)
        header, data = await self._call(pdu, f"ept_map {iface.service}")
        if header.ptype != PduType.RESPONSE:
            raise RpcError(f"{header.type_name} in reply to ept_map {iface.service}")
        towers, status = decode_ept_map_response(decode_response(data), MAX_TOWERS)
        if status == EPT_S_NOT_REGISTERED:
            self.facts["not_registered"].append(iface.service)
            return
        if status != 0:
            raise RpcError(f"ept_map {iface.service} failed: status 0x{status:08x}")
        for raw in towers:
            tower = decode_tower(raw)
            if tower.interface.uuid == iface.syntax.uuid and tower.port:
                self.facts["mapped"][iface.service] = tower.port
                return
        raise RpcError(f"ept_map {iface.service} returned no TCP endpoint")


def _and(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _valid_target(address: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        socket.inet_pton(family, address)  # an IP literal: a name would wait on a resolver
    except (OSError, TypeError):
        return False
    return isinstance(port, int) and 0 < port < 65536


async def _exchange(session: _Session, address: str, port: int,
                    interfaces: Sequence[RpcInterface], timeout: float) -> _Verdict | None:
    """Run the session under `timeout`; a verdict if it failed, None if every step answered."""
    facts = session.facts
    try:
        async with asyncio.timeout(timeout):
            await session.run(address, port, interfaces, timeout)
    except _Failed as failed:
        return _Verdict(False, failed.code, failed.detail, failed.error)
    except RpcError as exc:
        return _Verdict(False, Code.EPMRSP, str(exc), Error.PROTOCOL)
    except TimeoutError:
        if not session.connected:
            return _Verdict(False, Code.L4TOUT, f"no answer in {timeout:g} s", Error.TIMEOUT)
        step = "the bind" if facts["bind"] is None else "ept_map"
        return _Verdict(False, Code.EPMTOUT, f"no reply to {step} in {timeout:g} s",
                        Error.TIMEOUT)
    except OSError as exc:
        error, why = refusal(exc.errno or 0)
        if session.connected:
            return _Verdict(False, Code.EPMRSP, f"{why} during the exchange", error)
        return _Verdict(False, Code.L4CON, why, error)
    return None


async def _check_mapped(facts: dict[str, Any], address: str,
                        interfaces: Sequence[RpcInterface], pinned: Mapping[str, int],
                        remaining: float) -> _Verdict:
    """TCP-check every mapped port in the time left, then weigh what went wrong, worst first.

    The ports are checked on the address we probed, not the tower's: behind a load balancer
    clients connect to the name they resolved, on the port the endpoint mapper gave them.
    """
    mapped: dict[str, int] = facts["mapped"]
    checks = await asyncio.gather(*(tcp_probe(address, port, max(remaining, MIN_TCP_TIMEOUT))
                                    for port in mapped.values()))
    problems: list[_Verdict] = []
    mentioned: set[str] = set(facts["not_registered"])
    if facts["not_registered"]:
        problems.append(_Verdict(False, Code.EPMNREG, f"{_and(facts['not_registered'])} not "
                                 "registered with the endpoint mapper", Error.STATUS))
    for iface in interfaces:
        port, pin = mapped.get(iface.service), pinned.get(iface.name)
        if port is not None and pin is not None and port != pin:
            mentioned.add(iface.service)
            problems.append(_Verdict(False, Code.EPMRSP,
                                     f"{iface.service} maps to {port}, pinned {pin}",
                                     Error.MISMATCH))
    for (service, port), check in zip(mapped.items(), checks, strict=True):
        facts["mapped_tcp"][service] = check.code
        if not check.ok:
            mentioned.add(service)
            problems.append(_Verdict(False, check.code, f"{service} -> {port}: {check.detail}",
                                     check.error))
    fine = ", ".join(f"{service} -> {port}" for service, port in mapped.items()
                     if service not in mentioned)
    if not problems:
        return _Verdict(True, Code.EPMOK, f"bind accepted; {fine}" if fine else "bind accepted")
    worst = problems[0]
    detail = "; ".join([problem.detail for problem in problems] + ([fine] if fine else []))
    return _Verdict(False, worst.code, detail, worst.error)


async def epm_probe(address: str, port: int, timeout: float, *,
                    interfaces: Sequence[RpcInterface] = (EMSMDB, NSPI),
                    pinned: Mapping[str, int] | None = None) -> ProbeResult:
    """Bind to the endpoint mapper at `address`:`port`, ept_map each interface, TCP-check ports.

    One connection: a bind, then one ept_map per interface, all within `timeout`; then each
    mapped port is TCP-checked on `address` in the time left. `pinned` maps interface names
    (RpcInterface.name; see `pinned_ports`) to the port the config pins them to.

    facts: {"address", "port", "bind": "accepted" | "nak: <reason>" | "rejected: <reason>",
    "secondary_address", "mapped": {service: port}, "not_registered": [service],
    "mapped_tcp": {service: L4 code}}.
    """
    started = time.time()
    t0 = time.monotonic()
    facts: dict[str, Any] = {"address": address, "port": port, "bind": None, "mapped": {},
                             "not_registered": [], "mapped_tcp": {}}
    if not _valid_target(address, port):
        return ProbeResult(False, Code.L4CON, f"bad address {address!r} port {port!r}",
                           None, Error.OTHER, facts, started)
    verdict = await _exchange(_Session(facts), address, port, interfaces, timeout)
    if verdict is None:
        verdict = await _check_mapped(facts, address, interfaces, pinned or {},
                                      t0 + timeout - time.monotonic())
    return ProbeResult(verdict.ok, verdict.code, clean(verdict.detail),
                       (time.monotonic() - t0) * 1000, verdict.error, facts, started)
