"""The real dnsmasq and HAProxy the integration tests build on behave as those tests assume."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import httpx
import pytest

from castui.config.model import Ports
from castui.lab.certs import LabCA
from castui.lab.node import LabNode
from tests.support.dnsmasq import Dnsmasq
from tests.support.haproxy import HAProxy
from tests.support.net import free_port, free_ports, wait_for

pytestmark = pytest.mark.integration


def test_dnsmasq_serves_records_and_flips_on_set_records(tmp_path: Path) -> None:
    address = "127.0.6.53"
    records = {"casarray.corp.local": ["127.0.6.100", "127.0.6.101"]}
    with Dnsmasq(address, free_port(address), records, ttl=60, tmpdir=tmp_path) as dns:
        answer = dns.query("casarray.corp.local")
        assert answer is not None and answer.rcode == "NOERROR"
        assert sorted(answer.addresses) == ["127.0.6.100", "127.0.6.101"]
        assert answer.ttl == 60
        missing = dns.query("nosuchhost.corp.local")
        assert missing is not None and missing.rcode == "NXDOMAIN"

        dns.set_records({"casarray.corp.local": ["127.0.6.102"]})
        answer = dns.query("casarray.corp.local")
        assert answer is not None and answer.addresses == ["127.0.6.102"]

        dns.set_records({"casarray.corp.local": []})
        gone = dns.query("casarray.corp.local")
        assert gone is not None and gone.rcode == "NXDOMAIN"
    assert dns.query("casarray.corp.local") is None  # stopped: nothing answers


async def test_haproxy_forwards_to_a_lab_node_and_tracks_its_health(
        tmp_path: Path, lab_ca: LabCA, ca_file: Path) -> None:
    vip = "127.0.6.120"
    node = LabNode("CAS01", "127.0.6.121", Ports(epm=0, https=0, http=0),
                   ssl_context=lab_ca.issue("casarray.corp.local"), fqdn="cas01.corp.local")
    await node.start()
    try:
        https_port, epm_port, stats_port = free_ports(vip, 3)
        backends = {service: [("cas01", node.address, port)]
                    for service, port in (("https", node.ports.https), ("epm", node.ports.epm))}
        with HAProxy(vip, backends, frontend_ports={"https": https_port, "epm": epm_port},
                     inter_ms=100, rise=2, fall=2, tmpdir=tmp_path,
                     stats_port=stats_port) as lb:
            await wait_for(lambda: lb.server_status("https", "cas01") == "UP", 5.0,
                           what="cas01 UP in haproxy")
            async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=ca_file)) as http:
                response = await http.get(
                    f"https://{vip}:{https_port}/owa/auth/logon.aspx",
                    headers={"Host": "casarray.corp.local"},
                    extensions={"sni_hostname": "casarray.corp.local"})
                assert response.status_code == 200 and "logonForm" in response.text
                stats = await http.get(f"http://{vip}:{stats_port}/;csv")
                assert "cas01" in stats.text

            await node.crash()
            await wait_for(lambda: all(lb.server_status(service, "cas01") == "DOWN"
                                       for service in backends), 5.0,
                           what="cas01 DOWN in haproxy after a crash")
            rows = {(row["pxname"], row["svname"]): row for row in lb.show_stat()}
            assert rows[("https", "cas01")]["check_status"] == "L4CON"
            assert rows[("https", "BACKEND")]["status"] == "DOWN"

            await node.restore()
            await wait_for(lambda: lb.server_status("epm", "cas01") == "UP", 5.0,
                           what="cas01 UP again after restore")
            _, writer = await asyncio.open_connection(vip, epm_port)
            writer.close()
            await writer.wait_closed()
    finally:
        await node.stop()
