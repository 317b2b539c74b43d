"""Benchmark: what the console costs while it watches 3 sites x 8 nodes at a 1 s interval.

A figures-printing benchmark, not a test. Four runs, so the console's own cost is told apart
from the probing it drives, and the probing from what the same checks cost a mature checker:

- `full`: the console (headless, in this process) with its engine probing the lab estate, which
  runs in a child process (`castui lab --speed 2`: castui's interval 1 s, a maintenance drill
  looping, so alerts, toasts and timeline changes happen). `--pty` runs the real
  `castui --config FILE` in a pseudo-terminal instead, terminal output included.
- `engine`: the same engine on the same lab, no console: what the probes cost.
- `console`: the console over an engine fed the same estate's rounds every second without a
  network (the real fold, events and alerts; a node crashing and returning every 20 s): what
  drawing costs.
- `haproxy`: the peer. HAProxy in its own process runs the same checks on the same lab, the
  same work per round (bench/haproxy_peer.py): what those checks cost in C. The engine's and
  the full run's ratios to it are printed.
- `latency`: are castui's latencies true? The engine on the lab again, while curl (one request
  at a time, a fresh connection each) and a second, small HAProxy (one server per URL) measure
  the same nodes' URLs in the same run: castui's medians of `connect_ms`, `tls_ms`,
  `request_ms` and `latency_ms` beside curl's `time_connect`, `time_appconnect` and
  `time_starttransfer`/`time_total` and HAProxy's `check_duration`, and the ratios.
- `oneshot`: `castui check --format json` on the same lab (every check of the estate at once):
  its wall time, and its HTTPS latency median beside curl's for the same URLs.

CPU is sampled once a second with psutil (percent of one core), memory as RSS; each run
reports the median and max CPU and the peak RSS, and the live castui runs the checks they
completed a second (a run that falls behind its interval does less work, so CPU alone would
flatter it) and the CPU per check. The targets (<= 10% median, <= 150 MB) are the issue's.
Run from the repository root: `python3 -m bench.tui_cost [--seconds 60] [--mode all]`.
Loopback addresses only. The machine's load average is printed before each run: figures taken
on a busy machine are worth less.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import json
import multiprocessing
import os
import pty
import random
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from bench.children import castui_lab, stop
from bench.haproxy_peer import (
    check_statuses,
    haproxy_checking,
    haproxy_running,
    latency_config,
    server_rows,
)
from castui.config import Config
from castui.engine.monitor import Monitor
from castui.engine.pool import TargetState
from castui.engine.targets import CheckSpec, Target, build_targets
from castui.model.exchange import HttpExpectation
from castui.model.results import Code, Error, ProbeResult

TARGET_CPU_MEDIAN = 10.0
TARGET_RSS_MB = 150.0
#: castui's latency medians against the independent ones, and the one-shot check's.
TARGET_LATENCY_RATIO = 1.5
TARGET_ONESHOT_RATIO = 2.0
#: curl requests a second while the latency run lasts (one at a time: little load of its own).
CURL_RATE = 4.0
SITES = "Site-A=8,Site-B=8,Site-C=8"
#: castui lab's default interval is 2 s; --speed 2 makes it the 1 s the issue asks for.
SPEED = "2"
NET = "127.44"
LAB_READY_S = 60.0


@dataclass
class Samples:
    cpu: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    #: Checks completed in each 1-s sample, when the run counts them.
    checks: list[int] = field(default_factory=list)


class CheckCount:
    """Counts the checks a Monitor completes, so runs that fall behind are compared fairly."""

    def __init__(self, monitor: Monitor) -> None:
        self.total = 0
        monitor.on_round(self._round)

    def _round(self, state: TargetState) -> None:
        self.total += len(state.target.checks)


class Sampler:
    """Samples a process's CPU (% of one core) and RSS once a second, in a thread."""

    def __init__(self, pid: int, count: CheckCount | None = None) -> None:
        self.proc = psutil.Process(pid)
        self.count = count
        self._counted = 0
        self.samples = Samples()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self.proc.cpu_percent(None)  # prime: the first reading is meaningless
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self.samples.cpu.append(self.proc.cpu_percent(None))
                self.samples.rss_mb.append(self.proc.memory_info().rss / 2**20)
                if self.count is not None:
                    total = self.count.total
                    self.samples.checks.append(total - self._counted)
                    self._counted = total
            except psutil.Error:
                return


