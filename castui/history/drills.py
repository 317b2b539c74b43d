"""The drills table: one drill open at a time, who records it, its heartbeat, who ended it.

Each function runs inside the store's transaction (EventStore holds the lock and commits), so
a check and the change it guards are one step even with another castui on the same file.
Taking over a drill and beating it are compare-and-set on the recorder: a recorder that was
taken over while it was stopped finds out at its next heartbeat instead of overwriting its
successor. Whether a recorder is alive is the engine's rule (castui/engine/drills.py), not
this module's.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

from castui.model.errors import HistoryError
from castui.model.marks import Drill, Recorder
from castui.model.times import iso

_COLUMNS = ("id, name, started, ended, started_by, recorder_pid, recorder_host, "
            "recorder_started, recorder_seen, ended_by")
_SAME_RECORDER = ("recorder_pid IS ? AND recorder_host IS ? AND recorder_started IS ?")


def start(conn: sqlite3.Connection, name: str, when: datetime, by: str,
          recorder: Recorder | None) -> Drill:
    """Open drill `name`, kept by `recorder`; HistoryError if one is open (one at a time)."""
    running = open_drill(conn)
    if running is not None:
        raise HistoryError(f"drill {running.name!r} is still running "
                           f"(started {iso(running.started)}); end it first")
    rowid = conn.execute(
        "INSERT INTO drills (name, started, started_by, recorder_pid, recorder_host,"
        " recorder_started, recorder_seen) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (name, when.timestamp(), by, *_recorder_row(recorder))).lastrowid
    assert rowid is not None  # always set after a successful INSERT
    return Drill(rowid, name, when.astimezone(UTC), None, by, recorder)


def resume(conn: sqlite3.Connection, drill: Drill, recorder: Recorder) -> Drill:
    """Make `recorder` the keeper of open `drill`, if nobody changed it since it was read."""
    updated = conn.execute(
        "UPDATE drills SET recorder_pid = ?, recorder_host = ?, recorder_started = ?,"
        f" recorder_seen = ? WHERE id = ? AND ended IS NULL AND {_SAME_RECORDER}"
        " AND recorder_seen IS ?",
        (*_recorder_row(recorder), drill.id, *_recorder_row(drill.recorder))).rowcount
    if updated != 1:
        raise HistoryError(f"drill {drill.name!r} changed meanwhile (another castui resumed "
                           "or ended it); look again with: castui drill list")
    return Drill(drill.id, drill.name, drill.started, None, drill.started_by, recorder)


def beat(conn: sqlite3.Connection, drill_id: int, recorder: Recorder, when: datetime) -> bool:
    """Record that `recorder` still observes; False if the drill ended or is no longer its."""
    pid, host, started, _ = _recorder_row(recorder)
    return conn.execute(
        f"UPDATE drills SET recorder_seen = ? WHERE id = ? AND ended IS NULL AND {_SAME_RECORDER}",
        (when.timestamp(), drill_id, pid, host, started)).rowcount == 1


def end(conn: sqlite3.Connection, when: datetime, by: str, drill_id: int | None) -> Drill | None:
    """End the open drill (only if it is `drill_id`, when given); it, ended, or None."""
    running = open_drill(conn)
    if running is None or (drill_id is not None and running.id != drill_id):
        return None
    ended = max(when.astimezone(UTC), running.started)
    conn.execute("UPDATE drills SET ended = ?, ended_by = ? WHERE id = ?",
                 (ended.timestamp(), by, running.id))
    return Drill(running.id, running.name, running.started, ended, running.started_by,
                 running.recorder, by)


def open_drill(conn: sqlite3.Connection) -> Drill | None:
    """The drill not yet ended, if any."""
    row = conn.execute(f"SELECT {_COLUMNS} FROM drills WHERE ended IS NULL"
                       " ORDER BY started DESC LIMIT 1").fetchone()
    return None if row is None else _drill(row)


def select(name: str | None) -> tuple[str, list[Any]]:
    """SQL and parameters for the drills (called `name`, if given), newest first."""
    sql = f"SELECT {_COLUMNS} FROM drills"
    params: list[Any] = []
    if name is not None:
        sql += " WHERE name = ?"
        params.append(name)
    return sql + " ORDER BY started DESC, id DESC", params


def from_rows(rows: list[tuple[Any, ...]]) -> list[Drill]:
    return [_drill(row) for row in rows]


def _recorder_row(recorder: Recorder | None) -> tuple[Any, ...]:
    if recorder is None:
        return None, None, None, None
    return (recorder.pid, recorder.host, recorder.started.timestamp(),
            recorder.seen.timestamp())


def _drill(row: tuple[Any, ...]) -> Drill:
    rowid, name, started, ended, by, pid, host, since, seen, ended_by = row
    recorder = None
    if pid is not None and host is not None and since is not None and seen is not None:
        recorder = Recorder(int(pid), str(host), datetime.fromtimestamp(since, UTC),
                            datetime.fromtimestamp(seen, UTC))
    return Drill(rowid, name, datetime.fromtimestamp(started, UTC),
                 None if ended is None else datetime.fromtimestamp(ended, UTC), by, recorder,
                 ended_by or "")
