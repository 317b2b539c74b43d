"""The audit in the console: with `exchange_export`, each site's panel has an audit line,
re-read when the file changes; nodes show how many clients bypass the array."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

from castui.config import load_config
from castui.engine import Monitor
from castui.engine.audit.findings import Severity
from castui.engine.audit.watch import SiteAudit
from castui.engine.snapshot import CheckView, TargetView
from castui.ui.widgets.site_panel import audit_line, info_lines
from tests.support.net import wait_for_sync

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def monitor(tmp_path: Path) -> tuple[Monitor, Path]:
    export = tmp_path / "export.json"
    config = tmp_path / "estate.toml"
    config.write_text('exchange_export = "export.json"\n'
                      + (EXAMPLES / "two-sites.toml").read_text())
    return Monitor(load_config(config)), export


def site_a(m: Monitor) -> SiteAudit:
    audit = m.snapshot().sites[0].audit
    assert audit is not None
    return audit


def test_the_audit_line_follows_the_export_file(tmp_path: Path) -> None:
    m, export = monitor(tmp_path)
    first = site_a(m)
    assert first.error == f"{export}: file not found"

    shutil.copy(EXAMPLES / "exchange-export-broken.json", export)
    wait_for_sync(lambda: site_a(m).error is None, 5, what="the export to be read")
    broken = site_a(m)
    assert broken.severity is Severity.ERROR
    assert broken.problems[0].rule == "one_array_per_site"
    line = audit_line(broken)
    assert line is not None
    assert line.plain.startswith("audit ✗ 6 errors: one_array_per_site Site-A: 2 Client Access "
                                 "arrays in Site-A")

    doc = json.loads((EXAMPLES / "exchange-export.json").read_text())
    export.write_text(json.dumps(doc))
    wait_for_sync(lambda: site_a(m).severity is Severity.OK, 5, what="the fixed export")
    fixed = audit_line(site_a(m))
    assert fixed is not None and fixed.plain == "audit ✓ 13 findings hold"

    export.write_text('{"format": "castui-exchange/1"')
    wait_for_sync(lambda: site_a(m).error is not None, 5, what="the damaged export")
    damaged = audit_line(site_a(m))
    assert damaged is not None
    assert damaged.plain == f"audit ? {export}: line 1: not JSON (Expecting ',' delimiter)"


def test_without_an_export_there_is_no_audit_line() -> None:
    m = Monitor(load_config(EXAMPLES / "two-sites.toml"))
    view = m.snapshot().sites[0]
    assert view.audit is None
    assert not any(line.plain.startswith("audit") for line in info_lines(view, (), m.now()))


def test_the_panel_shows_clients_that_bypass_the_array(tmp_path: Path) -> None:
    m, _ = monitor(tmp_path)
    view = m.snapshot().sites[0]
    agent = CheckView("agent", "agent", "info", True, "L7OK", 3.0, "", {
        "connections": {443: {"established": 40, "remotes": 38, "listening": True}},
        "direct": {"clients": 37, "connections": 40}})
    cas1 = TargetView("Site-A", "CAS1", "node", "10.1.0.21", None, "up", "UP", (agent,), None,
                      1)
    lines = info_lines(replace(view, nodes=(cas1,)), ("CAS1",), m.now())
    assert any(line.plain.strip() == "direct CAS1 37" for line in lines), \
        [line.plain for line in lines]
