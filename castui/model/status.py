"""Nagios statuses, the verdict words `check`, `watch`, the console and the metrics share.

OK: everything in pool. WARNING: a node down or degraded while the VIP serves, a certificate
expiring soon, a DNS hygiene rule broken. CRITICAL: a VIP down, a site with no healthy node, or
the array FQDN not resolving to the VIP. UNKNOWN: nothing probed yet, or bad input. The rules
that decide them live in castui.engine.snapshot.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum


class Status(IntEnum):
    """Nagios exit codes; ordering by severity uses `worst`, not the integer values."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


_SEVERITY = {Status.OK: 0, Status.UNKNOWN: 1, Status.WARNING: 2, Status.CRITICAL: 3}


def severity(status: Status) -> int:
    """How bad `status` is, for ordering: CRITICAL > WARNING > UNKNOWN > OK."""
    return _SEVERITY[status]


def worst(statuses: Iterable[Status]) -> Status:
    """The most severe status; OK for none."""
    return max(statuses, key=severity, default=Status.OK)
