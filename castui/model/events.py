"""Events: the facts castui reports. Their kind names are a contract with users' scripts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from castui.model.times import iso, json_seconds


class Kind:
    """Event kinds (the `event` key of `watch --format jsonl`)."""

    MONITOR_STARTED = "monitor_started"
    NODE_DOWN = "node_down"
    NODE_UP = "node_up"
    NODE_DEGRADED = "node_degraded"
    NODE_RECOVERED = "node_recovered"
    VIP_DOWN = "vip_down"
    VIP_UP = "vip_up"
    DNS_CHANGED = "dns_changed"
    DNS_FAILED = "dns_failed"
    DNS_RECOVERED = "dns_recovered"
    DNS_SPLIT = "dns_split"
    DNS_AGREED = "dns_agreed"
    DNS_WARNING = "dns_warning"
    DNS_WARNING_CLEARED = "dns_warning_cleared"
    CERT_EXPIRING = "cert_expiring"
    LB_DISAGREES = "lb_disagrees"
    LB_AGREES = "lb_agrees"
    LB_ADMIN = "lb_admin"
    LB_UNREACHABLE = "lb_unreachable"
    LB_REACHABLE = "lb_reachable"
    POOL_SKEWED = "pool_skewed"
    POOL_BALANCED = "pool_balanced"
    VIP_SKIPS_NODE = "vip_skips_node"
    #: Issue #7: probe-level VIP outages, the balancer's own marks, the alert workflow.
    VIP_PROBE_FAILED = "vip_probe_failed"
    VIP_PROBE_OK = "vip_probe_ok"
    LB_DOWN = "lb_down"
    LB_UP = "lb_up"
    NODE_FLAPPING = "node_flapping"
    NODE_FLAPPING_CLEARED = "node_flapping_cleared"
    NODE_SLOW = "node_slow"
    LAB_STEP = "lab_step"
    DRILL_STARTED = "drill_started"
    DRILL_ENDED = "drill_ended"
    #: Issue #12: a drill whose recorder died, taken up again (its gap in `data`).
    DRILL_RESUMED = "drill_resumed"
    MAINT_SET = "maint_set"
    MAINT_CLEARED = "maint_cleared"
    NOTIFY_FAILED = "notify_failed"
    #: Issue #12: rounds overrun the interval (the console header's LAGGING), and back within it.
    POLL_LAGGING = "poll_lagging"
    POLL_CAUGHT_UP = "poll_caught_up"
    #: Issue #15: with `lb_scope = "vdir"`, some pool vdirs of a node out while it stays in for
    #: the others, and all of them back in; a balancer health check that would pass a broken
    #: or redirecting node.
    NODE_PARTIAL = "node_partial"
    NODE_PARTIAL_CLEARED = "node_partial_cleared"
    LB_CHECK_LOOSE = "lb_check_loose"


#: The longest event detail: events quote network text (DNS answers, balancer and check
#: replies), each bounded at its source; this bounds what several quotes add up to, in every
#: printed line and history row.
EVENT_DETAIL_LIMIT = 1000

#: The kinds that change a node's pool state (what flapping counts, what gives a node a lane).
NODE_CHANGES = frozenset({Kind.NODE_DOWN, Kind.NODE_UP, Kind.NODE_DEGRADED, Kind.NODE_RECOVERED,
                          Kind.NODE_PARTIAL, Kind.NODE_PARTIAL_CLEARED})

#: Subjects that are not node names.
SUBJECT_VIP = "vip"
SUBJECT_DNS = "dns"
SUBJECT_DRILL = "drill"
SUBJECT_POLL = "poll"
#: The `site` of events that concern the whole estate (drills, notifiers).
ALL_SITES = "*"


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened to a node, a VIP or a DNS answer, at a UTC instant.

    `data` carries structured facts (DNS `server`, `old`, `new` answers...); `duration_s` is set
    on the events that end an outage (`node_up`, `vip_up`).
    """

    time: datetime
    site: str
    subject: str
    kind: str
    detail: str
    duration_s: float | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.detail) > EVENT_DETAIL_LIMIT:
            object.__setattr__(self, "detail", self.detail[:EVENT_DETAIL_LIMIT - 1] + "…")

    def as_dict(self) -> dict[str, Any]:
        """The JSON form used by `watch --format jsonl` and the history store."""
        out: dict[str, Any] = {
            "time": iso(self.time),
            "site": self.site,
            "subject": self.subject,
            "event": self.kind,
            "detail": self.detail,
        }
        if self.duration_s is not None:
            out["duration_s"] = json_seconds(self.duration_s)
        for key, value in self.data.items():
            out.setdefault(key, value)
        return out
