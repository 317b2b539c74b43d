"""The documented range of every number in a config, checked when the file is loaded.

A number outside its range is a mistake (HAProxy's milliseconds, a slipped finger) or one the
monitor cannot live with: a retention of a million days overflows date arithmetic at the first
prune, and `rise = 2^63-1` means a DOWN node never comes back. So every number has a range
here, and docs/configuration.md shows the same words (a test holds the two together).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from castui.config.reader import Invalid, describe

#: Longer numbers are shortened in problem lines, which stay one short line.
_SHOWN_DIGITS = 20


@dataclass(frozen=True, slots=True)
class Range:
    """Allowed values of one key: integers, or numbers (`unit` seconds or none)."""

    low: float
    high: float
    integer: bool = True
    unit: str = ""
    #: The low end itself is not allowed (a ratio must be *more* than 1).
    above_low: bool = False

    def words(self) -> str:
        """`between 1 and 100`, `more than 1 and at most 100`: for problem lines."""
        unit = f" {self.unit}" if self.unit else ""
        if self.above_low:
            return f"more than {_plain(self.low)} and at most {_plain(self.high)}{unit}"
        return f"between {_plain(self.low)} and {_plain(self.high)}{unit}"

    def doc(self) -> str:
        """`1–100`, `more than 1, at most 100`: as docs/configuration.md writes the range."""
        if self.above_low:
            return f"more than {_plain(self.low)}, at most {_plain(self.high)}"
        return f"{_plain(self.low)}–{_plain(self.high)}"

    def holds(self, value: float) -> bool:
        if math.isnan(value):
            return False
        above = value > self.low if self.above_low else value >= self.low
        return above and value <= self.high


PORT = Range(1, 65535)
#: One probe's or one read's time limit: a live console polls far faster than 300 s, and the
#: cap catches HAProxy-style milliseconds (`timeout 1500`).
_PROBE_TIME = Range(0.01, 300, integer=False, unit="seconds")

#: Every number a config may hold, by the key docs/configuration.md lists it under.
RANGES: dict[str, Range] = {
    "defaults.interval": Range(0.1, 300, integer=False, unit="seconds"),
    "defaults.timeout": _PROBE_TIME,
    "defaults.rise": Range(1, 100),
    "defaults.fall": Range(1, 100),
    "defaults.max_concurrency": Range(1, 10000),
    "defaults.retention_days": Range(1, 3650),
    "defaults.cert_warn_days": Range(1, 3650),
    "defaults.dns_ttl_max": Range(0, 604800),
    "defaults.lb_grace": Range(0.1, 3600, integer=False, unit="seconds"),
    "defaults.skew_max": Range(1, 100, integer=False, above_low=True),
    "defaults.skew_min_connections": Range(1, 1_000_000),
    "defaults.vip_samples": Range(0, 50),
    "defaults.flap_changes": Range(2, 1000),
    "defaults.flap_window": Range(1, 86400, integer=False, unit="seconds"),
    "defaults.flap_quiet": Range(1, 86400, integer=False, unit="seconds"),
    "defaults.slow_ms": Range(1, 300000, integer=False, unit="milliseconds"),
    "sites[].ports.*": PORT,
    "sites[].nodes[].ports.*": PORT,
    "sites[].lb.timeout": _PROBE_TIME,
    "notifiers[].timeout": Range(0.1, 300, integer=False, unit="seconds"),
    "notifiers[].retries": Range(0, 10),
}


def integer(key: str) -> Callable[[object], int]:
    """A converter for the integer key `key` of RANGES. TOML booleans are Python ints, so they
    are refused by name."""
    allowed = RANGES[key]
    assert allowed.integer, key

    def convert(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(f"expected an integer, got {describe(value)}")
        if not allowed.holds(value):
            raise Invalid(f"must be {allowed.words()}, got {shown(value)}")
        return value

    return convert


def number(key: str) -> Callable[[object], float]:
    """A converter for the number key `key` of RANGES (an integer or a float)."""
    allowed = RANGES[key]
    assert not allowed.integer, key
    what = "a number of seconds" if allowed.unit == "seconds" else "a number"

    def convert(value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Invalid(f"expected {what}, got {describe(value)}")
        if not allowed.holds(value):
            hint = (" (castui counts seconds, not milliseconds)"
                    if allowed.unit == "seconds" and value >= 1000 else "")
            raise Invalid(f"must be {allowed.words()}, got {shown(value)}{hint}")
        return float(value)

    return convert


def shown(value: float) -> str:
    """The value as the file gave it, shortened if it is a very long integer."""
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    if len(text) <= _SHOWN_DIGITS:
        return text
    return f"{text[:_SHOWN_DIGITS]}… ({len(text.lstrip('-'))} digits)"


def _plain(bound: float) -> str:
    """A range's end as people write it: 604800, 0.01 (never 6.048e+05)."""
    return str(int(bound)) if float(bound).is_integer() else repr(bound)