@contextlib.contextmanager
def lab(tmp: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """`castui lab` with 3 x 8 nodes in a child process; its config path once it is ready."""
    config = tmp / "lab.toml"
    with castui_lab(["--free-ports", "--net", NET, "--sites", SITES, "--speed", SPEED,
                     "--scenario", "maintenance", "--loop", "--write-config", str(config)],
                    LAB_READY_S) as proc:
        yield config, proc


def run_headless(config_path: Path, seconds: float, size: tuple[int, int]) -> Samples:
    """The console and its engine on the lab, headless, in this process."""
    from castui.config import load_config
    from castui.history import EventStore
    from castui.ui import run_console_async

    config = load_config(config_path)

    with EventStore(config_path.parent / "history.sqlite3") as store:
        monitor = Monitor(config, store=store)
        count = CheckCount(monitor)

        async def watch() -> None:
            stop = asyncio.Event()
            asyncio.get_running_loop().call_later(seconds, stop.set)
            await run_console_async(monitor, store=store, stop=stop, headless=True, size=size)

        with Sampler(os.getpid(), count) as sampler:
            asyncio.run(watch())
    return sampler.samples


def run_engine(config_path: Path, seconds: float, size: tuple[int, int]) -> Samples:
    """The engine alone on the lab: the probes' share of the full run."""
    from castui.config import load_config

    monitor = Monitor(load_config(config_path))
    count = CheckCount(monitor)

    async def watch() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(seconds, stop.set)
        await monitor.run(stop=stop)

    with Sampler(os.getpid(), count) as sampler:
        asyncio.run(watch())
    return sampler.samples


def synthetic_config() -> Config:
    """3 sites x 8 nodes like the lab's, on addresses nothing is asked of."""
    from castui.config import parse_config

    lines = ["[defaults]", "interval = 1.0", "timeout = 0.75"]
    for site in range(1, 4):
        lines += ["", "[[sites]]", f'name = "Site-{"ABC"[site - 1]}"',
                  f'array_fqdn = "outlook.site-{"abc"[site - 1]}.corp.local"',
                  f'vip = "{NET}.{site}.50"', f'dns_servers = ["{NET}.0.53:20053"]',
                  "ports = { epm = 20135, https = 20443, http = 20080, mapi = 59531, "
                  "ab = 59532 }"]
        for node in range(1, 9):
            lines += ["[[sites.nodes]]", f'name = "CAS{(site - 1) * 8 + node}"',
                      f'address = "{NET}.{site}.{20 + node}"']
    return parse_config("\n".join(lines) + "\n", "bench.toml")


def _result(target: Target, spec: CheckSpec, crashed: bool, rng: random.Random) -> ProbeResult:
    latency = rng.uniform(0.5, 12.0)
    if crashed:
        return ProbeResult(False, Code.L4CON, "connection refused", 0.2, Error.REFUSED)
    if spec.kind == "dns":
        return ProbeResult(True, Code.DNSOK, "answer", latency,
                           facts={"addresses": [target.address], "ttl": 300})
    if spec.kind == "http" and spec.expect is not None:
        return ProbeResult(True, Code.L7OK, f"HTTP {spec.expect.status}", latency,
                           facts={"status": spec.expect.status, "headers": {}})
    return ProbeResult(True, Code.L4OK if spec.kind == "tcp" else f"{spec.kind.upper()}OK",
                       "fine", latency)


def run_console_only(config_path: Path, seconds: float, size: tuple[int, int]) -> Samples:
    """The console over an engine fed rounds every second, no network: drawing's share."""
    from castui.ui import ConsoleOptions, run_console_async

    monitor = Monitor(synthetic_config())
    rng = random.Random(1)
    nodes = [key for key, state in monitor.states.items() if state.target.kind == "node"]

    async def feed() -> None:
        second = 0
        while True:
            crashed = nodes[(second // 20) % len(nodes)] if (second // 10) % 2 else None
            for key, state in monitor.states.items():
                results = {spec.name: _result(state.target, spec, key == crashed, rng)
                           for spec in state.target.checks}
                monitor.complete_round(key, results, 0.05)
            second += 1
            await asyncio.sleep(1.0)

    async def watch() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(seconds, stop.set)
        await run_console_async(monitor, options=ConsoleOptions(run_engine=False),
                                extra=[feed()], stop=stop, headless=True, size=size)

    with Sampler(os.getpid()) as sampler:
        asyncio.run(watch())
    return sampler.samples


def run_pty(config_path: Path, seconds: float, size: tuple[int, int]) -> Samples:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "castui", "--config", str(config_path), "--db",
         str(config_path.parent / "history.sqlite3")],
        stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
        env={**os.environ, "TERM": "xterm-256color"})
    os.close(slave)
    written = [0]

    def drain() -> None:
        with contextlib.suppress(OSError):
            while data := os.read(master, 65536):
                written[0] += len(data)

    threading.Thread(target=drain, daemon=True).start()
    try:
        with Sampler(proc.pid) as sampler:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.2)
        print(f"terminal output: {written[0] / seconds / 1024:.1f} KiB/s")
        return sampler.samples
    finally:
        stop(proc)
        os.close(master)


