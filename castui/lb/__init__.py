"""Load balancers: what they say about each CAS node, behind one small adapter boundary."""

from castui.lb.base import (
    ADMIN_STATES,
    AdminState,
    LbError,
    LoadBalancerAdapter,
    ServerView,
    find_server,
)
from castui.lb.haproxy import HAProxyAdapter

__all__ = ["ADMIN_STATES", "AdminState", "HAProxyAdapter", "LbError", "LoadBalancerAdapter",
           "ServerView", "find_server"]
