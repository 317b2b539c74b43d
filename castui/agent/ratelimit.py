"""Per-client token buckets: a monitor polling every few seconds never notices them; a script
hammering the agent (or guessing tokens) gets 429 after its burst."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

#: Clients remembered at once; beyond this the least recently seen are forgotten, so a flood
#: from many addresses cannot grow memory without bound.
MAX_CLIENTS = 4096


class RateLimiter:
    """`burst` requests at once per client, refilled at `rate` per second."""

    def __init__(self, rate: float, burst: int, *, max_clients: int = MAX_CLIENTS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not rate > 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, when

    def take(self, client: str) -> float:
        """Spend one token of `client`'s bucket: 0.0 if allowed, else the seconds to wait."""
        now = self._clock()
        tokens, then = self._buckets.pop(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) * self.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate
        self._buckets[client] = (tokens, now)
        while len(self._buckets) > self._max_clients:
            self._buckets.popitem(last=False)
        return wait
