"""Pieces the headless commands share: loading config with one-line errors, running the loop."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from castui.config import Config, ConfigError, load_config
from castui.engine.monitor import Monitor
from castui.engine.sitewatch import SetupError
from castui.history import EventStore, HistoryError, default_db_path


def load_or_report(path: str) -> Config | None:
    """Load the config, or print its problems one per line on stderr and return None."""
    try:
        config = load_config(Path(path))
    except ConfigError as err:
        for problem in err.problems:
            print(f"castui: {problem}", file=sys.stderr)
        return None
    if not config.defaults.tls_verify:
        print("castui: warning: tls_verify = false: certificates are not verified",
              file=sys.stderr)
    return config


def open_store(db: Path | None, config: Config) -> EventStore | None:
    """The history database (`--db` or the default), or None after a one-line error."""
    try:
        return EventStore(db or default_db_path(), retention_days=config.defaults.retention_days)
    except HistoryError as err:
        print(f"castui: {err}", file=sys.stderr)
        return None


def seconds_arg(text: str) -> float:
    """argparse type: a positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def make_monitor(config: Config, store: EventStore | None = None) -> Monitor | None:
    """The engine for `config`, or None after a one-line error (an unreadable secret file)."""
    try:
        return Monitor(config, store=store)
    except SetupError as err:
        print(f"castui: {err}", file=sys.stderr)
        return None
