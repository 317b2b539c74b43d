"""Clients that bypass the array: real connections to a node's own address and through a real
HAProxy VIP, counted by a real `castui agent`, shown by `check` JSON and by `castui audit`.

Only Exchange stands in: the node's HTTPS service is a TCP listener that holds connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from castui.agent import AgentServer, Collector
from castui.agent.collect import count_direct
from tests.support.haproxy import HAProxy
from tests.support.net import free_port, loopback_block, wait_for
from tests.test_agent import bearer, connect_from, service_listener

ROOT = Path(__file__).resolve().parent.parent


@contextlib.asynccontextmanager
async def estate(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    """A node (service + agent on its own address), a HAProxy VIP in front of it that connects
    from its own source address, and the castui config and export that describe them."""
    block = loopback_block()
    node, balancer, vip = block.addr(21), block.addr(5), block.addr(50)
    port = free_port(node)
    token = secrets.token_urlsafe(32)
    (tmp_path / "agent.token").write_text(token)
    collector = Collector(ports=[port], addresses=[node], max_age=0.05)
    agent = AgentServer(collector, token, host=node, port=0, rate=1000, burst=1000)
    haproxy = HAProxy(vip, {"https": [("CAS1", node, port)]}, frontend_ports={"https": port},
                      inter_ms=1000, rise=1, fall=3, tmpdir=tmp_path, source=balancer)
    async with service_listener(node, port), agent:
        with haproxy:
            config = tmp_path / "estate.toml"
            config.write_text(f"""
[defaults]
# the agent shares the test's loop with HAProxy's checks and the service: room on a busy CI
interval = 5.0
timeout = 4.0

[[sites]]
name = "Site-A"
array_fqdn = "outlook.site-a.corp.local"
vip = "{vip}"
balancer_addresses = ["{balancer}"]
agent_token_file = "agent.token"
ports = {{ https = {port}, epm = {free_port(node)} }}

[sites.lb]
type = "haproxy"
socket = "{haproxy.socket_path}"
backend = "https"

[[sites.nodes]]
name = "CAS1"
address = "{node}"
agent = "{agent.url}"
""")
            export = tmp_path / "export.json"
            export.write_text(json.dumps({
                "format": "castui-exchange/1", "collected": "2026-11-21T08:00:00Z",
                "servers": [{"name": "CAS1", "fqdn": None, "site": "Site-A", "version": "14.3",
                             "roles": ["ClientAccess"]}],
                "arrays": [{"name": "CASArray-A", "fqdn": "outlook.site-a.corp.local",
                            "site": "Site-A", "members": ["CAS1"]}],
                "databases": [], "virtual_directories": [], "outlook_anywhere": [],
                "certificates": []}))
            yield {"node": node, "vip": vip, "port": port, "agent": agent, "token": token,
                   "config": config, "export": export, "block": block}


async def castui(*args: str) -> tuple[int, str]:
    """Run `python -m castui ARGS` without blocking the loop the agent serves on."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "castui", *args, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    assert not err.strip() or proc.returncode != 3, err.decode()
    return proc.returncode, out.decode()


async def test_clients_on_the_node_address_are_counted_not_those_through_the_vip(
        tmp_path: Path) -> None:
    async with estate(tmp_path) as e:
        block = e["block"]
        direct_a, direct_b, via_vip = block.addr(101), block.addr(102), block.addr(103)
        writers = [await connect_from(direct_a, e["node"], e["port"]),
                   await connect_from(direct_a, e["node"], e["port"]),
                   await connect_from(direct_b, e["node"], e["port"]),
                   await connect_from(via_vip, e["vip"], e["port"]),
                   await connect_from(via_vip, e["vip"], e["port"])]
        try:
            agent: AgentServer = e["agent"]
            async with httpx.AsyncClient(trust_env=False, timeout=5) as http:

                async def status() -> dict[str, Any]:
                    response = await http.get(
                        f"{agent.url}/v1/status", headers=bearer(e["token"]),
                        params={"direct_ports": str(e["port"]), "via": block.addr(5)})
                    doc: dict[str, Any] = response.json()
                    return doc

                async def all_five_seen() -> bool:
                    return (await status())["connections"][str(e["port"])]["established"] >= 5

                # The two through the VIP arrive from HAProxy's source address: once the agent
                # sees all five, the count below has had its chance to (wrongly) include them.
                await wait_for(all_five_seen, 10, interval=0.1,
                               what="the agent to see 3 direct and 2 balanced connections")
                assert (await status())["direct"] == {"clients": 2, "connections": 3}

            code, out = await castui("check", "--config", str(e["config"]), "--format", "json")
            (node,) = json.loads(out)["sites"][0]["nodes"]
            assert node["direct"] == 2, out

            code, out = await castui("audit", "--config", str(e["config"]), "--exchange",
                                     str(e["export"]), "--format", "json")
            doc = json.loads(out)
            (bypass,) = [f for f in doc["findings"] if f["rule"] == "clients_bypass_array"]
            assert bypass["severity"] == "warning" and bypass["subject"] == "CAS1"
            assert bypass["message"].startswith("2 clients connect to CAS1 directly")
            assert "Set-MailboxDatabase -RpcClientAccessServer outlook.site-a.corp.local" \
                in bypass["fix"]
            (members,) = [f for f in doc["findings"] if f["rule"] == "members_match_pool"]
            assert members["severity"] == "ok", members
            assert "the nodes castui watches and the balancer's pool" in members["message"]
            assert code == 1  # a warning; the rest holds or is skipped (no resolvers here)
        finally:
            for writer in writers:
                writer.close()


def test_under_windows_nlb_connections_to_the_vip_are_balanced() -> None:
    """NLB keeps the client's address and every node carries the VIP: a connection to the VIP
    came through the array, one to the node's own address did not (the rows stand in for
    what psutil reports on a Windows node, where NLB runs)."""
    rows = [("10.1.0.50", 443, "10.9.0.1"), ("10.1.0.50", 135, "10.9.0.2"),
            ("10.1.0.21", 443, "10.9.0.3"), ("10.1.0.21", 59531, "10.9.0.3"),
            ("10.1.0.21", 8080, "10.9.0.4")]
    assert count_direct(rows, (135, 443, 59531), ("10.1.0.50",)) == {"clients": 1,
                                                                     "connections": 2}


async def test_a_bad_bypass_query_is_refused_without_echoing_it() -> None:
    token = secrets.token_urlsafe(32)
    collector = Collector(ports=[free_port("127.0.0.1")])
    async with AgentServer(collector, token, host=loopback_block().addr(1), port=0) as agent, \
            httpx.AsyncClient(trust_env=False, timeout=5) as http:
        for query, reason in (("direct_ports=443&via=<script>", "via must be IP addresses"),
                              ("direct_ports=http&via=10.0.0.1",
                               "direct_ports must be port numbers"),
                              ("via=10.0.0.1", "bad query (expected direct_ports=...&via=...)")):
            response = await http.get(f"{agent.url}/v1/status?{query}", headers=bearer(token))
            assert (response.status_code, response.json()) == (400, {"error": reason})
