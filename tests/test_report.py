"""`castui report`: figures measured from a real history database with events at known times,
rendered as Markdown, JSON and HTML with the timeline picture; bad input gives one line."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from castui import cli
from castui.engine.drills import this_recorder
from castui.engine.timeline import BUCKETS, Mark
from castui.history import EventStore
from castui.model.events import Event
from castui.model.marks import Drill, Recorder
from castui.model.times import duration, instant, iso, parse_time
from castui.report import LoadStatus, Report, Window, choose_window, collect, measure
from castui.report.document import MAX_ROWS
from castui.report.lanes import build_lanes
from castui.report.plot import MAX_LANES, draw_svg, time_ticks
from castui.report.render_html import render_html
from castui.report.render_json import render_json
from castui.report.render_md import escape, render_md

T = datetime(2026, 11, 21, 14, 0, 0, tzinfo=UTC)
END = T + timedelta(seconds=120)
HOSTILE = "<script>alert(1)</script>|"
KEEP = 36500  # retention in days: the fixed 2026 times must survive any test date


def at(seconds: float) -> datetime:
    return T + timedelta(seconds=seconds)


def z(seconds: float) -> str:
    return iso(at(seconds))


@pytest.fixture
def amsterdam() -> Iterator[None]:
    """Local time forced to Europe/Amsterdam (CET in November, UTC+1), restored after."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Europe/Amsterdam"
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()


def write_drill(path: Path) -> None:
    """Drill `cas2-failover` by alice, T to T+120 s: CAS2 drops, the VIP blips, DNS moves."""
    with EventStore(path, retention_days=KEEP) as store:
        store.start_drill("cas2-failover", T, "alice")
        rec = store.record
        rec(Event(at(0.5), "Site-A", "monitor", "monitor_started", "watching 3 nodes"))
        rec(Event(at(11.0), "Site-A", "vip", "vip_probe_failed", "https L4CON",
                  data={"probe_at": z(10.5)}))
        rec(Event(at(14.5), "Site-A", "vip", "vip_probe_ok", "passes again", duration_s=3.5,
                  data={"probe_at": z(14.0), "failed_at": z(10.5)}))
        down = rec(Event(at(16.1), "Site-A", "CAS2", "node_down", f"epm L4CON {HOSTILE}",
                         data={"first_failed": z(10.0)}), alert=True)
        rec(Event(at(17.0), "Site-A", "CAS2", "lb_down", "DOWN",
                  data={"changed_at": z(14.0), "lb_status": "DOWN"}))
        rec(Event(at(30.0), "Site-A", "vip", "vip_probe_failed", "owa L7STS",
                  data={"probe_at": z(30.0)}))
        rec(Event(at(36.0), "Site-A", "vip", "vip_probe_ok", "passes again", duration_s=5.0,
                  data={"probe_at": z(35.0), "failed_at": z(30.0)}))
        rec(Event(at(40.0), "Site-A", "dns", "dns_changed", "moved",
                  data={"server": "10.1.0.10", "old": ["10.1.0.50"], "new": ["10.2.0.50"]}),
            alert=True)
        rec(Event(at(42.5), "Site-A", "dns", "dns_changed", "moved",
                  data={"server": "10.1.0.11", "old": ["10.1.0.50"], "new": ["10.2.0.50"]}),
            alert=True)
        rec(Event(at(70.0), "Site-A", "CAS2", "node_up", "back in pool", duration_s=53.9,
                  data={"load": "skewed"}))
        rec(Event(at(72.0), "Site-A", "CAS2", "lb_up", "UP", data={"changed_at": z(71.0)}))
        rec(Event(at(100.0), "Site-A", "pool", "pool_balanced", "even again"))
        store.set_maintenance("Site-B", "CAS3", at(60), at(200), by="bob", reason="patching")
        rec(Event(at(80.0), "Site-B", "CAS3", "node_down", "planned",
                  data={"first_failed": z(78.0), "maintenance": True}))
        rec(Event(at(95.0), "Site-B", "vip", "vip_probe_failed", "https L4TOUT",
                  data={"probe_at": z(95.0)}))
        store.acknowledge([down], at(20.0), "alice")
        store.end_drill(END)
        rec(Event(at(130.0), "Site-A", "CAS1", "node_down", "after the drill",
                  data={"first_failed": z(125.0)}), alert=True)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "history.sqlite3"
    write_drill(path)
    return path


