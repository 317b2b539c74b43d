"""A console started in the middle of a drill shows what happened before it, from history."""

from __future__ import annotations

from pathlib import Path

from castui.engine.monitor import Monitor
from castui.engine.timeline import Mark
from castui.history import EventStore
from castui.ui import ConsoleApp, ConsoleOptions
from tests.support.ui_estate import LOCAL, config, new_driver, refused, screen_text, steady, until


async def test_a_restart_keeps_the_event_list_and_the_timeline(tmp_path: Path) -> None:
    with EventStore(tmp_path / "history.sqlite3") as store:
        first = new_driver(store)
        steady(first)
        first.faults["Site-A/CAS2"] = refused
        first.run(60)
        del first.faults["Site-A/CAS2"]
        first.run(20)  # back in pool after a minute
        # A new console process: fresh engine state, same database, same instant.
        monitor = Monitor(config(), store=store, clock=first.clock)
        app = ConsoleApp(monitor, store=store,
                         options=ConsoleOptions(run_engine=False, local_tz=LOCAL))
        async with app.run_test(size=(160, 48)) as pilot:
            await until(pilot, lambda: "CAS2 back in pool after 58s" in screen_text(app), 5,
                        "the earlier events in the list")
            assert "CAS2 out of pool: epm L4CON" in screen_text(app)
            (cas2,) = [row for row in app.timeline.view.rows
                       if getattr(row, "subject", None) == "CAS2" and row.site == "Site-A"]
            marks = cas2.buckets  # type: ignore[union-attr]
            out = [i for i, mark in enumerate(marks) if mark is Mark.OUT]
            assert out, "the outage is drawn from history alone"
            assert marks[out[-1] + 1:] and all(m is Mark.IN_POOL for m in marks[out[-1] + 1:])
            assert all(m is Mark.IN_POOL for m in marks[out[0] - 20:out[0]])
