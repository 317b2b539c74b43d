"""How the console lays out its sites: all stacked when they fit in their share of the height,
else one at a time under tabs.

A panel that does not fit (one big site, or the one tab shown) takes the room there is and its
table scrolls. Pure arithmetic over the panels' needs, so the rule reads (and tests) apart from
the widgets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from castui.config.model import Site
from castui.engine.snapshot import SiteView
from castui.ui.widgets.site_panel import SitePanel

#: Share of the screen's height the site panels may take before they become tabs.
SITES_SHARE = 0.62
#: The sites box never gets less than this many rows.
MIN_SITES_ROWS = 6


@dataclass(frozen=True, slots=True)
class Arrangement:
    """Tabs or not; per panel, whether shown and its height (rows, or "1fr": the room left);
    the height of the box holding them."""

    tabs: bool
    shown: tuple[bool, ...]
    heights: tuple[int | str, ...]
    box_height: int


def arrange(rows_needed: Sequence[int], screen_height: int, selected: int, *,
            filter_shown: bool) -> Arrangement:
    """Where each of the panels needing `rows_needed` goes on a `screen_height`-row screen,
    with site `selected` the one shown under tabs."""
    limit = max(int((screen_height - 2) * SITES_SHARE), MIN_SITES_ROWS)
    needed = sum(rows_needed)
    fits = needed <= limit
    tabs = len(rows_needed) > 1 and not fits
    shown = tuple(not tabs or index == selected for index in range(len(rows_needed)))
    heights = tuple(rows if fits else "1fr" for rows in rows_needed)
    if tabs:
        needed = 1 + rows_needed[selected]
    return Arrangement(tabs, shown, heights, min(needed, limit) + (1 if filter_shown else 0))


def site_panel(index: int, site: Site, view: SiteView) -> SitePanel:
    """The panel of the `index`th site: a column per check of its nodes (the snapshot's),
    one for client connections when agents report them, one for the balancer's verdict."""
    checks = [c for c in view.nodes[0].checks if c.kind != "dns_hygiene"]
    return SitePanel(index + 1, site.name, [c.name for c in checks],
                     [node.name for node in site.nodes],
                     connections=any(c.kind == "agent" for c in checks),
                     balancer=site.lb is not None, id=f"site-{index}")
