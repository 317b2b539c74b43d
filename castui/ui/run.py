"""Entry points: `castui` opens the console on a config; `castui demo` runs it beside the lab.

The lab's servers run in-process, so the console, the engine and the lab must share one event
loop: `run_console_async` runs the app in the caller's loop, with the caller's coroutines
(a scenario, say) as tasks that end with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable
from typing import Any

from castui.engine.monitor import Monitor
from castui.history.store import EventStore
from castui.ui.app import ConsoleApp
from castui.ui.options import ConsoleOptions


async def run_console_async(monitor: Monitor, *, store: EventStore | None = None,
                            options: ConsoleOptions | None = None,
                            extra: Iterable[Coroutine[Any, Any, object]] = (),
                            stop: asyncio.Event | None = None, headless: bool = False,
                            size: tuple[int, int] | None = None) -> int:
    """Run the console over `monitor` in this loop until the user quits; its exit status.

    `extra` coroutines run alongside and are cancelled when the console ends; setting `stop`
    (e.g. on SIGINT, or after a demo's duration) ends the console as `q` would. `headless`
    (with a `size`) draws nothing to the terminal: benchmarks and scripted pictures.
    """
    app = ConsoleApp(monitor, store=store, options=options)
    tasks = [asyncio.ensure_future(coro) for coro in extra]
    if stop is not None:
        tasks.append(asyncio.ensure_future(_exit_on(stop, app)))
    try:
        result = await app.run_async(headless=headless, size=size)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return app.return_code or (result or 0)


async def _exit_on(stop: asyncio.Event, app: ConsoleApp) -> None:
    await stop.wait()
    await app.action_quit()
