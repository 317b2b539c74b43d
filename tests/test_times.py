"""Times and durations: every style castui words a duration in, at its boundaries, and the
ISO-8601 forms of an instant. A style that drifts changes what an operator reads on the console,
in `watch`, in an event's details or in a drill report."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from castui.model.times import (
    Style,
    duration,
    file_stamp,
    instant,
    iso,
    iso_epoch,
    json_seconds,
    latency,
    since,
)

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
DAY = 86400


@pytest.mark.parametrize(("style", "cases"), [
    ("precise", [(0, "0 ms"), (0.85, "850 ms"), (6.1, "6.1 s"), (59.94, "59.9 s"),
                 (59.95, "1m00s"), (134, "2m14s"), (3725, "1h02m05s"), (200000, "2d07h33m")]),
    ("compact", [(0, "0s"), (0.4, "0s"), (45.4, "45s"), (59.95, "1m00s"), (134, "2m14s"),
                 (3600 + 125, "1h02m"), (3 * DAY + 4 * 3600, "3d04h")]),
    ("coarse", [(0, "0s"), (0.9, "0s"), (42.9, "42s"), (59.95, "59s"), (600, "10m"),
                (3599, "59m"), (3725, "1h02m"), (DAY + 3600, "1d01h")]),
    ("tenths", [(0, "0.0s"), (0.04, "0.0s"), (1.23, "1.2s"), (59.9, "59.9s"), (61, "1m01s"),
                (3725, "1h02m"), (2 * DAY, "2d00h")]),
    ("poll", [(0, "0.00s"), (0.312, "0.31s"), (2.5, "2.50s"), (12.4, "12s"), (3725, "3725s")]),
    ("interval", [(0.5, "0.5s"), (0.6666, "0.67s"), (1.5, "1.5s"), (2, "2s"), (10, "10s"),
                  (3600, "3600s")]),
    ("stopwatch", [(0, "00:00"), (0.9, "00:00"), (59.95, "00:59"), (192, "03:12"),
                   (3792, "1:03:12"), (DAY + 3600, "25:00:00")]),
    ("words", [(0, "0 s"), (0.4, "0 s"), (59.95, "60 s"), (119.4, "119 s"), (120, "2 min"),
               (125, "2 min 5 s"), (DAY, "1440 min")]),
    ("seconds", [(0, "0.0 s"), (0.04, "0.0 s"), (6.14, "6.1 s"), (59.95, "60.0 s"),
                 (134, "134.0 s"), (3725, "3725.0 s")]),
    ("whole", [(0, "0 s"), (0.4, "0 s"), (59.95, "60 s"), (134.4, "134 s"), (DAY, "86400 s")]),
])
def test_each_style_words_durations_at_its_boundaries(style: Style,
                                                      cases: list[tuple[float, str]]) -> None:
    assert [duration(seconds, style=style) for seconds, _ in cases] == [t for _, t in cases]


@pytest.mark.parametrize("style", ["precise", "coarse", "tenths", "poll", "interval",
                                   "stopwatch", "words", "seconds", "whole"])
def test_an_unknown_duration_is_a_dash(style: Style) -> None:
    assert duration(None, style=style) == "–"


def test_an_unknown_duration_on_the_console_is_a_question_mark() -> None:
    assert duration(None, style="compact") == "?"


def test_a_negative_duration_reads_as_zero() -> None:
    """A clock stepped back must not print `-1s` (or `-1:59:59`) to an operator."""
    assert duration(-0.3, style="precise") == "0 ms"
    assert duration(-5, style="compact") == "0s"
    assert duration(-5, style="stopwatch") == "00:00"
    assert duration(-5, style="tenths") == "0.0s"


def test_time_since_a_change_coarsens_after_a_minute() -> None:
    assert since(T0, T0 + timedelta(seconds=42.9)) == "42s"
    assert since(T0, T0 + timedelta(seconds=600)) == "10m"
    assert since(T0, T0 - timedelta(seconds=3)) == "0s"
    assert since(None, T0) == "–"


def test_latency_is_compact_in_cells_and_spelt_out_in_details() -> None:
    cells = [latency(ms, style="compact") for ms in (None, 0.3, 0.5, 3.4, 999.4, 1000, 1234)]
    assert cells == ["", "<1ms", "1ms", "3ms", "999ms", "1.0s", "1.2s"]
    details = [latency(ms, style="detail") for ms in (0.42, 12.34, 99.94, 250.4)]
    assert details == ["0.4 ms", "12.3 ms", "99.9 ms", "250 ms"]


def test_iso_writes_utc_with_a_z_at_the_precision_asked() -> None:
    when = datetime(2026, 11, 21, 14, 5, 3, 123456, tzinfo=UTC)
    assert iso(when) == "2026-11-21T14:05:03.123Z"
    assert iso(when, "seconds") == "2026-11-21T14:05:03Z"
    assert iso(when, "microseconds") == "2026-11-21T14:05:03.123456Z"
    cet = when.astimezone(timezone(timedelta(hours=1)))
    assert iso(cet) == "2026-11-21T14:05:03.123Z"
    assert iso_epoch(when.timestamp()) == "2026-11-21T14:05:03.123Z"


def test_a_file_stamp_is_utc_and_safe_in_a_file_name() -> None:
    cet = datetime(2026, 11, 21, 15, 5, 3, tzinfo=timezone(timedelta(hours=1)))
    assert file_stamp(cet) == "20261121T140503Z"


def test_json_seconds_keep_milliseconds_and_null() -> None:
    assert json_seconds(1.23456) == 1.235
    assert json_seconds(134) == 134
    assert json_seconds(None) is None


def test_an_instant_is_said_once_where_local_time_is_utc(
        monkeypatch: pytest.MonkeyPatch) -> None:
    when = datetime(2026, 11, 21, 15, 42, 8, tzinfo=UTC)
    try:
        monkeypatch.setenv("TZ", "UTC")
        time.tzset()
        assert instant(when) == "2026-11-21 15:42:08Z"
        monkeypatch.setenv("TZ", "Europe/Amsterdam")
        time.tzset()
        assert instant(when) == "2026-11-21 15:42:08Z (16:42:08 CET)"
    finally:
        monkeypatch.undo()
        time.tzset()
