"""The alert workflow in the engine: maintenance, acknowledgement, flapping, drills.

The real Monitor folds fixed probe results at fixed instants (no network needed for rules);
the history is a real SQLite file, reopened to prove what survives a restart.
"""

from __future__ import annotations

import socket
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from castui.cli.watch import format_event
from castui.config import parse_config
from castui.engine.drills import start_or_resume, this_recorder
from castui.engine.monitor import MARKS_REFRESH_S, Monitor
from castui.engine.timeline import Mark
from castui.history import EventStore, HistoryError
from castui.model.alerts import Alert
from castui.model.events import Event, Kind
from castui.model.marks import Recorder
from castui.model.results import Code, Error, ProbeResult
from castui.model.times import iso
from castui.report import Window, choose_window, collect, measure
from tests.support.net import wait_for_sync
from tests.support.ui_estate import FrozenClock

T0 = datetime(2026, 11, 21, 8, 0, 0, tzinfo=UTC)
CONFIG = """
[defaults]
interval = 2
timeout = 1.5
rise = 2
fall = 2
flap_changes = 4
flap_window = 60
flap_quiet = 30

[[sites]]
name = "Site-A"
array_fqdn = "outlook.site-a.corp.local"
vip = "127.0.71.50"
nodes = [
  { name = "CAS1", address = "127.0.71.21" },
  { name = "CAS2", address = "127.0.71.22" },
]
"""
GOOD = ProbeResult(True, Code.L7OK, "ok", latency_ms=1.0)
BAD = ProbeResult(False, Code.L4CON, "connection refused", error=Error.REFUSED)


class Rig:
    """A monitor on a frozen clock, fed rounds by hand, recording into a real history."""

    def __init__(self, db: Path) -> None:
        self.clock = FrozenClock(T0)
        self.store = EventStore(db)
        self.monitor = Monitor(parse_config(CONFIG, "site.toml"), store=self.store,
                               clock=self.clock)
        self.events: list[Event] = []
        self.alerts: list[Alert] = []
        self.monitor.subscribe(self.events.append)
        self.monitor.subscribe_alerts(self.alerts.append)

    def round(self, node: str, good: bool, times: int = 1) -> None:
        for _ in range(times):
            key = f"Site-A/{node}"
            result = GOOD if good else BAD
            self.monitor.complete_round(key, dict.fromkeys(self.monitor.states[key].checks,
                                                           result))
            self.clock.advance(2)

    def degraded_round(self, node: str, times: int = 1) -> None:
        """Pool checks pass, every service check fails: the half-dead node."""
        for _ in range(times):
            key = f"Site-A/{node}"
            checks = self.monitor.states[key].checks
            self.monitor.complete_round(key, {name: GOOD if check.spec.role == "pool" else BAD
                                              for name, check in checks.items()})
            self.clock.advance(2)

    def kinds(self) -> list[tuple[str, str]]:
        return [(e.subject, e.kind) for e in self.events]


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    rig = Rig(tmp_path / "history.sqlite3")
    rig.round("CAS1", True)
    rig.round("CAS2", True)
    yield rig
    rig.store.close()


def test_maintenance_records_the_drop_as_expected_without_an_alert(rig: Rig) -> None:
    rig.monitor.set_maintenance("Site-A", "CAS2", 45 * 60, reason="patching")
    rig.round("CAS2", False, 2)
    rig.round("CAS1", False, 2)  # not in maintenance: pages as always
    down = [e for e in rig.events if e.kind == Kind.NODE_DOWN]
    assert [(e.subject, e.data.get("maintenance")) for e in down] == [
        ("CAS2", "Site-A/CAS2"), ("CAS1", None)]
    assert [a.event.subject for a in rig.alerts] == ["CAS1"]
    stored = rig.store.events()
    assert [e.kind for e in stored if e.subject == "CAS2"] == [Kind.MAINT_SET, Kind.NODE_DOWN]
    assert [a.event.subject for a in rig.store.alerts()] == ["CAS1"]

    # Once cleared, the node pages again.
    rig.monitor.clear_maintenance("Site-A", "CAS2")
    rig.round("CAS2", True, 2)
    rig.round("CAS2", False, 2)
    assert [a.event.subject for a in rig.alerts] == ["CAS1", "CAS2"]
    assert Kind.MAINT_CLEARED in [e.kind for e in rig.events]


