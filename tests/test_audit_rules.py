"""The audit's rules on sample exports: all rules hold on the healthy sample, and each rule,
broken once, is the only one that complains, saying what to do (with the PowerShell fix).

The exports stand in for tools/Export-CastuiExchange.ps1's output (PowerShell cannot run here).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from castui.cli.audit import render_text
from castui.config import Config, load_config, parse_config
from castui.engine.audit import (
    RULES,
    Finding,
    Severity,
    audit_status,
    load_export,
    parse_export,
    run_rules,
)
from castui.engine.audit.findings import LIVE_RULES
from castui.engine.audit.observed import Answer, Direct, SiteObservation
from castui.model.status import Status

ROOT = Path(__file__).resolve().parent.parent
CONFIG_TEXT = (ROOT / "examples" / "two-sites.toml").read_text()
HEALTHY = (ROOT / "examples" / "exchange-export.json").read_text()


def config(change: Callable[[str], str] = lambda text: text) -> Config:
    return parse_config(change(CONFIG_TEXT), "two-sites.toml")


def audit(change: Callable[[dict[str, Any]], None] = lambda doc: None,
          cfg: Config | None = None,
          observed: dict[str, SiteObservation] | None = None) -> list[Finding]:
    doc = json.loads(HEALTHY)
    change(doc)
    return run_rules(parse_export(json.dumps(doc), "export.json"), cfg or config(), observed)


def complaints(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity in (Severity.WARNING, Severity.ERROR)]


def test_every_rule_holds_on_the_healthy_sample() -> None:
    findings = audit()
    assert complaints(findings) == []
    assert audit_status(findings) is Status.OK
    offline = {f.rule for f in findings}
    assert offline == set(RULES) - LIVE_RULES
    # passing ones are there, one per rule and subject
    keys = [(f.rule, f.site, f.subject) for f in findings]
    assert len(keys) == len(set(keys))
    db = next(f for f in findings if f.subject == "DB01")
    assert (db.rule, db.severity, db.site) == ("db_points_at_array", Severity.OK, "Site-A")
    skipped = next(f for f in findings if f.rule == "site_has_array" and f.site == "Site-B")
    assert skipped.severity is Severity.INFO and "Exchange 2013" in skipped.message


def _server(name: str, site: str = "Site-A", version: str = "14.3") -> dict[str, Any]:
    return {"name": name, "fqdn": f"{name.lower()}.corp.local", "site": site,
            "version": version, "roles": ["ClientAccess"]}


def _db(doc: dict[str, Any], name: str, value: str | None) -> None:
    doc["databases"].append({"name": name, "server": "MBX2", "site": "Site-A",
                             "rpc_client_access_server": value})


BROKEN: list[tuple[str, Callable[[dict[str, Any]], None], Callable[[str], str],
                   tuple[str, str, Severity, str, str | None]]] = [
    ("two arrays", lambda d: d["arrays"].append(
        {"name": "CASArray-Old", "fqdn": "cas-old.site-a.corp.local", "site": "Site-A",
         "members": ["CAS1", "CAS2", "CAS3"]}), lambda t: t,
     ("one_array_per_site", "Site-A", Severity.ERROR, "2 Client Access arrays in Site-A",
      'Remove-ClientAccessArray "CASArray-Old"')),
    ("no array", lambda d: d.update(arrays=[]), lambda t: t,
     ("site_has_array", "Site-A", Severity.ERROR, "no array",
      'New-ClientAccessArray -Name "CASArray-Site-A" -Fqdn outlook.site-a.corp.local '
      '-Site "Site-A"')),
    ("database names a server", lambda d: _db(d, "DB07", "cas1.corp.local"), lambda t: t,
     ("db_points_at_array", "DB07", Severity.ERROR, "is CAS1, a single server",
      "Set-MailboxDatabase DB07 -RpcClientAccessServer outlook.site-a.corp.local")),
    ("array is the OWA name", lambda d: (
        d["arrays"][0].update(fqdn="mail.corp.local"),
        [db.update(rpc_client_access_server="mail.corp.local") for db in d["databases"][:2]]),
     lambda t: t.replace('array_fqdn = "outlook.site-a.corp.local"',
                         'array_fqdn = "mail.corp.local"'),
     ("array_name_distinct", "CASArray-A", Severity.ERROR,
      "mail.corp.local is also an HTTP service name (owa internal on CAS1",
      "Set-ClientAccessArray CASArray-A -Fqdn <new internal-only name>")),
    ("member castui does not watch", lambda d: (
        d["servers"].append(_server("CAS4")), d["arrays"][0]["members"].append("CAS4")),
     lambda t: t,
     ("members_match_pool", "CASArray-A", Severity.ERROR,
      "array members castui does not watch: CAS4", None)),
    ("certificate misses a name", lambda d: d["certificates"][2].update(
        names=["mail.corp.com", "mail.corp.local"]), lambda t: t,
     ("cert_covers_services", "CAS3", Severity.ERROR,
      "CN=mail.corp.com on CAS3 does not cover autodiscover.corp.local",
      "New-ExchangeCertificate -Server CAS3 -GenerateRequest -DomainName "
      "autodiscover.corp.local,mail.corp.com,mail.corp.local")),
    ("config node unknown to Exchange", lambda d: None,
     lambda t: t.replace('name = "CAS3"', 'name = "CAS03"').replace(
         'fqdn = "cas3.corp.local"', 'fqdn = "cas03.corp.local"'),
     ("config_matches_exchange", "CAS03", Severity.ERROR,
      "castui watches CAS03, which is no Exchange server in the export", None)),
]


@pytest.mark.parametrize("change,config_change,expected", [b[1:] for b in BROKEN],
                         ids=[b[0] for b in BROKEN])
def test_each_rule_broken_once(change: Callable[[dict[str, Any]], None],
                               config_change: Callable[[str], str],
                               expected: tuple[str, str, Severity, str, str | None]) -> None:
    rule, subject, severity, phrase, fix = expected
    found = complaints(audit(change, config(config_change)))
    mine = [f for f in found if f.rule == rule]
    assert [f.subject for f in mine] == [subject], found
    (finding,) = mine
    assert finding.severity is severity
    assert phrase in finding.message
    assert finding.fix == fix
    others = [f for f in found if f.rule != rule]
    # members_match_pool follows a node renamed in the config: one cause, two views
    assert all(f.rule == "members_match_pool" for f in others), others


def test_a_database_on_another_sites_array_is_a_warning() -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["arrays"].append({"name": "CASArray-B", "fqdn": "outlook.site-b.corp.local",
                              "site": "Site-B", "members": ["CAS-DR1", "CAS-DR2"]})
        _db(doc, "DB05", "outlook.site-b.corp.local")

    (db,) = [f for f in audit(change) if f.subject == "DB05"]
    assert db.severity is Severity.WARNING and "switched over" in db.message


def test_the_array_on_a_certificate_is_information_not_a_fault() -> None:
    findings = audit(lambda d: d["certificates"][0]["names"].append("outlook.site-a.corp.local"))
    (cert,) = [f for f in findings if f.rule == "cert_covers_services" and f.subject == "CAS1"]
    assert cert.severity is Severity.INFO and "not needed" in cert.message
    assert audit_status(findings) is Status.OK


def test_exchange_2013_databases_are_not_judged() -> None:
    """2013+ ignores RpcClientAccessServer: DB10 (on CAS-DR1, 15.1, null) gets no finding."""
    assert not [f for f in audit() if f.subject == "DB10"]


def test_the_site_name_in_the_config_must_be_exchanges() -> None:
    cfg = config(lambda t: t.replace('name = "Site-B"', 'name = "DR"'))
    (finding,) = complaints(audit(cfg=cfg))
    assert (finding.rule, finding.subject) == ("config_matches_exchange", "DR")
    assert "its sites: Site-A, Site-B" in finding.message


# --- the live rules, on fixed observations (the lab test runs them for real) ------------------


def _seen(**changes: Any) -> dict[str, SiteObservation]:
    base = SiteObservation(
        "Site-A", "outlook.site-a.corp.local",
        resolvers=(Answer("10.1.0.10", True, ("10.1.0.50",), 60, "answer 10.1.0.50 ttl 60"),),
        outside=(Answer("192.0.2.53", False, (), None, "does not resolve it (NXDOMAIN)"),),
        hygiene={}, direct={"CAS1": Direct(0, 0)})
    values = {**{f: getattr(base, f) for f in base.__dataclass_fields__}, **changes}
    return {"Site-A": SiteObservation(**values)}


def test_live_rules_on_a_good_site(tmp_path: Path) -> None:
    cfg = _token_config(tmp_path)
    found = [f for f in audit(cfg=cfg, observed=_seen()) if f.rule in LIVE_RULES]
    by = {(f.rule, f.subject): f.severity for f in found}
    assert by[("array_resolves_to_vip", "outlook.site-a.corp.local @ 10.1.0.10")] is Severity.OK
    assert by[("array_ttl_low", "outlook.site-a.corp.local")] is Severity.OK
    assert by[("array_internal_only", "outlook.site-a.corp.local")] is Severity.OK
    assert by[("clients_bypass_array", "CAS1")] is Severity.OK
    assert by[("clients_bypass_array", "CAS2")] is Severity.INFO  # no agent there


def _token_config(tmp_path: Path) -> Config:
    token = tmp_path / "agent.token"
    token.write_text("t" * 32)
    text = CONFIG_TEXT.replace('fqdn = "cas1.corp.local"',
                               'fqdn = "cas1.corp.local"\nagent = "http://10.1.0.21:8799"\n'
                               f'agent_token_file = "{token}"')
    path = tmp_path / "estate.toml"
    path.write_text(text)
    return load_config(path)


def test_live_rules_on_a_broken_site(tmp_path: Path) -> None:
    seen = _seen(resolvers=(Answer("10.1.0.10", True, ("10.1.0.21",), 3600, "answer"),),
                 hygiene={"ttl": "TTL 3600 s above 300 s: a DNS failover takes that long to "
                                 "reach every client",
                          "external": "192.0.2.53 resolves the internal name from outside: "
                                      "10.1.0.50"},
                 direct={"CAS1": Direct(37, 52)})
    found = {f.rule: f for f in audit(cfg=_token_config(tmp_path), observed=seen)
             if f.severity in (Severity.WARNING, Severity.ERROR)}
    assert set(found) == {"array_resolves_to_vip", "array_ttl_low", "array_internal_only",
                          "clients_bypass_array"}
    assert "10.1.0.21 (CAS1)" in found["array_resolves_to_vip"].message
    assert found["array_ttl_low"].message.startswith("TTL 3600 s above 300 s")
    assert "from outside" in found["array_internal_only"].message
    bypass = found["clients_bypass_array"]
    assert bypass.message.startswith("37 clients connect to CAS1 directly")
    assert bypass.fix is not None and "Set-MailboxDatabase -RpcClientAccessServer " \
        "outlook.site-a.corp.local" in bypass.fix


def test_a_node_outside_the_balancers_pool(tmp_path: Path) -> None:
    cfg = config(lambda t: t.replace('profile = "exchange2010"',
                                     'profile = "exchange2010"\n[sites.lb]\ntype = "haproxy"\n'
                                     'socket = "/run/haproxy.sock"', 1))
    seen = {"Site-A": SiteObservation("Site-A", "outlook.site-a.corp.local",
                                      pool=("CAS1", "CAS2"))}
    (finding,) = complaints(audit(cfg=cfg, observed=seen))
    assert (finding.rule, finding.subject) == ("members_match_pool", "CASArray-A")
    assert "not in the balancer's pool (backend https): CAS3" in finding.message


def test_the_documented_run_is_the_real_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/audit.md shows the broken sample's output: it must be what castui prints."""
    monkeypatch.chdir(ROOT)  # the output names the files as the command line gave them
    command = ("$ castui audit --config examples/two-sites.toml --exchange "
               "examples/exchange-export-broken.json --no-live\n")
    doc = (ROOT / "docs" / "audit.md").read_text()
    shown = doc[doc.index(command) + len(command):doc.index("$ echo $?")]
    export = load_export("examples/exchange-export-broken.json")
    cfg = load_config("examples/two-sites.toml")
    assert shown == render_text(run_rules(export, cfg), export, cfg, live=False) + "\n"


def test_a_site_is_one_group_whatever_the_case_exchange_writes() -> None:
    def lower(doc: dict[str, Any]) -> None:
        for row in (*doc["servers"][:2], *doc["databases"]):
            row["site"] = row["site"].lower()

    assert {f.site for f in audit(lower)} == {"Site-A", "Site-B"}
