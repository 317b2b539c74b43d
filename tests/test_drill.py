"""Drills and notifiers on a live lab: real CAS nodes, VIP and DNS on loopback, real probes.

Faults are injected at known instants; the figures castui measures must match them within one
probe interval. Notifiers run for real: a webhook receiver on loopback and a hook that hangs.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import sys
import time
from datetime import datetime
from pathlib import Path

from castui.cli import main
from castui.config import Config, Notifier
from castui.lab.actions import parse_action
from castui.lab.certs import LabCA
from castui.model.events import Kind
from tests.support.lab import FAST, watched_lab
from tests.support.net import wait_for
from tests.support.webhook import WebhookReceiver

INTERVAL = FAST.interval


async def test_webhook_gets_exactly_the_alerts_while_a_hanging_hook_is_killed(
        tmp_path: Path, lab_ca: LabCA) -> None:
    hang = (sys.executable, "-c", "import time; time.sleep(60)")
    async with WebhookReceiver("127.0.0.1") as receiver:
        def configure(config: Config) -> Config:
            return dataclasses.replace(config, notifiers=(
                Notifier(type="webhook", name="chat", url=receiver.url("/hook?token=s3cret"),
                         timeout=2.0, retries=1),
                Notifier(type="command", name="pager", command=hang, timeout=2.0)))

        async with watched_lab(tmp_path, lab_ca, sites=("Site-A",),
                               configure=configure) as w:
            rounds: list[float] = []
            w.monitor.on_round(lambda s: rounds.append(time.monotonic())
                               if s.target.subject == "CAS1" else None)
            await w.estate.apply(parse_action("crash Site-A/CAS2"))
            await w.until("Site-A", "CAS2", Kind.NODE_DOWN, w.detection_bound())
            await w.estate.apply(parse_action("fail Site-A/CAS3 ews"))
            await w.until("Site-A", "CAS3", Kind.NODE_DEGRADED, w.detection_bound())
            # The hook hangs on the first alert, is killed at 2 s, then hangs on the second.
            failed = await w.until("*", "pager", Kind.NOTIFY_FAILED, 6)
            assert "killed after 2" in failed.detail
            store = w.monitor.store
            assert store is not None
            raised = sorted(a.id for a in store.alerts())
            assert len(raised) >= 2

            def delivered() -> list[int]:
                return sorted(json.loads(r.body)["alert_id"] for r in receiver.requests)

            await wait_for(lambda: delivered() == raised, 5, what="every alert at the webhook")
            bodies = [json.loads(r.body) for r in receiver.requests]
            assert {b["event"] for b in bodies} >= {Kind.NODE_DOWN, Kind.NODE_DEGRADED}
            assert all(b["alert"] is True for b in bodies)
            # The engine kept its pace while the hook hung: CAS1's rounds came on time (a hook
            # that blocked the loop would stretch a gap past its 2 s timeout).
            gaps = [b - a for a, b in itertools.pairwise(rounds)]
            assert gaps and max(gaps) < INTERVAL * 1.1 + FAST.timeout + 0.9, gaps
            # The secret in the webhook's URL is in no event.
            assert not any("s3cret" in e.detail for e in store.events())


def _at(text: str | None) -> float:
    assert text is not None
    return datetime.fromisoformat(text).timestamp()


async def test_drill_figures_match_the_injected_faults(tmp_path: Path, lab_ca: LabCA) -> None:
    """A VIP outage and a node crash at known instants: the report's figures land within one
    probe interval of them, in every format, with a picture."""
    # A 1 s interval: one interval of tolerance is then well above a loaded machine's noise.
    timing = dataclasses.replace(FAST, interval=1.0, timeout=0.8)
    async with watched_lab(tmp_path, lab_ca, sites=("Site-A",), timing=timing) as w:
        w.monitor.start_drill("dr-lab")
        vip_down = time.time()
        await w.estate.apply(parse_action("vip-down Site-A"))
        await w.until("Site-A", "vip", Kind.VIP_DOWN, w.detection_bound())
        vip_up = time.time()
        await w.estate.apply(parse_action("vip-up Site-A"))
        await w.until("Site-A", "vip", Kind.VIP_UP, w.detection_bound() + timing.interval)
        crash = time.time()
        await w.estate.apply(parse_action("crash Site-A/CAS2"))
        await w.until("Site-A", "CAS2", Kind.NODE_DOWN, w.detection_bound())
        restore = time.time()
        await w.estate.apply(parse_action("restore Site-A/CAS2"))
        await w.until("Site-A", "CAS2", Kind.NODE_UP, w.detection_bound() + timing.interval)
        w.monitor.end_drill()
        fall = w.config.defaults.fall

    db = tmp_path / "history.sqlite3"
    out = tmp_path / "report.json"
    assert main(["report", "--db", str(db), "--drill", "dr-lab", "--format", "json",
                 "--output", str(out)]) == 0
    (site,) = json.loads(out.read_text())["sites"]
    # One probe interval (plus its jitter), and a little for a probe already under way.
    step = timing.interval * 1.1 + 0.1
    outage = max(site["vip"]["outages"], key=lambda o: o["duration_s"])
    assert -0.1 <= _at(outage["start"]) - vip_down <= step
    assert -0.1 <= _at(outage["end"]) - vip_up <= step
    assert abs(outage["duration_s"] - (vip_up - vip_down)) <= step
    assert site["vip"]["longest_s"] == outage["duration_s"]
    assert site["vip"]["total_s"] >= outage["duration_s"]

    (drop,) = [d for d in site["node_drops"] if d["node"] == "CAS2"]
    assert -0.1 <= _at(drop["first_failed"]) - crash <= step
    # castui declares it out `fall` failed probes after the first: (fall - 1) intervals.
    assert abs(drop["detection_s"] - (fall - 1) * timing.interval) <= step
    assert _at(drop["back_in_pool"]) >= restore and not drop["ongoing"]

    md = tmp_path / "report.md"
    html = tmp_path / "report.html"
    assert main(["report", "--db", str(db), "--drill", "dr-lab", "--output", str(md)]) == 0
    assert main(["report", "--db", str(db), "--drill", "dr-lab", "--format", "html",
                 "--output", str(html)]) == 0
    text = md.read_text()
    assert "dr-lab" in text and "CAS2" in text and "![timeline](report.svg)" in text
    assert (tmp_path / "report.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
    assert "<svg" in html.read_text() and "CAS2" in html.read_text()
