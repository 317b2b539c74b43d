"""One running lab site: what the estate starts, acts on and describes in castui's config."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field

from castui.lab.balancer import LabBalancer
from castui.lab.node import LabNode


@dataclass(slots=True)
class LabSite:
    """One running site: its nodes (in order), its VIP balancer, its array name."""

    name: str
    array_fqdn: str
    vip: str
    nodes: dict[str, LabNode]
    balancer: LabBalancer | None = None
    contexts: dict[str, ssl.SSLContext] = field(default_factory=dict)
