"""Who keeps a drill's record, and what happens when that castui dies.

A drill is recorded by one castui process (its recorder: `castui watch --drill NAME` or the
console that pressed `m`), which beats a heartbeat into the history every HEARTBEAT_S. The
rule for "the recorder is gone": no heartbeat for RECORDER_STALE_S, or, on this host, its pid
no longer names the process that started recording (dead, a zombie, or reused). A gone
recorder's drill can be resumed under the same name or ended by anyone; a live one's is
refused with a line saying who holds it. The time from the last heartbeat to the resume (or
the end) was not observed: it is recorded as a gap on `drill_resumed` / `drill_ended`, so a
report never reads "no outage" into it.
"""

from __future__ import annotations

import os
import shlex
import socket
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import psutil

from castui.engine.history_port import HistoryStore
from castui.model.errors import HistoryError
from castui.model.events import ALL_SITES, SUBJECT_DRILL, Event, Kind
from castui.model.marks import Drill, Recorder
from castui.model.text import clean
from castui.model.times import duration, iso

#: How often a recorder says it still observes (seconds): the gap's start is this precise.
HEARTBEAT_S = 2.0
#: A recorder silent for longer is gone wherever it runs (a frozen VM, a host we cannot ask).
RECORDER_STALE_S = 30.0
#: Process start times from psutil agree to within this (seconds) for the same process.
_START_SLACK_S = 1.0


class DrillState(StrEnum):
    """What `castui drill list` says of a drill."""

    RUNNING = "running"
    RECORDER_GONE = "recorder gone"
    ENDED = "ended"


def this_recorder(now: datetime) -> Recorder:
    """This process as a drill's recorder, seen at `now`."""
    started = datetime.fromtimestamp(psutil.Process().create_time(), UTC)
    return Recorder(os.getpid(), socket.gethostname(), started, now)


def drill_state(drill: Drill, now: datetime) -> DrillState:
    if drill.ended is not None:
        return DrillState.ENDED
    return DrillState.RECORDER_GONE if recorder_gone(drill.recorder, now) else DrillState.RUNNING


def recorder_gone(recorder: Recorder | None, now: datetime) -> bool:
    """Whether nobody keeps the drill: no recorder known, silent too long, or dead here."""
    if recorder is None or (now - recorder.seen).total_seconds() > RECORDER_STALE_S:
        return True
    if recorder.host != socket.gethostname():
        return False  # another host's processes cannot be asked: the heartbeat decides
    return not _alive(recorder.pid, recorder.started)