def test_a_site_mark_covers_its_nodes_and_vip_and_ends_on_time(rig: Rig) -> None:
    rig.monitor.set_maintenance("Site-A", None, 60)
    rig.round("CAS1", False, 2)
    rig.monitor.complete_round("Site-A/vip", dict.fromkeys(
        rig.monitor.states["Site-A/vip"].checks, BAD))
    assert rig.alerts == []
    views = {n.subject: n for n in rig.monitor.snapshot().sites[0].nodes}
    assert views["CAS1"].maintenance_until == T0 + timedelta(seconds=4 + 60)
    rig.clock.advance(61)  # the mark has ended
    rig.round("CAS2", False, 2)
    assert [a.event.subject for a in rig.alerts] == ["CAS2"]


def test_a_mark_set_by_another_process_is_seen_within_the_refresh(rig: Rig,
                                                                   tmp_path: Path) -> None:
    rig.monitor.maintenance()  # read once: the cache is fresh now
    with EventStore(tmp_path / "history.sqlite3") as other:  # `castui maint set`, elsewhere
        other.set_maintenance("site-a", "cas2", T0, T0 + timedelta(hours=1), by="bob")
    wait_for_sync(lambda: rig.monitor.maintenance_for("Site-A", "CAS2", rig.clock()) is not None,
                  MARKS_REFRESH_S + 2, what="the mark to reach the monitor")
    rig.round("CAS2", False, 2)
    assert rig.alerts == []  # names match ignoring case, as in AD


def test_acknowledgements_and_alerts_survive_a_restart(rig: Rig, tmp_path: Path) -> None:
    rig.round("CAS1", False, 2)
    rig.round("CAS2", False, 2)
    first, second = (a.id for a in rig.alerts)
    rig.clock.advance(5)
    acked_at = rig.clock()
    assert rig.monitor.acknowledge([first]) == 1
    assert rig.monitor.acknowledge([first]) == 0  # the first acknowledgement stands
    rig.store.close()

    again = Rig(tmp_path / "history.sqlite3")
    try:
        book = {a.id: a for a in again.monitor.alerts}
        assert set(book) == {first, second}
        assert book[first].acked_by == rig.monitor.user
        assert book[first].acked_at == acked_at
        assert not book[second].acknowledged and again.monitor.alerts.unacknowledged == 1
        assert again.monitor.acknowledge(None) == 1
        assert all(a.acknowledged for a in again.store.alerts())
    finally:
        again.store.close()


def test_flapping_collapses_into_one_alert_and_clears_after_quiet(rig: Rig) -> None:
    for _ in range(4):  # down, up, down, up, down, up, down, up: 8 changes in 32 s
        rig.round("CAS2", False, 2)
        rig.round("CAS2", True, 2)
    alerts = [(a.event.kind, a.event.subject) for a in rig.alerts]
    # The first three changes are as ever (two drops page); the fourth tips it over.
    assert alerts == [(Kind.NODE_DOWN, "CAS2"), (Kind.NODE_DOWN, "CAS2"),
                      (Kind.NODE_FLAPPING, "CAS2")]
    later = [e for e in rig.events if e.data.get("flapping")]
    assert [e.kind for e in later] == [Kind.NODE_UP, Kind.NODE_DOWN, Kind.NODE_UP,
                                       Kind.NODE_DOWN, Kind.NODE_UP]
    assert rig.monitor.snapshot().sites[0].nodes[1].flapping

    rig.round("CAS2", True, 16)  # 32 s stable, more than flap_quiet
    cleared = [e for e in rig.events if e.kind == Kind.NODE_FLAPPING_CLEARED]
    assert len(cleared) == 1 and cleared[0].subject == "CAS2"
    rig.round("CAS2", False, 2)
    assert rig.alerts[-1].event.kind == Kind.NODE_DOWN  # pages again


