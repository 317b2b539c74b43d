"""Run a command hook with one alert as JSON on stdin, and kill it (whole group) at its timeout."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from asyncio.subprocess import DEVNULL, PIPE

from castui.config.model import Notifier
from castui.model.text import clean

#: Bytes of the hook's stderr kept (the end of it): enough for the last line, bounded.
STDERR_TAIL = 4096
#: Seconds to wait for the stderr pipe after the hook exited (a grandchild may hold it open).
STDERR_GRACE = 0.5


async def run_hook(notifier: Notifier, body: bytes) -> str | None:
    """Run the hook once; None on exit 0, else a one-line reason.

    The hook runs in a session of its own so that on timeout or cancellation its whole process
    group (children included) is killed and nothing is left running.
    """
    try:
        proc = await asyncio.create_subprocess_exec(
            *notifier.command, stdin=PIPE, stdout=DEVNULL, stderr=PIPE, start_new_session=True)
    except OSError as exc:
        return f"cannot run: {exc.strerror or type(exc).__name__}"
    assert proc.stdin is not None and proc.stderr is not None
    tail = bytearray()
    reader = asyncio.create_task(_read_tail(proc.stderr, tail))
    try:
        try:
            async with asyncio.timeout(notifier.timeout):
                await _feed(proc.stdin, body + b"\n")
                code = await proc.wait()
        except TimeoutError:
            return f"killed after {notifier.timeout:g} s"
        await asyncio.wait({reader}, timeout=STDERR_GRACE)
        return None if code == 0 else _exit_reason(code, bytes(tail))
    finally:
        reader.cancel()
        if proc.returncode is None:
            _kill_group(proc.pid)
            await proc.wait()


async def _feed(stdin: asyncio.StreamWriter, data: bytes) -> None:
    """Write the payload and close stdin; a hook that does not read it is not an error."""
    try:
        stdin.write(data)
        await stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        stdin.close()


async def _read_tail(stream: asyncio.StreamReader, tail: bytearray) -> None:
    """Read stderr to EOF keeping only its last STDERR_TAIL bytes (a chatty hook costs nothing)."""
    while chunk := await stream.read(STDERR_TAIL):  # until EOF, or cancelled by run_hook
        tail += chunk
        del tail[:-STDERR_TAIL]


def _exit_reason(code: int, stderr: bytes) -> str:
    if code < 0:
        try:
            what = f"killed by {signal.Signals(-code).name}"
        except ValueError:
            what = f"killed by signal {-code}"
    else:
        what = f"exit {code}"
    lines = [clean(line) for line in stderr.decode("utf-8", errors="replace").splitlines()]
    last = next((line for line in reversed(lines) if line), "")
    return f"{what}: {last}" if last else what


def _kill_group(pgid: int) -> None:
    """SIGKILL the hook's process group (its pid: it leads its own session)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
