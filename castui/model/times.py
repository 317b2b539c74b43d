"""Instants and durations, in one place for every layer: UTC for records and JSON, local for people.

The local zone is the machine's (`datetime.astimezone()`), so `TZ=Europe/Amsterdam castui
report` shows Amsterdam time beside UTC. Every duration castui shows is worded here, in a style
named at the call site (`duration(s, style="compact")`), so two places that mean the same
style cannot drift apart and a new front-end picks a style instead of writing a tenth.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Literal

_SPAN = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
#: Further back than this is surely a typo (the history keeps weeks, not decades).
_MAX_SPAN_S = 3650 * 86400

#: How precisely `iso` writes an instant.
Timespec = Literal["seconds", "milliseconds", "microseconds"]
#: The ways castui words a duration; see `duration` for what each looks like and who uses it.
Style = Literal["precise", "compact", "coarse", "tenths", "poll", "interval", "stopwatch",
                "words", "seconds", "whole"]
#: The ways castui words a probe's latency, given in milliseconds; see `latency`.
LatencyStyle = Literal["compact", "detail"]


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def iso(when: datetime, timespec: Timespec = "milliseconds") -> str:
    """ISO-8601 UTC with a `Z`: milliseconds for JSON and event lines, seconds where a person
    reads it (a mark's end), microseconds for the history's rows."""
    return when.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def iso_epoch(epoch: float) -> str:
    """An epoch instant (a probe's start) in the same form as `iso`."""
    return iso(datetime.fromtimestamp(epoch, UTC))


def file_stamp(when: datetime) -> str:
    """`20261121T140503Z`: an instant fit for a file name (screenshots, reports)."""
    return f"{when.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def instant(when: datetime) -> str:
    """`2026-11-21 14:05:03Z (15:05:03 CET)`; the local date too when it is another day; just
    `2026-11-21 14:05:03Z` where local time is UTC (said once, not twice)."""
    utc = when.astimezone(UTC)
    local = when.astimezone()
    if local.utcoffset() == utc.utcoffset():
        return f"{utc:%Y-%m-%d %H:%M:%S}Z"
    shown = local.strftime("%H:%M:%S %Z") if local.date() == utc.date() else local.strftime(
        "%Y-%m-%d %H:%M:%S %Z")
    return f"{utc:%Y-%m-%d %H:%M:%S}Z ({shown.strip()})"


def zone_label(when: datetime) -> str:
    """`CET, UTC+01:00`: the local zone in effect at `when`, for axis and header labels."""
    local = when.astimezone()
    offset = local.strftime("%z")  # +0100
    sign, hours, minutes = offset[:1] or "+", offset[1:3] or "00", offset[3:5] or "00"
    name = local.tzname() or ""
    return f"{name}, UTC{sign}{hours}:{minutes}" if name else f"UTC{sign}{hours}:{minutes}"


def duration(seconds: float | None, *, style: Style) -> str:
    """`seconds` worded in `style`; a negative duration (a clock stepped back) counts as 0.

    | style     | looks like                                     | used for                      |
    |-----------|------------------------------------------------|-------------------------------|
    | precise   | `850 ms` `6.1 s` `2m14s` `1h02m05s` `3d04h10m` | drill reports                 |
    | compact   | `45s` `2m14s` `1h02m` `3d04h`                  | the console                   |
    | coarse    | `42s` `10m`, then compact                      | console ages (redrawn rarely) |
    | tenths    | `1.2s` under a minute, then compact            | console: probe-timed outages  |
    | poll      | `0.31s` `2.50s` `12s`                          | header: the slowest round     |
    | interval  | `2s` `1.5s` `0.67s`                            | header: the configured pace   |
    | stopwatch | `03:12` `1:03:12`                              | header: a running drill       |
    | words     | `90 s` `2 min` `2 min 5 s`                     | event details (flapping)      |
    | seconds   | `6.1 s` `134.0 s`                              | `castui watch` text lines     |
    | whole     | `134 s`                                        | event details (balancer)      |

    Unknown (None) is `?` in the compact style, `–` in every other.
    """
    if seconds is None:
        return "?" if style == "compact" else "–"
    return _STYLES[style](max(seconds, 0.0))


def since(then: datetime | None, now: datetime) -> str:
    """The coarse time from `then` to `now`; `–` when there is no `then` yet."""
    return "–" if then is None else duration((now - then).total_seconds(), style="coarse")


def latency(ms: float | None, *, style: LatencyStyle) -> str:
    """A latency in milliseconds: `compact` for the console's cells (`3ms`, `<1ms`, `1.2s`),
    `detail` for a probe's detail sentence (`0.4 ms`, `12.3 ms`, `250 ms`); None is empty."""
    if ms is None:
        return ""
    if style == "detail":
        return f"{ms:.1f} ms" if ms < 100 else f"{ms:.0f} ms"
    if ms >= 1000:
        return f"{ms / 1000:.1f}s"
    return f"{max(round(ms), 1)}ms" if ms >= 0.5 else "<1ms"


def json_seconds(seconds: float | None) -> float | None:
    """A duration as a JSON number: seconds to the millisecond; None stays null."""
    return None if seconds is None else round(seconds, 3)


def _dhms(seconds: float) -> tuple[int, int, int, int]:
    """Whole days, hours, minutes, seconds in `seconds`, rounded to the nearest second."""
    days, rest = divmod(round(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return days, hours, minutes, secs


def _precise(seconds: float) -> str:
    if seconds < 1:
        return f"{round(seconds * 1000)} ms"
    if seconds < 59.95:  # 59.96 would read 60.0 s: from there on it is 1m00s
        return f"{seconds:.1f} s"
    days, hours, minutes, secs = _dhms(seconds)
    if days:
        return f"{days}d{hours:02d}h{minutes:02d}m"
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s"


def _compact(seconds: float) -> str:
    days, hours, minutes, secs = _dhms(seconds)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def _coarse(seconds: float) -> str:
    if seconds < 60:
        return f"{int(seconds)}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    return _compact(seconds)


def _tenths(seconds: float) -> str:
    return f"{seconds:.1f}s" if seconds < 60 else _compact(seconds)


def _poll(seconds: float) -> str:
    return f"{seconds:.2f}s" if seconds < 10 else f"{seconds:.0f}s"


def _interval(seconds: float) -> str:
    if seconds >= 10:
        return f"{seconds:.0f}s"
    return f"{seconds:.2f}".rstrip("0").rstrip(".") + "s"


def _stopwatch(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def _words(seconds: float) -> str:
    whole = round(seconds)
    if whole < 120:
        return f"{whole} s"
    return f"{whole // 60} min" if whole % 60 == 0 else f"{whole // 60} min {whole % 60} s"


_STYLES: dict[str, Callable[[float], str]] = {
    "precise": _precise, "compact": _compact, "coarse": _coarse, "tenths": _tenths,
    "poll": _poll, "interval": _interval, "stopwatch": _stopwatch, "words": _words,
    "seconds": lambda seconds: f"{seconds:.1f} s", "whole": lambda seconds: f"{seconds:.0f} s",
}


def parse_time(text: str, now: datetime) -> datetime:
    """`--since` / `--until`: ISO-8601 (naive means local time) or a span back from now (`90m`).

    Raises ValueError with a message fit for one line.
    """
    value = text.strip()
    if value.lower() == "now":
        return now
    span = parse_span(value)
    if span is not None:
        return now - span
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not a time: {text!r} (use ISO-8601 like 2026-11-21T14:05 or a span "
                         "back from now like 90m, 2h, 1d)") from None
    if parsed.tzinfo is None:
        parsed = parsed.astimezone()  # a naive time is the user's local wall-clock time
    return parsed.astimezone(UTC)


def parse_span(value: str) -> timedelta | None:
    """`90s`, `90m`, `2h`, `1d`, `1h30m` as a timedelta; None when `value` is not a span.

    Raises ValueError for a span over ten years (surely a typo).
    """
    pos = 0
    total = 0.0
    compact = value.replace(" ", "")
    for match in _SPAN.finditer(compact):
        if match.start() != pos:
            return None
        total += float(match.group(1)) * _UNIT_S[match.group(2)]
        pos = match.end()
    if pos == 0 or pos != len(compact):
        return None
    if total > _MAX_SPAN_S:
        raise ValueError(f"span too long: {value!r} (at most 3650d)")
    return timedelta(seconds=total)
