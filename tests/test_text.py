"""castui.model.text: what network text becomes before anything shows or stores it."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime

import pytest

from castui.model.events import EVENT_DETAIL_LIMIT, Event, Kind
from castui.model.results import Code, ProbeResult
from castui.model.text import DEFAULT_LIMIT, MAX_MARKS, capped, clean, listing


@pytest.mark.parametrize(("hostile", "shown"), [
    # Issue 12: a balancer cell read `‮NWOD 表示`, reversed on screen by U+202E.
    ("\u202eNWOD 表示\u202c", "NWOD 表示"),
    ("UP\u2066 2/3\u2069", "UP 2/3"),  # isolates
    ("CA\u200dS\u200b1\u200e\u200f\u061c", "CAS1"),  # joiners, zero-width space, marks
    ("\ufeffDOWN\u00ad", "DOWN"),  # byte order mark, soft hyphen
    ("\x1b[31mDOWN\x1b[0m\x07", "DOWN"),
    ("MAINT\r\n(via https/CAS1)\t", "MAINT (via https/CAS1)"),
    ("\u2028UP\u2029", "UP"),  # line and paragraph separators are line breaks
    ("bad\udcffbytes", "bad\ufffdbytes"),  # a lone surrogate
])
def test_format_bidi_and_control_characters_never_reach_a_screen(hostile: str,
                                                                   shown: str) -> None:
    assert clean(hostile) == shown


def test_stacked_combining_marks_are_capped_and_composable_ones_composed() -> None:
    zalgo = clean("D" + "\u0301\u0300\u0302" * 100 + "OWN")
    assert zalgo == "D\u0301\u0300OWN"
    assert sum(unicodedata.category(c) == "Mn" for c in zalgo) == MAX_MARKS
    assert clean("\u0301\u0301UP") == "UP"  # marks with no base character
    assert clean("Re\u0301seau") == "Réseau"  # composed, one character
    assert clean("Tiếng Việt ก่อน") == "Tiếng Việt ก่อน"  # real scripts keep their marks


def test_wide_characters_stay_and_length_is_bounded() -> None:
    assert clean("表示" * 10) == "表示" * 10  # the console measures their cells
    long = clean("x" * 5000)
    assert len(long) == DEFAULT_LIMIT and long.endswith("…")
    assert clean(b"\xffCAS1\xfe", 10) == "\ufffdCAS1\ufffd"


def test_a_list_from_the_network_says_how_many_it_leaves_out() -> None:
    addresses = [f"10.0.0.{i}" for i in range(1, 8)]
    assert listing(addresses) == "10.0.0.1, 10.0.0.2, 10.0.0.3, 10.0.0.4 +3 more"
    assert listing(addresses[:2]) == "10.0.0.1, 10.0.0.2"
    assert listing(addresses[:4], total=5000, sep=",") == (
        "10.0.0.1,10.0.0.2,10.0.0.3,10.0.0.4 +4996 more")
    assert listing([]) == ""


def test_a_list_of_sentences_is_capped_in_count_and_length() -> None:
    reasons = [f"CAS{i} DOWN" for i in range(1, 13)] + ["x" * 1000]
    assert capped(reasons, 50, 5) == ("CAS1 DOWN", "CAS2 DOWN", "CAS3 DOWN", "CAS4 DOWN",
                                      "+9 more")
    assert capped(reasons[-1:], 50, 5) == ("x" * 49 + "…",)
    assert capped(reasons[:5], 50, 5) == tuple(reasons[:5])


def test_probe_and_event_details_are_bounded_whatever_is_put_together() -> None:
    """Each quote of a peer is bounded where it is read; a detail made of several (a prefix,
    a reason, a list) still fits its field: 200 characters a check, 1000 an event."""
    result = ProbeResult(False, Code.L7RSP, "agent cannot read connections: " + "x" * 200)
    assert len(result.detail) == DEFAULT_LIMIT and result.detail.endswith("…")
    event = Event(datetime.now(UTC), "Site-A", "CAS1", Kind.NODE_DEGRADED,
                  "in pool but failing: " + "; ".join([result.detail] * 10))
    assert len(event.detail) == EVENT_DETAIL_LIMIT and event.detail.endswith("…")
    assert len(event.as_dict()["detail"]) == EVENT_DETAIL_LIMIT
