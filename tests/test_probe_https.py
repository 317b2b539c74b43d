"""A round's HTTPS checks over one connection (castui.probes.https), against real TLS servers on
loopback: the lab's Exchange node, and scripted servers that close or hang on cue."""

from __future__ import annotations

import ssl
import time
from datetime import UTC, datetime, timedelta

import pytest

from castui.config.model import Ports, Profile
from castui.lab.certs import LabCA
from castui.lab.node import LabNode
from castui.model.exchange import HTTP_CHECKS, HttpExpectation
from castui.model.results import Code, Error, ProbeResult
from castui.probes.https import PATIENCE, HttpsRound
from castui.probes.tls import tls_probe
from tests.support.keepalive import (
    ANSWER,
    ANSWER_THEN_CLOSE,
    CLOSE_HEADER,
    DROP,
    HANG,
    scripted_https,
)

ADDRESS = "127.0.13.1"
SCRIPTED = "127.0.13.2"
NODE = "cas01.lab.test"
TIMEOUT = 1.0
VDIRS_2010 = [(e.name, e) for e in HTTP_CHECKS["exchange2010"]]
VDIRS_2016 = [(e.name, e) for e in HTTP_CHECKS["exchange2016"]]


async def https_round(port: int, verify: ssl.SSLContext | None,
                      vdirs: list[tuple[str, HttpExpectation]], *, address: str = ADDRESS,
                      names: tuple[str, ...] = (NODE,),
                      timeout: float = TIMEOUT) -> dict[str, ProbeResult]:
    session = HttpsRound(address=address, port=port, host=NODE, verify=verify,
                         timeout=timeout)
    return await session.run(tls="tls", names=names, warn_days=30, vdirs=vdirs)


def lab_node(context: ssl.SSLContext, profile: Profile) -> LabNode:
    """The lab's CAS01 on ADDRESS, serving HTTPS (port chosen when it starts) with `context`."""
    return LabNode("CAS01", ADDRESS, Ports(epm=0, https=0, http=0), profile=profile,
                   ssl_context=context, fqdn=NODE)


def phases(result: ProbeResult) -> dict[str, float | None]:
    found = result.facts["phases"]
    assert isinstance(found, dict)
    return found


def opened(result: ProbeResult) -> bool:
    """Did this check open a connection (it carries the connect and TLS phases)?"""
    p = phases(result)
    return p["connect_ms"] is not None and p["tls_ms"] is not None


async def test_healthy_node_passes_every_check_over_one_connection(lab_ca: LabCA) -> None:
    node = lab_node(lab_ca.issue(NODE), "exchange2010")
    async with node:
        results = await https_round(node.ports.https, lab_ca.client_context(), VDIRS_2010)
    assert {name: r.code for name, r in results.items()} == {
        "tls": Code.TLSOK, **{name: Code.L7OK for name, _ in VDIRS_2010}}
    # The certificate check opened the connection; every directory check reused it.
    assert opened(results["tls"]) and phases(results["tls"])["request_ms"] is None
    for name, _ in VDIRS_2010:
        p = phases(results[name])
        assert (p["connect_ms"], p["tls_ms"]) == (None, None), name
        assert p["request_ms"] is not None and results[name].latency_ms is not None
        assert p["request_ms"] <= results[name].latency_ms
    tls = phases(results["tls"])
    assert tls["connect_ms"] is not None and tls["tls_ms"] is not None
    assert results["tls"].latency_ms is not None
    assert results["tls"].latency_ms >= tls["connect_ms"] + tls["tls_ms"]


async def test_node_known_by_address_only_is_verified_against_its_address(
        lab_ca: LabCA) -> None:
    """No fqdn: the connection is verified against the IP address, so a certificate that does
    not carry it fails the directories, as curl would; the certificate check still judges
    the names it was given."""
    vdirs = VDIRS_2010[:1]
    found = {}
    for label, context in (("with the address", lab_ca.issue(NODE, ADDRESS)),
                           ("without it", lab_ca.issue(NODE))):
        node = lab_node(context, "exchange2010")
        async with node:
            session = HttpsRound(address=ADDRESS, port=node.ports.https, host=None,
                                 verify=lab_ca.client_context(), timeout=TIMEOUT)
            found[label] = await session.run(tls="tls", names=(NODE,), warn_days=30,
                                             vdirs=vdirs)
    assert {name: r.code for name, r in found["with the address"].items()} == {
        "tls": Code.TLSOK, "owa": Code.L7OK}
    assert found["without it"]["owa"].code == Code.L6RSP
    assert "certificate verify failed" in found["without it"]["owa"].detail
    assert found["without it"]["tls"].code == Code.TLSOK  # read without verification


