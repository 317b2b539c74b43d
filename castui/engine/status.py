"""Nagios-style status rules, shared by `castui check`, `watch` and the console header.

OK: everything in pool. WARNING: a node down or degraded while the VIP serves, a certificate
expiring soon, a DNS hygiene rule broken (TTL too long, resolvers disagreeing, the name resolving
from outside, the array FQDN used as a service name).
CRITICAL: a VIP down, a site with no healthy node, or the array FQDN not resolving to the VIP.
UNKNOWN: nothing probed yet (or bad input, decided by the command, not here).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from enum import IntEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from castui.engine.snapshot import TargetView


class Status(IntEnum):
    """Nagios exit codes; ordering by severity uses `worst`, not the integer values."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


_SEVERITY = {Status.OK: 0, Status.UNKNOWN: 1, Status.WARNING: 2, Status.CRITICAL: 3}


def worst(statuses: Iterable[Status]) -> Status:
    """The most severe status (CRITICAL > WARNING > UNKNOWN > OK); OK for none."""
    return max(statuses, key=_SEVERITY.__getitem__, default=Status.OK)


def site_status(vip: TargetView, dns_ok: bool | None, answers: Mapping[str, Sequence[str]],
                nodes: Sequence[TargetView], warnings: Sequence[str] = ()
                ) -> tuple[Status, tuple[str, ...]]:
    """The site's status and the reasons for it, most severe first.

    `warnings` are findings that never make a site critical: a certificate expiring soon, a
    DNS hygiene rule broken.
    """
    critical: list[str] = []
    warning: list[str] = []
    if vip.state == "unknown" and all(node.state == "unknown" for node in nodes):
        return Status.UNKNOWN, ("not probed yet",)
    if vip.state == "down":
        critical.append(f"VIP {vip.address} {vip.status_text}")
    healthy = [node for node in nodes if node.state == "up"]
    if not healthy:
        critical.append("no healthy node")
    if dns_ok is False:
        said = "; ".join(f"{server} says {','.join(addrs) or 'nothing'}"
                         for server, addrs in answers.items())
        critical.append(f"array FQDN does not resolve to the VIP ({said})")
    for node in nodes:
        if node.state in ("down", "degraded"):
            warning.append(f"{node.subject} {node.status_text}")
    warning.extend(warnings)
    if critical:
        return Status.CRITICAL, (*critical, *warning)
    if warning:
        return Status.WARNING, tuple(warning)
    return Status.OK, ()
