"""A drill whose recorder died (kill -9) is listed as such, resumed with its gap recorded and
reported, or ended from the command line; a live recorder keeps its drill.

Real `castui watch --drill` processes watch a small lab estate on loopback and are killed with
SIGKILL; the rules for telling a live recorder from a dead one are tested on their own below.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import pytest

from castui.engine.drills import (
    HEARTBEAT_S,
    RECORDER_STALE_S,
    DrillState,
    drill_state,
    this_recorder,
)
from castui.history import EventStore, HistoryError
from castui.lab.certs import LabCA
from castui.lab.estate import LabEstate
from castui.lab.layout import SitePlan
from castui.model.events import Kind
from castui.model.marks import Drill, Recorder
from tests.support.lab import FAST, layout
from tests.support.net import wait_for_sync
from tests.test_cli import CASTUI, castui
from tests.test_workflow import T0, Rig

#: Seconds a recorder's death may precede the gap's recorded start: one heartbeat, and a
#: little for a heartbeat already under way on a loaded machine.
BEAT_SLACK = HEARTBEAT_S + 1.0


@contextlib.asynccontextmanager
async def small_lab(tmp: Path, ca: LabCA) -> AsyncIterator[Path]:
    """One site of two CAS nodes behind its VIP, and the config castui reads for it."""
    plan = dataclasses.replace(layout(), sites=(SitePlan("Site-A", 2),))
    async with LabEstate(plan, timing=FAST, ca=ca) as estate:
        yield estate.write_config(tmp / "lab.toml")


@contextlib.asynccontextmanager
async def recorder(config: Path, db: Path, name: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """`castui watch --drill NAME` running, handed over once it printed `drill_started`."""
    proc = await asyncio.create_subprocess_exec(
        *CASTUI, "watch", "--config", str(config), "--db", str(db), "--drill", name,
        "--format", "jsonl", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    try:
        deadline = time.monotonic() + 20
        while True:
            line = await asyncio.wait_for(proc.stdout.readline(),
                                          max(deadline - time.monotonic(), 0.01))
            assert line, "watch --drill exited before the drill started"
            if json.loads(line)["event"] == Kind.DRILL_STARTED:
                break
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def kill_9(proc: asyncio.subprocess.Process) -> float:
    """SIGKILL the recorder and reap it; when it died (epoch seconds)."""
    proc.send_signal(signal.SIGKILL)
    died = time.time()
    assert await asyncio.wait_for(proc.wait(), 10) == -signal.SIGKILL
    return died


def _at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


@pytest.mark.integration
async def test_a_killed_recorder_is_listed_resumed_and_its_gap_reported(
        tmp_path: Path, lab_ca: LabCA) -> None:
    db = tmp_path / "h.sqlite3"
    async with small_lab(tmp_path, lab_ca) as config:
        async with recorder(config, db, "dr-kill") as proc:
            # A live recorder keeps its drill: the same name is refused, saying who holds it.
            code, _, err = await castui("watch", "--config", str(config), "--db", str(db),
                                        "--drill", "dr-kill", "--duration", "1")
            assert code == 2 and err.count("\n") == 1, err
            assert f"pid {proc.pid}" in err and socket.gethostname() in err
            # Another name: one line naming the open drill and how to end it.
            code, _, err = await castui("watch", "--config", str(config), "--db", str(db),
                                        "--drill", "other", "--duration", "1")
            assert code == 2 and err.count("\n") == 1, err
            assert "'dr-kill'" in err and "castui drill end dr-kill" in err
            code, out, _ = await castui("drill", "list", "--db", str(db))
            assert code == 0 and "dr-kill" in out and "running" in out, out
            died = await kill_9(proc)

        code, out, err = await castui("drill", "list", "--db", str(db))
        assert code == 0, err
        (row,) = [line for line in out.splitlines() if "dr-kill" in line]
        assert "recorder gone" in row
        # Another name now: it says how to resume or end the orphan.
        code, _, err = await castui("watch", "--config", str(config), "--db", str(db),
                                    "--drill", "other", "--duration", "1")
        assert code == 2 and "castui watch" in err and "--drill dr-kill" in err, err

        code, out, err = await castui("watch", "--config", str(config), "--db", str(db),
                                      "--drill", "dr-kill", "--duration", "1.5",
                                      "--format", "jsonl")
        resumed_at = time.time()
        assert code == 0, err
        kinds = [json.loads(line)["event"] for line in out.splitlines()]
        assert kinds[0] == Kind.DRILL_RESUMED and kinds[-1] == Kind.DRILL_ENDED, kinds
        resumed = json.loads(out.splitlines()[0])
        assert resumed["drill"] == "dr-kill" and resumed["recorder_gone"]["pid"] == proc.pid

    with EventStore(db) as store:
        (drill,) = store.drills("dr-kill")  # resumed, not a second drill of the same name
        assert drill.ended is not None and store.open_drill() is None

    out_json = tmp_path / "r.json"
    code, _, err = await castui("report", "--db", str(db), "--drill", "dr-kill",
                                "--format", "json", "--output", str(out_json))
    assert code == 0, err
    doc = json.loads(out_json.read_text())
    (gap,) = doc["gaps"]
    assert died - BEAT_SLACK <= _at(gap["start"]) <= died
    assert died <= _at(gap["end"]) <= resumed_at
    assert gap["duration_s"] == pytest.approx(_at(gap["end"]) - _at(gap["start"]), abs=0.01)
    assert doc["window"]["not_observed_s"] == gap["duration_s"]
    md = tmp_path / "r.md"
    html = tmp_path / "r.html"
    assert (await castui("report", "--db", str(db), "--drill", "dr-kill",
                         "--output", str(md)))[0] == 0
    assert (await castui("report", "--db", str(db), "--drill", "dr-kill", "--format", "html",
                         "--output", str(html)))[0] == 0
    for text in (md.read_text(), html.read_text()):
        assert "not observed" in text.lower() and "does not mean there was none" in text
    assert "not observed" in (tmp_path / "r.svg").read_text()

    code, out, _ = await castui("drill", "list", "--db", str(db))
    (row,) = [line for line in out.splitlines() if "dr-kill" in line]
    assert "ended" in row


@pytest.mark.integration
async def test_drill_end_ends_a_drill_whose_recorder_was_killed(
        tmp_path: Path, lab_ca: LabCA) -> None:
    db = tmp_path / "h.sqlite3"
    async with small_lab(tmp_path, lab_ca) as config, recorder(config, db, "dr-end") as proc:
        died = await kill_9(proc)
    code, out, err = await castui("drill", "end", "dr-end", "--db", str(db))
    ended_at = time.time()
    assert code == 0, err
    assert out.startswith("ended drill 'dr-end'") and "not observed" in out
    for name, phrase in (("dr-end", "already ended"), ("nope", "no drill named 'nope'")):
        code, _, err = await castui("drill", "end", name, "--db", str(db))
        assert code == 2 and phrase in err and err.count("\n") == 1, err
    with EventStore(db) as store:
        (drill,) = store.drills("dr-end")
        assert drill.ended is not None and drill.ended_by
        (last,) = [e for e in store.events() if e.kind == Kind.DRILL_ENDED]
        assert last.data["by"] == drill.ended_by
    out_json = tmp_path / "r.json"
    assert (await castui("report", "--db", str(db), "--drill", "dr-end", "--format", "json",
                         "--output", str(out_json)))[0] == 0
    (gap,) = json.loads(out_json.read_text())["gaps"]
    assert died - BEAT_SLACK <= _at(gap["start"]) <= died
    assert died <= _at(gap["end"]) <= ended_at
    code, out, _ = await castui("drill", "list", "--db", str(db))
    (row,) = [line for line in out.splitlines() if "dr-end" in line]
    assert "ended" in row and drill.ended_by in row


async def test_drill_commands_refuse_what_they_cannot_mean_in_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "none.sqlite3"
    for args in (("list",), ("end", "x")):
        code, _, err = await castui("drill", *args, "--db", str(missing))
        assert code == 2 and "no history database" in err and err.count("\n") == 1, err
    assert not missing.exists()  # reading commands never create the history
    with EventStore(tmp_path / "h.sqlite3"):
        pass
    code, out, _ = await castui("drill", "list", "--db", str(tmp_path / "h.sqlite3"))
    assert code == 0 and out.strip() == "no drills recorded"
    code, _, err = await castui("drill", "end", "  ", "--db", str(tmp_path / "h.sqlite3"))
    assert code == 2 and "a drill needs a name" in err


# --- the rule: when is a recorder gone? ----------------------------------------------------

NOW = datetime.now(UTC)


def _drill(recorder: Recorder | None, ended: datetime | None = None) -> Drill:
    return Drill(1, "dr", NOW - timedelta(minutes=5), ended, "ops", recorder)


def test_a_live_recorder_here_is_running_and_a_dead_or_stale_one_is_gone() -> None:
    me = this_recorder(NOW)
    assert me.pid == os.getpid() and me.host == socket.gethostname()
    assert drill_state(_drill(me), NOW) is DrillState.RUNNING
    # Not beaten for longer than the bound: gone, even though the process lives.
    stale = dataclasses.replace(me, seen=NOW - timedelta(seconds=RECORDER_STALE_S + 1))
    assert drill_state(_drill(stale), NOW) is DrillState.RECORDER_GONE
    # Its pid now belongs to a process started later (pid reuse): not the recorder.
    reused = dataclasses.replace(me, started=me.started - timedelta(hours=1))
    assert drill_state(_drill(reused), NOW) is DrillState.RECORDER_GONE
    # A recorder on another host is judged by its heartbeat alone.
    elsewhere = Recorder(1, "other-host.invalid", NOW - timedelta(hours=1), NOW)
    assert drill_state(_drill(elsewhere), NOW) is DrillState.RUNNING
    # A drill from before recorders were kept (a version 2 file): nobody keeps it.
    assert drill_state(_drill(None), NOW) is DrillState.RECORDER_GONE
    assert drill_state(_drill(me, ended=NOW), NOW) is DrillState.ENDED


def test_a_dead_pid_and_a_zombie_are_gone() -> None:
    child = psutil.Popen([sys.executable, "-c", "pass"])
    started = datetime.fromtimestamp(child.create_time(), UTC)
    dead = Recorder(child.pid, socket.gethostname(), started, NOW)
    wait_for_sync(lambda: child.status() == psutil.STATUS_ZOMBIE, 20,  # exited, not reaped
                  what="the child to exit")
    assert drill_state(_drill(dead), NOW) is DrillState.RECORDER_GONE
    child.wait(10)
    assert drill_state(_drill(dead), NOW) is DrillState.RECORDER_GONE


def test_a_recorder_that_lost_its_drill_stops_beating_it(tmp_path: Path) -> None:
    """A stopped recorder (SIGSTOP, a frozen VM) taken over while away: its next heartbeat
    finds the drill is no longer its own, and it never ends the new recorder's drill."""
    with EventStore(tmp_path / "h.sqlite3") as store:
        old = Recorder(os.getpid(), socket.gethostname(), NOW - timedelta(hours=1),
                       NOW - timedelta(minutes=2))
        drill = store.start_drill("dr", NOW - timedelta(minutes=3), "ops", old)
        new = this_recorder(NOW)
        taken = store.resume_drill(drill, new, NOW)
        assert taken.recorder == new
        assert not store.beat_drill(drill.id, old, NOW)
        assert store.beat_drill(drill.id, new, NOW + timedelta(seconds=1))
        with pytest.raises(HistoryError, match="changed meanwhile"):
            store.resume_drill(drill, new, NOW)  # from a stale reading: refused
        assert store.end_drill(NOW, drill_id=drill.id + 1, by="ops") is None
        open_ = store.open_drill()
        assert open_ is not None and open_.recorder is not None
        assert open_.recorder.seen == NOW + timedelta(seconds=1)


def test_a_monitor_taken_over_lets_its_drill_go_and_does_not_end_it(tmp_path: Path) -> None:
    """The engine's side of a takeover: the heartbeat notices, and `watch` ending "its" drill
    at exit leaves the new recorder's drill alone."""
    rig = Rig(tmp_path / "history.sqlite3")
    try:
        drill = rig.monitor.start_drill("dr")
        assert rig.monitor.records_drill
        rig.monitor.beat_drill()
        assert rig.monitor.records_drill  # still its own
        successor = Recorder(1, "elsewhere.invalid", T0, rig.clock())
        rig.store.resume_drill(rig.store.open_drill() or drill, successor, rig.clock())
        rig.monitor.beat_drill()
        assert not rig.monitor.records_drill
        assert rig.monitor.end_drill(only_own=True) is None
        still = rig.store.open_drill()
        assert still is not None and still.recorder == successor
        assert not any(e.kind == Kind.DRILL_ENDED for e in rig.events)
    finally:
        rig.store.close()
