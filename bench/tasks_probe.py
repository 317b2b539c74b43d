"""Run castui's command line in this interpreter and count its asyncio tasks from outside it.

`python -m bench.tasks_probe OUT EVERY -- CASTUI ARGS...` runs `castui CASTUI ARGS...` exactly
as `python -m castui` would, with two additions that change nothing castui does: an event
loop policy that remembers every loop castui creates (asyncio.run and Textual both ask the
policy for their loop), and a daemon thread that every EVERY seconds asks each live loop, on
that loop (call_soon_threadsafe), for `len(asyncio.all_tasks())` and appends
`MONOTONIC_TIME TASKS` to OUT. A loop too busy to answer within EVERY seconds is written as -1.
The process has one thread more than castui alone (this one): bench/soak.py subtracts it.
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


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[2] != "--":
        print("usage: python -m bench.tasks_probe OUT EVERY -- CASTUI ARGS...", file=sys.stderr)
        return 2
    policy = _RememberingPolicy()
    asyncio.set_event_loop_policy(policy)
    threading.Thread(target=_sample, args=(policy, Path(argv[0]), float(argv[1])),
                     name="tasks-probe", daemon=True).start()
    return castui_main(argv[3:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
