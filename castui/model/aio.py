"""asyncio helpers shared by castui's small servers (the agent, the lab's DNS and control API)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any


async def drop_clients(writers: Iterable[asyncio.StreamWriter],
                       tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Abort every client connection, then cancel the tasks serving them and wait for them.

    Aborting first means no task is left blocked writing to a peer that will never read.
    """
    for writer in list(writers):
        writer.transport.abort()
    pending = list(tasks)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
