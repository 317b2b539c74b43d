"""The lab's one network rule: it binds loopback addresses only, never a real interface."""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def require_loopback(address: str) -> IPAddress:
    """The parsed address, or ValueError unless it is an IP literal in 127.0.0.0/8 or ::1.

    The lab simulates servers that answer anyone; on a real interface they would be a
    fake Exchange estate on the operator's network.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise ValueError(
            f"lab binds loopback addresses only: {address!r} is not an IP literal") from None
    if not ip.is_loopback:
        raise ValueError(f"lab binds loopback addresses only: {address}")
    return ip
