"""Deep checks end to end: DNS hygiene with real dnsmasq resolvers, certificate coverage with
certificates from the lab CA, and the endpoint-mapper check through the lab's responder."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from castui.engine import Kind, Monitor
from castui.lab.certs import LabCA
from tests.support.dnsmasq import Dnsmasq
from tests.support.estate import ZONE, estate
from tests.support.net import free_port, wait_for
from tests.support.procs import require_binary

pytestmark = pytest.mark.integration

ARRAY = f"outlook.site-a.{ZONE}"
SERVICES = ("mail.lab.test", "autodiscover.lab.test")


def _needs() -> None:
    require_binary("haproxy")
    require_binary("dnsmasq")


async def _check_json(config: Path) -> tuple[int, dict[str, object]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "castui", "check", "--config", str(config), "--format", "json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, json.loads(out)


async def test_split_resolvers_long_ttl_and_outside_leak_are_warnings(
        tmp_path: Path, lab_ca: LabCA) -> None:
    _needs()
    other, outside = "127.0.57.53", "127.0.57.54"
    other_port, outside_port = free_port(other), free_port(outside)
    # A second internal resolver still giving the DR VIP (a half-finished repoint), and an
    # outside resolver that wrongly serves the internal name.
    with Dnsmasq(other, other_port, {ARRAY: ["127.0.57.150"]}, tmpdir=tmp_path), \
         Dnsmasq(outside, outside_port, {ARRAY: ["127.0.57.150"]}, tmpdir=tmp_path):
        extra = f'external_dns_servers = ["{outside}:{outside_port}"]'
        async with estate(tmp_path, lab_ca, dns_ttl=86400, more_dns=(f"{other}:{other_port}",),
                          site_extra=extra, interval=1.0, timeout=0.9) as est:
            code, doc = await _check_json(est.config_path)
    site = doc["sites"][0]  # type: ignore[index]
    dns = site["dns"]
    hygiene = {c["name"]: c for c in dns["checks"] if c["kind"] == "dns_hygiene"}
    assert set(hygiene) == {"ttl", "split", "external"}
    assert hygiene["ttl"]["ok"] is False and "TTL 86400 s above 300 s" in hygiene["ttl"]["detail"]
    assert hygiene["split"]["ok"] is False
    assert f"{est.dns_address}:{est.dns_port} says {est.vip}" in hygiene["split"]["detail"]
    assert f"{other}:{other_port} says 127.0.57.150" in hygiene["split"]["detail"]
    assert hygiene["external"]["ok"] is False
    assert "resolves the internal name from outside" in hygiene["external"]["detail"]
    # One internal resolver lacks the VIP: that is CRITICAL; hygiene findings are reasons too.
    assert code == 2 and site["status"] == "CRITICAL"
    assert any(r.startswith("DNS split:") for r in site["reasons"])


async def test_certificate_missing_a_service_name_degrades_that_node_only(
        tmp_path: Path, lab_ca: LabCA) -> None:
    _needs()
    names = ", ".join(f'"{n}"' for n in SERVICES)
    async with estate(tmp_path, lab_ca, site_extra=f"service_names = [{names}]",
                      interval=1.0, timeout=0.9) as est:
        for name, node in est.nodes.items():
            node.set_ssl_context(lab_ca.issue(f"{name.lower()}.{ZONE}", ARRAY, *SERVICES))
        # CAS2 serves a certificate for its own name only: Autodiscover breaks there.
        est.nodes["CAS2"].set_ssl_context(lab_ca.issue(f"cas2.{ZONE}", ARRAY))
        code, doc = await _check_json(est.config_path)
    nodes = {n["name"]: n for n in doc["sites"][0]["nodes"]}  # type: ignore[index]
    tls = {name: next(c for c in node["checks"] if c["kind"] == "tls")
           for name, node in nodes.items()}
    assert tls["CAS1"]["ok"] and tls["CAS3"]["ok"]
    assert not tls["CAS2"]["ok"] and tls["CAS2"]["code"] == "TLSNAME"
    assert "does not cover mail.lab.test, autodiscover.lab.test" in tls["CAS2"]["detail"]
    assert f"has cas2.{ZONE}" in tls["CAS2"]["detail"]
    assert [n["state"] for n in nodes.values()] == ["up", "degraded", "up"]
    assert code == 1


async def test_endpoint_mapper_check_maps_the_pinned_rpc_ports(
        tmp_path: Path, lab_ca: LabCA) -> None:
    _needs()
    async with estate(tmp_path, lab_ca, interval=1.0, timeout=0.9) as est:
        code, doc = await _check_json(est.config_path)
    assert code == 0
    ports = est.config.sites[0].ports
    for node in doc["sites"][0]["nodes"]:  # type: ignore[index]
        epmap = next(c for c in node["checks"] if c["name"] == "epmap")
        assert (epmap["kind"], epmap["ok"], epmap["code"]) == ("epm", True, "EPMOK")
        assert f"MSExchangeRPC -> {ports.mapi}" in epmap["detail"]
        assert f"MSExchangeAB -> {ports.ab}" in epmap["detail"]
    vip_checks = {c["name"] for c in doc["sites"][0]["vip"]["checks"]}  # type: ignore[index]
    assert {"epmap", "tls"} <= vip_checks  # pinned and balanced: mappable through the VIP


async def test_watch_reports_a_resolver_split_as_it_happens(
        tmp_path: Path, lab_ca: LabCA) -> None:
    _needs()
    other = "127.0.57.63"
    other_port = free_port(other)
    with Dnsmasq(other, other_port, {ARRAY: []}, tmpdir=tmp_path) as second:
        async with estate(tmp_path, lab_ca, more_dns=(f"{other}:{other_port}",)) as est:
            second.set_records({ARRAY: [est.vip]})
            monitor = Monitor(est.config)
            events: list[str] = []
            monitor.subscribe(lambda e: events.append(e.kind))
            stop = asyncio.Event()
            task = asyncio.create_task(monitor.run(stop=stop))
            try:
                await wait_for(lambda: monitor.states["Site-A/dns"].rounds >= 2, 10,
                               what="two DNS rounds")
                assert Kind.DNS_SPLIT not in events
                second.set_records({ARRAY: ["127.0.57.150"]})
                await wait_for(lambda: Kind.DNS_SPLIT in events, 5, what="dns_split")
                assert Kind.DNS_CHANGED in events
            finally:
                stop.set()
                await asyncio.wait_for(task, 5)
