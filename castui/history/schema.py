"""The history database's tables, and the steps that bring an older file up to date.

Version 1 held events only; version 2 adds alerts (with who acknowledged them and when),
drills and maintenance marks; version 3 adds who records each drill (pid, host, process start,
last heartbeat) and who ended it. Upgrading only adds tables and columns, so nothing recorded
is touched.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

SCHEMA_VERSION = 3
#: PRAGMA application_id, "CasU": tells our files apart from other SQLite databases.
APPLICATION_ID = 0x43617355

_EVENTS = (
    """CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        time TEXT NOT NULL,
        epoch REAL NOT NULL,
        site TEXT NOT NULL,
        subject TEXT NOT NULL,
        kind TEXT NOT NULL,
        detail TEXT NOT NULL,
        duration_s REAL,
        data TEXT NOT NULL DEFAULT '{}'
    )""",
    "CREATE INDEX events_epoch ON events (epoch)",
    "CREATE INDEX events_site_epoch ON events (site, epoch)",
)
_WORKFLOW = (
    """CREATE TABLE alerts (
        event_id INTEGER PRIMARY KEY REFERENCES events (id),
        acked_at REAL,
        acked_by TEXT
    )""",
    """CREATE TABLE drills (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        started REAL NOT NULL,
        ended REAL,
        started_by TEXT NOT NULL DEFAULT ''
    )""",
    "CREATE INDEX drills_name ON drills (name, started)",
    """CREATE TABLE maintenance (
        id INTEGER PRIMARY KEY,
        site TEXT NOT NULL,
        node TEXT,
        starts REAL NOT NULL,
        ends REAL NOT NULL,
        set_by TEXT NOT NULL DEFAULT '',
        reason TEXT NOT NULL DEFAULT '',
        cleared REAL
    )""",
)


def create(conn: sqlite3.Connection) -> None:
    """Version 1: the events table (inside the caller's transaction)."""
    for statement in _EVENTS:
        conn.execute(statement)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 1")


def _to_2(conn: sqlite3.Connection) -> None:
    for statement in _WORKFLOW:
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 2")


_RECORDERS = (
    "ALTER TABLE drills ADD COLUMN recorder_pid INTEGER",
    "ALTER TABLE drills ADD COLUMN recorder_host TEXT",
    "ALTER TABLE drills ADD COLUMN recorder_started REAL",
    "ALTER TABLE drills ADD COLUMN recorder_seen REAL",
    "ALTER TABLE drills ADD COLUMN ended_by TEXT NOT NULL DEFAULT ''",
)


def _to_3(conn: sqlite3.Connection) -> None:
    """Drills left open by an older castui keep NULL recorders: nobody is known to keep them."""
    for statement in _RECORDERS:
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 3")


#: UPGRADES[v:] bring a version-v database up to date (version 0: an empty file).
UPGRADES: tuple[Callable[[sqlite3.Connection], None], ...] = (create, _to_2, _to_3)
