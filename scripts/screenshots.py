"""Regenerate the README's pictures of the console: the lab estate, watched live, in six states.

    python3 -m scripts.screenshots  (from the repository root) [--out screenshots] [--size 160x48]

Everything is real: the lab's CAS nodes, VIPs and DNS run in this process on loopback
addresses, castui's engine probes them, the console draws headless, and each picture is the
console's own SVG export. Pictures: steady, node-detail (enter on CAS2: every check in
full), node-out (a crashed CAS and its alert), drill-maintenance (a drill started with `m`,
CAS3 marked with `M`, then patched: its drop expected, no alert), dr-switchover (Site-A lost,
its array name moved to Site-B's VIP, the drill still running) and help. Every step is a key
press, as a user would do it. Run it again whenever the console changes; a size other than
160x48 is added to the file names.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from castui.engine.monitor import Monitor
from castui.history import EventStore
from castui.lab.actions import parse_action
from castui.lab.estate import LabEstate
from castui.lab.layout import FREE_PORTS, LabLayout, LabTiming
from castui.ui import ConsoleApp, ConsoleOptions
from castui.ui.screens.drill import DrillScreen
from castui.ui.screens.maintenance import MaintScreen
from castui.ui.screens.node_detail import NodeDetailScreen

DEFAULT_SIZE = (160, 48)
#: A loopback /16 of its own, so a `castui demo` on the default 127.42 does not clash.
NET = "127.43"
TIMING = LabTiming(interval=1.0, timeout=0.8, lb_inter=1.0, lb_timeout=0.5)
WAIT_S = 60.0


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 160x48, not {text!r}") from None
    if not (80 <= width <= 400 and 24 <= height <= 200):
        raise argparse.ArgumentTypeError("size must be 80x24 to 400x200")
    return width, height


async def _until(pilot: Pilot[Any], what: str, predicate: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"gave up waiting for {what}")
        await pilot.pause(0.1)


def _in_pool(monitor: Monitor) -> bool:
    return all(state.state == "up" for state in monitor.states.values())


async def _pictures(out: Path, size: tuple[int, int], steady_s: float) -> list[Path]:
    layout = LabLayout(net=NET, ports=FREE_PORTS, dns_port=0)
    suffix = "" if size == DEFAULT_SIZE else f"-{size[0]}x{size[1]}"
    saved: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="castui-pictures-") as tmp:
        async with LabEstate(layout, timing=TIMING) as estate:
            config = estate.config(Path(tmp) / "lab.toml")
            with EventStore(Path(tmp) / "history.sqlite3") as store:
                monitor = Monitor(config, store=store)
                app = ConsoleApp(monitor, store=store, options=ConsoleOptions(refresh_s=0.25))

                def save(name: str, title: str) -> None:
                    app.catch_up()
                    path = out / f"{name}{suffix}.svg"
                    path.write_text(app.export_screenshot(title=f"castui: {title}"),
                                    encoding="utf-8")
                    saved.append(path)

                async def lab(action: str) -> None:
                    await estate.apply(parse_action(action))

                async def script(pilot: Pilot[Any]) -> None:
                    try:
                        await _until(pilot, "every target in the pool", lambda: _in_pool(monitor))
                        await pilot.press("A")  # whatever start-up on a busy machine raised
                        await pilot.pause(steady_s)  # some history for the timeline
                        await pilot.pause(0.5)
                        save("steady", "a steady estate")

                        await pilot.press("down", "enter")  # CAS2's every check
                        await _until(pilot, "CAS2's details",
                                     lambda: isinstance(app.screen, NodeDetailScreen))
                        await pilot.pause(0.5)
                        save("node-detail", "every check of CAS2 (enter on a node)")
                        await pilot.press("escape", "up")

                        app.clear_notifications()
                        await lab("crash Site-A/CAS2")
                        await _until(pilot, "CAS2 out of the pool", lambda: any(
                            a.event.subject == "CAS2" for a in monitor.alerts))
                        await pilot.pause(1.0)
                        save("node-out", "CAS2 out of the pool, its alert raised")

                        await lab("reset")
                        await _until(pilot, "the estate healthy again", lambda: _in_pool(monitor))
                        await pilot.press("A")
                        app.clear_notifications()
                        await pilot.press("m")  # a drill, named by typing over the default
                        await _until(pilot, "the drill's name asked",
                                     lambda: isinstance(app.screen, DrillScreen))
                        await pilot.press(*"dr-test", "enter")
                        await _until(pilot, "the drill started", lambda: monitor.drill is not None)
                        # CAS3 (CAS2 went down and up once already: more would be flapping)
                        await pilot.press("down", "down", "M")  # for the default 45 minutes
                        await _until(pilot, "the maintenance question",
                                     lambda: isinstance(app.screen, MaintScreen))
                        app.screen.query_one("#maint-reason").focus()
                        await pilot.press(*"kernel patch", "enter")
                        await _until(pilot, "CAS3 marked", lambda: bool(monitor.maintenance()))
                        await lab("crash Site-A/CAS3")
                        await _until(pilot, "CAS3's expected drop",
                                     lambda: monitor.states["Site-A/CAS3"].state == "down")
                        await pilot.pause(1.0)
                        save("drill-maintenance", "a drill, and CAS3 patched in maintenance")

                        await pilot.press("M")
                        await _until(pilot, "the maintenance question",
                                     lambda: isinstance(app.screen, MaintScreen))
                        await pilot.click("#maint-clear-node")
                        await lab("reset")
                        await _until(pilot, "the estate healthy again", lambda: _in_pool(monitor))
                        app.clear_notifications()
                        for action in ("vip-down Site-A", "crash Site-A/CAS1", "crash Site-A/CAS2",
                                       "crash Site-A/CAS3", "switchover Site-A Site-B"):
                            await lab(action)
                        await _until(pilot, "the DNS answer moving", lambda: any(
                            a.event.kind == "dns_changed" for a in monitor.alerts))
                        await _until(pilot, "Site-A's nodes out", lambda: all(
                            monitor.states[f"Site-A/{n}"].state == "down"
                            for n in ("CAS1", "CAS2", "CAS3")))
                        await pilot.pause(1.0)
                        save("dr-switchover", "DR switchover, Site-A lost")

                        app.clear_notifications()
                        await pilot.press("question_mark")
                        await pilot.pause(0.5)
                        save("help", "every key")
                    finally:
                        app.exit()

                await app.run_async(headless=True, size=size, auto_pilot=script)
    return saved


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m scripts.screenshots",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("screenshots"), metavar="DIR")
    parser.add_argument("--size", type=_size, default=DEFAULT_SIZE, metavar="WxH")
    parser.add_argument("--steady", type=float, default=45.0, metavar="S",
                        help="seconds of healthy estate before the first picture (default 45)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        saved = asyncio.run(_pictures(args.out, args.size, args.steady))
    except RuntimeError as err:
        print(f"screenshots: {err}", file=sys.stderr)
        return 1
    for path in saved:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
