"""Notice the terminal going away, so an SSH drop ends castui instead of leaving it spinning.

When an SSH session dies the shell's processes get SIGHUP, and reads from the dead terminal
return at once forever: a loop that keeps polling it burns a core (Dolphie's issue #101).
Two independent checks, so either one suffices: the signal (SIGHUP, and SIGTERM for a clean
`kill`) and a periodic look at stdin (no longer a TTY, or hung up).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import signal
import threading
from collections.abc import Callable

#: Seconds between two looks at stdin.
CHECK_INTERVAL = 1.0
#: Seconds a clean shutdown may take once the terminal is gone before the process just ends.
#: Shutting down writes to the terminal (restoring its modes), and a dead terminal can leave
#: that waiting forever; everything reported is already committed to history, so nothing is
#: lost by ending then.
EXIT_GRACE = 3.0
_SIGNALS = (signal.SIGHUP, signal.SIGTERM)
_BROKEN = select.POLLHUP | select.POLLERR | select.POLLNVAL


def terminal_gone(fd: int) -> str | None:
    """Why `fd` is no longer a usable terminal, or None while it is one."""
    try:
        if not os.isatty(fd):
            return "stdin is no longer a terminal"
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        events = poller.poll(0)
    except (OSError, ValueError):
        return "stdin is closed"
    if any(mask & _BROKEN for _, mask in events):
        return "the terminal hung up"
    return None


class TerminalWatch:
    """Calls `on_gone(reason)` once when the terminal goes away or a stop signal arrives."""

    def __init__(self, on_gone: Callable[[str], None], fd: int = 0) -> None:
        self.on_gone = on_gone
        self.fd = fd
        self.fired = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for sig in _SIGNALS:
            self._loop.add_signal_handler(sig, self._fire, f"signal {sig.name}")

    def stop(self) -> None:
        if self._loop is not None:
            for sig in _SIGNALS:
                with contextlib.suppress(ValueError, RuntimeError):
                    self._loop.remove_signal_handler(sig)
            self._loop = None

    def check(self) -> None:
        """The periodic look at stdin."""
        reason = terminal_gone(self.fd)
        if reason is not None:
            self._fire(reason)

    def _fire(self, reason: str) -> None:
        if not self.fired:
            self.fired = True
            watchdog = threading.Timer(EXIT_GRACE, os._exit, (0,))
            watchdog.daemon = True
            watchdog.start()
            self.on_gone(reason)
