"""A target's round: its HTTPS round leads, alone, so the handshake and the requests time the
node rather than castui's other connections to it in the same instant; a hung HTTPS round
holds the other checks up by ROUND_LEAD_S only (castui.engine.runner.Runner.run_round).

Real servers on loopback: a lab CAS node (HTTPS and its TCP ports) and, for the hung case,
a TCP listener that accepts and never answers the TLS ClientHello.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from castui.config.model import Ports
from castui.engine.runner import ROUND_LEAD_S, Runner, Unit
from castui.engine.targets import CheckSpec, Target
from castui.lab.certs import LabCA
from castui.lab.node import LabNode
from castui.model.results import Code, ProbeResult
from castui.probes import HTTP_CHECKS
from castui.probes.http import tls_context

ADDRESS = "127.0.8.7"
FQDN = "cas07.lab.test"


class Watched(Runner):
    """A runner that notes when each unit of a round starts and ends (loop time)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.spans: dict[str, tuple[float, float]] = {}

    async def run_unit(self, target: Target, unit: Unit) -> dict[str, ProbeResult]:
        loop = asyncio.get_running_loop()
        began = loop.time()
        try:
            return await super().run_unit(target, unit)
        finally:
            self.spans[unit[0].name] = (began, loop.time())


def lab_node(lab_ca: LabCA) -> LabNode:
    """CAS07 on ADDRESS, a 2013 node with its TCP ports and HTTPS (ports chosen at start)."""
    return LabNode("CAS07", ADDRESS, Ports(epm=0, https=0, http=0), profile="exchange2013",
                   ssl_context=lab_ca.issue(FQDN), fqdn=FQDN)


def checks(https: int, node: LabNode) -> tuple[CheckSpec, ...]:
    """A node's round: TCP ports, the certificate, the 2013 directories."""
    return (CheckSpec("tcp_epm", "tcp", "pool", port=node.ports.epm),
            CheckSpec("tcp_http", "tcp", "pool", port=node.ports.http),
            CheckSpec("tcp_https", "tcp", "pool", port=https),
            CheckSpec("tls", "tls", "pool", port=https, names=(FQDN,)),
            *(CheckSpec(e.name, "http", "pool", port=https, expect=e)
              for e in HTTP_CHECKS["exchange2013"]))


async def test_the_https_round_runs_alone_before_the_other_checks(lab_ca: LabCA,
                                                                   ca_file: Path) -> None:
    node = lab_node(lab_ca)
    async with node:
        specs = checks(node.ports.https, node)
        runner = Watched(timeout=2.0, max_concurrency=16, verify=tls_context(ca_file, True))
        try:
            results = await runner.run_round(Target("Site-A", "CAS07", "node", ADDRESS, FQDN,
                                                    specs))
        finally:
            await runner.aclose()
    assert {n: r.code for n, r in results.items() if not r.ok} == {}
    https_ended = runner.spans["tls"][1]
    for name in ("tcp_epm", "tcp_http", "tcp_https"):
        assert runner.spans[name][0] >= https_ended, name


@contextlib.asynccontextmanager
async def silent_listener() -> AsyncIterator[int]:
    """A port that accepts connections and never says a word (a hung HTTPS service)."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, ADDRESS, 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for writer in held:
            writer.close()
        await server.wait_closed()


async def test_a_hung_https_round_holds_the_other_checks_up_only_briefly(lab_ca: LabCA,
                                                                         ca_file: Path) -> None:
    """The TLS handshake never completes; the TCP checks start ROUND_LEAD_S in and end while
    the HTTPS round still waits, and its checks time out."""
    node = lab_node(lab_ca)
    async with node, silent_listener() as hung:
        specs = checks(hung, node)
        runner = Watched(timeout=0.4, max_concurrency=16, verify=tls_context(ca_file, True))
        loop = asyncio.get_running_loop()
        began = loop.time()
        try:
            results = await runner.run_round(Target("Site-A", "CAS07", "node", ADDRESS, FQDN,
                                                    specs))
        finally:
            await runner.aclose()
    assert results["tls"].code == Code.L6TOUT
    assert {results[name].code for name in ("tcp_epm", "tcp_http", "tcp_https")} == {Code.L4OK}
    https_ended = runner.spans["tls"][1]
    for name in ("tcp_epm", "tcp_http", "tcp_https"):
        start, end = runner.spans[name]
        # asyncio may wake a timer up to its clock resolution early
        assert start - began >= ROUND_LEAD_S - 0.005, name
        assert end < https_ended, name
