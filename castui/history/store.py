"""The SQLite event store.

Why this shape: an on-call engineer must be able to trust that anything castui has already
printed is on disk, even if the terminal, the laptop's battery or a `kill -9` ends the run.
So `record()` commits synchronously (WAL, `synchronous=FULL`) and the front-ends call it
*before* they print or show an event. WAL also lets `castui report` in another process read
while a `watch` keeps writing.

Only `Event` objects are stored. They carry names, addresses, DNS answers and check details,
never credentials, by construction; nothing here adds any.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from castui.engine.events import Event, utcnow

SCHEMA_VERSION = 1
#: PRAGMA application_id, "CasU": tells our files apart from other SQLite databases.
APPLICATION_ID = 0x43617355
BUSY_TIMEOUT_S = 10.0

_SCHEMA = (
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
    f"PRAGMA application_id = {APPLICATION_ID}",
    f"PRAGMA user_version = {SCHEMA_VERSION}",
)
_COLUMNS = "time, site, subject, kind, detail, duration_s, data"
_INSERT = (
    "INSERT INTO events (time, epoch, site, subject, kind, detail, duration_s, data)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


class HistoryError(Exception):
    """The history database cannot be used; the message is one line naming the file and why."""


class EventStore:
    """Append-mostly event history in one SQLite file, safe to share between processes."""

    def __init__(self, path: Path | str, *, retention_days: int = 30) -> None:
        """Open or create the database, check it is ours, and drop expired events."""
        if retention_days < 1:
            raise ValueError(f"retention must be at least 1 day, got {retention_days}")
        self.path = Path(path).expanduser()
        self.retention = timedelta(days=retention_days)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise HistoryError(self._message("cannot open", exc)) from exc
        if self.path.is_dir():
            raise HistoryError(f"cannot open database {self.path}: is a directory")
        try:
            # Autocommit: every INSERT is its own transaction, durable when execute() returns.
            # check_same_thread=False so callers may use asyncio.to_thread; _lock serialises.
            conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise HistoryError(self._message("cannot open", exc)) from exc
        self._conn: sqlite3.Connection | None = conn
        try:
            self._setup(conn)
            self.prune()
        except sqlite3.Error as exc:
            self.close()
            raise HistoryError(self._message("cannot open", exc)) from exc
        except BaseException:
            self.close()
            raise

    def _setup(self, conn: sqlite3.Connection) -> None:
        """Refuse a file that is not ours untouched, then WAL + full sync + schema."""
        self._check_identity(conn)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Again under the write lock: another castui may have created it meanwhile.
            if self._check_identity(conn):
                for statement in _SCHEMA:
                    conn.execute(statement)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _check_identity(self, conn: sqlite3.Connection) -> bool:
        """True for an empty database; raises unless it is a castui history we can read."""
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if app_id == APPLICATION_ID and version == SCHEMA_VERSION:
            return False
        objects = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if app_id == 0 and version == 0 and objects == 0:
            return True
        if app_id != APPLICATION_ID:
            reason = "not a castui history database"
        else:
            reason = f"schema version {version}, this castui reads version {SCHEMA_VERSION}"
        raise HistoryError(f"cannot open database {self.path}: {reason}")

    def record(self, event: Event) -> int:
        """Store one event and commit it before returning its row id."""
        if event.time.tzinfo is None:
            raise ValueError("event time must be timezone-aware")
        when = event.time.astimezone(UTC)
        row = (
            _iso(when),
            when.timestamp(),
            event.site,
            event.subject,
            event.kind,
            event.detail,
            event.duration_s,
            json.dumps(dict(event.data), ensure_ascii=False, separators=(",", ":")),
        )
        with self._lock:
            try:
                rowid = self._connection().execute(_INSERT, row).lastrowid
            except sqlite3.Error as exc:
                raise HistoryError(self._message("cannot write to", exc)) from exc
        assert rowid is not None  # always set after a successful INSERT
        return rowid

    def events(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        site: str | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[Event]:
        """Events with `since <= time < until`, oldest first unless `newest_first`.

        `limit` keeps the first N in the chosen order, so the console's "latest 500" is
        `events(limit=500, newest_first=True)`. Ties in time keep insertion order.
        """
        clauses: list[str] = []
        params: list[Any] = []
        if since is not None:
            clauses.append("epoch >= ?")
            params.append(_epoch(since))
        if until is not None:
            clauses.append("epoch < ?")
            params.append(_epoch(until))
        if site is not None:
            clauses.append("site = ?")
            params.append(site)
        order = "DESC" if newest_first else "ASC"
        sql = f"SELECT {_COLUMNS} FROM events"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += f" ORDER BY epoch {order}, id {order}"
        if limit is not None:
            if limit < 0:
                raise ValueError(f"limit must not be negative, got {limit}")
            sql += " LIMIT ?"
            params.append(limit)
        with self._lock:
            try:
                rows = self._connection().execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise HistoryError(self._message("cannot read", exc)) from exc
        return [_event(row) for row in rows]

    def prune(self, now: datetime | None = None) -> int:
        """Delete events older than the retention window; returns how many went."""
        cutoff = (utcnow() if now is None else now) - self.retention
        with self._lock:
            try:
                cur = self._connection().execute(
                    "DELETE FROM events WHERE epoch < ?", (_epoch(cutoff),)
                )
            except sqlite3.Error as exc:
                raise HistoryError(self._message("cannot write to", exc)) from exc
        return cur.rowcount

    def close(self) -> None:
        """Close the connection; later calls do nothing."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise HistoryError(f"database {self.path} is closed")
        return self._conn

    def _message(self, action: str, exc: Exception) -> str:
        """`<action> database FILE: reason`, with a plain reason where SQLite's is vague."""
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        parent = self.path.parent
        if (self.path.exists() and not os.access(self.path, os.R_OK | os.W_OK)) or (
            parent.is_dir() and not os.access(parent, os.W_OK | os.X_OK)
        ):
            reason = "permission denied"
        return f"{action} database {self.path}: {' '.join(reason.split())}"


def _iso(when: datetime) -> str:
    """ISO-8601 UTC with microseconds and a `Z`, readable in the sqlite3 shell."""
    return when.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _epoch(when: datetime) -> float:
    """Seconds since the epoch; naive datetimes are refused, not guessed to be local time."""
    if when.tzinfo is None:
        raise ValueError("datetime must be timezone-aware")
    return when.timestamp()


def _event(row: tuple[Any, ...]) -> Event:
    time, site, subject, kind, detail, duration_s, data = row
    return Event(
        time=datetime.fromisoformat(time),  # stored with `Z`: comes back UTC
        site=site,
        subject=subject,
        kind=kind,
        detail=detail,
        duration_s=duration_s,
        data=json.loads(data),
    )
