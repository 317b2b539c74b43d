"""`castui check` reads the site's balancer, so its JSON, status and perfdata say what the
console and `watch` say. A real HAProxy health-checks real lab nodes; castui reads it over its
runtime API socket, as it would in production."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path
from typing import Any

import pytest

from castui.lab.certs import LabCA
from tests.support.estate import Estate, estate
from tests.support.net import free_port, wait_for
from tests.support.procs import require_binary
from tests.test_cli import CHECK_TIMING, castui


def _balancer(est: Estate, source: str, extra: str = "") -> None:
    est.reconfigure(site_extra=f'[sites.lb]\ntype = "haproxy"\n{source}\n'
                               f'backend = "https"\n{extra}')


def _lb_of(doc: dict[str, Any]) -> dict[str, Any]:
    """Node name -> its `lb` entry, from `check --format json` of a one-site estate."""
    (site,) = doc["sites"]
    return {node["name"]: node["lb"] for node in site["nodes"]}


@pytest.mark.integration
async def test_check_reads_the_balancer_and_its_verdict_counts(tmp_path: Path,
                                                                lab_ca: LabCA) -> None:
    require_binary("haproxy")
    require_binary("dnsmasq")
    async with estate(tmp_path, lab_ca, **CHECK_TIMING) as est:
        _balancer(est, f'socket = "{est.haproxy.socket_path}"')
        await wait_for(lambda: all(est.haproxy.server_status("https", n) == "UP"
                                   for n in est.nodes), 10, what="HAProxy sees every node UP")

        code, out, err = await castui("check", "--config", str(est.config_path),
                                      "--format", "json", "--rounds", "3")
        assert code == 0, out + err
        doc = json.loads(out)
        assert doc["sites"][0]["lb_error"] is None
        for node, lb in _lb_of(doc).items():
            assert isinstance(lb, dict), node
            # castui's own VIP probes may still hold a session open when it reads the balancer
            assert isinstance(lb.pop("sessions"), int), node
            assert lb == {"status": "UP", "in_rotation": True, "check_status": "L4OK"}, node

        # An operator drains CAS2 on the balancer; castui still sees it healthy.
        assert est.haproxy.command("set server https/CAS2 state drain").strip() == ""
        code, out, _ = await castui("check", "--config", str(est.config_path),
                                    "--format", "json")
        doc = json.loads(out)
        assert code == 1 and doc["status"] == "WARNING"
        assert _lb_of(doc)["CAS2"] == {"status": "DRAIN", "in_rotation": False,
                                       "check_status": "L4OK", "sessions": 0}  # gets none
        assert "CAS2: balancer says DRAIN, castui UP" in doc["sites"][0]["reasons"]

        code, out, _ = await castui("check", "--config", str(est.config_path))
        line = out.strip()
        assert code == 1 and line.startswith("CASTUI WARNING - Site-A: ")
        assert "CAS2: balancer says DRAIN, castui UP" in line
        _, perf = line.split(" | ")
        for node in est.nodes:
            assert re.search(rf"(^| )'{node}_lb_sessions'=\d+;;;0( |$)", perf), perf


@pytest.mark.integration
async def test_a_balancer_that_never_answers_costs_check_its_timeout_not_a_node(
        tmp_path: Path, lab_ca: LabCA) -> None:
    require_binary("haproxy")
    require_binary("dnsmasq")
    async with estate(tmp_path, lab_ca, **CHECK_TIMING) as est:
        # A runtime API address that accepts connections and never says a word.
        silent = socket.create_server((est.dns_address, free_port(est.dns_address)))
        try:
            host, port = silent.getsockname()[:2]
            _balancer(est, f'socket = "{host}:{port}"', "timeout = 0.3")
            code, out, err = await castui("check", "--config", str(est.config_path),
                                          "--format", "json", "--rounds", "2")
        finally:
            silent.close()
    assert code == 0, out + err
    doc = json.loads(out)
    site = doc["sites"][0]
    assert site["status"] == "OK"
    assert site["lb_error"] is not None and "no answer within 0.3 s" in site["lb_error"]
    assert set(_lb_of(doc).values()) == {None}
