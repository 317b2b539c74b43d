"""The live rules against the lab: castui's DNS probe and DNS hygiene check, asked by
`castui audit`, on the lab's resolver and an outside resolver that should not know the name."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path
from typing import Any

from castui.lab.certs import LabCA
from castui.lab.dns import LabDNS
from castui.lab.estate import LabEstate
from tests.support.lab import running_lab
from tests.support.net import loopback_block

ROOT = Path(__file__).resolve().parent.parent


def lab_export(lab: LabEstate, *, leave_out: str = "") -> dict[str, Any]:
    """What the script would write for the lab's estate (Exchange 2010 everywhere)."""
    servers, arrays = [], []
    for site in lab.sites.values():
        arrays.append({"name": f"CASArray-{site.name}", "fqdn": site.array_fqdn,
                       "site": site.name, "members": list(site.nodes)})
        servers += [{"name": name, "fqdn": node.fqdn, "site": site.name,
                     "version": "14.3 (Build 123.4)", "roles": ["ClientAccess"]}
                    for name, node in site.nodes.items() if name != leave_out]
    return {"format": "castui-exchange/1", "collected": "2026-11-21T08:00:00Z",
            "servers": servers, "arrays": arrays, "databases": [], "virtual_directories": [],
            "outlook_anywhere": [], "certificates": []}


async def audit(config: Path, export: dict[str, Any],
                tmp: Path) -> tuple[int, list[dict[str, Any]]]:
    path = tmp / "export.json"
    path.write_text(json.dumps(export))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "castui", "audit", "--config", str(config), "--exchange",
        str(path), "--format", "json", cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None and proc.returncode != 3, err.decode()
    return proc.returncode, json.loads(out)["findings"]


def live(findings: list[dict[str, Any]], site: str = "Site-A") -> dict[tuple[str, str], Any]:
    return {(f["rule"], f["subject"]): f for f in findings
            if f["site"] == site and f["rule"] in ("array_resolves_to_vip", "array_ttl_low",
                                                   "array_internal_only")}


async def test_live_rules_against_the_lab(tmp_path: Path, lab_ca: LabCA) -> None:
    outside = LabDNS(loopback_block().addr(53), 0)
    await outside.start()
    try:
        async with running_lab(lab_ca) as lab:
            config = lab.write_config(tmp_path / "lab.toml")
            # One look per audit, not a monitor's pace: room for a busy CI machine.
            text = re.sub(r"(?m)^interval = .*$", "interval = 5.0", config.read_text())
            text = re.sub(r"(?m)^timeout = .*$", "timeout = 4.0", text)
            text = text.replace(
                "dns_servers = [", f'external_dns_servers = ["{outside.address}:{outside.port}"]'
                                   "\ndns_servers = [")
            config.write_text(text)
            site = lab.sites["Site-A"]
            resolver = f"{lab.dns.address}:{lab.dns.port}"
            subject = f"{site.array_fqdn} @ {resolver}"

            code, findings = await audit(config, lab_export(lab), tmp_path)
            good = live(findings)
            assert {key: f["severity"] for key, f in good.items()} == {
                ("array_resolves_to_vip", subject): "ok",
                ("array_ttl_low", site.array_fqdn): "ok",
                ("array_internal_only", site.array_fqdn): "ok"}
            assert code == 0, findings

            # An outside resolver that answers, a long TTL, the array name on a node, and a
            # node castui watches that the export does not know.
            outside.set_a(site.array_fqdn, [site.vip])
            lab.dns.ttl = 3600
            cas1 = site.nodes["CAS1"].address
            lab.dns.set_a(site.array_fqdn, [cas1])
            code, findings = await audit(config, lab_export(lab, leave_out="CAS2"), tmp_path)
            bad = live(findings)
            resolves = bad[("array_resolves_to_vip", subject)]
            assert resolves["severity"] == "error"
            assert f"answers {cas1} (CAS1): a node's own address" in resolves["message"]
            assert f"-IPv4Address {site.vip}" in resolves["fix"]
            ttl = bad[("array_ttl_low", site.array_fqdn)]
            assert ttl["severity"] == "warning"
            assert ttl["message"].startswith("TTL 3600 s above 300 s")
            internal = bad[("array_internal_only", site.array_fqdn)]
            assert internal["severity"] == "warning"
            assert f"{outside.address}:{outside.port} resolves the internal name from outside" \
                in internal["message"]
            (missing,) = [f for f in findings if f["rule"] == "config_matches_exchange"
                          and f["severity"] != "ok"]
            assert (missing["subject"], missing["severity"]) == ("CAS2", "error")
            assert code == 2
    finally:
        await outside.stop()
