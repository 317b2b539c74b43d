"""Start real external servers for tests and make sure they stop."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import NoReturn

import pytest

LOG_TAIL_LINES = 30
KILL_WAIT = 5.0


def under_ci() -> bool:
    """True when integration tests must run, never skip (CI=true)."""
    return os.environ.get("CI", "").lower() == "true"


def require_binary(name: str) -> str:
    """The path of `name`; skip the test if it is missing, fail it under CI=true."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/local/sbin")
    if path:
        return path
    reason = f"{name} is not installed (integration test needs it)"
    if under_ci():
        pytest.fail(f"{reason}; CI=true forbids skipping", pytrace=False)
    pytest.skip(reason)


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a log, for failure messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(text.splitlines()[-lines:])


class ManagedProcess:
    """A subprocess that is ready when `ready()` says so and is always stopped on exit.

    Output goes to `log_path`. Stopping sends each (signal, seconds) of `stop_signals` in
    turn, waiting up to that long for an exit after each, then SIGKILL.
    """

    def __init__(self, argv: Sequence[str], *, log_path: Path, ready: Callable[[], bool],
                 ready_timeout: float = 10.0,
                 stop_signals: Sequence[tuple[int, float]] = ((signal.SIGTERM, 3.0),)) -> None:
        self.argv = list(argv)
        self.log_path = log_path
        self._ready = ready
        self._ready_timeout = ready_timeout
        self._stop_signals = tuple(stop_signals)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError("process not started")
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def start(self) -> None:
        """Start the process and wait until it is ready; AssertionError with its log if not."""
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self._ready_timeout
        while True:
            if self.proc.poll() is not None:
                self._fail(f"exited with status {self.proc.returncode} before it was ready")
            if self._ready():
                return
            if time.monotonic() >= deadline:
                self._fail(f"not ready after {self._ready_timeout:g}s")
            time.sleep(0.05)

    def _fail(self, why: str) -> NoReturn:
        self.stop()
        raise AssertionError(f"{Path(self.argv[0]).name} {why}\n"
                             f"command: {' '.join(self.argv)}\n"
                             f"--- {self.log_path} (tail) ---\n{log_tail(self.log_path)}")

    def stop(self) -> None:
        """Signal, wait (bounded), escalate to SIGKILL. Safe to repeat."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        for sig, wait in self._stop_signals:
            proc.send_signal(sig)
            try:
                proc.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue
        proc.kill()
        proc.wait(KILL_WAIT)

    def __enter__(self) -> ManagedProcess:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
