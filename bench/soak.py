"""Soak: `castui watch` (and with --console the console in a pty) against ~100 lab nodes for a
given time, sampling what would grow if something leaked. A figures-printing benchmark, not a
test: it exits 1 only if castui died.

- The estate: castui's own lab (castui.lab.estate.LabEstate, no VIP balancers) in one child
  process on loopback, 10 nodes a site: of every ten nodes six are healthy, one refuses
  connections (crashed), one is black-holed (SYNs never answered), one answers HTTP slowly
  (40 % of the timeout) and one flaps (crashed and restored every 6 intervals). The VIPs have
  no balancer, so they refuse; each site's DNS target asks the lab's DNS server.
- Round pace from the nodes' side: every node's HTTP port gets one TCP check a round from
  `watch`, so the time between successive connections a healthy or slow node receives is
  watch's real pace. (The console's config checks the nodes' MAPI port as its `http` port and
  leaves the pinned RPC ports out, so its rounds never reach the HTTP port: its pace is not
  measured.)
- Every --every seconds (30): castui's RSS, open fds and threads (psutil, from outside; the
  thread count leaves out the task counter's own thread), its asyncio tasks (bench/tasks_probe.py:
  castui runs unchanged in an interpreter whose event loop policy remembers castui's loops; a
  thread asks each loop, on the loop, for len(asyncio.all_tasks()) - so tasks are counted
  at a random point of the rounds, in-flight probes included), CPU, and the machine's load
  (the machine may be shared: read the figures beside it).
- castui's view against the truth at the end: the healthy and slow nodes that watch's last
  event about them still shows out of the pool (none should be).
- The verdict, over the samples after the warm-up: memory flat (least-squares slope under
  1 MB an hour), fds and tasks flat (the median of the window's last third exceeds that of its
  first third by less than 5 % of the level, or 2: a sample catches a random number of probes
  in flight, so a fitted slope is mostly noise), rounds within 1.2x the interval at p99.
  The engine keeps a ring of RING_SIZE rounds per target: until the rings are full memory
  grows by design, so the warm-up lasts until they are, and a run too short for that says so
  and shows how much of the slope the ring filling explains (bytes per ring entry measured
  here with tracemalloc). `--ring N` (and `--feed N` for the console's event list and log) shorten
  those buffers, through bench/tasks_probe.py, so that an hour sees them full: whatever
  grows after that is not the buffers.

Run: `python -m bench.soak --minutes 60 [--console]`; CI: `python -m bench.soak --minutes 2
--smoke` (25 nodes, samples every 10 s: figures only). Loopback addresses only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import json
import math
import multiprocessing
import multiprocessing.connection
import os
import pty
import re
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
import tracemalloc
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import psutil

from bench.children import stop
from castui.engine.pool import RING_SIZE, RoundSample
from castui.lab.http import serve_http
from castui.lab.layout import FREE_PORTS, LabLayout, LabTiming, SitePlan
from castui.lab.node import LabNode
from castui.ui.feed import TIMELINE_EVENTS
from castui.ui.widgets.event_log import MAX_LINES

#: Targets of the verdict (the issue's).
MAX_MB_PER_HOUR = 1.0
MAX_PACE_RATIO = 1.2
#: fds and tasks are flat when the window's last third exceeds its first by less than this
#: share of their level (or by FLAT_MIN, whichever is more).
FLAT_SHARE = 0.05
FLAT_MIN = 2.0
NODES_PER_SITE = 10
#: Position in each ten of the faulty nodes; the other six are healthy.
FAULTS = {3: "refusing", 5: "black-holed", 7: "slow", 9: "flapping"}
_READY_WAIT_S = 120.0
_ANSWER_WAIT_S = 20.0
_START_WAIT_S = 60.0
#: The lab config's ports line (castui.lab.estate.LabEstate.config_text).
_PORTS = re.compile(r"ports = \{ epm = (\d+), https = (\d+), http = (\d+), mapi = (\d+), "
                    r"ab = (\d+) \}")
#: Terminal size for the console.
_COLUMNS, _LINES = 200, 50


# --------------------------------------------------------------------------------------------
# The estate (child process)


def kind_of(index: int) -> str:
    """What node number `index` (0-based) is: healthy or one of the FAULTS."""
    return FAULTS.get(index % 10, "healthy")


def site_plans(nodes: int) -> tuple[SitePlan, ...]:
    sites = math.ceil(nodes / NODES_PER_SITE)
    return tuple(SitePlan(f"Soak-{i + 1}", min(NODES_PER_SITE, nodes - i * NODES_PER_SITE))
                 for i in range(sites))


@dataclass
class Pace:
    """Connections each node's HTTP port received: the time between successive ones."""

    last: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    gaps: list[float] = field(default_factory=list)
    measured: set[str] = field(default_factory=set)

    def arrived(self, node: str, now: float) -> None:
        self.counts[node] = self.counts.get(node, 0) + 1
        if node in self.measured and node in self.last:
            self.gaps.append(now - self.last[node])
        self.last[node] = now

    def take(self) -> dict[str, Any]:
        gaps, self.gaps = self.gaps, []
        return {"gaps": gaps, "rounds": sorted(self.counts[n] for n in self.measured
                                               if n in self.counts)}


