"""What the live part of an audit saw, per site: the facts the live rules judge.

Gathered by castui.engine.audit.live (the network), judged by castui.engine.audit.rules (no
I/O), so the rules are tested on fixed facts as well as against the lab.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Answer:
    """One resolver's reply for the array FQDN (castui's DNS probe, as folded by the engine)."""

    server: str
    answered: bool
    addresses: tuple[str, ...]
    ttl: int | None
    detail: str


@dataclass(frozen=True, slots=True)
class Direct:
    """What a node's agent says about clients that bypass the array; `error` when unknown."""

    clients: int | None
    connections: int | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class SiteObservation:
    """One site, seen live: the DNS picture, the balancer's pool, the agents' bypass counts."""

    site: str
    fqdn: str
    resolvers: tuple[Answer, ...] = ()
    #: Outside resolvers; `answered` True means the internal name leaks out.
    outside: tuple[Answer, ...] = ()
    #: The engine's DNS hygiene findings for these answers (rule -> what was found).
    hygiene: Mapping[str, str] = field(default_factory=dict)
    #: Node names in the balancer's pool; None without `[sites.lb]` or when unreadable.
    pool: tuple[str, ...] | None = None
    pool_error: str | None = None
    #: Node name -> bypass count, for nodes with an agent.
    direct: Mapping[str, Direct] = field(default_factory=dict)
