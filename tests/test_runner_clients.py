"""The runner's per-target HTTP clients against a lab CAS node on loopback: a node whose
checks timed out is judged on a fresh connection pool, never on one the timeouts broke."""

from __future__ import annotations

from pathlib import Path

import httpx

from castui.config.model import Ports
from castui.engine.runner import Runner
from castui.engine.targets import CheckSpec, Target
from castui.lab.certs import LabCA
from castui.lab.node import LabNode
from castui.probes import HTTP_CHECKS, make_http_client

NODE_ADDRESS = "127.0.8.3"
NODE_FQDN = "cas03.lab.test"


async def test_a_node_passes_again_after_rounds_of_timeouts(lab_ca: LabCA,
                                                            ca_file: Path) -> None:
    """Deadlines from 5 to 100 ms land before, during and just after the TLS handshakes of a
    node's six HTTP checks. httpcore can keep a connection from such a round that nobody will
    use (encode/httpcore#1093); a client keeping them failed every later check of the healthy
    node ("no connection"). The next normal round passes, and every client is closed."""
    node = LabNode("CAS03", NODE_ADDRESS, Ports(epm=0, https=0, http=0),
                   ssl_context=lab_ca.issue(NODE_FQDN), fqdn=NODE_FQDN)
    made: list[httpx.AsyncClient] = []

    def new_client(target: Target) -> httpx.AsyncClient:
        client = make_http_client(ca_file=ca_file, tls_verify=True,
                                  max_connections=len(target.checks))
        made.append(client)
        return client

    async with node:
        checks = tuple(CheckSpec(e.name, "http", "pool", port=node.ports.https, expect=e)
                       for e in HTTP_CHECKS["exchange2010"])
        target = Target("Site-A", "CAS03", "node", NODE_ADDRESS, NODE_FQDN, checks)
        runner = Runner(timeout=0.005, max_concurrency=64, http_client=new_client)
        try:
            for ms in range(5, 101, 5):
                runner.timeout = ms / 1000
                await runner.run_round(target)
            runner.timeout = 1.0
            results = await runner.run_round(target)
        finally:
            await runner.aclose()
    assert {name: r.code for name, r in results.items()} == {c.name: "L7OK" for c in checks}
    assert len(made) > 1  # the timeouts' client was replaced
    assert all(client.is_closed for client in made)
