"""Where the history database lives when the user does not pass `--db`."""

from __future__ import annotations

from pathlib import Path

from platformdirs import user_state_dir

DB_NAME = "history.sqlite3"


def default_db_path() -> Path:
    """`<state dir>/castui/history.sqlite3`: per-user state, not config and not cache.

    Linux: `$XDG_STATE_HOME/castui` or `~/.local/state/castui`; Windows:
    `%LOCALAPPDATA%\\castui`; macOS: `~/Library/Application Support/castui`.
    Nothing is created here; the store creates missing parents when it opens the file.
    """
    return Path(user_state_dir("castui", appauthor=False)) / DB_NAME
