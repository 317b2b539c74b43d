"""Where the lab's pieces live and how fast they check: sites, addresses, ports, timing.

Everything binds loopback addresses in one /16 (`127.42` by default): site N lives in
127.42.N.0/24 (nodes .21 upwards, skipping .50, the VIP) and the DNS server is 127.42.0.53.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass

from castui.config import Ports, Profile
from castui.config.model import PROFILES
from castui.lab.netcheck import require_loopback
from castui.model.text import clean

DEFAULT_NET = "127.42"
#: Unprivileged ports: the real ones + 20000; the static RPC ports are unprivileged already.
DEFAULT_PORTS = Ports(epm=20135, https=20443, http=20080, mapi=59531, ab=59532)
DEFAULT_DNS_PORT = 20053
#: Exchange's own ports (`--real-ports`, root only).
REAL_PORTS = Ports(epm=135, https=443, http=80, mapi=59531, ab=59532)
REAL_DNS_PORT = 53
#: Port 0 everywhere: the kernel picks free ports at start (tests, several labs at once).
FREE_PORTS = Ports(epm=0, https=0, http=0, mapi=0, ab=0)

ZONE = "corp.local"
DNS_TTL = 300
FIRST_NODE_HOST = 21
VIP_HOST = 50
DNS_HOST = 53
#: Node host numbers run .21-.254, skipping the VIP's .50.
MAX_NODES_PER_SITE = 233
MAX_SITES = 254
#: The shortest castui check interval `--speed` gives (see LabTiming.scaled).
MIN_SCALED_INTERVAL = 0.5

_NET = re.compile(r"127\.(\d{1,3})")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


class LabError(Exception):
    """A lab that cannot be laid out or started; the message is one line."""


@dataclass(frozen=True, slots=True)
class SitePlan:
    """One site of the layout: its name and how many CAS nodes it has."""

    name: str
    nodes: int


DEFAULT_SITES = (SitePlan("Site-A", 3), SitePlan("Site-B", 2))


def parse_sites(text: str) -> tuple[SitePlan, ...]:
    """`Site-A=3,Site-B=2` -> the site plans; LabError if it is not that shape."""
    plans = []
    for part in text.split(","):
        name, equals, count = part.strip().partition("=")
        if not equals or not count.strip().isdigit():
            raise LabError(f"bad site spec {clean(part, 60)!r}: expected NAME=NODES, "
                           "e.g. Site-A=3,Site-B=2")
        plans.append(SitePlan(name.strip(), int(count)))
    return tuple(plans)


@dataclass(frozen=True, slots=True)
class LabTiming:
    """How often things are checked: castui's settings (written to the config) and the VIPs'.

    The VIP defaults are a hardware balancer's (a check every 5 s, 2 to rise, 3 to fall), so a
    drill shows the balancer lagging behind castui, which checks every 2 s.
    """

    interval: float = 2.0
    timeout: float = 1.5
    rise: int = 2
    fall: int = 3
    lb_inter: float = 5.0
    lb_rise: int = 2
    lb_fall: int = 3
    lb_timeout: float = 1.0

    def __post_init__(self) -> None:
        if not (0 < self.timeout < self.interval <= 300):
            raise LabError(f"timing: need 0 < timeout < interval <= 300 s, got timeout "
                           f"{self.timeout:g}, interval {self.interval:g}")
        if not (self.lb_inter > 0 and self.lb_timeout > 0):
            raise LabError("timing: balancer inter and timeout must be positive")
        if min(self.rise, self.fall, self.lb_rise, self.lb_fall) < 1:
            raise LabError("timing: rise and fall must be at least 1")

    def scaled(self, speed: float) -> LabTiming:
        """Every duration divided by `speed` (counts stay), for `--speed`.

        castui's interval stops at MIN_SCALED_INTERVAL (its timeout keeps its share of it):
        faster, the lab and castui would spend a whole core on TLS handshakes and report
        their own overload as outages.
        """
        if not 0 < speed <= 100:
            raise LabError(f"speed must be more than 0 and at most 100, not {speed:g}")
        interval = max(self.interval / speed, min(self.interval, MIN_SCALED_INTERVAL))
        return dataclasses.replace(
            self, interval=interval, timeout=self.timeout * interval / self.interval,
            lb_inter=self.lb_inter / speed, lb_timeout=self.lb_timeout / speed)


@dataclass(frozen=True, slots=True)
class LabLayout:
    """Where everything lives: sites and node counts, the /16, ports, profile, DNS zone."""

    sites: tuple[SitePlan, ...] = DEFAULT_SITES
    net: str = DEFAULT_NET
    ports: Ports = DEFAULT_PORTS
    dns_port: int = DEFAULT_DNS_PORT
    profile: Profile = "exchange2010"
    zone: str = ZONE
    balancers: bool = True

    def __post_init__(self) -> None:
        match = _NET.fullmatch(self.net)
        if match is None or int(match[1]) > 255:
            raise LabError(f"lab network must be a loopback /16 such as 127.42, "
                           f"not {clean(self.net, 60)!r}")
        if not 1 <= len(self.sites) <= MAX_SITES:
            raise LabError(f"a lab has 1-{MAX_SITES} sites, not {len(self.sites)}")
        seen: set[str] = set()
        for plan in self.sites:
            if not _LABEL.fullmatch(plan.name):
                raise LabError(f"site name {clean(plan.name, 60)!r} must be a DNS label "
                               "(letters, digits, inner hyphens)")
            if plan.name.lower() in seen:
                raise LabError(f"duplicate site name {plan.name!r}")
            seen.add(plan.name.lower())
            if not 1 <= plan.nodes <= MAX_NODES_PER_SITE:
                raise LabError(f"site {plan.name} needs 1-{MAX_NODES_PER_SITE} nodes, "
                               f"not {plan.nodes}")
        if self.profile not in PROFILES:
            raise LabError(f"unknown profile {self.profile!r}")
        if not 0 <= self.dns_port < 65536:
            raise LabError(f"DNS port must be 0-65535, not {self.dns_port}")

    def site_prefix(self, index: int) -> str:
        """The /24 of the site at `index` (0-based): 127.42.1 for the first."""
        return f"{self.net}.{index + 1}"

    def vip(self, index: int) -> str:
        return f"{self.site_prefix(index)}.{VIP_HOST}"

    def node_address(self, index: int, number: int) -> str:
        """The address of the site's `number`-th node (1-based), skipping the VIP's host."""
        host = FIRST_NODE_HOST - 1 + number
        return f"{self.site_prefix(index)}.{host + 1 if host >= VIP_HOST else host}"

    @property
    def dns_address(self) -> str:
        return f"{self.net}.0.{DNS_HOST}"

    @property
    def privileged(self) -> bool:
        """Does the layout bind a port below 1024?"""
        ports = [port for _, port in self.ports.tcp_checks()] + [self.dns_port]
        return any(0 < port < 1024 for port in ports)


def require_privileges(layout: LabLayout, euid: int | None = None) -> None:
    """LabError unless the process may bind the layout's ports (below 1024: root only)."""
    uid = os.geteuid() if euid is None else euid
    if layout.privileged and uid != 0:
        raise LabError("--real-ports binds ports below 1024 (135, 443, 80, 53): run it as "
                       "root, or leave it out to use the lab's unprivileged ports")


def loopback_address(text: str) -> str:
    """An IP literal on loopback, or LabError (for addresses given on the command line)."""
    try:
        return str(require_loopback(text))
    except ValueError as exc:
        raise LabError(str(exc)) from None
