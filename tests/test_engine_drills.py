"""Drills against a real loopback estate: lab CAS nodes behind a real HAProxy VIP, real dnsmasq.

Each test breaks something the way it breaks in a maintenance window and asserts the exact event
sequence castui reports, within the time an operator is promised: fall x interval + timeout
(plus scheduling slack).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from castui.engine import Event, Kind, Monitor
from castui.history import EventStore
from castui.lab.certs import LabCA
from tests.support.estate import Estate, estate
from tests.support.net import wait_for
from tests.support.procs import require_binary

pytestmark = pytest.mark.integration

SLACK = 1.0  # seconds of scheduling slack on a loaded 2-core machine (CI runs here too)


@dataclass
class Watch:
    estate: Estate
    monitor: Monitor
    store: EventStore
    events: list[Event] = field(default_factory=list)

    def kinds(self, subject: str | None = None) -> list[str]:
        return [e.kind for e in self.events
                if subject is None or e.subject == subject]

    async def until(self, kind: str, subject: str, within: float) -> Event:
        def found() -> bool:
            return any(e.kind == kind and e.subject == subject for e in self.events)
        await wait_for(found, within, what=f"{kind} for {subject}")
        return next(e for e in self.events if e.kind == kind and e.subject == subject)

    def detection_bound(self) -> float:
        d = self.estate.config.defaults
        return d.fall * d.interval + d.timeout + SLACK


@contextlib.asynccontextmanager
async def watching(tmp_path: Path, lab_ca: LabCA, **kwargs: object) -> AsyncIterator[Watch]:
    require_binary("haproxy")
    require_binary("dnsmasq")
    async with estate(tmp_path, lab_ca, **kwargs) as est:  # type: ignore[arg-type]
        with EventStore(tmp_path / "history.sqlite3") as store:
            monitor = Monitor(est.config, store=store)
            watch = Watch(est, monitor, store)
            monitor.subscribe(watch.events.append)
            stop = asyncio.Event()
            task = asyncio.create_task(monitor.run(stop=stop))
            try:
                d = est.config.defaults
                await wait_for(lambda: all(s.rounds >= d.rise for s in monitor.states.values()),
                               10, what="every target probed")
                yield watch
            finally:
                stop.set()
                await asyncio.wait_for(task, 5)


async def test_healthy_estate_reports_nothing_but_start(tmp_path: Path, lab_ca: LabCA) -> None:
    async with watching(tmp_path, lab_ca) as w:
        snap = w.monitor.snapshot()
        site = snap.sites[0]
        assert [n.state for n in site.nodes] == ["up", "up", "up"]
        assert site.vip.state == "up"
        assert site.dns is not None and site.dns.ok
        assert site.dns.answers == {f"{w.estate.dns_address}:{w.estate.dns_port}": [w.estate.vip]}
        # Nothing about the estate; a loaded machine may make castui's own rounds overrun
        # the 0.5 s interval, which it says about itself (poll_lagging), not about a node.
        assert [e.kind for e in w.events if e.subject != "poll"] == [Kind.MONITOR_STARTED]


async def test_stopped_node_drops_out_in_time_and_returns_with_duration(
        tmp_path: Path, lab_ca: LabCA) -> None:
    async with watching(tmp_path, lab_ca) as w:
        crashed_at = time.monotonic()
        await w.estate.nodes["CAS2"].crash()
        await w.until(Kind.NODE_DOWN, "CAS2", w.detection_bound())
        detected = time.monotonic() - crashed_at
        assert detected <= w.detection_bound()

        restored_at = time.monotonic()
        await w.estate.nodes["CAS2"].restore()
        d = w.estate.config.defaults
        up = await w.until(Kind.NODE_UP, "CAS2", d.rise * d.interval + d.timeout + SLACK)
        outage = restored_at - crashed_at
        assert up.duration_s is not None
        assert outage - 2 * d.interval <= up.duration_s <= outage + 2 * d.interval

        assert w.kinds("CAS1") == [] and w.kinds("CAS3") == []
        assert Kind.VIP_DOWN not in w.kinds()
        assert w.kinds("CAS2") == [Kind.NODE_DOWN, Kind.NODE_UP]
        # Nothing reported is lost: the store holds what listeners saw, in order.
        assert [e.kind for e in w.store.events()] == w.kinds()


async def test_black_holed_node_times_out_without_delaying_the_others(
        tmp_path: Path, lab_ca: LabCA) -> None:
    async with watching(tmp_path, lab_ca) as w:
        healthy = w.monitor.states["Site-A/CAS1"]
        rounds_before = healthy.rounds
        started = time.monotonic()
        await w.estate.nodes["CAS3"].blackhole()
        down = await w.until(Kind.NODE_DOWN, "CAS3", w.detection_bound())
        elapsed = time.monotonic() - started
        assert "L4TOUT" in down.detail or "TOUT" in down.detail
        # CAS1 kept its own rhythm: about one round per interval while CAS3 hung.
        interval = w.estate.config.defaults.interval
        assert healthy.rounds - rounds_before >= int(elapsed / interval) - 1
        assert w.kinds("CAS1") == [] and w.kinds("CAS2") == []
        assert Kind.VIP_DOWN not in w.kinds()


async def test_half_dead_node_is_degraded_not_removed(tmp_path: Path, lab_ca: LabCA) -> None:
    async with watching(tmp_path, lab_ca) as w:
        await w.estate.nodes["CAS1"].fail("ews")
        event = await w.until(Kind.NODE_DEGRADED, "CAS1", w.detection_bound())
        assert "ews" in event.detail and "503" in event.detail
        assert w.monitor.states["Site-A/CAS1"].status_text == "DEGRADED"
        await w.estate.nodes["CAS1"].restore()
        await w.until(Kind.NODE_RECOVERED, "CAS1", w.detection_bound())
        # CAS1 never left the pool: DEGRADED and back, nothing else (another node timing out
        # on a loaded machine is not what this pins).
        assert w.kinds("CAS1") == [Kind.NODE_DEGRADED, Kind.NODE_RECOVERED]


async def test_dns_repoint_is_reported_with_old_and_new(tmp_path: Path, lab_ca: LabCA) -> None:
    async with watching(tmp_path, lab_ca) as w:
        dr_vip = w.estate.vip.rsplit(".", 1)[0] + ".150"
        w.estate.dns.set_records({w.estate.array_fqdn: [dr_vip]})
        event = await w.until(Kind.DNS_CHANGED, "dns", w.detection_bound())
        assert event.data["old"] == [w.estate.vip]
        assert event.data["new"] == [dr_vip]
        site = w.monitor.snapshot().sites[0]
        assert site.dns is not None and site.dns.ok is False
        assert site.status.name == "CRITICAL"


async def test_losing_every_node_takes_the_vip_down(tmp_path: Path, lab_ca: LabCA) -> None:
    async with watching(tmp_path, lab_ca) as w:
        for node in w.estate.nodes.values():
            await node.crash()
        await w.until(Kind.VIP_DOWN, "vip", w.detection_bound() + 1.0)
        for node in w.estate.nodes.values():
            await node.restore()
        await w.until(Kind.VIP_UP, "vip", 5.0)
        assert w.monitor.snapshot().status.name in ("OK", "WARNING")


async def test_node_that_accepts_but_never_answers_drops_out(
        tmp_path: Path, lab_ca: LabCA) -> None:
    async with watching(tmp_path, lab_ca) as w:
        # Ports accept, TLS completes, but no HTTP answer comes within the probe timeout.
        await w.estate.nodes["CAS2"].slow(60_000)
        down = await w.until(Kind.NODE_DOWN, "CAS2", w.detection_bound())
        assert "owa L7TOUT" in down.detail
        checks = {c.name: c for c in w.monitor.snapshot().sites[0].nodes[1].checks}
        assert checks["https"].ok and checks["epm"].ok  # TCP still accepted
        assert w.kinds("CAS1") == [] and w.kinds("CAS3") == []
        await w.estate.nodes["CAS2"].restore()
        await w.until(Kind.NODE_UP, "CAS2", w.detection_bound())
