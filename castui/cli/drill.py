"""`castui drill`: list the drills and end one, for instance one whose recorder died.

The way out after a `kill -9` (or a lost SSH session) during `castui watch --drill NAME`: the
list says the recorder is gone, and `end` ends the drill as the user, with the time nobody
observed recorded on its `drill_ended` event. Neither verb creates the history database.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from castui.cli.watch import drill_name
from castui.engine.drills import DrillState, drill_state, end_drill
from castui.engine.monitor import current_user
from castui.history import EventStore, HistoryError, default_db_path
from castui.model.marks import Drill
from castui.model.text import clean
from castui.model.times import duration, instant, utcnow

EXIT_USAGE = 2
#: Drills `list` shows, newest first; it says how many older ones it left out.
LISTED = 50
#: Names offered when the one asked for is unknown.
NAMES_SHOWN = 10


def add_parser(sub: Any) -> None:
    p = sub.add_parser("drill", help="list drills, or end one (e.g. after its castui died)")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True, parser_class=type(p))
    listing = verbs.add_parser("list", help="drills, newest first: started, by, state, ended")
    end = verbs.add_parser("end", help="end the open drill NAME now, as you")
    end.add_argument("name", metavar="NAME", type=drill_name,
                     help="the drill's name, as castui drill list shows it")
    for verb in (listing, end):
        verb.add_argument("--db", type=Path, default=None, metavar="FILE",
                          help=f"history database (default {default_db_path()})")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    db = (args.db or default_db_path()).expanduser()
    if not db.exists():  # the store would create it: reading commands must not
        return _fail(f"no history database at {db}")
    try:
        # No retention: without the estate's config this must never prune what it keeps.
        with EventStore(db, retention_days=None) as store:
            if args.verb == "list":
                return _list(store)
            return _end(store, args.name)
    except HistoryError as err:
        return _fail(str(err))


def _list(store: EventStore) -> int:
    runs = store.drills()
    if not runs:
        print("no drills recorded")
        return 0
    now = utcnow()
    rows = [("NAME", "STARTED", "BY", "STATE", "ENDED")]
    rows += [_row(drill, now) for drill in runs[:LISTED]]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
              + "  " + row[-1])
    if len(runs) > LISTED:
        print(f"… and {len(runs) - LISTED} older drills")
    return 0


def _row(drill: Drill, now: datetime) -> tuple[str, str, str, str, str]:
    state = drill_state(drill, now)
    shown = str(state)
    recorder = drill.recorder
    if state is DrillState.RUNNING and recorder is not None:
        shown += f" ({clean(recorder.describe(), 100)})"
    elif state is DrillState.RECORDER_GONE and recorder is not None:
        shown += f" (last seen {instant(recorder.seen)})"
    ended = "–"
    if drill.ended is not None:
        ended = instant(drill.ended)
        if drill.ended_by:
            ended += f" by {clean(drill.ended_by, 40)}"
    return (clean(drill.name, 60), instant(drill.started), clean(drill.started_by, 40) or "–",
            shown, ended)


def _end(store: EventStore, name: str) -> int:
    runs = store.drills(name)
    if not runs:
        return _fail(f"no drill named {name!r} in {store.path}; {_known(store)}")
    newest = runs[0]
    if newest.ended is not None:
        by = f" by {clean(newest.ended_by, 40)}" if newest.ended_by else ""
        return _fail(f"drill {name!r} already ended at {instant(newest.ended)}{by}")
    drill, event = end_drill(store, newest, current_user(), utcnow())
    store.record(event)
    assert drill.ended is not None
    lasted = duration((drill.ended - drill.started).total_seconds(), style="precise")
    line = (f"ended drill {name!r} after {lasted}"
            f" (started {instant(drill.started)} by {clean(drill.started_by, 40) or 'unknown'})")
    if "gap_start" in event.data:
        since = datetime.fromisoformat(str(event.data["gap_start"]))
        line += f"; not observed since {instant(since)}: its recorder was gone"
    print(line)
    return 0


def _known(store: EventStore) -> str:
    names = list(dict.fromkeys(clean(d.name, 60) for d in store.drills()))
    if not names:
        return "no drills recorded"
    more = f" and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else ""
    return f"known drills: {', '.join(repr(n) for n in names[:NAMES_SHOWN])}{more}"


def _fail(message: str) -> int:
    print(f"castui: {' '.join(message.split())}", file=sys.stderr)
    return EXIT_USAGE
