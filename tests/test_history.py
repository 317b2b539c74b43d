"""The event history: durable before display, queryable, bounded, shareable between processes."""

from __future__ import annotations

import os
import queue
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import IO

import pytest

from castui.history import EventStore, HistoryError, default_db_path
from castui.model.events import Event, Kind
from castui.model.marks import Recorder

REPO = Path(__file__).resolve().parents[1]
# Recent enough to survive the default 30-day retention applied on every open.
T0 = datetime.now(UTC).replace(microsecond=123456) - timedelta(hours=1)

# Records events 0..N-1 and says so only after record() has returned, like a front-end would.
WRITER = """
import sys
from castui.model.events import Event
from castui.model.times import utcnow
from castui.history import EventStore

store = EventStore(sys.argv[1])
for i in range(int(sys.argv[2])):
    store.record(Event(utcnow(), "AMS", "cas1", "node_down", f"event {i}", data={"i": i}))
    print(f"recorded {i}", flush=True)
"""


def ev(minutes: float, site: str = "AMS", **kw: object) -> Event:
    fields: dict[str, object] = {
        "time": T0 + timedelta(minutes=minutes),
        "site": site,
        "subject": "cas1",
        "kind": Kind.NODE_DOWN,
        "detail": f"at {minutes}",
    }
    fields.update(kw)
    return Event(**fields)  # type: ignore[arg-type]


def details(events: list[Event]) -> list[str]:
    return [e.detail for e in events]


class Lines:
    """Reads a child's stdout on a thread so the test can wait with a deadline."""

    def __init__(self, stream: IO[str]) -> None:
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line.strip())
        self._queue.put(None)

    def until(self, wanted: str, timeout: float = 20.0) -> list[str]:
        """Lines up to and including `wanted`; fails if the child stops or is too slow."""
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while not seen or seen[-1] != wanted:
            line = self._queue.get(timeout=max(deadline - time.monotonic(), 0.001))
            assert line is not None, f"writer exited before {wanted!r}; saw {seen[-3:]}"
            seen.append(line)
        return seen

    def rest(self, timeout: float = 20.0) -> list[str]:
        """Every line still buffered until EOF."""
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while (
            line := self._queue.get(timeout=max(deadline - time.monotonic(), 0.001))
        ) is not None:
            seen.append(line)
        return seen


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Lines, Path]]:
    """A separate Python process recording up to 100000 events into tmp_path/h.sqlite3."""
    db = tmp_path / "h.sqlite3"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db), "100000"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    try:
        yield proc, Lines(proc.stdout), db
    finally:
        proc.kill()
        proc.wait(timeout=20)
        proc.stdout.close()


def test_round_trip_gives_back_equal_events(tmp_path: Path) -> None:
    events = [
        ev(0, data={"server": "127.0.5.53:5353", "old": ["127.0.5.1"], "new": ["127.0.5.2"]}),
        ev(1, kind=Kind.NODE_UP, duration_s=42.125),
        ev(2, site="DUB", subject="vip", kind=Kind.VIP_DOWN, detail="tcp 443: refused — ü"),
        # A non-UTC aware time is the same instant; it comes back in UTC.
        ev(3, time=(T0 + timedelta(minutes=3)).astimezone(timezone(timedelta(hours=2)))),
    ]
    with EventStore(tmp_path / "h.sqlite3") as store:
        ids = [store.record(e) for e in events]
    assert ids == sorted(ids) and len(set(ids)) == 4

    with EventStore(tmp_path / "h.sqlite3") as store:
        back = store.events()
    assert back == events
    assert all(e.time.utcoffset() == timedelta(0) for e in back)
    assert back[0].data["new"] == ["127.0.5.2"]
    assert back[1].duration_s == 42.125 and back[0].duration_s is None


