"""`castui demo`: the lab estate and castui watching it, in one process, with a drill running.

For a first look without an Exchange estate: the lab runs a scenario in a loop (maintenance by
default) and the console comes up on it, each lab step a `lab:` row of its event list; a loop
starting again is the script, not flapping (castui forgets the nodes' changes then). Without
a terminal (or with `--no-console`) it prints what `castui watch` prints instead, with the
lab's own steps in between so cause and effect read together.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
from pathlib import Path
from typing import Any

from castui.cli.lab import (
    LabSetup,
    add_estate_arguments,
    build_setup,
    fail,
    install_stop,
    serving,
    start_scenario,
    wind_down,
)
from castui.cli.watch import format_event
from castui.config import ConfigError, load_config
from castui.engine.monitor import Monitor
from castui.history import EventStore, HistoryError
from castui.lab.actions import ActionError
from castui.lab.layout import LabError
from castui.lab.scenario import ScenarioError
from castui.model.events import ALL_SITES, Event, Kind
from castui.model.text import clean

DEFAULT_SCENARIO = "maintenance"
#: The default drill per profile where it differs: 2016+ estates go through Exchange's own
#: maintenance (server components), which is what their operators run.
PROFILE_SCENARIO = {"exchange2016": "exchange-maintenance"}


def add_parser(sub: Any) -> None:
    p = sub.add_parser("demo", help="watch a simulated two-site estate go through a drill",
                       description="Run the lab estate and watch it, printing every event and "
                                   "every lab step, until Ctrl-C.")
    add_estate_arguments(p)
    p.add_argument("--steady", action="store_true", help="run no scenario: a healthy estate")
    p.add_argument("--once", action="store_true", help="run the scenario once, not in a loop")
    p.add_argument("--db", type=Path, default=None, metavar="FILE",
                   help="history database (default: a temporary one, removed on exit)")
    p.add_argument("--no-console", action="store_true",
                   help="print events and lab steps as lines instead of opening the console "
                        "(the default without a terminal)")
    p.add_argument("--bell", action="store_true", help="console: ring the bell on alerts")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.steady and args.scenario is not None:
        return fail("--steady and --scenario exclude each other")
    scenario = None if args.steady else (
        args.scenario or PROFILE_SCENARIO.get(args.profile, DEFAULT_SCENARIO))
    console = not args.no_console and sys.stdin.isatty() and sys.stdout.isatty()
    lab = LabLines()
    try:
        # Under the console, lab lines would scribble over the screen: they become `lab:`
        # rows of its event list instead, beside what the steps did.
        setup = build_setup(args, scenario, log=lab if console else None)
        with tempfile.TemporaryDirectory(prefix="castui-demo-") as tmp:
            config_path = args.write_config or Path(tmp) / "lab.toml"
            db = args.db or Path(tmp) / "history.sqlite3"
            return asyncio.run(_demo(args, setup, config_path, db, console=console, lab=lab))
    except (LabError, ScenarioError, ActionError, HistoryError) as exc:
        return fail(str(exc))
    except ConfigError as exc:
        return fail("; ".join(exc.problems))
    except OSError as exc:
        return fail(clean(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": ")))
    except KeyboardInterrupt:
        return 0


def _print(line: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        print(line, flush=True)


class LabLines:
    """The lab's lines (each scripted step, even one that changes nothing castui can see, such
    as a drain behind the lab's own balancer) as `lab_step` events of the monitor: the
    console's event list shows them as `lab: …` rows. Lines before the monitor exists go."""

    def __init__(self) -> None:
        self.monitor: Monitor | None = None

    def __call__(self, line: str) -> None:
        monitor = self.monitor
        if monitor is not None:
            monitor.emit(Event(monitor.now(), ALL_SITES, "lab", Kind.LAB_STEP,
                               clean(line, 300)))


async def _demo(args: argparse.Namespace, setup: LabSetup, config_path: Path, db: Path, *,
                console: bool, lab: LabLines) -> int:
    stop = asyncio.Event()
    install_stop(stop)
    control = await serving(setup, config_path)
    task = None
    try:
        config = load_config(config_path)
        with EventStore(db, retention_days=config.defaults.retention_days) as store:
            monitor = Monitor(config, store=store)
            if console:
                lab.monitor = monitor
                task = start_scenario(setup, loop=not args.once,
                                      on_loop=monitor.reset_flapping)
                return await _console(monitor, store, stop, args)
            monitor.subscribe(_print_event)
            for line in setup.estate.describe():
                _print(f"castui demo: {line}")
            what = (f"scenario {setup.scenario.name}" if setup.scenario is not None
                    else "no scenario (steady)")
            _print(f"castui demo: {what}, speed {setup.speed:g}; break things yourself with: "
                   f"castui lab ctl --control {control.address} crash Site-A/CAS2")
            _print(f"castui demo: ready; config {config_path}; control {control.address}; "
                   "Ctrl-C stops")
            task = start_scenario(setup, loop=not args.once, on_loop=monitor.reset_flapping)
            await monitor.run(duration=args.duration, stop=stop)
    finally:
        await wind_down(task, control, setup.estate)
    _print("castui demo: stopped")
    return 0


async def _console(monitor: Monitor, store: EventStore, stop: asyncio.Event,
                   args: argparse.Namespace) -> int:
    from castui.ui import ConsoleOptions  # Textual loads only for the console
    from castui.ui.run import run_console_async

    timer = asyncio.get_running_loop().call_later(args.duration, stop.set) \
        if args.duration else None
    try:
        return await run_console_async(monitor, store=store, stop=stop,
                                       options=ConsoleOptions(bell=args.bell))
    finally:
        if timer is not None:
            timer.cancel()


def _print_event(event: Event) -> None:
    _print(format_event(event, "text"))
