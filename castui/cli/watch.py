"""`castui watch`: run the engine headless and print each event the moment it is recorded."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from pathlib import Path
from typing import Any, TextIO

from castui.cli import metrics
from castui.cli.common import load_or_report, make_monitor, open_store, seconds_arg
from castui.engine.alerts import is_alert
from castui.engine.monitor import DRILL_NAME_MAX, Monitor
from castui.history import HistoryError, default_db_path
from castui.metrics import MetricsError, MetricsServer
from castui.model.events import Event, Kind
from castui.model.text import clean
from castui.model.times import duration, iso

EXIT_USAGE = 2


def add_parser(sub: Any) -> None:
    p = sub.add_parser("watch", help="monitor headless and print one line per event")
    p.add_argument("--config", required=True, metavar="FILE", help="estate config (TOML)")
    p.add_argument("--format", choices=("text", "jsonl"), default="text")
    p.add_argument("--duration", type=seconds_arg, default=None, metavar="S",
                   help="stop after S seconds (default: until SIGINT/SIGTERM)")
    p.add_argument("--db", type=Path, default=None, metavar="FILE",
                   help=f"history database (default {default_db_path()})")
    p.add_argument("--drill", metavar="NAME", type=drill_name, default=None,
                   help="record a named drill from start to the end of the watch, or resume "
                        "it if the castui recording it died (then: castui report --drill NAME)")
    metrics.add_arguments(p)
    p.set_defaults(func=run)


def drill_name(text: str) -> str:
    """argparse type: a drill name fit for a change record and a file name."""
    name = clean(text, DRILL_NAME_MAX).strip()
    if not name:
        raise argparse.ArgumentTypeError("a drill needs a name")
    return name


def format_event(event: Event, fmt: str) -> str:
    if fmt == "jsonl":
        return json.dumps({**event.as_dict(), "alert": is_alert(event)}, separators=(",", ":"))
    stamp = iso(event.time)
    line = f"{stamp} {event.site} {event.subject} {event.kind}: {event.detail}"
    if event.duration_s is not None and event.kind != Kind.DRILL_RESUMED:  # its detail says
        line += f" (after {duration(event.duration_s, style='seconds')})"
    if isinstance(why := event.data.get("exchange_maintenance"), str):
        line += f" (expected: {why})"
    elif isinstance(mark := event.data.get("maintenance"), str):
        line += f" (expected: maintenance {mark})"
    return line


def run(args: argparse.Namespace) -> int:
    config = load_or_report(args.config)
    if config is None:
        return EXIT_USAGE
    store = open_store(args.db, config)
    if store is None:
        return EXIT_USAGE
    with store:
        monitor = make_monitor(config, store)
        if monitor is None:
            return EXIT_USAGE
        monitor.subscribe(lambda event: _print(event, args.format, sys.stdout))
        ok, server = metrics.server_for(args, monitor)
        if not ok:
            return EXIT_USAGE
        if sys.stderr.isatty():  # `type = "bell"` notifiers ring the terminal watch runs in
            monitor.set_bell(lambda: print("\a", end="", file=sys.stderr, flush=True))
        try:
            if args.drill is not None:
                monitor.start_drill(args.drill)
            try:
                code = asyncio.run(_watch(monitor, args.duration, server))
            finally:
                if args.drill is not None and monitor.records_drill:
                    monitor.end_drill(only_own=True)
        except HistoryError as err:  # e.g. the disk filled up: stop rather than report unrecorded
            print(f"castui: {err}", file=sys.stderr)
            return EXIT_USAGE
    return code


def _print(event: Event, fmt: str, out: TextIO) -> None:
    out.write(format_event(event, fmt) + "\n")
    out.flush()


async def _watch(monitor: Monitor, duration: float | None, server: MetricsServer | None) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with contextlib.AsyncExitStack() as stack:
        if server is not None:
            try:
                await stack.enter_async_context(server)
            except MetricsError as err:
                print(f"castui: {err}", file=sys.stderr)
                return EXIT_USAGE
            print(f"castui: metrics on {server.url}", file=sys.stderr, flush=True)
        await monitor.run(duration=duration, stop=stop)
    return 0