def test_filters_and_ordering(tmp_path: Path) -> None:
    with EventStore(tmp_path / "h.sqlite3") as store:
        # Recorded out of order on purpose; same instant twice keeps insertion order.
        for e in [ev(2), ev(0), ev(1, site="DUB"), ev(3, site="DUB"), ev(4), ev(4, detail="tie")]:
            store.record(e)

        assert details(store.events()) == ["at 0", "at 1", "at 2", "at 3", "at 4", "tie"]
        newest = details(store.events(newest_first=True))
        assert newest == ["tie", "at 4", "at 3", "at 2", "at 1", "at 0"]
        # since is inclusive, until exclusive.
        since, until = T0 + timedelta(minutes=1), T0 + timedelta(minutes=3)
        assert details(store.events(since=since, until=until)) == ["at 1", "at 2"]
        assert details(store.events(site="DUB")) == ["at 1", "at 3"]
        assert details(store.events(site="NOPE")) == []
        assert details(store.events(limit=2)) == ["at 0", "at 1"]
        assert details(store.events(limit=2, newest_first=True)) == ["tie", "at 4"]
        assert details(store.events(site="AMS", since=since, limit=1, newest_first=True)) == ["tie"]
        assert store.events(limit=0) == []
        with pytest.raises(ValueError, match="timezone-aware"):
            store.events(since=datetime(2024, 5, 1))


def test_retention_drops_old_events_on_open(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"
    now = datetime.now(UTC)
    with EventStore(db) as store:
        for age in (400, 40, 31, 29, 1, 0):
            store.record(Event(now - timedelta(days=age), "AMS", "cas1", Kind.NODE_DOWN, f"{age}d"))

    with EventStore(db, retention_days=30) as store:
        assert details(store.events()) == ["29d", "1d", "0d"]
        # Explicit `now`: pretend ten days passed.
        assert store.prune(now=now + timedelta(days=10)) == 1
        assert details(store.events()) == ["1d", "0d"]

    with EventStore(db, retention_days=1) as store:
        assert details(store.events()) == ["0d"]

    with pytest.raises(ValueError, match="at least 1 day"):
        EventStore(db, retention_days=0)


def test_every_reported_event_survives_kill_9(
    writer: tuple[subprocess.Popen[str], Lines, Path],
) -> None:
    proc, lines, db = writer
    seen = lines.until("recorded 300")
    proc.kill()  # SIGKILL on POSIX: no cleanup, no atexit, possibly mid-INSERT
    assert proc.wait(timeout=20) != 0
    seen += lines.rest()  # anything printed before the kill counts as reported too
    reported = [int(line.split()[1]) for line in seen]
    assert reported == list(range(len(reported)))

    with EventStore(db) as store:
        stored = [e.data["i"] for e in store.events()]
    # Everything reported is there, in order, and nothing half-written is.
    assert stored[: len(reported)] == reported
    assert stored == list(range(len(stored)))
    assert len(stored) - len(reported) <= 1  # at most the one committed but not yet printed


def test_other_process_reads_while_writer_is_active(
    writer: tuple[subprocess.Popen[str], Lines, Path],
) -> None:
    proc, lines, db = writer
    lines.until("recorded 50")
    with EventStore(db) as reader:  # opening also prunes, i.e. writes, beside the writer
        first = len(reader.events())
        assert first >= 51
        lines.until("recorded 400")
        second = reader.events(newest_first=True, limit=10)
        assert second[0].data["i"] >= 400
    assert proc.poll() is None, "the writer must still be running: this was a concurrent read"


def test_readers_are_not_blocked_by_an_open_write_transaction(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"
    with EventStore(db) as store, EventStore(db) as reader:
        store.record(ev(0))
        raw = sqlite3.connect(db, isolation_level=None, timeout=0.1)
        try:
            assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            raw.execute("BEGIN EXCLUSIVE")  # in rollback-journal mode this would lock readers out
            raw.execute(
                "INSERT INTO events (time, epoch, site, subject, kind, detail, data)"
                " VALUES ('2024-05-01T09:09:00.000000Z', 0, 'AMS', 'cas1', 'node_up', 'x', '{}')"
            )
            started = time.monotonic()
            assert details(reader.events()) == ["at 0"]  # committed only
            assert time.monotonic() - started < 1.0
            raw.execute("COMMIT")
            assert len(reader.events()) == 2
        finally:
            raw.close()


def foreign_sqlite(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE contacts (name TEXT)")
    conn.close()


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.write_bytes(b"\x00garbage, not SQLite\xff" * 300), "not a database"),
        (foreign_sqlite, "not a castui history database"),
    ],
    ids=["directory", "garbage", "someone-elses-sqlite"],
)
def test_unusable_file_gives_one_line_history_error(
    tmp_path: Path, make: Callable[[Path], object], reason: str
) -> None:
    path = tmp_path / "h.sqlite3"
    make(path)
    before = path.read_bytes() if path.is_file() else None
    with pytest.raises(HistoryError) as info:
        EventStore(path)
    message = str(info.value)
    assert message.startswith(f"cannot open database {path}: ")
    assert reason in message
    assert "\n" not in message
    if before is not None:
        assert path.read_bytes() == before, "a file that is not ours must be left untouched"