def test_a_node_degraded_at_start_with_one_outage_is_not_flapping(tmp_path: Path) -> None:
    """The report: the start-up state counted as a change, and `node_up` plus `node_degraded`
    of the same round as two, so degraded-at-start plus one outage made four: `flapping`."""
    rig = Rig(tmp_path / "history.sqlite3")
    try:
        rig.degraded_round("CAS2")  # degraded from the first round on: the start-up state
        rig.round("CAS2", False, 2)  # one outage...
        rig.degraded_round("CAS2", 2)  # ...back in the pool, still degraded: one change
        assert [k for s, k in rig.kinds() if s == "CAS2"] == [
            Kind.NODE_DEGRADED, Kind.NODE_DOWN, Kind.NODE_UP, Kind.NODE_DEGRADED]
        first = next(e for e in rig.events if e.kind == Kind.NODE_DEGRADED)
        assert first.data.get("at_start") is True
        assert not any(e.kind == Kind.NODE_FLAPPING or e.data.get("flapping")
                       for e in rig.events)
        assert not rig.monitor.snapshot().sites[0].nodes[1].flapping
        # Two more outages make six changes counted as four: that is flapping.
        for _ in range(2):
            rig.round("CAS2", False, 2)
            rig.degraded_round("CAS2", 2)
        assert [a.event.kind for a in rig.alerts][-1] == Kind.NODE_FLAPPING
    finally:
        rig.store.close()


def test_drills_are_stored_one_at_a_time_and_resume_after_a_restart(
        rig: Rig, tmp_path: Path) -> None:
    drill = rig.monitor.start_drill("dr-test")
    with pytest.raises(HistoryError, match="'dr-test' is still running"):
        rig.monitor.start_drill("another")
    rig.clock.advance(60)
    rig.store.close()

    again = Rig(tmp_path / "history.sqlite3")
    try:
        assert again.monitor.drill is not None and again.monitor.drill.id == drill.id
        again.clock.advance(90)
        ended = again.monitor.end_drill()
        assert ended is not None and ended.ended == T0 + timedelta(seconds=90)
        assert again.monitor.drill is None and again.store.open_drill() is None
        (last,) = [e for e in again.events if e.kind == Kind.DRILL_ENDED]
        assert last.duration_s == (ended.ended - drill.started).total_seconds() == 86
        assert last.data["drill"] == "dr-test"
        assert [d.name for d in again.store.drills()] == ["dr-test"]
    finally:
        again.store.close()


def test_watch_states_a_resumed_drill_s_gap_once(tmp_path: Path) -> None:
    """The drill_resumed line names the unobserved time in its detail; watch's text adds no
    second "(after ...)" for it, as it does for a node back in the pool."""
    now = datetime.now(UTC)
    with EventStore(tmp_path / "h.sqlite3") as store:
        dead = Recorder(2**22 + 12345, socket.gethostname(), now - timedelta(hours=1),
                        now - timedelta(seconds=75))  # no such pid on this host: gone
        store.start_drill("dr-gap", now - timedelta(minutes=10), "test", dead)
        _, resumed = start_or_resume(store, "dr-gap", this_recorder(now), "test", now)
    assert resumed is not None and resumed.duration_s is not None
    line = format_event(resumed, "text")
    assert "not observed for 1m15" in line and "(after" not in line, line
    back = Event(now, "Site-A", "CAS1", Kind.NODE_UP, "back in pool", duration_s=75.0)
    assert format_event(back, "text").endswith("back in pool (after 75.0 s)")


