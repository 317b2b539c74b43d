"""The SQLite event store.

Why this shape: an on-call engineer must be able to trust that anything castui has already
printed is on disk, even if the terminal, the laptop's battery or a `kill -9` ends the run.
So `record()` commits synchronously (WAL, `synchronous=FULL`) and the front-ends call it
*before* they print or show an event. WAL also lets `castui report` in another process read
while a `watch` keeps writing.

The drills' and maintenance marks' SQL lives in drills.py and marks.py; this class owns the
connection, the lock and the transactions they run in.

Only `Event` objects are stored. They carry names, addresses, DNS answers and check details,
never credentials, by construction; nothing here adds any.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from castui.history import drills, marks
from castui.history.schema import APPLICATION_ID, SCHEMA_VERSION, UPGRADES
from castui.model.alerts import Alert
from castui.model.errors import HistoryError
from castui.model.events import Event
from castui.model.marks import Drill, MaintenanceMark, Recorder
from castui.model.times import iso, utcnow

BUSY_TIMEOUT_S = 10.0

_COLUMNS = "events.id, time, site, subject, kind, detail, duration_s, data"
_INSERT = (
    "INSERT INTO events (time, epoch, site, subject, kind, detail, duration_s, data)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


class EventStore:
    """Append-mostly event history in one SQLite file, safe to share between processes."""

    def __init__(self, path: Path | str, *, retention_days: int | None = 30) -> None:
        """Open or create the database, check it is ours, and drop expired events.

        `retention_days=None` keeps everything: for tools that do not know the estate's
        retention (`castui report`, `castui maint` without `--config`) and must not guess it.
        """
        if retention_days is not None and retention_days < 1:
            raise ValueError(f"retention must be at least 1 day, got {retention_days}")
        self.path = Path(path).expanduser()
        self.retention = None if retention_days is None else timedelta(days=retention_days)
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
            version = self._check_identity(conn)
            for step in UPGRADES[version:]:
                step(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _check_identity(self, conn: sqlite3.Connection) -> int:
        """The schema version found (0: empty database); raises unless we can read it."""
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if app_id == APPLICATION_ID and 1 <= version <= SCHEMA_VERSION:
            return int(version)
        objects = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if app_id == 0 and version == 0 and objects == 0:
            return 0
        if app_id != APPLICATION_ID:
            reason = "not a castui history database"
        else:
            reason = f"schema version {version}, this castui reads version {SCHEMA_VERSION}"
        raise HistoryError(f"cannot open database {self.path}: {reason}")

    def record(self, event: Event, *, alert: bool = False) -> int:
        """Store one event (and, with `alert`, that it raised an alert); commit; its row id."""
        if event.time.tzinfo is None:
            raise ValueError("event time must be timezone-aware")
        when = event.time.astimezone(UTC)
        row = (
            iso(when, "microseconds"),
            when.timestamp(),
            event.site,
            event.subject,
            event.kind,
            event.detail,
            event.duration_s,
            json.dumps(dict(event.data), ensure_ascii=False, separators=(",", ":")),
        )
        with self._write() as conn:
            rowid = conn.execute(_INSERT, row).lastrowid
            assert rowid is not None  # always set after a successful INSERT
            if alert:
                conn.execute("INSERT INTO alerts (event_id) VALUES (?)", (rowid,))
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
        return [_event(row[1:]) for row in self._read(sql, params)]

    # --- alerts and their acknowledgement ---------------------------------------------------

    def alerts(self, *, since: datetime | None = None, until: datetime | None = None,
               limit: int | None = None) -> list[Alert]:
        """Alerts raised with `since <= time < until`, newest first."""
        sql = (f"SELECT {_COLUMNS}, alerts.acked_at, alerts.acked_by FROM alerts"
               " JOIN events ON events.id = alerts.event_id WHERE 1")
        params: list[Any] = []
        if since is not None:
            sql += " AND epoch >= ?"
            params.append(_epoch(since))
        if until is not None:
            sql += " AND epoch < ?"
            params.append(_epoch(until))
        sql += " ORDER BY epoch DESC, events.id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(max(limit, 0))
        return [Alert(row[0], _event(row[1:8]), _time(row[8]), row[9])
                for row in self._read(sql, params)]

    def acknowledge(self, alert_ids: Iterable[int] | None, when: datetime, by: str) -> list[int]:
        """Acknowledge the given alerts (None: every unacknowledged one); the ids that were new.

        Already acknowledged alerts keep their first acknowledgement: who saw it first counts.
        """
        with self._write() as conn:
            if alert_ids is None:
                ids = [row[0] for row in conn.execute(
                    "SELECT event_id FROM alerts WHERE acked_at IS NULL")]
            else:
                ids = [row[0] for alert_id in alert_ids for row in conn.execute(
                    "SELECT event_id FROM alerts WHERE event_id = ? AND acked_at IS NULL",
                    (alert_id,))]
            conn.executemany("UPDATE alerts SET acked_at = ?, acked_by = ? WHERE event_id = ?",
                             [(_epoch(when), by, alert_id) for alert_id in ids])
        return ids

    # --- drills (the SQL is in drills.py) ---------------------------------------------------

    def start_drill(self, name: str, when: datetime, by: str,
                    recorder: Recorder | None = None) -> Drill:
        """Open drill `name` kept by `recorder`; HistoryError if one is open (one at a time)."""
        _aware(when)
        with self._write() as conn:
            return drills.start(conn, name, when, by, recorder)

    def resume_drill(self, drill: Drill, recorder: Recorder, when: datetime) -> Drill:
        """`recorder` keeps open `drill` from `when` on; HistoryError if it changed since
        `drill` was read (another castui took it over or ended it)."""
        _aware(when)
        with self._write() as conn:
            return drills.resume(conn, drill, replace(recorder, seen=when))

    def beat_drill(self, drill_id: int, recorder: Recorder, when: datetime) -> bool:
        """`recorder` still observes at `when`; False once the drill is no longer its."""
        _aware(when)
        with self._write() as conn:
            return drills.beat(conn, drill_id, recorder, when)

    def end_drill(self, when: datetime, *, by: str = "",
                  drill_id: int | None = None) -> Drill | None:
        """End the open drill (only if it is `drill_id`, when given); it, ended, or None."""
        _aware(when)
        with self._write() as conn:
            return drills.end(conn, when, by, drill_id)

    def open_drill(self) -> Drill | None:
        """The drill running now (perhaps started by another castui), if any."""
        with self._lock:
            try:
                return drills.open_drill(self._connection())
            except sqlite3.Error as exc:
                raise HistoryError(self._message("cannot read", exc)) from exc

    def drills(self, name: str | None = None) -> list[Drill]:
        """Drills, newest first; only those called `name` when given."""
        return drills.from_rows(self._read(*drills.select(name)))

    # --- maintenance (the SQL is in marks.py) ------------------------------------------------

    def set_maintenance(self, site: str, node: str | None, starts: datetime, ends: datetime,
                        *, by: str, reason: str = "") -> MaintenanceMark:
        """Mark a node (or with `node` None a whole site) as in maintenance until `ends`."""
        if ends <= starts:
            raise ValueError("maintenance must end after it starts")
        _aware(starts, ends)
        with self._write() as conn:
            return marks.insert(conn, site, node, starts, ends, by, reason)

    def clear_maintenance(self, when: datetime, site: str | None = None,
                          node: str | None = None) -> list[MaintenanceMark]:
        """End the marks still in force or to come: all, a site's (its nodes' too) or a node's.

        Returns the marks cleared, as they were before.
        """
        _aware(when)
        with self._write() as conn:
            return marks.clear(conn, when, site, node)

    def maintenance(self, *, since: datetime | None = None,
                    until: datetime | None = None) -> list[MaintenanceMark]:
        """Marks that apply at some moment in [since, until), oldest first (all if no bounds)."""
        _aware(*(t for t in (since, until) if t is not None))
        return marks.from_rows(self._read(*marks.select(since, until)))

    def prune(self, now: datetime | None = None) -> int:
        """Delete what is older than the retention window; returns how many events went."""
        if self.retention is None:
            return 0
        cutoff = _epoch((utcnow() if now is None else now) - self.retention)
        with self._write() as conn:
            conn.execute("DELETE FROM alerts WHERE event_id IN"
                         " (SELECT id FROM events WHERE epoch < ?)", (cutoff,))
            gone = conn.execute("DELETE FROM events WHERE epoch < ?", (cutoff,)).rowcount
            conn.execute("DELETE FROM drills WHERE coalesce(ended, started) < ?"
                         " AND ended IS NOT NULL", (cutoff,))
            conn.execute("DELETE FROM maintenance WHERE ends < ?", (cutoff,))
        return gone

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

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, committed (durably) when the block ends."""
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise HistoryError(self._message("cannot write to", exc)) from exc

    def _read(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._connection().execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise HistoryError(self._message("cannot read", exc)) from exc

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


def _epoch(when: datetime) -> float:
    """Seconds since the epoch; naive datetimes are refused, not guessed to be local time."""
    if when.tzinfo is None:
        raise ValueError("datetime must be timezone-aware")
    return when.timestamp()


def _aware(*whens: datetime) -> None:
    """Naive datetimes are refused, not guessed to be local time."""
    if any(when.tzinfo is None for when in whens):
        raise ValueError("datetime must be timezone-aware")


def _time(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


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
