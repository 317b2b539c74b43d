"""Run castui's command line in this interpreter and count its asyncio tasks from outside it.

`python -m bench.tasks_probe OUT EVERY [RING FEED] -- CASTUI ARGS...` runs `castui CASTUI ARGS...`
exactly as `python -m castui` would, with two additions that change nothing castui does: an event
loop policy that remembers every loop castui creates (asyncio.run and Textual both ask the
policy for their loop), and a daemon thread that every EVERY seconds asks each live loop, on
that loop (call_soon_threadsafe), for `len(asyncio.all_tasks())` and appends
`MONOTONIC_TIME TASKS` to OUT. A loop too busy to answer within EVERY seconds is written as -1.
The process has one thread more than castui alone (this one): bench/soak.py subtracts it.

RING and FEED, when given, shorten castui's history buffers that fill by design (the
engine's rounds per target, `castui.engine.pool.RING_SIZE`; the console's events,
`castui.ui.feed.TIMELINE_EVENTS`, and its log's lines, `castui.ui.widgets.event_log.MAX_LINES`)
so that a soak of an hour sees them full: what still grows after that is not the buffers.
Each is read when its buffer is made, so setting the module values before castui starts is
enough.
"""

from __future__ import annotations

import asyncio
import queue
import sys
import threading
import time
import weakref
from pathlib import Path

from castui.cli import main as castui_main


class _RememberingPolicy(asyncio.DefaultEventLoopPolicy):
    """The default policy, keeping a weak reference to each loop it makes."""

    def __init__(self) -> None:
        super().__init__()
        self.loops: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        loop = super().new_event_loop()
        self.loops.add(loop)
        return loop


def _count(loop: asyncio.AbstractEventLoop, timeout: float) -> int:
    """The loop's task count, read on the loop itself; -1 if it does not answer in time."""
    answer: queue.Queue[int] = queue.Queue(maxsize=1)
    try:
        loop.call_soon_threadsafe(lambda: answer.put(len(asyncio.all_tasks(loop))))
        return answer.get(timeout=timeout)
    except (RuntimeError, queue.Empty):  # the loop closed, or is stuck
        return -1


def _sample(policy: _RememberingPolicy, out: Path, every: float) -> None:
    with out.open("a", encoding="ascii") as file:
        while True:
            time.sleep(every)
            loops = [loop for loop in list(policy.loops) if loop.is_running()]
            if not loops:
                continue
            tasks = [_count(loop, every) for loop in loops]
            total = -1 if -1 in tasks else sum(tasks)
            file.write(f"{time.monotonic():.3f} {total}\n")
            file.flush()


def _shorten(ring: int, feed: int) -> None:
    """Shorter history buffers (see the module's docstring); FEED 0 leaves the console's
    alone and does not import it (watch never loads Textual)."""
    import castui.engine.pool

    castui.engine.pool.RING_SIZE = ring
    if feed:
        import castui.ui.feed
        import castui.ui.widgets.event_log

        castui.ui.feed.TIMELINE_EVENTS = feed
        castui.ui.widgets.event_log.MAX_LINES = min(feed, castui.ui.widgets.event_log.MAX_LINES)


def main(argv: list[str]) -> int:
    bounds = argv[2:4] if len(argv) > 4 and argv[4] == "--" else []
    rest = 5 if bounds else 3
    if len(argv) < rest or argv[rest - 1] != "--" or not all(b.isdigit() for b in bounds):
        print("usage: python -m bench.tasks_probe OUT EVERY [RING FEED] -- CASTUI ARGS...",
              file=sys.stderr)
        return 2
    if bounds:
        _shorten(int(bounds[0]), int(bounds[1]))
    policy = _RememberingPolicy()
    asyncio.set_event_loop_policy(policy)
    threading.Thread(target=_sample, args=(policy, Path(argv[0]), float(argv[1])),
                     name="tasks-probe", daemon=True).start()
    return castui_main(argv[rest:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
