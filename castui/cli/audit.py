"""`castui audit`: check the array's Exchange configuration against castui's, before a drill.

Text groups the findings by site with ✓ (ok), · (info), ⚠ (warning), ✗ (error) and the
PowerShell that fixes each; JSON is `castui-audit/1`. Exit status as `check`: 0 every rule
holds, 1 warnings, 2 errors, 3 unusable input.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import Any

from castui.cli.common import load_or_report
from castui.config import Config
from castui.engine.audit import (
    FORMAT,
    LIVE_RULES,
    RULES,
    Export,
    ExportError,
    Finding,
    Severity,
    audit_status,
    load_export,
    run_rules,
)
from castui.engine.audit.live import observe
from castui.model.status import Status
from castui.model.times import iso

EXIT_UNKNOWN = int(Status.UNKNOWN)
GLYPH = {Severity.OK: "✓", Severity.INFO: "·", Severity.WARNING: "⚠", Severity.ERROR: "✗"}


def add_parser(sub: Any) -> None:
    p = sub.add_parser("audit", help="check the Exchange configuration behind each array "
                                     "(an export from tools/Export-CastuiExchange.ps1) against "
                                     "castui's config; exit 0 OK, 1 warnings, 2 errors, 3 "
                                     "unusable input")
    p.add_argument("--config", required=True, metavar="FILE", help="estate config (TOML)")
    p.add_argument("--exchange", required=True, metavar="EXPORT",
                   help="castui-exchange/1 JSON written by tools/Export-CastuiExchange.ps1")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--no-live", action="store_true",
                   help="skip the rules that need the network (DNS, balancer pool, agents)")
    p.set_defaults(func=run)
    p.usage_exit = EXIT_UNKNOWN


def run(args: argparse.Namespace) -> int:
    config = load_or_report(args.config)
    if config is None:
        return EXIT_UNKNOWN
    try:
        export = load_export(args.exchange)
    except ExportError as err:
        print(f"castui: {err}", file=sys.stderr)
        return EXIT_UNKNOWN
    try:
        observed = None if args.no_live else asyncio.run(observe(config, export))
    except KeyboardInterrupt:
        print("castui: audit interrupted", file=sys.stderr)
        return EXIT_UNKNOWN
    findings = run_rules(export, config, observed)
    live = observed is not None
    if args.format == "json":
        print(render_json(findings, export, config, live=live))
    else:
        print(render_text(findings, export, config, live=live))
    return int(audit_status(findings))


def render_json(findings: Sequence[Finding], export: Export, config: Config, *,
                live: bool) -> str:
    doc = {"format": FORMAT, "status": audit_status(findings).name,
           "export": export.source, "collected": iso(export.collected),
           "config": str(config.path) if config.path else None, "live": live,
           "findings": [f.as_dict() for f in findings]}
    return json.dumps(doc, indent=2, ensure_ascii=False)


def render_text(findings: Sequence[Finding], export: Export, config: Config, *,
                live: bool) -> str:
    lines = [f"castui audit of {export.source} (collected {iso(export.collected)}) against "
             f"{config.path or 'the config'}"]
    site = None
    for finding in findings:
        if finding.site != site:
            site = finding.site
            lines += ["", site]
        lines.append(f"  {GLYPH[finding.severity]} {finding.rule:<24} {finding.subject}: "
                     f"{finding.message}")
        if finding.fix and finding.severity is not Severity.OK:
            lines.append(f"      fix: {finding.fix}")
    if not live:
        lines += ["", "live rules skipped (--no-live): " + ", ".join(
            rule for rule in RULES if rule in LIVE_RULES)]
    counts = {severity: sum(f.severity is severity for f in findings) for severity in Severity}
    words = {Severity.ERROR: "errors", Severity.WARNING: "warnings", Severity.INFO: "info",
             Severity.OK: "ok"}
    summary = ", ".join(f"{counts[s]} {words[s]}" for s in reversed(Severity))
    lines += ["", f"AUDIT {audit_status(findings).name} - {summary}"]
    return "\n".join(lines)
