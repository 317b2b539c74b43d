"""The runner's per-target httpx clients against a lab CAS node on loopback: a node whose
httpx checks (VIP samples, the agent) timed out is judged on a fresh connection pool, never on
one the timeouts broke; its HTTPS checks have their own connection (castui.probes.https)."""

from __future__ import annotations

from pathlib import Path

import httpx

from castui.config.model import Ports
from castui.engine.runner import Runner
from castui.engine.targets import CheckSpec, Target
from castui.lab.certs import LabCA
from castui.lab.node import LabNode
from castui.probes import HTTP_CHECKS, make_http_client
from castui.probes.http import tls_context

NODE_ADDRESS = "127.0.8.3"
NODE_FQDN = "cas03.lab.test"
SAMPLES = 6


async def test_a_node_passes_again_after_rounds_of_timeouts(lab_ca: LabCA,
                                                            ca_file: Path) -> None:
    """Deadlines from 5 to 100 ms land before, during and just after the TLS handshakes of a
    VIP sample's six requests. httpcore can keep a connection from such a round that nobody
    will use (encode/httpcore#1093); a client keeping them failed every later sample of the
    healthy node ("no connection"). The next normal round passes (the sample and the node's
    HTTPS checks alike), and every client is closed."""
    node = LabNode("CAS03", NODE_ADDRESS, Ports(epm=0, https=0, http=0),
                   profile="exchange2013", ssl_context=lab_ca.issue(NODE_FQDN), fqdn=NODE_FQDN)
    made: list[httpx.AsyncClient] = []

    def new_client(target: Target) -> httpx.AsyncClient:
        client = make_http_client(ca_file=ca_file, tls_verify=True, max_connections=SAMPLES)
        made.append(client)
        return client

    async with node:
        expects = HTTP_CHECKS["exchange2013"]
        checks = (*(CheckSpec(e.name, "http", "pool", port=node.ports.https, expect=e)
                    for e in expects),
                  CheckSpec("vip_sample", "sample", "info", port=node.ports.https,
                            expect=expects[0], count=SAMPLES))
        target = Target("Site-A", "CAS03", "node", NODE_ADDRESS, NODE_FQDN, checks)
        runner = Runner(timeout=0.005, max_concurrency=64, http_client=new_client,
                        verify=tls_context(ca_file, True))
        try:
            for ms in range(5, 101, 5):
                runner.timeout = ms / 1000
                await runner.run_round(target)
            runner.timeout = 1.0
            results = await runner.run_round(target)
        finally:
            await runner.aclose()
    assert {name: r.code for name, r in results.items()} == {c.name: "L7OK" for c in checks}
    assert results["vip_sample"].facts["answered_by"] == {"CAS03": SAMPLES}
    assert len(made) > 1  # the timeouts' client was replaced
    assert all(client.is_closed for client in made)
