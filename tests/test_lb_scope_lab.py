"""`lb_scope = "vdir"` against the lab's exchange2016 nodes: one vdir's component taken offline
takes that vdir out within fall x interval + timeout, and the node stays in for the others."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from castui.config import Config
from castui.lab.actions import parse_action
from castui.lab.certs import LabCA
from castui.lab.layout import LabTiming
from castui.model.events import Kind
from tests.support.lab import watched_lab

PACE = LabTiming(interval=1.0, timeout=0.8, rise=2, fall=3, lb_inter=0.2, lb_rise=2,
                 lb_fall=2, lb_timeout=0.2)


def per_vdir(config: Config) -> Config:
    return replace(config, sites=tuple(replace(s, lb_scope="vdir") for s in config.sites))


async def test_one_vdir_out_is_partial_and_the_node_stays_in(lab_ca: LabCA,
                                                             tmp_path: Path) -> None:
    async with watched_lab(tmp_path, lab_ca, sites=("Site-A",), profile="exchange2016",
                           timing=PACE, configure=per_vdir) as watched:
        await watched.estate.apply(parse_action("offline Site-A/CAS2 EwsProxy"))
        partial = await watched.until("Site-A", "CAS2", Kind.NODE_PARTIAL,
                                      watched.detection_bound())
        assert partial.data["out"] == ["ews"]
        assert "HTTP 503" in partial.detail
        node = watched.monitor.snapshot().sites[0].nodes[1]
        assert node.state == "partial" and node.in_pool()
        assert node.status_text == "UP 4/5 vdirs (ews out)"
        await watched.estate.apply(parse_action("online Site-A/CAS2"))
        await watched.until("Site-A", "CAS2", Kind.NODE_PARTIAL_CLEARED,
                            watched.detection_bound() * 2)
        assert Kind.NODE_DOWN not in {kind for _, _, kind in watched.seen()}
