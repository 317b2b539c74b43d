"""`castui agent`: a small read-only HTTP service on each CAS node that tells the monitor where
the clients are (established connections per service port), whether the Exchange and IIS
services run, and how busy the node is. Built on psutil; the monitor reads it with
castui.probes.agent."""

from castui.agent.collect import (
    DEFAULT_PORTS,
    DEFAULT_SERVICES,
    Collector,
    ServiceGetter,
    ServiceLike,
)
from castui.agent.ratelimit import RateLimiter
from castui.agent.server import DEFAULT_HOST, DEFAULT_PORT, AgentError, AgentServer
from castui.agent.token import TokenCheck, TokenError, read_token

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "DEFAULT_PORTS",
    "DEFAULT_SERVICES",
    "AgentError",
    "AgentServer",
    "Collector",
    "RateLimiter",
    "ServiceGetter",
    "ServiceLike",
    "TokenCheck",
    "TokenError",
    "read_token",
]