async def _counted_http(node: LabNode, pace: Pace, reader: asyncio.StreamReader,
                        writer: asyncio.StreamWriter) -> None:
    pace.arrived(node.name, time.monotonic())
    await serve_http(reader, writer, behaviour=node.http, tls=False)


async def _flap(nodes: list[LabNode], period: float) -> None:
    while True:
        await asyncio.sleep(period)
        for node in nodes:
            await node.crash()
        await asyncio.sleep(period)
        for node in nodes:
            await node.restore()


async def _run_estate(nodes: int, net: str, interval: float, timeout: float, workdir: Path,
                      conn: multiprocessing.connection.Connection) -> None:
    from castui.lab.estate import LabEstate

    layout = LabLayout(sites=site_plans(nodes), net=net, ports=FREE_PORTS, dns_port=0,
                       balancers=False)
    estate = LabEstate(layout, timing=LabTiming(interval=interval, timeout=timeout))
    pace = Pace()
    all_nodes = [node for site in estate.sites.values() for node in site.nodes.values()]
    for node in all_nodes:
        node.set_handler("http", partial(_counted_http, node, pace))
    async with estate:
        flapping = []
        for index, node in enumerate(all_nodes):
            kind = kind_of(index)
            if kind == "refusing":
                await node.crash()
            elif kind == "black-holed":
                await node.blackhole()
            elif kind == "slow":
                await node.slow(int(timeout * 400))
            elif kind == "flapping":
                flapping.append(node)
            if kind in ("healthy", "slow"):
                pace.measured.add(node.name)
        config = estate.write_config(workdir / "soak.toml")
        flapper = asyncio.create_task(_flap(flapping, 6 * interval))
        conn.send(("ready", str(config)))
        loop = asyncio.get_running_loop()
        asked = asyncio.Event()
        loop.add_reader(conn.fileno(), asked.set)
        try:
            while True:
                await asked.wait()
                asked.clear()
                if not conn.poll():  # the reader fires while data is there: maybe twice
                    continue
                if conn.recv() != "pace":
                    break
                conn.send(pace.take())
        finally:
            loop.remove_reader(conn.fileno())
            flapper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flapper


def _estate_main(nodes: int, net: str, interval: float, timeout: float, workdir: Path,
                 conn: multiprocessing.connection.Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it stops us
    try:
        asyncio.run(_run_estate(nodes, net, interval, timeout, workdir, conn))
    except Exception as exc:  # the parent went away, or the lab could not start
        with contextlib.suppress(OSError):
            conn.send(("error", str(exc)))


@dataclass
class Estate:
    proc: multiprocessing.process.BaseProcess
    conn: multiprocessing.connection.Connection
    config: Path

    def pace(self) -> dict[str, Any]:
        self.conn.send("pace")
        if not self.conn.poll(_ANSWER_WAIT_S):
            raise RuntimeError("the estate did not answer")
        answer: dict[str, Any] = self.conn.recv()
        return answer

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send("stop")
        self.proc.join(15)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)
        self.conn.close()


def start_estate(args: argparse.Namespace, workdir: Path) -> Estate:
    ctx = multiprocessing.get_context("fork")
    ours, theirs = ctx.Pipe()
    proc = ctx.Process(target=_estate_main, daemon=True, args=(
        args.nodes, args.net, args.interval, args.timeout, workdir, theirs))
    proc.start()
    theirs.close()
    if not ours.poll(_READY_WAIT_S):
        proc.kill()
        raise RuntimeError("the estate did not start in time")
    status, payload = ours.recv()
    if status != "ready":
        proc.join(5)
        raise RuntimeError(f"the estate did not start: {payload}")
    return Estate(proc, ours, Path(payload))