def run(*argv: str) -> int:
    """`castui report ARGV` in-process, through the real command line."""
    return cli.main(["report", *argv])


def load(db: Path, **kwargs: object) -> Report:
    with EventStore(db, retention_days=KEEP) as store:
        now = END + timedelta(hours=1)
        window = choose_window(store, drill=None, since=None, until=None, now=now,
                               **kwargs)  # type: ignore[arg-type]
        return collect(store, window, now)


# --- figures --------------------------------------------------------------------------------

def test_figures_measured_from_probe_timestamps(db: Path) -> None:
    report = load(db)
    assert report.window.start == T and report.window.end == END
    assert not report.window.running
    site_a, site_b = report.sites
    assert (site_a.name, site_b.name) == ("Site-A", "Site-B")

    (drop,) = site_a.drops
    assert drop.node == "CAS2"
    assert drop.first_failed == at(10.0)
    assert drop.declared_out == at(16.1)
    assert drop.detection_s == pytest.approx(6.1)
    assert drop.lb_marked_down == at(14.0)
    assert drop.lb_detection_s == pytest.approx(4.0)
    assert drop.back_in_pool == at(70.0)
    assert drop.out_of_pool_s == pytest.approx(53.9)
    assert (drop.load, drop.load_back_s) == (LoadStatus.BACK_IN_BALANCE, pytest.approx(30.0))
    assert not drop.expected and not drop.ongoing

    vip = site_a.vip
    assert [(o.start, o.end, o.ongoing) for o in vip.outages] == [
        (at(10.5), at(14.0), False), (at(30.0), at(35.0), False)]
    assert vip.total_s == pytest.approx(8.5) and vip.longest_s == pytest.approx(5.0)
    assert vip.down_spells == ()
    assert [(c.server, c.time, c.old, c.new, c.after_s) for c in site_a.dns_changes] == [
        ("10.1.0.10", at(40.0), ("10.1.0.50",), ("10.2.0.50",), pytest.approx(40.0)),
        ("10.1.0.11", at(42.5), ("10.1.0.50",), ("10.2.0.50",), pytest.approx(42.5))]
    assert site_a.worst_detection_s == pytest.approx(6.1)

    (planned,) = site_b.drops
    assert planned.expected and planned.ongoing
    assert planned.detection_s == pytest.approx(2.0)
    assert planned.out_of_pool_s == pytest.approx(40.0)  # to the drill's end
    assert planned.load is LoadStatus.NOT_BACK
    (open_outage,) = site_b.vip.outages
    assert (open_outage.start, open_outage.end, open_outage.ongoing) == (at(95), END, True)
    assert [m.target for m in site_b.maintenance] == ["Site-B/CAS3"]

    # Alerts in the drill only (CAS1 at T+130 is after it), oldest first, with their acks.
    assert [(a.kind, a.acked_at, a.acked_by) for a in report.alerts] == [
        ("node_down", at(20.0), "alice"), ("dns_changed", None, None),
        ("dns_changed", None, None)]


def _window() -> Window:
    return Window(T, END)


