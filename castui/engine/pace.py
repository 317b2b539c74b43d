"""Polling pace: whether rounds keep up with the interval.

The rule: polling lags while the slowest target's last round took longer than the interval
(its next round then starts late, so every picture of it is older than promised). The engine
says so once, as `poll_lagging`, and once more as `poll_caught_up` when every target's last
round is within the interval again; the console's header shows the same verdict from the
snapshot. Pure: the caller brings the time.
"""

from __future__ import annotations

from datetime import datetime

from castui.model.events import ALL_SITES, SUBJECT_POLL, Event, Kind
from castui.model.times import duration, json_seconds


class PollPace:
    """The last round time of each target, and whether polling lags behind the interval."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._rounds: dict[str, float] = {}
        self._lagging_since: datetime | None = None

    @property
    def slowest(self) -> float | None:
        """Seconds the slowest target's last round took; None before any timed round."""
        return max(self._rounds.values(), default=None)

    @property
    def lagging(self) -> bool:
        return self._lagging_since is not None

    def observe(self, key: str, round_s: float | None, now: datetime) -> Event | None:
        """Note that target `key`'s round took `round_s` (None: not timed); the event when
        this tips polling into lagging or back."""
        if round_s is None:
            self._rounds.pop(key, None)
        else:
            self._rounds[key] = round_s
        slowest = self.slowest
        lags = slowest is not None and slowest > self.interval
        if lags == self.lagging:
            return None
        interval = duration(self.interval, style="interval")
        pace = {"round_s": json_seconds(slowest),
                "interval_s": self.interval}
        if lags:
            assert slowest is not None
            self._lagging_since = now
            return Event(now, ALL_SITES, SUBJECT_POLL, Kind.POLL_LAGGING,
                         f"rounds overrun the {interval} interval: {key} took "
                         f"{duration(slowest, style='poll')}", data={**pace, "target": key})
        since, self._lagging_since = self._lagging_since, None
        assert since is not None
        said = f", slowest {duration(slowest, style='poll')}" if slowest is not None else ""
        return Event(now, ALL_SITES, SUBJECT_POLL, Kind.POLL_CAUGHT_UP,
                     f"rounds within the {interval} interval again{said}",
                     duration_s=(now - since).total_seconds(), data=pace)