# --------------------------------------------------------------------------------------------
# castui under watch


@dataclass
class Sample:
    minute: float
    rss_mb: float
    fds: int
    threads: int
    tasks: int
    cpu: float


@dataclass
class Watched:
    """One castui process (watch, or the console in a pty) and its samples."""

    name: str
    proc: subprocess.Popen[bytes]
    tasks_file: Path
    stderr_file: Path
    ps: psutil.Process
    samples: list[Sample] = field(default_factory=list)

    def sample(self, minute: float) -> None:
        with self.ps.oneshot():
            self.samples.append(Sample(
                minute, self.ps.memory_info().rss / 2**20, self.ps.num_fds(),
                self.ps.num_threads() - 1, _last_tasks(self.tasks_file),
                self.ps.cpu_percent(None)))

    def died(self) -> str | None:
        code = self.proc.poll()
        if code is None:
            return None
        tail = self.stderr_file.read_text(errors="replace").strip().splitlines()[-5:]
        return f"{self.name} exited with status {code}: " + " | ".join(tail)


def _last_tasks(path: Path) -> int:
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int(path.read_text().split()[-1])
    return -1


def _launch(name: str, castui_args: list[str], workdir: Path, every: float,
            bounds: tuple[int, int], **popen: Any) -> Watched:
    """castui under bench/tasks_probe.py with history buffers of `bounds` (ring, feed; a
    feed of 0 leaves the console's alone); stderr to a file unless `popen` says otherwise."""
    tasks_file, stderr_file = workdir / f"{name}.tasks", workdir / f"{name}.stderr"
    with stderr_file.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.tasks_probe", str(tasks_file), str(min(every, 10.0)),
             *map(str, bounds), "--", *castui_args], **{"stderr": stderr, **popen})
    watched = Watched(name, proc, tasks_file, stderr_file, psutil.Process(proc.pid))
    watched.ps.cpu_percent(None)
    return watched


def start_watch(config: Path, workdir: Path, every: float, ring: int) -> Watched:
    events = (workdir / "watch.jsonl").open("wb")
    watched = _launch("watch", ["watch", "--config", str(config), "--format", "jsonl", "--db",
                                str(workdir / "watch.sqlite3")], workdir, every, (ring, 0),
                      stdout=events)
    events.close()
    return watched


def start_console(config: Path, workdir: Path, every: float,
                  bounds: tuple[int, int]) -> tuple[Watched, list[int]]:
    """The console in a pseudo-terminal (Textual draws on stderr); its output is read and
    counted (bytes) by a thread. Its config keeps its rounds off the nodes' HTTP port."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", _LINES, _COLUMNS, 0, 0))
    own = config.with_name("soak-console.toml")
    text, sites = _PORTS.subn(r"ports = { epm = \1, https = \2, http = \4 }",
                              config.read_text())
    if not sites:
        raise RuntimeError("the lab config's ports line has changed: update bench/soak.py")
    own.write_text(text)
    watched = _launch("console", ["--config", str(own), "--db",
                                  str(workdir / "console.sqlite3")], workdir, every, bounds,
                      stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                      env={**os.environ, "TERM": "xterm-256color"})
    os.close(slave)
    written = [0]

    def drain() -> None:
        with contextlib.suppress(OSError):
            while data := os.read(master, 65536):
                written[0] += len(data)
        os.close(master)

    threading.Thread(target=drain, daemon=True).start()
    return watched, written


# --------------------------------------------------------------------------------------------
# Figures


def slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of (x, y) points; 0 with fewer than two distinct x."""
    if len(points) < 2:
        return 0.0
    mx = statistics.fmean(x for x, _ in points)
    my = statistics.fmean(y for _, y in points)
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else 0.0


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


def ring_entry_bytes(size: int) -> float:
    """Bytes one ring entry holds (a RoundSample with its own datetime, in a full deque)."""
    ring: deque[RoundSample] = deque(maxlen=size)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(size):
        ring.append(RoundSample(datetime.now(UTC), "up", "UP"))
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return used / len(ring)


