"""The audit's verdict per site for the console: the export re-read when the file changes.

Only the rules that need no network run here (the console already watches DNS live); the
result rides on the snapshot (`SiteView.audit`), so the console only draws it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from castui.config.model import Config
from castui.engine.audit.export import ExportError, load_export
from castui.engine.audit.findings import Finding, Severity, worst_severity
from castui.engine.audit.rules import run_rules

#: How often the file is looked at (a stat), in seconds.
STAT_EVERY_S = 1.0
_RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2, Severity.OK: 3}


@dataclass(frozen=True, slots=True)
class SiteAudit:
    """What the audit says about one site: its worst severity, the findings that need doing
    (severest first) and how many rules' findings hold; or why there is no verdict."""

    severity: Severity
    problems: tuple[Finding, ...] = ()
    passing: int = 0
    #: The export cannot be used (missing, malformed): one line, no verdict.
    error: str | None = None


class ExportWatch:
    """Reads `path` again when its size, time or inode changes (looked at once a second)."""

    def __init__(self, path: Path, config: Config, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self.config = config
        self._clock = clock
        self._looked = -STAT_EVERY_S
        self._seen: tuple[int, int, int] | None = None
        self._sites: dict[str, SiteAudit] = {}
        self._error: str | None = None

    def for_site(self, site: str) -> SiteAudit:
        """The verdict for castui site `site`, from the file as it is now."""
        self._refresh()
        if self._error is not None:
            return SiteAudit(Severity.ERROR, error=self._error)
        return self._sites.get(site.casefold(), SiteAudit(Severity.OK))

    def _refresh(self) -> None:
        if self._clock() - self._looked < STAT_EVERY_S:
            return
        self._looked = self._clock()
        try:
            st = self.path.stat()
            stamp: tuple[int, int, int] | None = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            stamp = None
        if stamp is not None and stamp == self._seen:
            return
        self._seen = stamp
        try:
            export = load_export(self.path)
        except ExportError as err:
            self._error, self._sites = str(err), {}
            return
        self._error = None
        found: dict[str, list[Finding]] = {}
        for finding in run_rules(export, self.config):
            found.setdefault(finding.site.casefold(), []).append(finding)
        self._sites = {site: _summary(findings) for site, findings in found.items()}


def _summary(findings: list[Finding]) -> SiteAudit:
    problems = sorted((f for f in findings if f.severity in (Severity.WARNING, Severity.ERROR)),
                      key=lambda f: _RANK[f.severity])
    return SiteAudit(worst_severity(findings), tuple(problems),
                     sum(f.severity is Severity.OK for f in findings))