def test_a_drill_report_shows_the_nodes_already_out_and_the_quiet_ones(rig: Rig) -> None:
    """CAS2 went out before the drill and stayed out; CAS1 never changed. Neither has an event
    in the drill's window: the drill_started event's pool picture puts both in the report."""
    rig.round("CAS2", False, times=3)
    (down,) = [e for e in rig.events if e.kind == Kind.NODE_DOWN]
    rig.clock.advance(30)
    drill = rig.monitor.start_drill("quiet")
    (started,) = [e for e in rig.events if e.kind == Kind.DRILL_STARTED]
    assert started.data["pool"] == [
        {"site": "Site-A", "node": "CAS1", "state": "up"},
        {"site": "Site-A", "node": "CAS2", "state": "down",
         "out_since": iso(down.time)}]
    rig.round("CAS2", False, times=5)  # no change: no event
    rig.monitor.end_drill()

    window = choose_window(rig.store, drill="quiet", since=None, until=None, now=rig.clock())
    report = collect(rig.store, window, rig.clock())

    (site,) = report.sites
    assert site.drops == ()
    (out,) = site.out_at_start
    assert (out.node, out.since, out.back_in_pool) == ("CAS2", down.time, None)
    lanes = {lane.subject: [span.mark for span in lane.spans] for lane in report.lanes}
    # The quiet VIP of a watched site has its lane too (it may be the one carrying traffic).
    assert lanes == {"CAS1": [Mark.IN_POOL], "CAS2": [Mark.OUT], "vip": [Mark.IN_POOL]}
    assert report.lanes[0].spans[0].start == drill.started


def test_odd_pool_pictures_are_skipped_not_guessed(rig: Rig) -> None:
    """The history file may hold anything: entries that are not what the engine writes are
    left out, and a report without a picture is what it was before."""
    start = T0 + timedelta(hours=1)
    window = Window(start, start + timedelta(minutes=5))
    odd: list[object] = [
        "CAS9", {"site": "Site-A", "node": "CAS3"}, {"site": "Site-A", "node": 7, "state": "up"},
        {"site": "", "node": "CAS4", "state": "down"},
        {"site": "Site-A", "node": "X" * 300, "state": "down"},
        {"site": "Site-A", "node": "CAS5", "state": "down", "out_since": "yesterday"},
        {"site": "Site-A", "node": "CAS6", "state": "unknown"}]
    event = Event(start, "*", "drill", Kind.DRILL_STARTED, "drill", data={"pool": odd})

    report = measure(window, [event], [], [])

    lanes = {lane.subject: [span.mark for span in lane.spans] for lane in report.lanes}
    assert lanes == {"CAS5": [Mark.OUT], "CAS6": [Mark.IN_POOL], "vip": [Mark.IN_POOL]}
    (out,) = report.sites[0].out_at_start
    assert (out.node, out.since) == ("CAS5", start)  # out since at least the drill's start
    assert measure(window, [Event(start, "*", "drill", Kind.DRILL_STARTED, "drill",
                                  data={"pool": "all"})], [], []).lanes == ()