@dataclass
class Machine:
    load: list[float] = field(default_factory=list)
    busy: list[float] = field(default_factory=list)
    estate_cpu: list[float] = field(default_factory=list)


def verdict_lines(w: Watched, warmup: float, targets: int, interval: float, ring: int,
                  entry: float) -> list[str]:
    after = [s for s in w.samples if s.minute >= warmup]
    if len(after) < 2:
        return [f"{w.name}: too few samples after the {warmup:.0f}-minute warm-up for a verdict"]
    mb_h = slope([(s.minute / 60, s.rss_mb) for s in after])
    lines = [f"{w.name}: window {after[0].minute:.1f}-{after[-1].minute:.1f} min "
             f"({len(after)} samples)"]
    rounds_h = 3600 / interval
    ring_mb_h = targets * rounds_h * entry / 2**20
    full_at = ring * interval / 60
    if after[-1].minute < full_at:
        rest = mb_h - ring_mb_h
        lines.append(
            f"  memory: {mb_h:+.2f} MB/h; rings NOT full by the end ({full_at:.0f} min needed "
            f"at {interval:g} s a round): filling {targets} rings at {entry:.0f} B an entry "
            f"explains {ring_mb_h:.2f} MB/h, leaving {rest:+.2f} MB/h: "
            f"{'FLAT' if rest < MAX_MB_PER_HOUR else 'NOT FLAT'} net of the rings "
            f"(target < {MAX_MB_PER_HOUR:g} MB/h once full)")
    else:
        lines.append(f"  memory: {mb_h:+.2f} MB/h after the rings filled: "
                     f"{'MET' if mb_h < MAX_MB_PER_HOUR else 'NOT MET'} "
                     f"(target < {MAX_MB_PER_HOUR:g} MB/h)")
    for label, values in (("fds", [(s.minute / 60, float(s.fds)) for s in after]),
                          ("tasks", [(s.minute / 60, float(s.tasks)) for s in after
                                     if s.tasks >= 0]),
                          ("threads", [(s.minute / 60, float(s.threads)) for s in after])):
        if len(values) < 2:
            lines.append(f"  {label}: not measured")
            continue
        level = statistics.median(v for _, v in values)
        third = max(1, len(values) // 3)
        first = statistics.median(v for _, v in values[:third])
        last = statistics.median(v for _, v in values[-third:])
        flat = last - first < max(FLAT_MIN, FLAT_SHARE * level)
        lines.append(f"  {label}: median {level:.0f}, range {min(v for _, v in values):.0f}-"
                     f"{max(v for _, v in values):.0f}, first third {first:.0f} -> last third "
                     f"{last:.0f} (fitted {slope(values):+.1f}/h): "
                     f"{'FLAT' if flat else 'NOT FLAT'}")
    return lines


def shown_down(events: Path, nodes: int) -> list[str]:
    """Healthy and slow nodes whose last node_down/node_up event in watch's output is down."""
    last: dict[str, str] = {}
    with events.open(encoding="utf-8") as lines:
        for line in lines:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                event = json.loads(line)
                if event["event"] in ("node_down", "node_up"):
                    last[event["subject"]] = event["event"]
    # LabEstate names nodes CAS1, CAS2... in order across the sites.
    return [f"CAS{i + 1}" for i in range(nodes) if kind_of(i) in ("healthy", "slow")
            and last.get(f"CAS{i + 1}") == "node_down"]


def feed_full(events: Path, feed: int, began: datetime) -> float | None:
    """The minute watch had printed `feed` events (the console, on the same estate, sees the
    same), None if it printed fewer."""
    with events.open(encoding="utf-8") as lines:
        for n, line in enumerate(lines, 1):
            if n == feed:
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    at = datetime.fromisoformat(json.loads(line)["time"])
                    return (at - began).total_seconds() / 60
    return None


def print_series(w: Watched) -> None:
    print(f"\n{w.name}: series (every sample)")
    print(f"  {'min':>6} {'RSS MB':>7} {'fds':>5} {'tasks':>6} {'threads':>7} {'CPU %':>6}")
    for s in w.samples:
        tasks = str(s.tasks) if s.tasks >= 0 else "-"
        print(f"  {s.minute:6.1f} {s.rss_mb:7.1f} {s.fds:5d} {tasks:>6} {s.threads:7d} "
              f"{s.cpu:6.1f}")


# --------------------------------------------------------------------------------------------
# Main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=60.0, help="how long castui runs")
    p.add_argument("--nodes", type=int, default=100, help="lab nodes (10-1000)")
    p.add_argument("--interval", type=float, default=5.0, help="castui's interval, s")
    p.add_argument("--timeout", type=float, default=1.5, help="castui's probe timeout, s")
    p.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    p.add_argument("--warmup", type=float, default=10.0,
                   help="minutes left out of the verdict at least (longer if the rings fill "
                        "later and the run lasts that long)")
    p.add_argument("--console", action="store_true",
                   help="also run the console in a pseudo-terminal, sampled the same way")
    p.add_argument("--ring", type=int, default=RING_SIZE,
                   help=f"rounds kept per target (castui's own: {RING_SIZE})")
    p.add_argument("--feed", type=int, default=TIMELINE_EVENTS,
                   help=f"events the console keeps (castui's own: {TIMELINE_EVENTS})")
    p.add_argument("--net", default="127.213", help="the lab's loopback /16")
    p.add_argument("--smoke", action="store_true",
                   help="CI smoke: 25 nodes, samples every 10 s, 0.5-minute warm-up")
    args = p.parse_args(argv)
    if args.smoke:
        args.nodes, args.every, args.warmup = 25, 10.0, 0.5
    if not 10 <= args.nodes <= 1000:
        p.error("--nodes must be 10-1000")
    if not 0 < args.timeout < args.interval <= 300:
        p.error("need 0 < --timeout < --interval <= 300")
    if not 16 <= args.ring <= RING_SIZE or not 16 <= args.feed <= TIMELINE_EVENTS:
        p.error(f"--ring must be 16-{RING_SIZE} and --feed 16-{TIMELINE_EVENTS}")
    if not 0 < args.minutes <= 24 * 60 or not 1 <= args.every <= 600:
        p.error("--minutes must be 0-1440 and --every 1-600")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    kinds = [kind_of(i) for i in range(args.nodes)]
    print(f"soak {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: python {sys.version.split()[0]}, "
          f"{os.cpu_count()} cpus; {args.nodes} nodes ("
          + ", ".join(f"{kinds.count(k)} {k}" for k in ("healthy", *FAULTS.values()))
          + f") in {len(site_plans(args.nodes))} sites; interval {args.interval:g} s, "
          f"timeout {args.timeout:g} s; {args.minutes:g} min, a sample every {args.every:g} s",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="castui-soak-") as tmp:
        workdir = Path(tmp)
        estate = start_estate(args, workdir)
        watched: list[Watched] = []
        try:
            return _soak(args, estate, workdir, watched)
        finally:
            for w in watched:
                if w.proc.poll() is None:
                    stop(w.proc)
            estate.stop()


def _soak(args: argparse.Namespace, estate: Estate, workdir: Path,
          watched: list[Watched]) -> int:
    watched.append(start_watch(estate.config, workdir, args.every, args.ring))
    written: list[int] = [0]
    if args.console:
        console, written = start_console(estate.config, workdir, args.every,
                                         (args.ring, args.feed))
        watched.append(console)
    estate_ps = psutil.Process(estate.proc.pid)
    estate_ps.cpu_percent(None)
    psutil.cpu_percent(None)
    machine = Machine()
    gaps: list[tuple[float, float]] = []  # (minute, gap)
    rounds: list[int] = []
    start, began = time.monotonic(), datetime.now(UTC)
    print(f"\n  {'min':>5} {'proc':>8} {'RSS MB':>7} {'fds':>5} {'tasks':>6} {'thr':>4} "
          f"{'CPU%':>5} | {'rounds min/med':>14} {'pace p50':>8} {'p99':>6} | {'estate CPU%':>11} "
          f"{'load1':>5} {'machine CPU%':>12}", flush=True)
    dead: str | None = None
    for k in range(1, max(1, round(args.minutes * 60 / args.every)) + 1):
        try:
            while time.monotonic() < start + k * args.every and not dead:
                time.sleep(0.5)
                dead = next((d for w in watched if (d := w.died())), None)
        except KeyboardInterrupt:
            print("interrupted: the figures so far", flush=True)
            break
        if dead:
            break
        minute = (time.monotonic() - start) / 60
        for w in watched:
            w.sample(minute)
        pace = estate.pace()
        gaps += [(minute, g) for g in pace["gaps"]]
        rounds = pace["rounds"]
        machine.load.append(os.getloadavg()[0])
        machine.busy.append(psutil.cpu_percent(None))
        machine.estate_cpu.append(estate_ps.cpu_percent(None))
        window = pace["gaps"] or [math.nan]
        for i, w in enumerate(watched):
            s = w.samples[-1]
            tail = (f"| {min(rounds, default=0):6d}/{statistics.median(rounds or [0]):<7.0f} "
                    f"{statistics.median(window):8.2f} {percentile(window, 0.99):6.2f} | "
                    f"{machine.estate_cpu[-1]:11.0f} {machine.load[-1]:5.2f} "
                    f"{machine.busy[-1]:12.0f}") if i == 0 else ""
            print(f"  {minute:5.1f} {w.name:>8} {s.rss_mb:7.1f} {s.fds:5d} "
                  f"{s.tasks if s.tasks >= 0 else '-':>6} {s.threads:4d} {s.cpu:5.0f} {tail}",
                  flush=True)
    return report(args, watched, gaps, rounds, machine, written[0], workdir, began, dead)


def report(args: argparse.Namespace, watched: list[Watched], gaps: list[tuple[float, float]],
           rounds: list[int], machine: Machine, console_bytes: int, workdir: Path,
           began: datetime, dead: str | None) -> int:
    for w in watched:
        print_series(w)
    ran = watched[0].samples[-1].minute if watched[0].samples else 0.0
    full_at = args.ring * args.interval / 60
    warmup = max(args.warmup, full_at) if ran > max(args.warmup, full_at) + 5 else args.warmup
    targets = args.nodes + 2 * len(site_plans(args.nodes))  # nodes, a VIP and DNS per site
    entry = ring_entry_bytes(args.ring)
    events = sum(1 for _ in (workdir / "watch.jsonl").open("rb"))
    shortened = " (shortened)" if args.ring < RING_SIZE else ""
    print(f"\nran {ran:.1f} min; warm-up {warmup:.1f} min; rings of {args.ring} rounds per "
          f"target{shortened} are full after {full_at:.0f} min; {events} events printed by watch"
          + (f"; console wrote {console_bytes / 2**20:.1f} MiB to its terminal"
             if args.console else ""))
    console_warmup = warmup
    if args.console:
        feed_at = feed_full(workdir / "watch.jsonl", args.feed, began)
        print(f"the console keeps {args.feed} events and {min(args.feed, MAX_LINES)} log lines"
              f"{' (shortened)' if args.feed < TIMELINE_EVENTS else ''}: "
              + (f"watch had printed as many after {feed_at:.0f} min" if feed_at is not None
                 else "watch printed fewer, so they never filled"))
        if feed_at is not None and ran > max(warmup, feed_at) + 5:
            console_warmup = max(warmup, feed_at)
    if machine.load:
        print(f"machine: load average (1 min) median {statistics.median(machine.load):.2f}, "
              f"max {max(machine.load):.2f}; all-CPU busy median "
              f"{statistics.median(machine.busy):.0f} %; the estate process median "
              f"{statistics.median(machine.estate_cpu):.0f} % of a core")
    after = [g for minute, g in gaps if minute >= warmup] or [g for _, g in gaps]
    if after:
        p99 = percentile(after, 0.99)
        ok = p99 <= MAX_PACE_RATIO * args.interval
        print(f"round pace (from the nodes, {len(after)} gaps; rounds per node so far "
              f"{min(rounds)}-{max(rounds)}): median {statistics.median(after):.2f} s, "
              f"p99 {p99:.2f} s = {p99 / args.interval:.2f}x the {args.interval:g} s interval, "
              f"max {max(after):.2f} s: {'MET' if ok else 'NOT MET'} "
              f"(target p99 <= {MAX_PACE_RATIO}x)")
    wrong = shown_down(workdir / "watch.jsonl", args.nodes)
    print(f"castui's view at the end: {len(wrong)} healthy or slow nodes shown out of the pool"
          + (f": {', '.join(wrong)} (NOT MET)" if wrong else " (MET)"))
    for w in watched:
        start = console_warmup if w.name == "console" else warmup
        print("\n".join(verdict_lines(w, start, targets, args.interval, args.ring, entry)))
    if args.smoke:
        print("(smoke run: too short for a verdict on memory; the figures show it runs)")
    if dead:
        print(f"\nCASTUI DIED: {dead}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
