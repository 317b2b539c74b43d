"""The audit's vocabulary: rule ids (a contract), severities, one finding per rule and subject."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from castui.model.status import Status

FORMAT = "castui-audit/1"

#: Every rule, in the order a site's findings are shown. The ids are a contract.
RULES: tuple[str, ...] = (
    "config_matches_exchange",
    "one_array_per_site",
    "site_has_array",
    "db_points_at_array",
    "array_name_distinct",
    "members_match_pool",
    "cert_covers_services",
    "array_resolves_to_vip",
    "array_ttl_low",
    "array_internal_only",
    "clients_bypass_array",
)
#: Rules that need the network (skipped by `--no-live`, and by the console).
LIVE_RULES: frozenset[str] = frozenset({"array_resolves_to_vip", "array_ttl_low",
                                         "array_internal_only", "clients_bypass_array"})


class Severity(StrEnum):
    OK = "ok"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


_RANK = {Severity.OK: 0, Severity.INFO: 1, Severity.WARNING: 2, Severity.ERROR: 3}


@dataclass(frozen=True, slots=True)
class Finding:
    """What one rule says about one subject (a site, an array, a database, a server...).

    `fix` is the PowerShell that repairs it, where there is one.
    """

    rule: str
    severity: Severity
    site: str
    subject: str
    message: str
    fix: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"rule": self.rule, "severity": self.severity.value, "site": self.site,
                "subject": self.subject, "message": self.message, "fix": self.fix}


def worst_severity(findings: Iterable[Finding]) -> Severity:
    return max((f.severity for f in findings), key=_RANK.__getitem__, default=Severity.OK)


def audit_status(findings: Iterable[Finding]) -> Status:
    """As `check`: errors are CRITICAL (2), warnings WARNING (1), the rest OK (0)."""
    severity = worst_severity(findings)
    return {Severity.ERROR: Status.CRITICAL, Severity.WARNING: Status.WARNING}.get(
        severity, Status.OK)


def ordered(findings: Iterable[Finding], sites: Iterable[str]) -> list[Finding]:
    """Site by site (in `sites` order, others after), rule order within a site, severest
    first within a rule."""
    site_rank = {site.casefold(): n for n, site in enumerate(sites)}
    rule_rank = {rule: n for n, rule in enumerate(RULES)}
    return sorted(findings, key=lambda f: (site_rank.get(f.site.casefold(), len(site_rank)),
                                           f.site.casefold(), rule_rank[f.rule],
                                           -_RANK[f.severity]))


def listed(items: Iterable[str]) -> str:
    """`CAS1, CAS2`, or `none`."""
    return ", ".join(items) or "none"


def ps_quote(name: str) -> str:
    """A name as a PowerShell argument: quoted when it has spaces or quotes."""
    if name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        return name
    return "'" + name.replace("'", "''") + "'"