def test_a_version_1_history_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE events (id INTEGER PRIMARY KEY, time TEXT NOT NULL, epoch REAL NOT NULL,
            site TEXT NOT NULL, subject TEXT NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL,
            duration_s REAL, data TEXT NOT NULL DEFAULT '{}');
        PRAGMA application_id = 1130459989;
        PRAGMA user_version = 1;
    """)
    now = datetime.now(UTC)
    conn.execute("INSERT INTO events (time, epoch, site, subject, kind, detail) VALUES "
                 "(?, ?, 'Site-A', 'CAS1', 'node_down', 'kept')",
                 (iso(now, "microseconds"), now.timestamp()))
    conn.commit()
    conn.close()
    with EventStore(path) as store:
        assert [e.detail for e in store.events()] == ["kept"]
        store.start_drill("after-upgrade", now, "ops")
        assert store.open_drill() is not None
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 3  # v1 -> v2 -> v3


def test_changes_inside_maintenance_do_not_count_towards_flapping(rig: Rig) -> None:
    rig.monitor.set_maintenance("Site-A", "CAS2", 600)
    for _ in range(3):  # six expected changes while patching
        rig.round("CAS2", False, 2)
        rig.round("CAS2", True, 2)
    rig.monitor.clear_maintenance()
    rig.round("CAS2", False, 2)  # the first unexpected drop pages as a drop, not a flap
    assert [a.event.kind for a in rig.alerts] == [Kind.NODE_DOWN]
    assert not any(e.kind == Kind.NODE_FLAPPING for e in rig.events)


def test_another_process_starting_a_drill_is_seen_and_an_unreadable_history_is_survived(
        rig: Rig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rig.monitor.maintenance()
    with EventStore(tmp_path / "history.sqlite3") as other:  # `castui watch --drill` elsewhere
        other.start_drill("elsewhere", T0, "bob")

    def seen() -> bool:
        rig.monitor.maintenance()  # re-reads the history once its refresh is due
        return rig.monitor.drill is not None and rig.monitor.drill.name == "elsewhere"

    wait_for_sync(seen, MARKS_REFRESH_S + 2, what="the other drill to reach the monitor")
    rig.monitor.set_maintenance("Site-A", "CAS1", 600)
    assert [m.target for m in rig.monitor.maintenance()] == ["Site-A/CAS1"]
    rig.store.close()  # the history goes away under a running console
    later = time.monotonic() + MARKS_REFRESH_S + 1  # the next refresh is due
    monkeypatch.setattr("castui.engine.monitor.time.monotonic", lambda: later)
    marks = rig.monitor.maintenance()  # no traceback: the marks read before are kept
    assert [m.target for m in marks] == ["Site-A/CAS1"]
    assert rig.monitor.snapshot().sites[0].nodes[0].maintenance_until is not None


def test_a_returning_node_says_whether_the_load_was_balanced(tmp_path: Path) -> None:
    """With node agents the drill report can say how long load took to come back: node_up
    carries the skew verdict at the moment the node returned. The agents are stood in for
    by their results (the agent itself is tested against psutil elsewhere)."""
    (tmp_path / "agent.token").write_text("t0ken-for-the-castui-tests-0123456789\n")
    text = CONFIG.replace('  { name = "CAS1", address = "127.0.71.21" },\n  { name = "CAS2", '
                          'address = "127.0.71.22" },',
                          '  { name = "CAS1", address = "127.0.71.21", '
                          'agent = "http://127.0.71.21:8799" },\n'
                          '  { name = "CAS2", address = "127.0.71.22", '
                          'agent = "http://127.0.71.22:8799" },')
    text = text.replace('vip = "127.0.71.50"', 'vip = "127.0.71.50"\n'
                        'agent_token_file = "agent.token"')
    clock = FrozenClock(T0)
    monitor = Monitor(parse_config(text, "site.toml", base_dir=tmp_path), clock=clock)
    events: list[Event] = []
    monitor.subscribe(events.append)

    def node(name: str, good: bool, clients: int) -> None:
        key = f"Site-A/{name}"
        agent = ProbeResult(True, Code.L7OK, "agent", facts={
            "connections": {"443": {"established": clients, "remotes": clients}}})
        results = dict.fromkeys(monitor.states[key].checks, GOOD if good else BAD)
        results["agent"] = agent
        monitor.complete_round(key, results)
        clock.advance(1)

    for _ in range(2):
        node("CAS1", True, 50)
        node("CAS2", True, 50)
    for _ in range(2):  # CAS2 drops; its clients move to CAS1
        node("CAS2", False, 0)
        node("CAS1", True, 100)
    for _ in range(2):  # CAS2 is back, but Outlook stays on CAS1
        node("CAS2", True, 0)
    up = next(e for e in events if e.kind == Kind.NODE_UP)
    assert up.data["load"] == "skewed"
    node("CAS1", True, 50)
    node("CAS2", True, 50)
    assert events[-1].kind == Kind.POOL_BALANCED
