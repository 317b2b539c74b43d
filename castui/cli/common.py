"""Pieces the headless commands share: loading config with one-line errors, running the loop."""

from __future__ import annotations

import sys
from pathlib import Path

from castui.config import Config, ConfigError, load_config


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
