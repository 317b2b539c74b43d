"""How the console runs: options the command line (or a test, or a preview) sets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path


@dataclass(frozen=True, slots=True)
class ConsoleOptions:
    """How the console runs. Tests and previews pass `run_engine=False` and feed the monitor.

    `local_tz` None means the machine's time zone; `refresh_s` is the redraw throttle.
    """

    bell: bool = False
    screenshot_dir: Path = Path()
    run_engine: bool = True
    local_tz: tzinfo | None = None
    refresh_s: float = 0.5
    history_events: int = 500
