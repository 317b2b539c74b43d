"""Durable event history: every event is committed to SQLite before anyone shows it."""

from castui.history.paths import default_db_path
from castui.history.records import Drill, MaintenanceMark, StoredAlert
from castui.history.store import EventStore, HistoryError

__all__ = ["Drill", "EventStore", "HistoryError", "MaintenanceMark", "StoredAlert",
           "default_db_path"]