def run_haproxy(config_path: Path, seconds: float, size: tuple[int, int]) -> Samples:
    """HAProxy running castui's checks on the lab: the peer's figure for the engine's work."""
    from castui.config import load_config

    config = load_config(config_path)
    with haproxy_checking(config, config_path.parent) as (proc, count):
        with Sampler(proc.pid) as sampler:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.2)
        statuses = check_statuses(config_path.parent / "haproxy-peer.sock")
    print(f"HAProxy: {count} checks every interval; last results: "
          + ", ".join(f"{status} {n}" for status, n in statuses.most_common()))
    # HAProxy counts no checks; it keeps its pace (`inter`), so its rate is the nominal one.
    pace = round(count / config.defaults.interval)
    sampler.samples.checks = [pace] * len(sampler.samples.cpu)
    return sampler.samples


def node_urls(config: Config) -> list[tuple[Target, list[HttpExpectation]]]:
    """Every node and its HTTPS check URLs, in check order (what curl measures)."""
    return [(target, [spec.expect for spec in target.checks
                      if spec.kind == "http" and spec.expect is not None])
            for target in build_targets(config) if target.kind == "node"]


@dataclass
class Times:
    """One measurer's figures, in ms, for HTTPS checks on the lab's nodes."""

    connect: list[float] = field(default_factory=list)
    tls: list[float] = field(default_factory=list)
    #: The first request on a fresh connection, sent to last body byte.
    first: list[float] = field(default_factory=list)
    #: Requests on a kept-alive connection.
    kept: list[float] = field(default_factory=list)
    #: castui only: those checks' latency_ms (the request and castui's work around it).
    shown: list[float] = field(default_factory=list)
    #: A whole check on a fresh connection (connect + TLS + first request).
    total: list[float] = field(default_factory=list)