def test_odd_and_missing_data_never_guessed() -> None:
    events = [
        # Out before the window: a node_up without a node_down, and an at_start drop.
        Event(at(5), "S", "CAS1", "node_up", "back", duration_s=65.0),
        Event(at(1), "S", "CAS4", "node_down", "out at start", data={"at_start": True}),
        Event(at(50), "S", "CAS4", "node_up", "back", data={"load": "balanced"}),
        # A drop with no probe timestamp and a broken one; no balancer event for it.
        Event(at(10), "S", "CAS2", "node_down", "x", data={"first_failed": "yesterday"}),
        Event(at(20), "S", "CAS2", "node_up", "back"),
        Event(at(30), "S", "CAS2", "node_down", "again", data={"first_failed": z(27)}),
        Event(at(40), "S", "CAS2", "node_up", "back", data={"load": "skewed"}),
        # The balancer's verdict on CAS3 belongs to the drop after its earlier return.
        Event(at(12), "S", "CAS3", "lb_down", "x", data={"changed_at": z(12)}),
        Event(at(15), "S", "CAS3", "node_up", "back", data={}),
        Event(at(60), "S", "CAS3", "node_down", "x", data={"first_failed": z(58),
                                                              "flapping": True}),
        # The VIP was already failing when the window opened; it recovered at T+3.
        Event(at(4), "S", "vip", "vip_probe_ok", "ok", data={"probe_at": z(3)}),
        Event(at(90), "S", "vip", "vip_down", "down"),
        Event(at(100), "S", "CAS5", "node_flapping", "5 changes",
              data={"changes": 5, "window_s": 300}),
        Event(at(110), "S", "dns", "dns_changed", "x", data={"server": "10.0.0.1", "old": "a",
                                                              "new": None}),
    ]
    report = measure(_window(), events)
    (site,) = report.sites
    assert [(o.node, o.since, o.back_in_pool) for o in site.out_at_start] == [
        ("CAS1", at(-60), at(5)), ("CAS3", None, at(15)), ("CAS4", at(1), at(50))]
    first, second, third = site.drops
    assert (first.node, first.first_failed, first.detection_s) == ("CAS2", None, None)
    assert (first.lb_marked_down, first.load) == (None, LoadStatus.NO_COUNTS)
    assert (second.detection_s, second.load) == (pytest.approx(3.0), LoadStatus.STILL_SKEWED)
    assert third.node == "CAS3" and third.lb_marked_down is None and third.flapping
    assert third.ongoing and third.out_of_pool_s == pytest.approx(60.0)
    (outage,) = site.vip.outages
    assert (outage.start, outage.end, outage.duration_s) == (T, at(3), pytest.approx(3.0))
    (spell,) = site.vip.down_spells
    assert (spell.start, spell.end, spell.ongoing) == (at(90), END, True)
    (flap,) = site.flapping
    assert (flap.node, flap.changes, flap.window_s, flap.ongoing) == ("CAS5", 5, 300.0, True)
    (change,) = site.dns_changes
    assert (change.old, change.new) == (("a",), ())


def test_lanes_cover_the_window_and_stay_bounded() -> None:
    events = [Event(at(1), "S", "CAS1", "node_up", "back")]
    for i in range(2000):  # a flapping node: far more changes than a picture can show
        t = 10 + i * 0.05
        events.append(Event(at(t), "S", "CAS2", "node_down" if i % 2 == 0 else "node_up", "x"))
    report = measure(_window(), events)
    lanes = {lane.subject: lane for lane in report.lanes}
    cas1 = lanes["CAS1"].spans
    assert [(s.start, s.end, s.mark) for s in cas1] == [
        (T, at(1), Mark.OUT), (at(1), END, Mark.IN_POOL)]
    cas2 = lanes["CAS2"].spans
    assert len(cas2) <= BUCKETS
    assert any(s.mark is Mark.OUT for s in cas2)
    assert cas2[0].start == T and cas2[-1].end == END


def test_long_tables_are_bounded_in_markdown_not_in_json() -> None:
    events = []
    for i in range(MAX_ROWS + 50):
        events.append(Event(at(i * 0.2), "S", "vip", "vip_probe_failed", "x",
                            data={"probe_at": z(i * 0.2)}))
        events.append(Event(at(i * 0.2 + 0.1), "S", "vip", "vip_probe_ok", "x",
                            data={"probe_at": z(i * 0.2 + 0.1), "failed_at": z(i * 0.2)}))
    report = measure(_window(), events)
    text = render_md(report, None)
    assert "… and 50 more, not listed here (--format json lists them all)." in text
    rows = [line for line in text.splitlines() if line.startswith("| 2026-11-21")]
    assert len(rows) == MAX_ROWS and all(row.endswith("| 100 ms |") for row in rows)
    assert len(json.loads(render_json(report))["sites"][0]["vip"]["outages"]) == MAX_ROWS + 50


# --- Markdown -------------------------------------------------------------------------------

def _cells(row: str) -> int:
    """Cells in a Markdown table row: unescaped pipes minus one."""
    return len(re.findall(r"(?<!\\)\|", row)) - 1


