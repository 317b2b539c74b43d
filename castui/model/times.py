"""Instants and durations, in one place for every layer: UTC for records and JSON, local for people.

The local zone is the machine's (`datetime.astimezone()`), so `TZ=Europe/Amsterdam castui
report` shows Amsterdam time beside UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_SPAN = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
#: Further back than this is surely a typo (the history keeps weeks, not decades).
_MAX_SPAN_S = 3650 * 86400


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def iso(when: datetime) -> str:
    """ISO-8601 UTC to the millisecond with a `Z`: the JSON form."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_epoch(epoch: float) -> str:
    """An epoch instant (a probe's start) in the same form as `iso`."""
    return iso(datetime.fromtimestamp(epoch, UTC))


def instant(when: datetime) -> str:
    """`2026-11-21 14:05:03Z (15:05:03 CET)`; the local date too when it is another day."""
    utc = when.astimezone(UTC)
    local = when.astimezone()
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


def duration(seconds: float | None) -> str:
    """`850 ms`, `6.1 s`, `2m14s`, `1h02m05s`, `3d04h10m`; `–` when unknown."""
    if seconds is None:
        return "–"
    seconds = max(seconds, 0.0)
    if seconds < 1:
        return f"{round(seconds * 1000)} ms"
    if seconds < 59.95:
        return f"{seconds:.1f} s"
    total = round(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h{minutes:02d}m"
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s"


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