@pytest.mark.parametrize("how", [CLOSE_HEADER, ANSWER_THEN_CLOSE])
async def test_server_closing_after_every_answer_still_passes(lab_ca: LabCA, how: str) -> None:
    """With `Connection: close`, or closing silently as if it kept the connection."""
    async with scripted_https(SCRIPTED, lab_ca.issue(NODE), lambda *_: how) as (port, seen):
        results = await https_round(port, lab_ca.client_context(), VDIRS_2016,
                                    address=SCRIPTED)
    assert all(r.ok for r in results.values()), {n: r.detail for n, r in results.items()}
    # Each directory check had a connection of its own (the first took over the tls one's).
    assert all(count == 1 for _, count, _ in seen.requests)
    assert len(seen.requests) == len(VDIRS_2016)
    assert sum(opened(results[name]) for name, _ in VDIRS_2016) >= len(VDIRS_2016) - 1


async def test_keep_alive_race_is_retried_once_on_a_new_connection(lab_ca: LabCA) -> None:
    """The server answers the first request, then closes as the second arrives."""
    def decide(connection: int, request: int, path: str) -> str:
        return DROP if (connection, request) == (1, 2) else ANSWER

    async with scripted_https(SCRIPTED, lab_ca.issue(NODE), decide) as (port, seen):
        results = await https_round(port, lab_ca.client_context(), VDIRS_2016[:4],
                                    address=SCRIPTED)
    assert all(r.ok for r in results.values()), {n: r.detail for n, r in results.items()}
    second = VDIRS_2016[1][0]
    assert seen.connections == 2  # one retry, no more
    assert [path for _, _, path in seen.requests].count(VDIRS_2016[1][1].path) == 2
    assert opened(results[second])  # the retry's connection is the second check's
    assert not opened(results[VDIRS_2016[2][0]])  # and the checks after it reuse it


async def test_a_race_on_the_retry_too_is_a_failure_not_a_loop(lab_ca: LabCA) -> None:
    def decide(connection: int, request: int, path: str) -> str:
        return DROP if path == VDIRS_2016[1][1].path else ANSWER

    async with scripted_https(SCRIPTED, lab_ca.issue(NODE), decide) as (port, seen):
        results = await https_round(port, lab_ca.client_context(), VDIRS_2016[:3],
                                    address=SCRIPTED)
    second = results[VDIRS_2016[1][0]]
    assert (second.ok, second.code, second.error) == (False, Code.L7RSP, Error.PROTOCOL)
    assert [path for _, _, path in seen.requests].count(VDIRS_2016[1][1].path) == 2
    assert results[VDIRS_2016[2][0]].ok


async def test_hanging_directory_times_out_alone_within_the_round_budget(
        lab_ca: LabCA) -> None:
    hung = VDIRS_2016[2]

    def decide(connection: int, request: int, path: str) -> str:
        return HANG if path == hung[1].path else ANSWER

    async with scripted_https(SCRIPTED, lab_ca.issue(NODE), decide) as (port, seen):
        t0 = time.monotonic()
        results = await https_round(port, lab_ca.client_context(), VDIRS_2016,
                                    address=SCRIPTED)
        took = time.monotonic() - t0
    late = results[hung[0]]
    assert (late.ok, late.code, late.error) == (False, Code.L7TOUT, Error.TIMEOUT)
    assert late.detail == f"no HTTP answer in {TIMEOUT:g} s"
    others = {name: r for name, r in results.items() if name != hung[0]}
    assert all(r.ok for r in others.values()), {n: r.detail for n, r in others.items()}
    # The budget: connect + (1 + PATIENCE) x timeout (connecting here is quick).
    assert took < (1 + PATIENCE) * TIMEOUT + 0.5
    assert seen.connections >= 2  # the ones after it went on connections of their own


