"""`castui maint`: mark a node or a whole site as in maintenance, clear marks, list them.

The marks live in the history database, so a console or `watch` running elsewhere on the same
file sees them within a second and records that node's drops as expected instead of alerting.
The rules (targets, the 7-day limit) are the engine's maintenance desk, the console's too.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from castui.cli.common import load_or_report, open_store, span_arg
from castui.engine.maintenance import (
    MaintenanceDesk,
    MaintenanceError,
    check_span,
    parse_target,
    resolve_target,
)
from castui.engine.monitor import current_user
from castui.history import HistoryError, default_db_path
from castui.model.marks import MaintenanceMark
from castui.model.times import instant, utcnow

EXIT_USAGE = 2


def add_parser(sub: Any) -> None:
    p = sub.add_parser("maint", help="mark nodes or sites as in maintenance (no alerts)")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True,
                             parser_class=type(p))
    set_ = verbs.add_parser("set", help="mark SITE or SITE/NODE in maintenance from now")
    set_.add_argument("target", metavar="SITE[/NODE]")
    set_.add_argument("--for", dest="span", required=True, type=span_arg, metavar="SPAN",
                      help="how long: 90s, 45m, 2h, 1h30m (at most 7d)")
    set_.add_argument("--reason", default="", help="shown in the console and the report")
    clear = verbs.add_parser("clear", help="end maintenance marks now (all, a site's or a node's)")
    clear.add_argument("target", metavar="SITE[/NODE]", nargs="?")
    listing = verbs.add_parser("list", help="marks in force or to come")
    for verb in (set_, clear, listing):
        verb.add_argument("--config", metavar="FILE",
                          help="estate config: checks that SITE/NODE exists, and its "
                               "retention_days")
        verb.add_argument("--db", type=Path, default=None, metavar="FILE",
                          help=f"history database (default {default_db_path()})")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = None
    if args.config is not None:
        config = load_or_report(args.config)
        if config is None:
            return EXIT_USAGE
    try:  # the desk's rules, checked before the history file is opened (or created)
        target = resolve_target(config, *parse_target(args.target)) \
            if getattr(args, "target", None) else None
        if args.verb == "set":
            check_span(args.span)
    except MaintenanceError as err:
        print(f"castui: maint: {err}", file=sys.stderr)
        return EXIT_USAGE
    store = open_store(args.db, config)
    if store is None:
        return EXIT_USAGE
    desk = MaintenanceDesk(store, config, user=current_user(), clock=utcnow)
    try:
        with store:
            if args.verb == "set":
                assert target is not None
                print(_describe(desk.set(*target, args.span, args.reason)))
                return 0
            if args.verb == "clear":
                return _clear(desk, target)
            return _list(desk)
    except (HistoryError, MaintenanceError) as err:
        print(f"castui: {err}", file=sys.stderr)
        return EXIT_USAGE


def _clear(desk: MaintenanceDesk, target: tuple[str, str | None] | None) -> int:
    site, node = target if target is not None else (None, None)
    cleared = desk.clear(site, node)
    for mark in cleared:
        print(f"cleared: {_describe(mark)}")
    if not cleared:
        print("no maintenance marks to clear" + (f" for {site}{'/' + node if node else ''}"
                                                 if site else ""))
    return 0


def _list(desk: MaintenanceDesk) -> int:
    marks = desk.in_force()
    for mark in marks:
        print(_describe(mark))
    if not marks:
        print("no maintenance marks in force or to come")
    return 0


def _describe(mark: MaintenanceMark) -> str:
    line = f"{mark.target} in maintenance until {instant(mark.until())}, set by {mark.set_by}"
    return line + (f": {mark.reason}" if mark.reason else "")
