"""The maintenance table: marks set, cleared and read, inside the store's transactions."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

from castui.model.marks import MaintenanceMark

_COLUMNS = "id, site, node, starts, ends, set_by, reason, cleared"


def insert(conn: sqlite3.Connection, site: str, node: str | None, starts: datetime,
           ends: datetime, by: str, reason: str) -> MaintenanceMark:
    rowid = conn.execute(
        "INSERT INTO maintenance (site, node, starts, ends, set_by, reason)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (site, node, starts.timestamp(), ends.timestamp(), by, reason)).lastrowid
    assert rowid is not None  # always set after a successful INSERT
    return MaintenanceMark(rowid, site, node, starts.astimezone(UTC), ends.astimezone(UTC),
                           by, reason)


def clear(conn: sqlite3.Connection, when: datetime, site: str | None,
          node: str | None) -> list[MaintenanceMark]:
    """Clear the marks in force or to come (a site's, a node's, or all); them, as they were."""
    sql = f"SELECT {_COLUMNS} FROM maintenance WHERE cleared IS NULL AND ends > ?"
    params: list[Any] = [when.timestamp()]
    if site is not None:
        sql += " AND site = ? COLLATE NOCASE"
        params.append(site)
    if node is not None:
        sql += " AND node = ? COLLATE NOCASE"
        params.append(node)
    cleared = [_mark(row) for row in conn.execute(sql, params)]
    conn.executemany("UPDATE maintenance SET cleared = ? WHERE id = ?",
                     [(when.timestamp(), mark.id) for mark in cleared])
    return cleared


def select(since: datetime | None, until: datetime | None) -> tuple[str, list[Any]]:
    """SQL and parameters for the marks that apply at some moment in [since, until)."""
    sql = f"SELECT {_COLUMNS} FROM maintenance WHERE 1"
    params: list[Any] = []
    if since is not None:
        sql += " AND min(ends, coalesce(cleared, ends)) > ?"
        params.append(since.timestamp())
    if until is not None:
        sql += " AND starts < ?"
        params.append(until.timestamp())
    return sql + " ORDER BY starts, id", params


def from_rows(rows: list[tuple[Any, ...]]) -> list[MaintenanceMark]:
    return [_mark(row) for row in rows]


def _mark(row: tuple[Any, ...]) -> MaintenanceMark:
    rowid, site, node, starts, ends, by, reason, cleared = row
    return MaintenanceMark(rowid, site, node, datetime.fromtimestamp(starts, UTC),
                           datetime.fromtimestamp(ends, UTC), by, reason,
                           None if cleared is None else datetime.fromtimestamp(cleared, UTC))