def curl_once(config: Config, target: Target, expects: list[HttpExpectation],
              times: Times) -> None:
    """curl two of `target`'s URLs over one connection, as castui's round does: the first on
    a fresh connection (connect, TLS, request), the second kept alive."""
    port = next(spec.port for spec in target.checks if spec.kind == "http")
    host = target.host or target.address
    base = f"https://{host}:{port}"
    argv = ["curl", "-s", "--max-time", str(config.defaults.timeout * 2),
            "--resolve", f"{host}:{port}:{target.address}",
            "-w", "%{time_connect} %{time_appconnect} %{time_total} %{http_code}\n",
            "-o", "/dev/null", base + expects[0].path, "-o", "/dev/null", base + expects[1].path]
    if config.defaults.ca_file:
        argv[1:1] = ["--cacert", str(config.defaults.ca_file)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    lines = [line.split() for line in done.stdout.splitlines()]
    if done.returncode != 0 or len(lines) != 2 or any(len(p) != 4 or p[3] == "000"
                                                      for p in lines):
        return
    connect, appconnect, total = (float(part) * 1000 for part in lines[0][:3])
    times.connect.append(connect)
    times.tls.append(appconnect - connect)
    times.first.append(total - appconnect)
    times.total.append(total)
    times.kept.append(float(lines[1][2]) * 1000)


def independent(config_path: Path, seconds: float, stats: Path, out: Path) -> None:
    """curl the nodes in turn (CURL_RATE a second) and read HAProxy's check durations once a
    second, for `seconds`; the figures as JSON in `out`. Runs in a process of its own, so
    nothing it does is timed by castui's event loop."""
    from castui.config import load_config

    config = load_config(config_path)
    nodes = node_urls(config)
    times = Times()
    durations: list[float] = []
    deadline = time.monotonic() + seconds
    read_at = time.monotonic() + 2.0  # HAProxy's first checks
    number = 0
    while time.monotonic() < deadline:
        target, expects = nodes[number % len(nodes)]
        number += 1
        curl_once(config, target, expects, times)
        if time.monotonic() >= read_at:
            read_at += 1.0
            with contextlib.suppress(OSError):
                durations.extend(float(row["check_duration"]) for row in server_rows(stats)
                                 if row.get("check_status") == "L7OK"
                                 and row.get("check_duration"))
        time.sleep(1 / CURL_RATE)
    out.write_text(json.dumps({"curl": times.__dict__, "haproxy": durations}))


def castui_times(rounds: Sequence[Mapping[str, ProbeResult]],
                 kinds: Mapping[str, str]) -> tuple[Times, list[float]]:
    """castui's figures from node rounds (check name -> result), and every HTTPS check's
    latency_ms. `kinds`: check name -> kind; the first directory check after the certificate
    check is the round's first request."""
    times = Times()
    latencies: list[float] = []
    for results in rounds:
        opened: float | None = None  # the round's connect + TLS, from its certificate check
        first = True
        for name, result in results.items():
            phases = result.facts.get("phases")
            if kinds.get(name) not in ("tls", "http") or not isinstance(phases, dict) \
                    or not result.ok or result.latency_ms is None:
                continue
            latencies.append(result.latency_ms)
            if kinds[name] == "tls":
                times.connect.append(phases["connect_ms"])
                times.tls.append(phases["tls_ms"])
                opened = phases["connect_ms"] + phases["tls_ms"]
                continue
            (times.first if first else times.kept).append(phases["request_ms"])
            if not first:
                times.shown.append(result.latency_ms)
            if first and opened is not None:
                times.total.append(opened + phases["request_ms"])
            first = False
    return times, latencies


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def compare(mine: Times, curl: Times, target: float, haproxy: Sequence[float] = ()) -> None:
    """castui's medians beside curl's (and HAProxy's check duration), with the ratios."""
    rows = [("TCP connect", mine.connect, "curl time_connect", curl.connect),
            ("TLS handshake", mine.tls, "curl appconnect - connect", curl.tls),
            ("first request on the connection (request_ms)", mine.first,
             "curl total - appconnect", curl.first),
            ("kept-alive request (request_ms)", mine.kept,
             "curl's 2nd transfer time_total", curl.kept),
            ("kept-alive check as shown (latency_ms)", mine.shown,
             "curl's 2nd transfer time_total", curl.kept),
            ("a check on a fresh connection (connect + TLS + request)", mine.total,
             "curl time_total", curl.total)]
    if haproxy:
        rows.append(("a check on a fresh connection (connect + TLS + request)", mine.total,
                     "HAProxy check_duration", list(haproxy)))
    for what, ours, other, theirs in rows:
        a, b = _median(ours), _median(theirs)
        print(f"  castui {what}: median {a:.2f} ms; {other}: {b:.2f} ms; "
              f"ratio {a / b:.2f}x (target <= {target:g}x)")


def run_latency(config_path: Path, seconds: float) -> None:
    """The engine on the lab while curl and a small HAProxy measure the same nodes."""
    from castui.config import load_config

    config = load_config(config_path)
    monitor = Monitor(config)
    rounds: list[dict[str, ProbeResult]] = []
    kinds: dict[str, str] = {}

    def note(state: TargetState) -> None:
        if state.target.kind == "node":
            rounds.append({name: check.last for name, check in state.checks.items()
                           if check.last is not None})
            kinds.update((name, check.spec.kind) for name, check in state.checks.items())

    monitor.on_round(note)
    urls = [(target, expects[0]) for target, expects in node_urls(config)]
    stats = config_path.parent / "haproxy-latency.sock"
    out = config_path.parent / "independent.json"

    async def watch() -> None:
        stop_at = asyncio.Event()
        asyncio.get_running_loop().call_later(seconds, stop_at.set)
        await monitor.run(stop=stop_at)

    text = latency_config(config, stats, urls)
    with haproxy_running(text, config_path.parent, "haproxy-latency"):
        child = multiprocessing.get_context("spawn").Process(
            target=independent, args=(config_path, seconds, stats, out), daemon=True)
        child.start()
        asyncio.run(watch())
        child.join(30)
    found = json.loads(out.read_text())
    curl = Times(**found["curl"])
    durations: list[float] = found["haproxy"]
    mine, latencies = castui_times(rounds, kinds)
    print(f"latency: {len(rounds)} castui node rounds, {len(curl.total)} curls (two URLs over "
          f"one connection each), {len(durations)} HAProxy check durations (every node's "
          f"first URL, one server each); castui HTTPS latency_ms median "
          f"{_median(latencies):.2f} ms")
    compare(mine, curl, TARGET_LATENCY_RATIO, durations)


def run_oneshot(config_path: Path) -> None:
    """`castui check` once on the lab: wall time and HTTPS latencies, beside curl's."""
    from castui.config import load_config

    config = load_config(config_path)
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "castui", "check", "--config",
                           str(config_path), "--format", "json"], capture_output=True,
                          text=True, timeout=120, check=False)
    wall = time.monotonic() - t0
    doc = json.loads(done.stdout)
    nodes = [node for site in doc["sites"] for node in site["nodes"]]
    kinds = {check["name"]: check["kind"] for node in nodes for check in node["checks"]}
    rounds = [{check["name"]: ProbeResult(bool(check["ok"]), check["code"], check["detail"],
                                          check["latency_ms"], facts={"phases": {
                                              key: check.get(key) for key in
                                              ("connect_ms", "tls_ms", "request_ms")}})
               for check in node["checks"]} for node in nodes]
    mine, latencies = castui_times(rounds, kinds)
    curl = Times()
    for target, expects in node_urls(config):
        curl_once(config, target, expects, curl)
    print(f"oneshot: `castui check` on the lab ({len(kinds)} check names on {len(nodes)} "
          f"nodes, exit {done.returncode}): wall {wall:.2f} s (the process, start-up "
          f"included); castui HTTPS latency_ms median {_median(latencies):.2f} ms")
    compare(mine, curl, TARGET_ONESHOT_RATIO)


