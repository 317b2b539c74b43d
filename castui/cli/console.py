"""`castui --config FILE`: open the console on a real estate (no subcommand)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from castui.cli import metrics
from castui.cli.common import load_or_report, make_monitor, open_store
from castui.engine.monitor import Monitor
from castui.history import EventStore, default_db_path
from castui.metrics import MetricsError, MetricsServer

EXIT_USAGE = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The console's options, on the top-level parser (they apply when no command is given)."""
    group = parser.add_argument_group("console (when no COMMAND is given)")
    group.add_argument("--config", metavar="FILE", help="estate config (TOML): open the console")
    group.add_argument("--db", type=Path, default=None, metavar="FILE",
                       help=f"history database (default {default_db_path()})")
    group.add_argument("--bell", action="store_true",
                       help="ring the terminal bell with every alert")
    group.add_argument("--screenshot-dir", type=Path, default=Path(), metavar="DIR",
                       help="where `s` saves SVG screenshots (default: the current directory)")
    metrics.add_arguments(group)


def run(args: argparse.Namespace) -> int:
    """Open the console; 0 when the user quits, 2 for a bad config, database or terminal."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        print("castui: the console needs a terminal; for headless use run "
              "`castui watch --config FILE`", file=sys.stderr)
        return EXIT_USAGE
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
        ok, server = metrics.server_for(args, monitor)
        if not ok:
            return EXIT_USAGE
        return asyncio.run(_console(monitor, store, args, server))


async def _console(monitor: Monitor, store: EventStore, args: argparse.Namespace,
                   server: MetricsServer | None) -> int:
    """The console, with the metrics endpoint serving beside it when one is asked for."""
    from castui.ui import ConsoleOptions  # Textual loads only for the console
    from castui.ui.run import run_console_async

    options = ConsoleOptions(bell=args.bell, screenshot_dir=args.screenshot_dir)
    if server is None:
        return await run_console_async(monitor, store=store, options=options)
    try:
        await server.start()
    except MetricsError as err:
        print(f"castui: {err}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return await run_console_async(monitor, store=store, options=options)
    finally:
        await server.stop()