def test_markdown_to_file_with_linked_picture(db: Path, tmp_path: Path, amsterdam: None,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out" / "report.md"
    out.parent.mkdir()
    assert run("--db", str(db), "--output", str(out)) == 0
    assert capsys.readouterr().out == ""
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# castui drill report: cas2-failover\n")
    assert "started by alice" in text
    assert "![timeline](report.svg)" in text
    # Summary row: one drop, worst detection, VIP outage count, total and longest, DNS.
    assert ("| Site-A | 1 (CAS2) | 6.1 s | 2 | 8.5 s | 5.0 s | 2 resolvers (10.1.0.10, "
            "10.1.0.11) |") in text
    assert "| Site-B | 1 (CAS3) | 2.0 s | 1 | 25.0 s (ongoing) | 25.0 s | no |" in text
    # UTC and local (CET, UTC+1) side by side.
    row = next(line for line in text.splitlines() if line.startswith("| CAS2 |"))
    assert ("| CAS2 | 2026-11-21 14:00:10Z (15:00:10 CET) | 2026-11-21 14:00:16Z (15:00:16 CET)"
            " | 6.1 s | 2026-11-21 14:00:14Z (15:00:14 CET) | 4.0 s | "
            "2026-11-21 14:01:10Z (15:01:10 CET) | 53.9 s | back in balance after 30.0 s |"
            ) in row
    header = next(line for line in text.splitlines() if line.startswith("| node | first"))
    assert _cells(row) == _cells(header) == 10  # the hostile `|` did not add a cell
    assert HOSTILE not in text and r"\<script\>alert(1)\</script\>\|" in text
    assert "| 10.1.0.11 | 2026-11-21 14:00:42Z (15:00:42 CET) | 42.5 s | 10.1.0.50 | " \
           "10.2.0.50 |" in text
    assert "expected (maintenance)" in text
    assert "2026-11-21 14:00:20Z (15:00:20 CET) by alice" in text
    assert text.count("not acknowledged") == 2
    assert "after the drill" not in text
    assert "Local time: CET, UTC+01:00" in text

    svg = out.with_suffix(".svg")
    labels = _svg_texts(svg.read_text(encoding="utf-8"))
    for label in ("Site-A / CAS2", "Site-A / VIP", "Site-A / DNS 10.1.0.10", "Site-B / CAS3",
                  "drill start", "drill end"):
        assert label in labels
    assert any("UTC+01:00" in t for t in labels)  # the axis says the local offset


def _svg_texts(svg: str) -> list[str]:
    root = ET.fromstring(svg)
    return ["".join(el.itertext()) for el in root.iter("{http://www.w3.org/2000/svg}text")]


def test_markdown_to_stdout_puts_the_picture_here(db: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert run("--db", str(db), "--drill", "cas2-failover") == 0
    captured = capsys.readouterr()
    picture = tmp_path / "castui-report-cas2-failover.svg"
    assert picture.is_file()
    assert "![timeline](castui-report-cas2-failover.svg)" in captured.out
    assert captured.err.strip() == f"castui: timeline picture written to {picture}"


def test_picture_is_the_same_for_the_same_report(db: Path) -> None:
    report = load(db)
    assert draw_svg(report) == draw_svg(report)


def test_picture_bounds_lanes_and_keeps_hostile_names_as_text() -> None:
    events = [Event(at(10), "S", f"N{i:03d}", "node_down", "x") for i in range(MAX_LANES + 15)]
    events.append(Event(at(20), "S", "$\\frac{a}{b}$ <b>", "node_down", "x"))
    report = measure(_window(), events)
    texts = _svg_texts(draw_svg(report))
    assert any("16 more lanes not drawn" in t for t in texts)
    small = measure(_window(), events[-1:])
    assert "S / $\\frac{a}{b}$ <b>" in _svg_texts(draw_svg(small))


# --- HTML and JSON --------------------------------------------------------------------------

def test_html_is_self_contained_and_escaped(db: Path, tmp_path: Path, amsterdam: None) -> None:
    out = tmp_path / "report.html"
    assert run("--db", str(db), "--format", "html", "--output", str(out)) == 0
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert HOSTILE not in page and "<script" not in page
    assert "epm L4CON &lt;script&gt;alert(1)&lt;/script&gt;|" in page
    assert "<td>6.1 s</td>" in page and "<td>back in balance after 30.0 s</td>" in page
    assert "<td>2026-11-21 14:00:16Z (15:00:16 CET)</td>" in page
    assert "by alice" in page and "not acknowledged" in page
    svg = page[page.index("<svg"):page.index("</svg>") + len("</svg>")]
    assert "Site-A / CAS2" in _svg_texts(svg)
    assert not list(tmp_path.glob("*.svg"))  # embedded, no side file
    assert "src=" not in page and "href=\"http" not in page  # nothing fetched from elsewhere


def test_json_figures(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("--db", str(db), "--format", "json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["format"] == "castui-report/1"
    assert doc["window"] == {
        "start": "2026-11-21T14:00:00.000Z", "end": "2026-11-21T14:02:00.000Z",
        "duration_s": 120.0, "running": False, "not_observed_s": 0.0,
        "drill": {"name": "cas2-failover", "started_by": "alice",
                  "started": "2026-11-21T14:00:00.000Z", "ended": "2026-11-21T14:02:00.000Z"}}
    assert doc["gaps"] == []  # watched throughout
    site_a = doc["sites"][0]
    assert site_a["summary"] == {
        "nodes_dropped": 1, "worst_detection_s": 6.1, "vip_outages": 2,
        "vip_outage_total_s": 8.5, "vip_outage_longest_s": 5.0,
        "dns_resolvers_changed": ["10.1.0.10", "10.1.0.11"]}
    assert site_a["node_drops"][0] == {
        "node": "CAS2", "first_failed": "2026-11-21T14:00:10.000Z",
        "declared_out": "2026-11-21T14:00:16.100Z", "detection_s": 6.1,
        "lb_marked_down": "2026-11-21T14:00:14.000Z", "lb_detection_s": 4.0,
        "back_in_pool": "2026-11-21T14:01:10.000Z", "out_of_pool_s": 53.9, "ongoing": False,
        "expected": False, "flapping": False, "load": "back in balance", "load_back_s": 30.0,
        "detail": f"epm L4CON {HOSTILE}", "unobserved": False}
    assert site_a["vip"]["outages"][1] == {
        "start": "2026-11-21T14:00:30.000Z", "end": "2026-11-21T14:00:35.000Z",
        "duration_s": 5.0, "ongoing": False}
    assert doc["sites"][1]["vip"]["outages"][0]["ongoing"] is True
    assert [(a["event"], a["acked_by"], a["acked_at"]) for a in doc["alerts"]] == [
        ("node_down", "alice", "2026-11-21T14:00:20.000Z"), ("dns_changed", None, None),
        ("dns_changed", None, None)]


# --- windows --------------------------------------------------------------------------------

def test_running_drill_is_reported_up_to_now(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "h.sqlite3"
    now = datetime.now(UTC)
    with EventStore(path) as store:  # recorded by this process, alive: observed throughout
        store.start_drill("live", now - timedelta(minutes=5), "carol", this_recorder(now))
        store.record(Event(now - timedelta(minutes=4), "Site-A", "CAS1", "node_down", "x",
                           data={"first_failed": (now - timedelta(minutes=4, seconds=3))
                                 .isoformat()}))
    assert run("--db", str(path), "--format", "json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["window"]["running"] is True and doc["gaps"] == []
    end = datetime.fromisoformat(doc["window"]["end"])
    assert now <= end <= datetime.now(UTC)
    drop = doc["sites"][0]["node_drops"][0]
    assert drop["ongoing"] is True and drop["detection_s"] == pytest.approx(3.0)
    assert run("--db", str(path), "--output", str(tmp_path / "r.md")) == 0
    assert "the drill is still running" in (tmp_path / "r.md").read_text(encoding="utf-8")


def test_an_open_drill_whose_recorder_is_gone_is_not_observed_since_its_last_heartbeat(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "h.sqlite3"
    now = datetime.now(UTC)
    last = now - timedelta(minutes=3)
    with EventStore(path) as store:
        store.start_drill("orphan", now - timedelta(minutes=5), "carol",
                          Recorder(1, "gone.invalid", now - timedelta(hours=1), last))
    assert run("--db", str(path), "--format", "json") == 0
    doc = json.loads(capsys.readouterr().out)
    (gap,) = doc["gaps"]
    assert datetime.fromisoformat(gap["start"]) == last.replace(
        microsecond=last.microsecond // 1000 * 1000)
    assert gap["ongoing"] is True and gap["end"] == doc["window"]["end"]
    assert run("--db", str(path), "--output", str(tmp_path / "r.md")) == 0
    text = (tmp_path / "r.md").read_text(encoding="utf-8")
    assert "its recorder is gone" in text and "still not observed at end" in text


def test_gaps_are_clipped_merged_and_said_in_every_format() -> None:
    drill = Drill(1, "dr", T, END, "alice")

    def gap(kind: str, seconds: float, start: str, end: str, name: str = "dr") -> Event:
        return Event(at(seconds), "*", "drill", kind, "x", data={
            "drill": name, "by": "bob", "gap_start": start, "gap_end": end,
            "recorder_gone": {"pid": 42, "host": "<b>cas-admin</b>"}})

    events = [
        Event(at(1), "Site-A", "monitor", "monitor_started", "watching 3 nodes"),
        gap("drill_resumed", 40, z(-10), z(40)),  # began before the window: clipped
        gap("drill_resumed", 55, z(30), z(55)),  # overlaps the first: one stretch
        gap("drill_resumed", 70, z(60), z(70), name="another drill"),  # not this drill's
        gap("drill_resumed", 80, "yesterday", z(80)),  # unreadable: not guessed
        gap("drill_ended", 120, z(100), z(120)),
    ]
    report = measure(Window(T, END, drill), events)
    assert [(g.start, g.end, g.ongoing) for g in report.gaps] == [
        (T, at(55), False), (at(100), END, False)]
    assert report.not_observed_s == pytest.approx(75.0)
    assert "pid 42 on <b>cas-admin</b> gone; drill ended by bob" in report.gaps[1].why
    doc = json.loads(render_json(report))
    assert [g["duration_s"] for g in doc["gaps"]] == [55.0, 20.0]
    assert doc["window"]["not_observed_s"] == 75.0
    md = render_md(report, None)
    assert "## Not observed" in md and "does not mean there was none" in md
    assert "No VIP probe failed while castui observed (1m15s not observed)." in md
    assert "<b>" not in md and "<b>" not in render_html(report, None)
    svg = draw_svg(report)
    assert "not observed (castui not recording)" in _svg_texts(svg)


def test_a_node_found_out_when_castui_resumed_went_out_unobserved() -> None:
    """CAS1 was in the pool when the drill began; the recorder died; the castui that resumed
    found CAS1 out. It is a drop whose start nobody saw, not a node out before the drill."""
    drill = Drill(1, "dr", T, END, "alice")
    events = [
        Event(T, "*", "drill", "drill_started", "x", data={"drill": "dr", "pool": [
            {"site": "S", "node": "CAS1", "state": "up"}]}),
        Event(at(60), "*", "drill", "drill_resumed", "x", data={
            "drill": "dr", "by": "bob", "gap_start": z(20), "gap_end": z(60)}),
        Event(at(61), "S", "CAS1", "node_down", "epm L4CON",
              data={"at_start": True, "first_failed": z(60)}),
    ]
    report = measure(Window(T, END, drill), events)
    (site,) = report.sites
    assert site.out_at_start == ()
    (drop,) = site.drops
    assert drop.unobserved and drop.first_failed is None and drop.detection_s is None
    assert drop.declared_out == at(61) and drop.ongoing
    (lane,) = [lane for lane in report.lanes if lane.subject == "CAS1"]
    assert [(s.start, s.mark) for s in lane.spans] == [(T, Mark.IN_POOL), (at(61), Mark.OUT)]
    assert "went out while not observed" in render_md(report, None)
    assert json.loads(render_json(report))["sites"][0]["node_drops"][0]["unobserved"] is True


def test_since_until_window(db: Path, capsys: pytest.CaptureFixture[str],
                            amsterdam: None) -> None:
    # Naive times are local: 15:00:30 in Amsterdam is 14:00:30Z.
    assert run("--db", str(db), "--since", "2026-11-21T15:00:30", "--until",
               "2026-11-21T14:02:30Z", "--format", "json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["window"]["start"] == "2026-11-21T14:00:30.000Z"
    assert doc["window"]["drill"] is None
    site_a = doc["sites"][0]
    assert [o["start"] for o in site_a["vip"]["outages"]] == ["2026-11-21T14:00:30.000Z"]
    # CAS1's drop after the drill is inside this window; CAS2's is not (it came back).
    assert [d["node"] for d in site_a["node_drops"]] == ["CAS1"]
    assert [o["node"] for o in site_a["out_at_start"]] == ["CAS2"]


def test_parse_time_and_formatting(amsterdam: None) -> None:
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    assert parse_time("90m", now) == now - timedelta(minutes=90)
    assert parse_time("1h30m", now) == now - timedelta(minutes=90)
    assert parse_time("1d", now) == now - timedelta(days=1)
    assert parse_time("2026-11-21 10:00", now) == datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    assert parse_time("2026-11-21T10:00+00:00", now) == datetime(2026, 11, 21, 10, 0,
                                                                 tzinfo=UTC)
    for bad in ("yesterday", "10x", "", "99999d"):
        with pytest.raises(ValueError):
            parse_time(bad, now)
    assert instant(datetime(2026, 11, 21, 23, 30, 5, 900000, tzinfo=UTC)) == \
        "2026-11-21 23:30:05Z (2026-11-22 00:30:05 CET)"
    assert instant(datetime(2026, 7, 1, 8, 0, tzinfo=UTC)) == "2026-07-01 08:00:00Z " \
        "(10:00:00 CEST)"
    assert [duration(s, style="precise") for s in (0.85, 6.1, 134, 3725, 200000, None)] == [
        "850 ms", "6.1 s", "2m14s", "1h02m05s", "2d07h33m", "–"]
    assert escape("a|b\nc *d* [x](y) <i> node_down _e_") == \
        r"a\|b c \*d\* \[x\](y) \<i\> node_down \_e\_"


def test_axis_ticks_fall_on_round_utc_times() -> None:
    ticks = time_ticks(at(7), at(127))
    assert [label for _, label in ticks][:3] == ["14:00:15\n2026-11-21", "14:00:30",
                                                 "14:00:45"]
    assert ticks[0][0] == pytest.approx(8.0)
    assert len(time_ticks(T, T + timedelta(days=20))) <= 11


# --- errors ---------------------------------------------------------------------------------

def _one_line_error(capsys: pytest.CaptureFixture[str], code: int) -> str:
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    return err.strip()


def test_missing_database_is_not_created(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "nowhere" / "h.sqlite3"
    err = _one_line_error(capsys, run("--db", str(path)))
    assert err == f"castui: no history database at {path}"
    assert not path.parent.exists()


def test_bad_windows(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "not a time: 'yesterday'" in _one_line_error(
        capsys, run("--db", str(db), "--since", "yesterday"))
    assert _one_line_error(capsys, run("--db", str(db), "--since", "1h", "--until", "2h")) \
        == "castui: --until must be after --since"
    assert "--until" in _one_line_error(capsys, run("--db", str(db), "--until", "1h"))
    assert "--until" in _one_line_error(
        capsys, run("--db", str(db), "--drill", "cas2-failover", "--until", "1h"))
    with pytest.raises(SystemExit) as exc:
        run("--db", str(db), "--drill", "x", "--since", "1h")
    assert exc.value.code == 2


def test_unknown_drill_lists_names_bounded(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "h.sqlite3"
    with EventStore(path) as store:
        err = _one_line_error(capsys, run("--db", str(path)))
        assert err == (f"castui: no drills recorded in {path}; give --drill NAME or "
                       "--since TIME")
        for i in range(12):
            store.start_drill(f"drill-{i:02d}", at(i * 10), "dave")
            store.end_drill(at(i * 10 + 5))
    err = _one_line_error(capsys, run("--db", str(path), "--drill", "nope"))
    assert err.startswith(f"castui: no drill named 'nope' in {path}; known drills: "
                          "'drill-11', 'drill-10',")
    assert err.endswith("and 2 more")


def test_unwritable_output_and_foreign_database(db: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no-such-dir" / "r.html"
    err = _one_line_error(capsys, run("--db", str(db), "--format", "html", "--output",
                                      str(missing)))
    assert err.startswith(f"castui: cannot write {missing}")
    err = _one_line_error(capsys, run("--db", str(db), "--output", str(tmp_path)))
    assert err == f"castui: cannot write {tmp_path}: is a directory"
    assert not list(tmp_path.glob("*.svg"))
    foreign = tmp_path / "other.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    err = _one_line_error(capsys, run("--db", str(foreign)))
    assert "not a castui history database" in err


def test_report_never_deletes_old_history(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Opening the store prunes past its retention; the report opens it keeping everything."""
    path = tmp_path / "h.sqlite3"
    old = datetime.now(UTC) - timedelta(days=400)
    with EventStore(path, retention_days=KEEP) as store:
        store.record(Event(old, "Site-A", "CAS1", "node_down", "long ago"))
    assert run("--db", str(path), "--since", "500d", "--format", "json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["sites"][0]["node_drops"][0]["detail"] == "long ago"


# --- the real command -----------------------------------------------------------------------

def test_python_m_castui_report(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.md"
    env = {**os.environ, "TZ": "Europe/Amsterdam"}
    done = subprocess.run([sys.executable, "-m", "castui", "report", "--db", str(db),
                           "--output", str(out)], capture_output=True, text=True, env=env,
                          timeout=120, check=False, cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr
    assert "(15:00:16 CET)" in out.read_text(encoding="utf-8")
    assert out.with_suffix(".svg").is_file()
    bad = subprocess.run([sys.executable, "-m", "castui", "report", "--db",
                          str(tmp_path / "none.db")], capture_output=True, text=True,
                         timeout=120, check=False, cwd=Path(__file__).resolve().parent.parent)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


def test_a_watched_sites_healthy_vip_gets_a_lane() -> None:
    """Site-B's VIP carried the DR traffic and never failed: it still has its lane."""
    lanes = build_lanes(_window(), [Event(at(5), "Site-A", "vip", "vip_down", "refused")],
                        [], {"Site-A": [(at(5), END)]}, {"Site-A": ["CAS1"], "Site-B": ["CAS4"]})
    assert [(lane.site, lane.subject) for lane in lanes] == [
        ("Site-A", "CAS1"), ("Site-A", "vip"), ("Site-B", "CAS4"), ("Site-B", "vip")]
    (healthy,) = [lane for lane in lanes if lane.site == "Site-B" and lane.kind == "vip"]
    assert healthy.failing == ()


def test_picture_png_writes_a_png_beside_the_markdown(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.md"
    assert run("--db", str(db), "--output", str(out), "--picture", "png") == 0
    assert "![timeline](report.png)" in out.read_text(encoding="utf-8")
    png = (tmp_path / "report.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000
    assert not (tmp_path / "report.svg").exists()


def test_dns_lanes_name_the_site_whose_vip_an_answer_is() -> None:
    moved = Event(at(10), "Site-A", "dns", "dns_changed", "x",
                  data={"server": "10.1.0.10", "old": ["10.1.0.50"], "new": ["10.2.0.50"],
                        "old_site": "Site-A", "new_site": "Site-B"})
    odd = Event(at(20), "Site-A", "dns", "dns_changed", "y",
                data={"server": "10.1.0.10", "old": ["10.2.0.50"], "new": ["10.9.9.9"],
                      "old_site": "Site-B"})
    (lane,) = [lane for lane in build_lanes(_window(), [moved, odd], [], {}, {})
               if lane.kind == "dns"]
    assert [span.label for span in lane.spans] == [
        "Site-A VIP (10.1.0.50)", "Site-B VIP (10.2.0.50)", "10.9.9.9"]


def test_an_arrow_stays_an_arrow_in_markdown() -> None:
    """`-\\>` would be printed literally where the Markdown is read as plain text."""
    assert escape("dns 10.1.0.50 -> 10.2.0.50") == "dns 10.1.0.50 -> 10.2.0.50"
    assert escape("> quoted <b>x</b>") == r"\> quoted \<b\>x\</b\>"
