"""Durable event history: every event is committed to SQLite before anyone shows it."""

from castui.history.paths import default_db_path
from castui.history.records import Drill, MaintenanceMark
from castui.history.store import EventStore, HistoryError

__all__ = ["Drill", "EventStore", "HistoryError", "MaintenanceMark", "default_db_path"]
