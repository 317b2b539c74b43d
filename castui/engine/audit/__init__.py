"""`castui audit`: is the Exchange array built the way a failover needs it?

export reads what Exchange says about itself (`castui-exchange/1`); rules judge it against the
config; live gathers what the resolvers, the balancer and the node agents say, and live_rules
judges that; findings is the vocabulary (rule ids, severities); watch keeps a per-site verdict
for the console, re-read when the file changes.
"""

from castui.engine.audit.export import Export, ExportError, load_export, parse_export
from castui.engine.audit.findings import (
    FORMAT,
    LIVE_RULES,
    RULES,
    Finding,
    Severity,
    audit_status,
    worst_severity,
)
from castui.engine.audit.rules import run_rules

__all__ = ["FORMAT", "LIVE_RULES", "RULES", "Export", "ExportError", "Finding", "Severity",
           "audit_status", "load_export", "parse_export", "run_rules", "worst_severity"]