def _alive(pid: int, started: datetime) -> bool:
    """The process that started at `started` still runs as `pid` (not a zombie)."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return bool(abs(process.create_time() - started.timestamp()) <= _START_SLACK_S)
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # someone else's process: it exists, and we cannot say more
        return True


def last_seen(store: HistoryStore, drill: Drill) -> datetime:
    """Until when the drill was observed: its recorder's last heartbeat; for a drill kept
    before recorders were (a version 2 history), its newest event, or its start."""
    if drill.recorder is not None:
        return max(drill.recorder.seen, drill.started)
    newest = store.events(since=drill.started, limit=1, newest_first=True)
    return max(newest[0].time, drill.started) if newest else drill.started


def start_or_resume(store: HistoryStore, name: str, me: Recorder, by: str,
                    now: datetime) -> tuple[Drill, Event | None]:
    """Open drill `name` kept by `me`, or resume the open one of that name if its recorder is
    gone. The drill, and on a resume its `drill_resumed` event (a new drill's
    `drill_started` is the caller's: it carries the pool picture).

    HistoryError, one line, when another drill is open or a live recorder keeps this one.
    """
    open_ = store.open_drill()
    if open_ is None:
        return store.start_drill(name, now, by, me), None
    gone = recorder_gone(open_.recorder, now)
    if open_.name != name:
        raise HistoryError(_other_open(open_, gone, now))
    if not gone:
        raise HistoryError(_held(open_, now))
    since = min(last_seen(store, open_), now)  # a heartbeat "later" is another host's clock
    drill = store.resume_drill(open_, me, now)
    gap = (now - since).total_seconds()
    return drill, Event(
        now, ALL_SITES, SUBJECT_DRILL, Kind.DRILL_RESUMED,
        f"drill {clean(name, 60)!r} resumed by {by}: not observed for "
        f"{duration(gap, style='precise')} "
        f"({_who(open_.recorder)} gone, last seen {iso(since)})", duration_s=gap,
        data={"drill": name, "by": by, **_gap(open_, since, now)})


def end_drill(store: HistoryStore, drill: Drill, by: str, now: datetime, *,
              mine: bool = False) -> tuple[Drill, Event]:
    """End open `drill` as `by`: it, ended, and its `drill_ended` event, which carries the gap
    from the last heartbeat if its recorder is gone (never when `mine`: the caller records
    it). HistoryError if it ended meanwhile."""
    gone = not mine and recorder_gone(drill.recorder, now)
    since = min(last_seen(store, drill), now) if gone else None
    ended = store.end_drill(now, by=by, drill_id=drill.id)
    if ended is None:
        raise HistoryError(f"drill {clean(drill.name, 60)!r} ended meanwhile")
    assert ended.ended is not None
    detail = f"drill {clean(drill.name, 60)!r} ended by {by}"
    data: dict[str, Any] = {"drill": drill.name, "by": by}
    if since is not None:
        missed = duration((ended.ended - since).total_seconds(), style="precise")
        detail += (f"; not observed for the last {missed}"
                   f" ({_who(drill.recorder)} gone, last seen {iso(since)})")
        data.update(_gap(drill, since, ended.ended))
    return ended, Event(ended.ended, ALL_SITES, SUBJECT_DRILL, Kind.DRILL_ENDED, detail,
                        duration_s=(ended.ended - drill.started).total_seconds(), data=data)


def _gap(drill: Drill, since: datetime, until: datetime) -> dict[str, Any]:
    """The `gap_start`, `gap_end` and `recorder_gone` facts of an unobserved stretch."""
    gone = drill.recorder
    return {"gap_start": iso(since), "gap_end": iso(until),
            "recorder_gone": None if gone is None else {"pid": gone.pid,
                                                        "host": clean(gone.host, 80)}}


def _who(recorder: Recorder | None) -> str:
    return "its recorder" if recorder is None else f"recorder {clean(recorder.describe(), 100)}"


def _held(drill: Drill, now: datetime) -> str:
    recorder = drill.recorder
    assert recorder is not None  # a drill with no recorder is never held
    ago = max((now - recorder.seen).total_seconds(), 0.0)
    return (f"drill {clean(drill.name, 60)!r} is being recorded by castui "
            f"{clean(recorder.describe(), 100)} (last seen {duration(ago, style='precise')} "
            "ago); stop that "
            f"castui, or end the drill with: castui drill end {_arg(drill.name)}")


def _other_open(drill: Drill, gone: bool, now: datetime) -> str:
    name, arg = clean(drill.name, 60), _arg(drill.name)
    if gone:
        seen = "" if drill.recorder is None else \
            f" ({clean(drill.recorder.describe(), 100)}, last seen {iso(drill.recorder.seen)})"
        return (f"drill {name!r} is still open and its recorder is gone{seen}; resume it with: "
                f"castui watch --config FILE --drill {arg}, or end it with: "
                f"castui drill end {arg}")
    recorder = drill.recorder
    assert recorder is not None
    ago = max((now - recorder.seen).total_seconds(), 0.0)
    return (f"drill {name!r} is still running (recorded by castui "
            f"{clean(recorder.describe(), 100)}, last seen {duration(ago, style='precise')} "
            "ago); end it "
            f"first with: castui drill end {arg}")


def _arg(name: str) -> str:
    """The drill's name as a shell argument, ready to paste."""
    return shlex.quote(clean(name, 60))
