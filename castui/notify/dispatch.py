"""Hand alerts to notifiers without ever making the engine wait for one.

Each notifier has its own bounded queue and its own worker task, delivering one alert at a
time: a hanging hook or an unreachable webhook holds back only its own alerts, and when its
queue is full the oldest waiting alert is dropped (and reported) rather than blocking `submit`.
Alerts stay in the history whatever happens here: the engine records them before notifying.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from functools import partial
from typing import Any

from castui.config.model import Notifier
from castui.notify.command import run_hook
from castui.notify.webhook import Deliver, webhook_sender

log = logging.getLogger(__name__)

#: While a queue keeps overflowing, report its drops at most this often (seconds); the worker
#: also reports any not yet reported after each delivery.
DROP_REPORT_EVERY = 10.0

FailureCallback = Callable[[str, str], None]


class Dispatcher:
    """Every alert submitted goes to every notifier, each delivered by its own worker.

    `on_failure(notifier name, one-line reason)` is called (and a warning logged) for every
    failed delivery and for alerts dropped from a full queue. Reasons never contain a webhook's
    URL. Bell notifiers call `bell`; without one they do nothing.
    """

    def __init__(self, notifiers: Sequence[Notifier], *, on_failure: FailureCallback,
                 bell: Callable[[], None] | None = None, queue_size: int = 256) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, not {queue_size}")
        self._workers = [_Worker(notifier, _opener(notifier, bell), on_failure, queue_size)
                         for notifier in notifiers if notifier.type != "bell" or bell is not None]

    def submit(self, payload: Mapping[str, Any]) -> None:
        """Queue one alert (a JSON-able dict) for every notifier. Never blocks, never raises.

        Call it from the event loop's thread.
        """
        try:
            body = json.dumps(payload, ensure_ascii=False, default=str).encode()
        except Exception as exc:  # a bad payload must not break the engine's round
            for worker in self._workers:
                worker.fail(f"alert is not JSON-serialisable ({type(exc).__name__})")
            return
        for worker in self._workers:
            worker.offer(body)

    async def run(self) -> None:
        """Deliver until cancelled. Cancelling kills running hooks and closes HTTP clients."""
        async with asyncio.TaskGroup() as group:
            for worker in self._workers:
                group.create_task(worker.run(), name=f"notifier {worker.name}")
            await asyncio.get_running_loop().create_future()  # until cancelled


def _opener(notifier: Notifier,
            bell: Callable[[], None] | None) -> Callable[[], AbstractAsyncContextManager[Deliver]]:
    """How a worker gets its deliver function (a webhook's owns an HTTP client for its life)."""
    if notifier.type == "webhook":
        return partial(webhook_sender, notifier)
    deliver: Deliver
    if notifier.type == "command":
        deliver = partial(run_hook, notifier)
    else:
        assert bell is not None

        async def deliver(_body: bytes) -> None:
            bell()

    return lambda: nullcontext(deliver)


class _Worker:
    """One notifier's queue and the loop that drains it, one alert at a time."""

    def __init__(self, notifier: Notifier,
                 opener: Callable[[], AbstractAsyncContextManager[Deliver]],
                 on_failure: FailureCallback, queue_size: int) -> None:
        self.name = notifier.name
        self._open = opener
        self._on_failure = on_failure
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=queue_size)
        self._dropped = 0
        self._drops_reported_at = float("-inf")

    def offer(self, body: bytes) -> None:
        """Queue `body`, dropping the oldest waiting alert if the queue is full."""
        if self._queue.full():
            self._queue.get_nowait()
            self._dropped += 1
            if time.monotonic() - self._drops_reported_at >= DROP_REPORT_EVERY:
                self._report_drops()
        self._queue.put_nowait(body)

    async def run(self) -> None:
        """Deliver queued alerts until cancelled; no delivery's exception ends the loop."""
        try:
            async with self._open() as deliver:
                while True:  # until cancelled
                    body = await self._queue.get()
                    try:
                        reason = await deliver(body)
                    except Exception as exc:  # the class only: its text may hold a URL
                        reason = f"internal error ({type(exc).__name__})"
                    if reason:
                        self.fail(reason)
                    if self._dropped:
                        self._report_drops()
        except Exception as exc:  # could not even start (e.g. no TLS trust store)
            self.fail(f"stopped: cannot start ({type(exc).__name__})")

    def fail(self, reason: str) -> None:
        """Log a failure and tell the front-end; its callback's own errors are only logged."""
        log.warning("notifier %s: %s", self.name, reason)
        try:
            self._on_failure(self.name, reason)
        except Exception:
            log.exception("on_failure callback failed for notifier %s", self.name)

    def _report_drops(self) -> None:
        count, self._dropped = self._dropped, 0
        self._drops_reported_at = time.monotonic()
        self.fail(f"queue full: {count} alert{'s' if count != 1 else ''} not sent "
                  "(the notifier is slow or down; the oldest waiting were dropped)")
