"""Stopping the child processes a benchmark starts (the lab, HAProxy, a console in a pty)."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any


def stop(proc: subprocess.Popen[Any], grace: float = 15.0) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds: a benchmark never leaves a child behind."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@contextlib.contextmanager
def castui_lab(args: Sequence[str], ready_s: float = 60.0) -> Iterator[subprocess.Popen[str]]:
    """`castui lab ARGS` in a child process, yielded once it prints `ready` (its output drained
    from then on), stopped on the way out."""
    proc = subprocess.Popen([sys.executable, "-m", "castui", "lab", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + ready_s
        assert proc.stdout is not None
        for line in proc.stdout:
            if "ready" in line:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("the lab did not start in time")
        else:
            raise RuntimeError(f"the lab exited with status {proc.wait()}")
        threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep draining
        yield proc
    finally:
        stop(proc)