async def test_refused_port_fails_every_check_with_one_attempt(lab_ca: LabCA) -> None:
    node = lab_node(lab_ca.issue(NODE), "exchange2016")
    async with node:
        port = node.ports.https
        await node.crash()
        results = await https_round(port, lab_ca.client_context(), VDIRS_2016)
    assert {r.code for r in results.values()} == {Code.L4CON}
    assert {r.error for r in results.values()} == {Error.REFUSED}
    assert phases(results["tls"])["tls_ms"] is None


async def test_black_holed_port_times_out_every_check_once(lab_ca: LabCA) -> None:
    node = lab_node(lab_ca.issue(NODE), "exchange2016")
    async with node:
        port = node.ports.https
        await node.blackhole()
        t0 = time.monotonic()
        results = await https_round(port, lab_ca.client_context(), VDIRS_2016, timeout=0.5)
        took = time.monotonic() - t0
    assert {(r.code, r.error) for r in results.values()} == {(Code.L4TOUT, Error.TIMEOUT)}
    assert results["owa"].detail == "no connection in 0.5 s"
    assert took < 1.0  # one attempt for the round, not one per check


# -- certificates: the same verdicts as a certificate check of its own ---------------------

def _near_expiry(lab_ca: LabCA) -> ssl.SSLContext:
    now = datetime.now(UTC)
    return lab_ca.issue(NODE, not_before=now - timedelta(days=300),
                        not_after=now + timedelta(days=12, hours=1))


CERTIFICATES = {
    "mismatch": lambda ca: ca.issue_mismatched(NODE),
    "expired": lambda ca: ca.issue_expired(NODE),
    "untrusted": lambda ca: LabCA().issue(NODE),
    "near-expiry": _near_expiry,
}


@pytest.mark.parametrize("case", CERTIFICATES)
async def test_certificate_verdicts_are_those_of_a_check_of_its_own(lab_ca: LabCA,
                                                                    case: str) -> None:
    node = lab_node(CERTIFICATES[case](lab_ca), "exchange2016")
    async with node:
        port = node.ports.https
        alone = await tls_probe(ADDRESS, port, TIMEOUT, server_name=NODE, names=(NODE,))
        results = await https_round(port, lab_ca.client_context(), VDIRS_2016[:3])
    tls = results["tls"]
    assert (tls.ok, tls.code, tls.detail, tls.warning, tls.error) == (
        alone.ok, alone.code, alone.detail, alone.warning, alone.error)
    assert {k: v for k, v in tls.facts.items() if k != "phases"} == alone.facts
    vdirs = [results[name] for name, _ in VDIRS_2016[:3]]
    if case == "near-expiry":
        assert all(r.ok for r in vdirs) and tls.warning == "expires in 12 days"
        return
    assert {(r.code, r.error) for r in vdirs} == {(Code.L6RSP, Error.TLS)}
    assert all(r.detail.startswith("certificate verify failed: ") for r in vdirs)


@pytest.mark.parametrize("name", ["[red]pwned\x1b[31m\x1b]0;owned\x07", "[b]" + "A" * 400])
async def test_answer_headers_are_data_in_every_check_of_every_round(lab_ca: LabCA,
                                                                     name: str) -> None:
    """A node naming itself with markup, escape sequences or a very long name: every check of
    two rounds reports the same cleaned, bounded X-FEServer (short values are cleaned once and
    remembered, long ones each time)."""
    node = lab_node(lab_ca.issue(NODE), "exchange2016")
    node.http.fe_server = name
    async with node:
        rounds = [await https_round(node.ports.https, lab_ca.client_context(), VDIRS_2016)
                  for _ in range(2)]
    shown = {result.facts["headers"]["x-feserver"] for results in rounds
             for check, result in results.items() if check != "tls"}
    assert len(shown) == 1
    (value,) = shown
    assert value.startswith("[") and len(value) <= 120
    assert not any(char in value for char in "\x1b\x07") and "owned" not in value
