"""Exchange 2016, 2019 and SE estates: healthcheck pages per protocol, server components that
take them out of service, and castui's HTTPS-only checks on them.

Windows and Managed Availability cannot run here: the lab's CAS nodes stand in, answering
`/<vdir>/healthcheck.htm` the way Exchange does while each protocol's server component is
Active, and 503 once `Set-ServerComponentState` (the lab's `offline`) makes it Inactive.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from castui.engine.targets import build_targets
from castui.lab.actions import ActionError, parse_action
from castui.lab.builtin_scenarios import BUILTIN_SCENARIOS
from castui.lab.certs import LabCA
from castui.lab.layout import LabTiming
from castui.lab.scenario import ScenarioError, parse_scenario, resolve_scenario
from castui.model.events import Kind
from castui.model.exchange import HTTP_CHECKS, PROFILE_POOL_CHECKS
from castui.probes import http_probe, make_http_client
from tests.support.lab import running_lab, watched_lab
from tests.support.net import wait_for

#: Nine healthcheck pages a node, each a TLS connection, on a machine shared with the rest of
#: the suite: a 1 s pace keeps healthy nodes from timing out (as tests/test_ui_lab.py does).
PACE = LabTiming(interval=1.0, timeout=0.8, rise=2, fall=3, lb_inter=0.2, lb_rise=2,
                 lb_fall=2, lb_timeout=0.2)
VDIRS_2016 = {"owa", "ecp", "ews", "autodiscover", "rpc", "oab", "eas", "mapihttp",
              "powershell"}


def test_the_profile_checks_every_vdir_healthcheck_and_never_the_root() -> None:
    checks = HTTP_CHECKS["exchange2016"]
    assert {c.name for c in checks} == VDIRS_2016
    assert all(c.path.endswith("/healthcheck.htm") and c.status == 200
               and c.body == "healthcheck" for c in checks)
    assert "/" not in {c.path for c in checks}
    # PowerShell is a 2013 vdir too.
    assert "/PowerShell/healthcheck.htm" in {c.path for c in HTTP_CHECKS["exchange2013"]}


def test_component_actions_parse_with_their_defaults() -> None:
    assert str(parse_action("offline Site-A/CAS2")) == "offline Site-A/CAS2 ServerWideOffline"
    assert parse_action("offline Site-A/CAS2 ewsproxy").arg == "EwsProxy"
    assert parse_action("draining Site-A/CAS2").arg == "HubTransport"
    assert parse_action("online Site-A/CAS2").arg == ""
    with pytest.raises(ActionError, match="unknown server component 'Nope'"):
        parse_action("offline Site-A/CAS2 Nope")
    with pytest.raises(ActionError, match="takes 2 arguments"):
        parse_action("offline Site-A/CAS2 OwaProxy extra")


async def test_an_exchange2010_lab_has_no_component_states(lab_ca: LabCA) -> None:
    async with running_lab(lab_ca, profile="exchange2010", balancers=False) as estate:
        with pytest.raises(ActionError, match="exchange2010 has no server component states"):
            estate.resolve(parse_action("offline Site-A/CAS2"))
        scenario = parse_scenario(BUILTIN_SCENARIOS["exchange-maintenance"])
        with pytest.raises(ScenarioError, match="line 4: draining: exchange2010 has no"):
            resolve_scenario(scenario, estate.resolve)


async def test_targets_are_https_only_with_per_vdir_pool_checks(lab_ca: LabCA,
                                                                tmp_path: Path) -> None:
    async with running_lab(lab_ca, profile="exchange2016", balancers=False) as estate:
        config = estate.config(tmp_path / "lab.toml")
    node = next(t for t in build_targets(config) if t.kind == "node")
    kinds = {(c.name, c.kind) for c in node.checks}
    assert not {name for name, kind in kinds if kind == "epm"}, "no endpoint-mapper check"
    assert not {name for name, _ in kinds} & {"epm", "mapi", "ab"}, "no RPC port checks"
    pool = {c.name for c in node.checks if c.role == "pool"}
    assert pool == set(PROFILE_POOL_CHECKS["exchange2016"])
    assert {c.name for c in node.checks if c.kind == "http"} == VDIRS_2016
    vip = next(t for t in build_targets(config) if t.kind == "vip")
    assert any(c.kind == "sample" for c in vip.checks), "VIP sampling works from X-FEServer"


async def test_healthcheck_answers_follow_the_server_components(lab_ca: LabCA,
                                                                tmp_path: Path) -> None:
    async with running_lab(lab_ca, profile="exchange2016", balancers=False) as estate:
        node = estate.sites["Site-A"].nodes["CAS2"]
        fqdn = node.fqdn
        assert fqdn is not None
        expect = {c.name: c for c in HTTP_CHECKS["exchange2016"]}
        async with make_http_client(verify=lab_ca.client_context(), max_connections=2) as client:

            async def probe(name: str) -> tuple[bool, str, dict[str, object]]:
                result = await http_probe(client, scheme="https", address=node.address,
                                          port=node.ports.https, expect=expect[name],
                                          host=fqdn, timeout=3.0)
                return result.ok, result.detail, dict(result.facts)

            ok, detail, facts = await probe("owa")
            assert ok, detail
            headers = facts["headers"]
            assert isinstance(headers, dict)
            assert headers["x-feserver"] == "CAS2"
            assert headers["x-beserver"] == "CAS2"
            assert headers["x-calculatedbetarget"] == fqdn
            await estate.apply(parse_action("offline Site-A/CAS2 EwsProxy"))
            ok, detail, _ = await probe("ews")
            assert not ok and "HTTP 503" in detail
            assert (await probe("owa"))[0], "only EWS's component is inactive"
            await estate.apply(parse_action("draining Site-A/CAS2"))
            assert (await probe("owa"))[0], "HubTransport draining leaves HTTP in service"
            await estate.apply(parse_action("offline Site-A/CAS2"))
            for name in VDIRS_2016:
                ok, detail, _ = await probe(name)
                assert not ok and "HTTP 503" in detail, name
            status = {n["name"]: n for n in estate.status()["sites"][0]["nodes"]}
            assert status["CAS2"]["faults"] == [
                "inactive EwsProxy", "draining HubTransport", "inactive ServerWideOffline"]
            await estate.apply(parse_action("online Site-A/CAS2 ServerWideOffline"))
            assert (await probe("owa"))[0]
            assert not (await probe("ews"))[0], "a component left Inactive stays out"
            await estate.apply(parse_action("online Site-A/CAS2"))
            assert all([(await probe(name))[0] for name in VDIRS_2016])


async def test_the_body_must_start_with_200_ok(lab_ca: LabCA) -> None:
    async with running_lab(lab_ca, profile="exchange2016", balancers=False) as estate:
        node = estate.sites["Site-A"].nodes["CAS1"]
        owa = HTTP_CHECKS["exchange2016"][0]
        async with make_http_client(verify=lab_ca.client_context(), max_connections=2) as client:
            good = await http_probe(client, scheme="https", address=node.address,
                                    port=node.ports.https, expect=owa, host=node.fqdn,
                                    timeout=3.0)
            assert good.ok
            bad = dataclasses.replace(owa, path="/owa/auth/logon.aspx")
            result = await http_probe(client, scheme="https", address=node.address,
                                      port=node.ports.https, expect=bad, host=node.fqdn,
                                      timeout=3.0)
        assert not result.ok and result.code == "L7RSP"
        assert "without 200 OK" in result.detail


async def test_serverwideoffline_takes_the_node_out_and_the_vip_follows(
        lab_ca: LabCA, tmp_path: Path) -> None:
    async with watched_lab(tmp_path, lab_ca, sites=("Site-A",),
                           profile="exchange2016", timing=PACE) as watched:
        balancer = watched.estate.sites["Site-A"].balancer
        assert balancer is not None
        await watched.estate.apply(parse_action("offline Site-A/CAS2"))
        down = await watched.until("Site-A", "CAS2", Kind.NODE_DOWN, watched.detection_bound())
        assert "503" in down.detail
        # The lab's VIP checks /owa/healthcheck.htm at layer 7, so it drops CAS2 too.
        await wait_for(lambda: "CAS2" not in balancer.in_rotation(), 10,
                       what="the VIP to take CAS2 out")
        await watched.estate.apply(parse_action("online Site-A/CAS2"))
        await watched.until("Site-A", "CAS2", Kind.NODE_UP, watched.detection_bound() * 2)
        await wait_for(lambda: "CAS2" in balancer.in_rotation(), 10,
                       what="the VIP to put CAS2 back")


async def test_a_service_vdir_out_degrades_and_a_pool_vdir_out_drops(
        lab_ca: LabCA, tmp_path: Path) -> None:
    async with watched_lab(tmp_path, lab_ca, sites=("Site-A",),
                           profile="exchange2016", timing=PACE) as watched:
        await watched.estate.apply(parse_action("offline Site-A/CAS1 EcpProxy"))
        await watched.until("Site-A", "CAS1", Kind.NODE_DEGRADED, watched.detection_bound())
        await watched.estate.apply(parse_action("offline Site-A/CAS3 MapiProxy"))
        down = await watched.until("Site-A", "CAS3", Kind.NODE_DOWN, watched.detection_bound())
        assert "mapihttp" in down.detail


def test_the_exchange_maintenance_scenario_is_shipped() -> None:
    scenario = parse_scenario(BUILTIN_SCENARIOS["exchange-maintenance"])
    verbs = [step.action.verb for step in scenario.steps]
    assert verbs == ["draining", "offline", "crash", "restore", "online"]

