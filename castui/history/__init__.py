"""Durable event history: every event is committed to SQLite before anyone shows it."""

from castui.history.paths import default_db_path
from castui.history.store import EventStore
from castui.model.errors import HistoryError

__all__ = ["EventStore", "HistoryError", "default_db_path"]
