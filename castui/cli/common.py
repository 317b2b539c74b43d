"""Pieces the headless commands share: loading config with one-line errors, running the loop."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path

from castui.config import Config, ConfigError, load_config
from castui.engine.monitor import Monitor
from castui.engine.sitewatch import SetupError
from castui.history import EventStore, HistoryError, default_db_path
from castui.model.times import parse_span


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


def open_store(db: Path | None, config: Config | None) -> EventStore | None:
    """The history database (`--db` or the default), or None after a one-line error."""
    retention = config.defaults.retention_days if config is not None else None
    try:
        return EventStore(db or default_db_path(), retention_days=retention)
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


def span_arg(text: str) -> timedelta:
    """argparse type: a positive span such as `90s`, `45m`, `2h`, `1h30m`."""
    try:
        span = parse_span(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    if span is None or span <= timedelta(0):
        raise argparse.ArgumentTypeError(f"not a span: {text!r} (use 90s, 45m, 2h, 1h30m)")
    return span


def make_monitor(config: Config, store: EventStore | None = None) -> Monitor | None:
    """The engine for `config`, or None after a one-line error (an unreadable secret file)."""
    try:
        return Monitor(config, store=store)
    except SetupError as err:
        print(f"castui: {err}", file=sys.stderr)
        return None
