"""The lab estate: its layout, its config, and every fault as castui's engine sees it."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import ssl
from pathlib import Path

import httpx
import pytest

from castui.config import load_config
from castui.lab.actions import ActionError, parse_action
from castui.lab.certs import LabCA
from castui.lab.config_file import ca_path_for
from castui.lab.estate import LabEstate
from castui.lab.haproxy_config import render_haproxy_config
from castui.lab.layout import (
    DEFAULT_PORTS,
    REAL_PORTS,
    LabError,
    LabLayout,
    LabTiming,
    SitePlan,
    parse_sites,
    require_privileges,
)
from tests.support.dnsmasq import query
from tests.support.lab import FAST, lab_net, refuses, running_lab, watched_lab
from tests.support.net import wait_for
from tests.support.procs import ManagedProcess, require_binary

# -- layout ----------------------------------------------------------------------------------


def test_default_layout_is_two_sites_on_fixed_loopback_addresses() -> None:
    estate = LabEstate()
    sites = estate.sites
    assert list(sites) == ["Site-A", "Site-B"]
    a, b = sites["Site-A"], sites["Site-B"]
    assert (a.vip, a.array_fqdn) == ("127.42.1.50", "outlook.site-a.corp.local")
    assert (b.vip, b.array_fqdn) == ("127.42.2.50", "outlook.site-b.corp.local")
    assert {n: node.address for n, node in a.nodes.items()} == {
        "CAS1": "127.42.1.21", "CAS2": "127.42.1.22", "CAS3": "127.42.1.23"}
    assert {n: node.address for n, node in b.nodes.items()} == {
        "CAS4": "127.42.2.21", "CAS5": "127.42.2.22"}
    assert a.nodes["CAS1"].fqdn == "cas1.site-a.corp.local"
    assert (estate.dns.address, estate.dns.port) == ("127.42.0.53", 20053)
    assert estate.ports == DEFAULT_PORTS
    assert all(port >= 1024 for _, port in DEFAULT_PORTS.tcp_checks())


def test_a_larger_layout_skips_the_vip_address() -> None:
    layout = LabLayout(sites=(SitePlan("A", 40), SitePlan("B", 8), SitePlan("C", 8)))
    addresses = [layout.node_address(0, n) for n in range(1, 41)]
    assert layout.vip(0) not in addresses
    assert addresses[28:31] == ["127.42.1.49", "127.42.1.51", "127.42.1.52"]
    assert layout.vip(2) == "127.42.3.50"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"net": "10.42"}, "loopback /16"),
    ({"net": "127.300"}, "loopback /16"),
    ({"sites": (SitePlan("Site A", 1),)}, "DNS label"),
    ({"sites": (SitePlan("A", 1), SitePlan("a", 2))}, "duplicate site"),
    ({"sites": (SitePlan("A", 0),)}, "1-233 nodes"),
    ({"sites": ()}, "1-254 sites"),
])
def test_bad_layouts_are_one_line_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(LabError, match=message) as caught:
        LabLayout(**kwargs)  # type: ignore[arg-type]
    assert "\n" not in str(caught.value)


def test_site_spec() -> None:
    assert parse_sites("Site-A=3, DR=2") == (SitePlan("Site-A", 3), SitePlan("DR", 2))
    with pytest.raises(LabError, match="NAME=NODES"):
        parse_sites("Site-A:3")


def test_real_ports_need_root() -> None:
    real = LabLayout(ports=REAL_PORTS, dns_port=53)
    with pytest.raises(LabError, match="run it as root"):
        require_privileges(real, euid=1000)
    require_privileges(real, euid=0)
    require_privileges(LabLayout(), euid=1000)  # the default ports are unprivileged


def test_speed_scales_every_duration_but_castui_checks_at_most_twice_a_second() -> None:
    double = LabTiming().scaled(2)
    assert (double.interval, double.timeout, double.lb_inter, double.lb_timeout) == (
        1.0, 0.75, 2.5, 0.5)
    fast = LabTiming().scaled(10)
    assert (fast.interval, fast.timeout, fast.lb_inter, fast.lb_timeout) == (0.5, 0.375, 0.5, 0.1)
    assert (fast.rise, fast.fall, fast.lb_rise, fast.lb_fall) == (2, 3, 2, 3)
    assert LabTiming().scaled(0.5).interval == 4.0
    with pytest.raises(LabError):
        LabTiming().scaled(0)


# -- the running estate ------------------------------------------------------------------------


async def test_config_describes_the_running_lab(tmp_path: Path, lab_ca: LabCA) -> None:
    async with running_lab(lab_ca) as estate:
        path = estate.write_config(tmp_path / "lab.toml")
        config = load_config(path)
        assert ca_path_for(path) == tmp_path / "lab.ca.pem"
        assert config.defaults.ca_file == tmp_path / "lab.ca.pem"
        assert config.defaults.tls_verify
        assert (config.defaults.interval, config.defaults.timeout) == (FAST.interval, FAST.timeout)
        site_a = config.sites[0]
        assert site_a.vip == estate.sites["Site-A"].vip
        assert site_a.ports == estate.ports and site_a.ports.mapi and site_a.ports.ab
        assert [str(s) for s in site_a.dns_servers] == [f"{estate.dns.address}:{estate.dns.port}"]
        assert [(n.name, n.address, n.fqdn) for n in site_a.nodes] == [
            (n.name, n.address, n.fqdn) for n in estate.sites["Site-A"].nodes.values()]


async def test_dns_serves_arrays_and_nodes_with_ttl_300(lab_ca: LabCA) -> None:
    async with running_lab(lab_ca) as estate:
        dns = estate.dns
        array = await asyncio.to_thread(query, dns.address, dns.port, "outlook.site-b.corp.local")
        assert array is not None and array.addresses == [estate.sites["Site-B"].vip]
        assert array.ttl == 300
        node = await asyncio.to_thread(query, dns.address, dns.port, "cas2.site-a.corp.local")
        assert node is not None and node.addresses == [estate.sites["Site-A"].nodes["CAS2"].address]


async def test_node_certificates_cover_node_and_array_names(lab_ca: LabCA) -> None:
    async with running_lab(lab_ca) as estate:
        cas4 = estate.sites["Site-B"].nodes["CAS4"]
        client = lab_ca.client_context()
        for name in ("cas4.site-b.corp.local", "outlook.site-b.corp.local",
                     "outlook.site-a.corp.local"):
            _, writer = await asyncio.open_connection(cas4.address, estate.ports.https,
                                                      ssl=client, server_hostname=name)
            writer.close()
        with pytest.raises(ssl.SSLCertVerificationError):
            await asyncio.open_connection(cas4.address, estate.ports.https, ssl=client,
                                          server_hostname="cas1.site-a.corp.local")


async def test_tls_clients_that_speak_first_are_served(lab_ca: LabCA) -> None:
    """Regression: a ClientHello sent with the connect was lost and the handshake hung."""
    async with running_lab(lab_ca) as estate:
        node = estate.sites["Site-A"].nodes["CAS1"]
        client = lab_ca.client_context()

        async def handshake() -> None:
            _, writer = await asyncio.open_connection(
                node.address, estate.ports.https, ssl=client, server_hostname=node.fqdn)
            writer.close()

        await asyncio.wait_for(asyncio.gather(*(handshake() for _ in range(40))), 10)


async def test_clients_hanging_up_after_the_handshake_log_nothing(
        lab_ca: LabCA, caplog: pytest.LogCaptureFixture) -> None:
    """Regression: every such client (castui's TLS check) logged an asyncio warning."""
    async with running_lab(lab_ca) as estate:
        node = estate.sites["Site-A"].nodes["CAS2"]
        with caplog.at_level(logging.WARNING, logger="asyncio"):
            for _ in range(10):
                _, writer = await asyncio.open_connection(
                    node.address, estate.ports.https, ssl=lab_ca.client_context(),
                    server_hostname=node.fqdn)
                writer.close()
                await writer.wait_closed()
            # A request answered after the hang-ups: the node, on this loop, had their bytes
            # waiting before this connection began, so it has read them all by its answer.
            async with httpx.AsyncClient(verify=lab_ca.client_context(), trust_env=False) as http:
                await http.get(f"https://{node.address}:{estate.ports.https}/owa/",
                               headers={"Host": node.fqdn or node.address},
                               extensions={"sni_hostname": node.fqdn})
        assert caplog.records == []


async def test_exchange2013_profile_through_the_vip(lab_ca: LabCA) -> None:
    async with running_lab(lab_ca, profile="exchange2013") as estate:
        site = estate.sites["Site-A"]
        async with httpx.AsyncClient(verify=lab_ca.client_context(), trust_env=False) as http:
            answer = await http.get(f"https://{site.vip}:{estate.ports.https}/owa/healthcheck.htm",
                                    headers={"Host": site.array_fqdn},
                                    extensions={"sni_hostname": site.array_fqdn})
        assert answer.status_code == 200
        assert answer.headers["x-feserver"] in site.nodes


async def test_unknown_names_change_nothing(lab_ca: LabCA) -> None:
    async with running_lab(lab_ca) as estate:
        before = estate.status()
        for text, message in [("crash Site-A/CAS9", "no node 'CAS9' in Site-A"),
                              ("crash Site-C/CAS1", "no site 'Site-C'"),
                              ("switchover Site-A Site-Z", "no site 'Site-Z'"),
                              ("switchover Site-A site-a", "pick another site")]:
            with pytest.raises(ActionError, match=message):
                await estate.apply(parse_action(text))
        assert estate.status() == before


async def test_names_are_case_insensitive_and_reset_mends_everything(lab_ca: LabCA) -> None:
    async with running_lab(lab_ca) as estate:
        healthy = estate.status()
        applied = await estate.apply(parse_action("CRASH site-a/cas1"))
        assert str(applied) == "crash Site-A/CAS1"
        for text in ("blackhole Site-A/CAS2", "fail Site-B/CAS4 eas", "slow Site-B/CAS5 300",
                     "drain Site-A/CAS3", "cert-mismatch Site-B/CAS5", "vip-down Site-B",
                     "switchover Site-A Site-B"):
            await estate.apply(parse_action(text))
        status = estate.status()
        a, b = status["sites"]
        assert [n["state"] for n in a["nodes"]] == ["crashed", "blackholed", "ok"]
        assert a["nodes"][2]["drained"] and a["points_to"] == "Site-B"
        assert b["vip_up"] is False
        assert b["nodes"][0]["faults"] == ["fail microsoft-server-activesync"]
        assert b["nodes"][1]["faults"] == ["slow 300", "cert-mismatch"]
        await estate.apply(parse_action("reset"))
        await wait_for(lambda: estate.status() == healthy, 5, what="every node back UP")


async def test_stop_leaves_nothing_listening(lab_ca: LabCA) -> None:
    async with running_lab(lab_ca) as estate:
        await estate.apply(parse_action("blackhole Site-A/CAS1"))
        endpoints = [(node.address, port) for site in estate.sites.values()
                     for node in site.nodes.values() for _, port in estate.ports.tcp_checks()]
        endpoints += [(site.vip, port) for site in estate.sites.values()
                      for _, port in estate.ports.tcp_checks()]
        endpoints.append((estate.dns.address, estate.dns.port))
        dns = (estate.dns.address, estate.dns.port)
    assert all(refuses(address, port) for address, port in endpoints)
    assert await asyncio.to_thread(query, *dns, "outlook.site-a.corp.local") is None


async def test_no_balancer_leaves_the_vips_free(lab_ca: LabCA) -> None:
    async with running_lab(lab_ca, balancers=False) as estate:
        site = estate.sites["Site-A"]
        assert refuses(site.vip, estate.ports.https)
        with pytest.raises(ActionError, match="--no-balancer"):
            await estate.apply(parse_action("drain Site-A/CAS1"))


async def test_a_taken_address_is_a_one_line_error(lab_ca: LabCA) -> None:
    async with running_lab(lab_ca) as first:
        layout = LabLayout(net=lab_net(), ports=first.ports, dns_port=0)
        second = LabEstate(layout, ca=lab_ca)
        with pytest.raises(LabError, match=r"(?i)address already in use") as caught:
            await second.start()
        assert "\n" not in str(caught.value)
        # The failed start let go of what it had bound, and the first lab still answers.
        assert refuses(second.dns.address, second.dns.port)
        assert not refuses(first.sites["Site-A"].vip, first.ports.https)


# -- faults as castui sees them ----------------------------------------------------------------
# Each test watches only the site it breaks: half the TLS work, on a loaded 2-core machine.

SITE_A = ("Site-A",)


async def test_crash_is_seen_as_refused(tmp_path: Path, lab_ca: LabCA) -> None:
    async with watched_lab(tmp_path, lab_ca, sites=SITE_A) as w:
        await w.estate.apply(parse_action("crash Site-A/CAS2"))
        event = await w.until("Site-A", "CAS2", "node_down", w.detection_bound())
        assert "L4CON connection refused" in event.detail
        assert w.seen() == [("Site-A", "CAS2", "node_down")]


async def test_blackhole_is_seen_as_a_timeout(tmp_path: Path, lab_ca: LabCA) -> None:
    async with watched_lab(tmp_path, lab_ca, sites=("Site-B",)) as w:
        await w.estate.apply(parse_action("blackhole Site-B/CAS5"))
        event = await w.until("Site-B", "CAS5", "node_down", w.detection_bound())
        assert "L4TOUT" in event.detail and "refused" not in event.detail
        assert w.seen() == [("Site-B", "CAS5", "node_down")]


async def test_failed_ews_degrades_the_node_but_keeps_it_in_pool(tmp_path: Path,
                                                                lab_ca: LabCA) -> None:
    async with watched_lab(tmp_path, lab_ca, sites=SITE_A) as w:
        await w.estate.apply(parse_action("fail Site-A/CAS1 ews"))
        event = await w.until("Site-A", "CAS1", "node_degraded", w.detection_bound())
        assert "ews" in event.detail and "503" in event.detail
        site = w.monitor.snapshot().sites[0]
        cas1 = site.nodes[0]
        assert cas1.state == "degraded" and cas1.status_text == "DEGRADED"
        assert all(c.ok for c in cas1.checks if c.role == "pool")
        assert site.in_pool == 3 and site.status.name == "WARNING"
        assert w.seen() == [("Site-A", "CAS1", "node_degraded")]


async def test_drained_node_stays_healthy_and_gets_no_new_connections(
        tmp_path: Path, lab_ca: LabCA) -> None:
    async with watched_lab(tmp_path, lab_ca, sites=SITE_A) as w:
        site = w.estate.sites["Site-A"]
        await w.estate.apply(parse_action("drain Site-A/CAS2"))
        assert site.balancer is not None and site.balancer.status()["CAS2"] == "DRAIN"
        client = lab_ca.client_context()
        served: list[str] = []
        for _ in range(12):  # who answers is read from the certificate each node serves
            _, writer = await asyncio.open_connection(
                site.vip, w.estate.ports.https, ssl=client, server_hostname=site.array_fqdn)
            cert = writer.get_extra_info("peercert")
            served.append(dict(item[0] for item in cert["subject"])["commonName"])
            writer.close()
        assert "cas2.site-a.corp.local" not in served
        assert {"cas1.site-a.corp.local", "cas3.site-a.corp.local"} <= set(served)
        rounds = w.monitor.states["Site-A/CAS2"].rounds
        await wait_for(lambda: w.monitor.states["Site-A/CAS2"].rounds >= rounds + 3, 5,
                       what="three more rounds of CAS2")
        assert w.monitor.states["Site-A/CAS2"].state == "up"
        assert w.seen() == []


async def test_switchover_is_a_dns_change_naming_both_vips(tmp_path: Path,
                                                           lab_ca: LabCA) -> None:
    async with watched_lab(tmp_path, lab_ca, sites=SITE_A) as w:
        vip_a, vip_b = w.estate.sites["Site-A"].vip, w.estate.sites["Site-B"].vip
        await w.estate.apply(parse_action("switchover Site-A Site-B"))
        event = await w.until("Site-A", "dns", "dns_changed", w.detection_bound())
        assert (event.data["old"], event.data["new"]) == ([vip_a], [vip_b])
        assert vip_a in event.detail and vip_b in event.detail
        assert w.monitor.snapshot().sites[0].status.name == "CRITICAL"
        await w.estate.apply(parse_action("switchback Site-A"))
        await wait_for(lambda: len(w.seen()) == 2, w.detection_bound(), what="switch back")
        assert w.events[-1].data["new"] == [vip_a]


async def test_the_vip_lags_behind_castui(tmp_path: Path, lab_ca: LabCA) -> None:
    """With a hardware balancer's slower checks, castui reports the node before the VIP
    stops sending it clients."""
    slow_vip = dataclasses.replace(FAST, lb_inter=1.5, lb_fall=3, lb_timeout=0.2)
    async with watched_lab(tmp_path, lab_ca, timing=slow_vip, sites=SITE_A) as w:
        balancer = w.estate.sites["Site-A"].balancer
        assert balancer is not None
        await w.estate.apply(parse_action("crash Site-A/CAS3"))
        await w.until("Site-A", "CAS3", "node_down", w.detection_bound())
        assert "CAS3" in balancer.in_rotation()
        await wait_for(lambda: "CAS3" not in balancer.in_rotation(), 6, what="the VIP to react")


# -- a real HAProxy in front of the lab --------------------------------------------------------


@pytest.mark.integration
async def test_haproxy_config_runs_a_real_vip(tmp_path: Path, lab_ca: LabCA) -> None:
    haproxy = require_binary("haproxy")
    async with running_lab(lab_ca, balancers=False) as estate:
        config = estate.config(tmp_path / "lab.toml")
        cfg = tmp_path / "haproxy.cfg"
        socket_path = tmp_path / "haproxy.sock"
        cfg.write_text(render_haproxy_config(config, inter=0.1, rise=2, fall=2,
                                             connect_timeout=0.5, stats_socket=socket_path))
        checked = await asyncio.create_subprocess_exec(
            haproxy, "-c", "-f", str(cfg), stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        out, _ = await asyncio.wait_for(checked.communicate(), 10)
        assert checked.returncode == 0, out.decode()
        vip = estate.sites["Site-A"]
        proc = ManagedProcess([haproxy, "-f", str(cfg), "-db"], log_path=tmp_path / "h.log",
                              ready=socket_path.exists)
        await asyncio.to_thread(proc.start)
        try:
            await wait_for(lambda: not refuses(vip.vip, estate.ports.https), 5,
                           what="HAProxy on the VIP")
            async with httpx.AsyncClient(verify=lab_ca.client_context(),
                                         trust_env=False) as http:
                answer = await http.get(
                    f"https://{vip.vip}:{estate.ports.https}/owa/auth/logon.aspx",
                    headers={"Host": vip.array_fqdn},
                    extensions={"sni_hostname": vip.array_fqdn})
            assert answer.status_code == 200 and "logonForm" in answer.text
        finally:
            await asyncio.to_thread(proc.stop)
