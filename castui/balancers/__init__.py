"""Load balancers: what they say about each CAS node, behind one small adapter boundary."""

from castui.balancers.base import LoadBalancerAdapter, find_server
from castui.balancers.haproxy import HAProxyAdapter

__all__ = ["HAProxyAdapter", "LoadBalancerAdapter", "find_server"]
