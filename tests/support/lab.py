"""The whole lab estate for tests: on free ports in a loopback /16 of its own, with castui
watching it when a test needs the engine's view."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

from castui.config import Config
from castui.config.model import Profile
from castui.engine import Event, Kind, Monitor
from castui.history import EventStore
from castui.lab.certs import LabCA
from castui.lab.estate import LabEstate
from castui.lab.layout import FREE_PORTS, LabLayout, LabTiming
from tests.support.net import wait_for

#: Fast but not frantic: the lab and castui share one event loop on a 2-core machine, and
#: every round is a few dozen TLS handshakes on each side. The VIP checks faster than castui
#: here so tests see castui's events, not the balancer's lag (tests of the lag set their own).
FAST = LabTiming(interval=0.5, timeout=0.4, rise=2, fall=3,
                 lb_inter=0.1, lb_rise=2, lb_fall=2, lb_timeout=0.05)
SLACK = 1.0

# A /16 per test process (127.200-249), away from the 127.0.x and 127.100-199 blocks other
# tests use. Free ports make a clash with another process's lab on the same /16 harmless.
_NET = f"127.{200 + os.getpid() % 50}"


def lab_net() -> str:
    """The loopback /16 this test process gives its labs."""
    return _NET


def layout(*, profile: Profile = "exchange2010", balancers: bool = True) -> LabLayout:
    return LabLayout(net=lab_net(), ports=FREE_PORTS, dns_port=0, profile=profile,
                     balancers=balancers)


@contextlib.asynccontextmanager
async def running_lab(ca: LabCA, *, timing: LabTiming = FAST, profile: Profile = "exchange2010",
                      balancers: bool = True) -> AsyncIterator[LabEstate]:
    estate = LabEstate(layout(profile=profile, balancers=balancers), timing=timing, ca=ca)
    async with estate:
        yield estate


@dataclass
class Watched:
    """A running lab, castui's monitor on it, and every event it reported."""

    estate: LabEstate
    config: Config
    monitor: Monitor
    events: list[Event] = field(default_factory=list)

    def seen(self) -> list[tuple[str, str, str]]:
        """(site, subject, kind) of every pool-state event since the lab was handed over.

        Probe-level VIP spells (`vip_probe_failed`/`_ok`) are left out: whether a probe through
        the VIP meets a node the lab balancer has not dropped yet depends on where probes fall,
        which is what they measure (tests/test_drill.py checks them against injected faults).
        So is castui's own pace (`poll_lagging`/`poll_caught_up`), which a loaded machine may
        cause at the lab's short interval.
        """
        return [(e.site, e.subject, e.kind) for e in self.events
                if e.kind not in (Kind.VIP_PROBE_FAILED, Kind.VIP_PROBE_OK, Kind.POLL_LAGGING,
                                  Kind.POLL_CAUGHT_UP)]

    async def until(self, site: str, subject: str, kind: str, within: float) -> Event:
        def found() -> Event | None:
            return next((e for e in self.events
                         if (e.site, e.subject, e.kind) == (site, subject, kind)), None)
        await wait_for(lambda: found() is not None, within,
                       what=f"{kind} for {site}/{subject}")
        event = found()
        assert event is not None
        return event

    def detection_bound(self) -> float:
        d = self.config.defaults
        return d.fall * d.interval + d.timeout + SLACK


@contextlib.asynccontextmanager
async def watched_lab(tmp: Path, ca: LabCA, *, sites: tuple[str, ...] | None = None,
                      configure: Callable[[Config], Config] | None = None,
                      **kwargs: object) -> AsyncIterator[Watched]:
    """A lab with castui watching it (only `sites`, if given) through the config the lab
    writes, changed by `configure` if given. It is handed over once castui sees the whole
    estate OK, with no events yet."""
    async with running_lab(ca, **kwargs) as estate:  # type: ignore[arg-type]
        config = estate.config(tmp / "lab.toml")
        if sites is not None:
            config = dataclasses.replace(
                config, sites=tuple(site for site in config.sites if site.name in sites))
        if configure is not None:
            config = configure(config)
        with EventStore(tmp / "history.sqlite3") as store:
            monitor = Monitor(config, store=store)
            watched = Watched(estate, config, monitor)
            monitor.subscribe(watched.events.append)
            stop = asyncio.Event()
            task = asyncio.create_task(monitor.run(stop=stop))
            try:
                rise = config.defaults.rise
                await wait_for(lambda: all(s.rounds >= rise for s in monitor.states.values())
                               and monitor.snapshot().status.name == "OK", 10,
                               what="castui to see the lab OK")
                # A start-up hiccup on a loaded machine is not what the tests are about.
                watched.events.clear()
                yield watched
            finally:
                stop.set()
                await asyncio.wait_for(task, 10)


def refuses(address: str, port: int) -> bool:
    """True if a TCP connect to address:port is refused right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        try:
            sock.connect((address, port))
        except ConnectionRefusedError:
            return True
        except OSError:
            return False
    return False
