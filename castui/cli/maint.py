"""`castui maint`: mark a node or a whole site as in maintenance, clear marks, list them.

The marks live in the history database, so a console or `watch` running elsewhere on the same
file sees them within a second and records that node's drops as expected instead of alerting.
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from castui.cli.common import load_or_report, open_store, span_arg
from castui.config import Config
from castui.engine.monitor import MAX_MAINTENANCE, current_user, maintenance_event
from castui.history import EventStore, HistoryError, default_db_path
from castui.model.marks import MaintenanceMark
from castui.model.text import clean
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
    target = _target(args.target, config) if getattr(args, "target", None) else None
    if target is False:
        return EXIT_USAGE
    store = open_store(args.db, config)
    if store is None:
        return EXIT_USAGE
    try:
        with store:
            if args.verb == "set":
                assert isinstance(target, tuple)
                return _set(store, target, args.span, clean(args.reason, 200))
            if args.verb == "clear":
                return _clear(store, target if isinstance(target, tuple) else None)
            return _list(store)
    except HistoryError as err:
        print(f"castui: {err}", file=sys.stderr)
        return EXIT_USAGE


def _target(text: str, config: Config | None) -> tuple[str, str | None] | bool:
    """(site, node or None) from `SITE` / `SITE/NODE`, checked against the config if given."""
    site, _, node = text.partition("/")
    if not site or (text.endswith("/") or "/" in node):
        print(f"castui: maint: {clean(text, 80)!r} is not SITE or SITE/NODE", file=sys.stderr)
        return False
    if config is not None:
        sites = {s.name.casefold(): s for s in config.sites}
        found = sites.get(site.casefold())
        if found is None:
            known = ", ".join(s.name for s in config.sites)
            print(f"castui: maint: no site {clean(site, 60)!r} in {args_path(config)} "
                  f"(sites: {known})", file=sys.stderr)
            return False
        site = found.name
        if node:
            nodes = {n.name.casefold(): n.name for n in found.nodes}
            if node.casefold() not in nodes:
                print(f"castui: maint: no node {clean(node, 60)!r} in {site} "
                      f"(nodes: {', '.join(nodes.values())})", file=sys.stderr)
                return False
            node = nodes[node.casefold()]
    return site, node or None


def args_path(config: Config) -> str:
    return str(config.path) if config.path else "the config"


def _set(store: EventStore, target: tuple[str, str | None], span: timedelta,
         reason: str) -> int:
    if span > MAX_MAINTENANCE:
        print("castui: maint: at most 7d; clear and set it again if it really lasts longer",
              file=sys.stderr)
        return EXIT_USAGE
    now = utcnow()
    site, node = target
    mark = store.set_maintenance(site, node, now, now + span, by=current_user(), reason=reason)
    store.record(maintenance_event(mark, now, set_=True))
    print(_describe(mark))
    return 0


def _clear(store: EventStore, target: tuple[str, str | None] | None) -> int:
    now = utcnow()
    site, node = target if target is not None else (None, None)
    cleared = store.clear_maintenance(now, site, node)
    who = current_user()
    for mark in cleared:
        store.record(maintenance_event(mark, now, set_=False, by=who))
        print(f"cleared: {_describe(mark)}")
    if not cleared:
        print("no maintenance marks to clear" + (f" for {site}{'/' + node if node else ''}"
                                                 if site else ""))
    return 0


def _list(store: EventStore) -> int:
    marks = store.maintenance(since=utcnow())
    for mark in marks:
        print(_describe(mark))
    if not marks:
        print("no maintenance marks in force or to come")
    return 0


def _describe(mark: MaintenanceMark) -> str:
    line = f"{mark.target} in maintenance until {instant(mark.until())}, set by {mark.set_by}"
    return line + (f": {mark.reason}" if mark.reason else "")
