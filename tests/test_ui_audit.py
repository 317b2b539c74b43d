"""The audit's line in the running console: drawn from the snapshot the engine hands over, and
redrawn when the export file changes. The real engine folds fixed results on a frozen clock."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from castui.engine.monitor import Monitor
from tests.support.ui_estate import (
    PROMPT,
    WIDE,
    Driver,
    FrozenClock,
    app_for,
    config,
    screen_text,
    steady,
    until,
)


def export(*, db_on: str) -> str:
    """What the script would write for the console's test estate (Exchange 2010)."""
    sites = {"Site-A": ["CAS1", "CAS2", "CAS3"], "Site-B": ["CAS4", "CAS5"]}
    return json.dumps({
        "format": "castui-exchange/1", "collected": "2026-11-21T08:00:00Z",
        "servers": [{"name": node, "fqdn": f"{node.lower()}.{site.lower()}.corp.local",
                     "site": site, "version": "14.3", "roles": ["ClientAccess"]}
                    for site, nodes in sites.items() for node in nodes],
        "arrays": [{"name": f"CASArray-{site}", "fqdn": f"outlook.{site.lower()}.corp.local",
                    "site": site, "members": nodes} for site, nodes in sites.items()],
        "databases": [{"name": "DB07", "server": "CAS1", "site": "Site-A",
                       "rpc_client_access_server": db_on}],
        "virtual_directories": [], "outlook_anywhere": [], "certificates": []})


def audit_rows(app: Any) -> list[str]:
    return [row for row in screen_text(app).splitlines() if "audit " in row]


async def test_the_console_shows_the_audit_and_follows_the_file(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text(export(db_on="CAS1"))
    clock = FrozenClock()
    monitor = Monitor(dataclasses.replace(config(), exchange_export=path), clock=clock)
    driver = Driver(monitor, clock)
    steady(driver)
    app = app_for(driver)
    async with app.run_test(size=WIDE) as pilot:
        await until(pilot, lambda: len(audit_rows(app)) == 2, PROMPT, "an audit line per site")
        site_a, site_b = audit_rows(app)
        assert "audit ✗ 1 error: db_points_at_array DB07: DB07's RpcClientAccessServer is " \
               "CAS1, a single server" in site_a
        assert "audit ✓ 7 findings hold" in site_b

        path.write_text(export(db_on="outlook.site-a.corp.local"))

        def fixed() -> bool:
            driver.run(2)  # the console redraws on the engine's rounds, as when it runs
            return "audit ✓ 9 findings hold" in screen_text(app)

        # The engine looks at the file once a second: a round after that, the line follows.
        await until(pilot, fixed, PROMPT, "Site-A's line after the fix")