Run = Callable[[Path, float, tuple[int, int]], Samples]


def live_runs(pty_mode: bool) -> dict[str, tuple[str, Run]]:
    """The runs against the live lab: mode -> (name, run)."""
    how = "pty" if pty_mode else "headless"
    return {"full": (f"full (console + engine on the lab, {how})",
                     run_pty if pty_mode else run_headless),
            "engine": ("engine alone on the lab (no console)", run_engine),
            "haproxy": ("HAProxy running the same checks on the lab (the peer)", run_haproxy)}


def _size(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    return int(width), int(height)


def report(name: str, samples: Samples, warmup: int) -> tuple[float, float] | None:
    """Print a run's figures; its CPU median and mean, or None without samples.

    Each sample counts whole clock ticks (1 % of a core over a second), so medians move in
    steps of 1 %; the mean of the same samples is the run's CPU time over its wall time, finer.
    """
    cpu = samples.cpu[warmup:] or samples.cpu
    if not cpu:
        print(f"{name}: no samples")
        return None
    rss = max(samples.rss_mb, default=0.0)
    median = statistics.median(cpu)
    mean = statistics.fmean(cpu)
    print(f"{name}: CPU % of one core over {len(cpu)} 1-s samples: median "
          f"{median:.1f}, mean {mean:.2f}, max {max(cpu):.1f}; peak RSS {rss:.0f} MB")
    checks = samples.checks[warmup:]
    if checks:
        rate = statistics.median(checks)
        print(f"  checks completed: median {rate:g}/s, so {cpu_ms(median, rate):.2f} ms of CPU "
              "a check")
    return median, mean


def load() -> str:
    """The machine's load averages (1, 5, 15 minutes)."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def cpu_ms(cpu_percent: float, checks_per_s: float) -> float:
    """CPU milliseconds per check from % of one core and the checks done a second."""
    return cpu_percent * 10 / checks_per_s if checks_per_s else float("nan")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m bench.tui_cost",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="how long each run lasts (default 60)")
    parser.add_argument("--mode", choices=("all", "full", "engine", "console", "haproxy",
                                           "latency", "oneshot"),
                        default="all", help="all: every run (haproxy when it is installed)")
    parser.add_argument("--pty", action="store_true",
                        help="full run: the real `castui --config` in a pseudo-terminal")
    parser.add_argument("--size", type=_size, default=(200, 60), metavar="WxH",
                        help="terminal size (default 200x60)")
    parser.add_argument("--warmup", type=int, default=5, metavar="N",
                        help="leave out the first N samples (start-up) from the figures")
    args = parser.parse_args(argv)
    modes = (["full", "engine", "console", "haproxy", "latency", "oneshot"]
             if args.mode == "all" else [args.mode])
    if args.mode == "all" and shutil.which("haproxy") is None:
        print("haproxy is not installed: no peer figures")
        modes.remove("haproxy")
        modes.remove("latency")
    print(f"3 sites x 8 nodes, interval 1 s, {args.seconds:g} s a run, "
          f"{args.size[0]}x{args.size[1]}; targets for the console: median <= "
          f"{TARGET_CPU_MEDIAN:g}% of a core, peak RSS <= {TARGET_RSS_MB:g} MB")
    cpu: dict[str, tuple[float, float] | None] = {}  # mode -> (median, mean)
    with tempfile.TemporaryDirectory(prefix="castui-bench-") as tmp:
        if "console" in modes:
            print(f"load average {load()}")
            report("console (drawing, rounds fed without a network)",
                   run_console_only(Path(tmp), args.seconds, args.size), args.warmup)
        live = [mode for mode in modes if mode != "console"]
        if live:
            with lab(Path(tmp)) as (config, lab_proc), Sampler(lab_proc.pid) as lab_cpu:
                runs = live_runs(args.pty)
                for mode in live:
                    print(f"load average {load()}")
                    if mode == "latency":
                        run_latency(config, args.seconds)
                        continue
                    if mode == "oneshot":
                        run_oneshot(config)
                        continue
                    name, run = runs[mode]
                    cpu[mode] = report(name, run(config, args.seconds, args.size),
                                           args.warmup)
            lab_median = statistics.median(lab_cpu.samples.cpu or [0.0])
            print(f"(the lab itself, in its own process: median {lab_median:.0f}% of a core)")
    peer = cpu.get("haproxy")
    for mode in ("engine", "full"):
        mine = cpu.get(mode)
        if peer and peer[0] and peer[1] and mine is not None:
            target = 1.0 if mode == "engine" else 1.3
            print(f"ratio, {mode} to HAProxy (CPU median): {mine[0] / peer[0]:.2f}x "
                  f"(mean: {mine[1] / peer[1]:.2f}x; target <= {target:g}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