def test_parent_that_is_a_file_gives_history_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(HistoryError, match=r"^cannot open database .*file.*h\.sqlite3: "):
        EventStore(tmp_path / "file" / "h.sqlite3")


def test_missing_parents_are_created(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "history.sqlite3"
    with EventStore(str(path)) as store:
        store.record(ev(0))
    assert path.is_file()


def test_closed_store_refuses_work_and_naive_time_is_refused(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "h.sqlite3")
    store.close()
    store.close()
    with pytest.raises(HistoryError, match="is closed"):
        store.record(ev(0))
    with EventStore(tmp_path / "h.sqlite3") as store, pytest.raises(ValueError, match="aware"):
        store.record(ev(0, time=datetime(2024, 5, 1)))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG applies on Linux")
def test_default_db_path_honours_xdg_state_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert default_db_path() == tmp_path / "state" / "castui" / "history.sqlite3"
    assert not (tmp_path / "state").exists(), "finding the path must not create anything"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    home_state = tmp_path / "home" / ".local" / "state"
    assert default_db_path() == home_state / "castui" / "history.sqlite3"


def test_a_version_2_history_is_upgraded_in_place_and_its_open_drill_can_be_resumed(
        tmp_path: Path) -> None:
    """Version 3 adds who records a drill; a drill left open by an older castui has no
    recorder, so nobody keeps it: it can be resumed or ended, and what was kept stays."""
    path = tmp_path / "v2.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE events (id INTEGER PRIMARY KEY, time TEXT NOT NULL, epoch REAL NOT NULL,
            site TEXT NOT NULL, subject TEXT NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL,
            duration_s REAL, data TEXT NOT NULL DEFAULT '{}');
        CREATE INDEX events_epoch ON events (epoch);
        CREATE INDEX events_site_epoch ON events (site, epoch);
        CREATE TABLE alerts (event_id INTEGER PRIMARY KEY REFERENCES events (id),
            acked_at REAL, acked_by TEXT);
        CREATE TABLE drills (id INTEGER PRIMARY KEY, name TEXT NOT NULL, started REAL NOT NULL,
            ended REAL, started_by TEXT NOT NULL DEFAULT '');
        CREATE INDEX drills_name ON drills (name, started);
        CREATE TABLE maintenance (id INTEGER PRIMARY KEY, site TEXT NOT NULL, node TEXT,
            starts REAL NOT NULL, ends REAL NOT NULL, set_by TEXT NOT NULL DEFAULT '',
            reason TEXT NOT NULL DEFAULT '', cleared REAL);
        PRAGMA application_id = 1130459989;
        PRAGMA user_version = 2;
    """)
    conn.execute("INSERT INTO events (time, epoch, site, subject, kind, detail) VALUES "
                 "(?, ?, 'AMS', 'cas1', 'node_down', 'kept')",
                 (T0.isoformat().replace("+00:00", "Z"), T0.timestamp()))
    conn.execute("INSERT INTO drills (name, started, ended, started_by) VALUES "
                 "('old', ?, ?, 'ops'), ('open', ?, NULL, 'ops')",
                 (T0.timestamp() - 60, T0.timestamp() - 30, T0.timestamp()))
    conn.commit()
    conn.close()

    with EventStore(path) as store:
        assert details(store.events()) == ["kept"]
        ended, = store.drills("old")
        assert ended.ended is not None and ended.recorder is None and ended.ended_by == ""
        drill = store.open_drill()
        assert drill is not None and drill.name == "open" and drill.recorder is None
        me = Recorder(os.getpid(), "here", T0, T0 + timedelta(minutes=1))
        resumed = store.resume_drill(drill, me, T0 + timedelta(minutes=1))
        assert resumed.id == drill.id and resumed.recorder == me
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
    conn.close()
    with EventStore(path) as store:  # opening an up-to-date file changes nothing
        again = store.open_drill()
        assert again is not None and again.recorder == me
