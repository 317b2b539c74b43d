"""Benchmark: full TCP sweeps of loopback listeners with the castui engine, against `nmap -sT`.

A figures-printing benchmark, not a test. It answers two questions from the issue:

1. Throughput: can one core run >= 5,000 TCP checks/s, and is a sweep within 1.5x of nmap's
   wall time on the same targets?
2. Black holes: does a sweep where 10% of the targets never answer a SYN cost about one timeout,
   not a multiple of it?

The listeners live in a separate process pinned to the other core(s), so their accept/close work
is not billed to castui's core (the kernel's half of each loopback handshake still runs on the
connecting core, for castui and nmap alike). Only 127.0.0.0/8 addresses are used.
Run from the repository root: `python3 -m bench.probe_sweep --help`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import multiprocessing.connection
import os
import re
import resource
import selectors
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from castui.engine.runner import Runner
from castui.engine.targets import CheckSpec, Target
from castui.model.results import Code

#: First three octets of the bench addresses: 127.0.8.1, 127.0.8.2, ...
_NET = "127.0.8"
#: Issue targets.
_TARGET_RATE = 5000.0
_TARGET_RATIO = 1.5
#: Every tenth target address is black-holed in the second case.
_BLACKHOLE_EVERY = 10
#: How long the listener process may live at most, whatever happens to the bench.
_LISTENER_MAX_LIFE_S = 3600.0
_READY_WAIT_S = 60.0


@dataclass(frozen=True)
class Sweep:
    """One timed sweep: wall, user and system CPU seconds, and how the probes ended."""

    wall: float
    user: float
    system: float
    codes: Counter[str]
    self_reported: float | None = None


def _cpu(who: int) -> tuple[float, float]:
    usage = resource.getrusage(who)
    return usage.ru_utime, usage.ru_stime


@dataclass(frozen=True)
class Listeners:
    """The running listener process and what it bound."""

    proc: multiprocessing.process.BaseProcess
    conn: multiprocessing.connection.Connection
    ports: list[int]


# --------------------------------------------------------------------------------------------
# Listener process


def _bind(address: str, port: int, backlog: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def _bind_all(addresses: Sequence[str], count: int, black: set[str]) -> tuple[
        list[int], list[socket.socket], list[socket.socket]]:
    """Pick `count` ports free on every address and bind them: (ports, open, black-holed)."""
    ports: list[int] = []
    live: list[socket.socket] = []
    holes: list[socket.socket] = []
    for _attempt in range(count * 20):
        if len(ports) == count:
            break
        probe = _bind(addresses[0], 0, 0)
        port = probe.getsockname()[1]
        probe.close()
        bound: list[tuple[str, socket.socket]] = []
        try:
            for address in addresses:
                backlog = 0 if address in black else socket.SOMAXCONN
                bound.append((address, _bind(address, port, backlog)))
        except OSError:
            for _, sock in bound:
                sock.close()
            continue
        ports.append(port)
        for address, sock in bound:
            (holes if address in black else live).append(sock)
    if len(ports) < count:
        raise OSError(f"could not find {count} ports free on all {len(addresses)} addresses")
    return ports, live, holes


def _fill_queues(holes: Sequence[socket.socket]) -> list[socket.socket]:
    """Fill each never-accepted backlog-0 listener's accept queue so further SYNs are dropped.

    Keeps connecting to every listener not yet full; a listener is full once a connect to it has
    not completed within a short wait. Returns the connections to keep open.
    """
    kept: list[socket.socket] = []
    pending = list(holes)
    for _round in range(6):
        if not pending:
            return kept
        tries: dict[int, tuple[socket.socket, socket.socket]] = {}
        sel = selectors.DefaultSelector()
        for listener in pending:
            client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            client.setblocking(False)
            client.connect_ex(listener.getsockname())
            tries[client.fileno()] = (listener, client)
            sel.register(client, selectors.EVENT_WRITE)
        deadline = time.monotonic() + 0.3
        done: set[int] = set()
        while len(done) < len(tries) and (left := deadline - time.monotonic()) > 0:
            for key, _ in sel.select(left):
                done.add(key.fd)
                sel.unregister(key.fileobj)
        sel.close()
        pending = []
        for fd, (listener, client) in tries.items():
            if fd not in done:
                client.close()  # it hung: this listener now drops SYNs
                continue
            kept.append(client)
            if err := client.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                raise OSError(err, f"filling a black-hole listener: {os.strerror(err)}")
            pending.append(listener)
    raise OSError(f"{len(pending)} black-hole listeners never filled up")


def _drain(listener: socket.socket) -> None:
    """Accept and close whatever is queued (bounded per wake-up)."""
    for _ in range(1024):
        try:
            conn, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            continue  # aborted before we got to it
        conn.close()


def _serve(addresses: list[str], port_count: int, black: list[str], cpus: list[int],
           conn: multiprocessing.connection.Connection) -> None:
    """Listener process: bind, report the ports, then accept-and-close until told to stop."""
    if cpus:
        os.sched_setaffinity(0, cpus)
    parent = os.getppid()
    try:
        ports, live, holes = _bind_all(addresses, port_count, set(black))
        kept = _fill_queues(holes)
    except OSError as exc:
        conn.send(("error", str(exc)))
        return
    sel = selectors.DefaultSelector()
    for sock in live:
        sel.register(sock, selectors.EVENT_READ)
    conn.send(("ready", ports))
    deadline = time.monotonic() + _LISTENER_MAX_LIFE_S
    while time.monotonic() < deadline and os.getppid() == parent and not conn.poll():
        for key, _ in sel.select(0.5):
            assert isinstance(key.fileobj, socket.socket)
            _drain(key.fileobj)
    for sock in (*live, *holes, *kept):
        sock.close()


def start_listeners(addresses: list[str], port_count: int, black: list[str],
                    cpus: list[int]) -> Listeners:
    """Fork the listener process and wait until it listens everywhere."""
    ctx = multiprocessing.get_context("fork")
    ours, theirs = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(addresses, port_count, black, cpus, theirs),
                       daemon=True)
    proc.start()
    theirs.close()
    listeners = Listeners(proc, ours, [])
    try:
        if not ours.poll(_READY_WAIT_S):
            raise RuntimeError("listener process did not start in time")
        status, payload = ours.recv()
    except BaseException:
        stop_listeners(listeners)
        raise
    if status != "ready":
        stop_listeners(listeners)
        raise RuntimeError(f"listener process failed: {payload}")
    listeners.ports.extend(payload)
    return listeners


def stop_listeners(listeners: Listeners) -> None:
    """Ask the listener process to stop, then kill it if it lingers."""
    with contextlib.suppress(OSError):
        listeners.conn.send("stop")
    listeners.proc.join(2.0)
    if listeners.proc.is_alive():
        listeners.proc.kill()
        listeners.proc.join(2.0)
    listeners.conn.close()


# --------------------------------------------------------------------------------------------
# The two sweepers


def build_targets(addresses: Sequence[str], ports: Sequence[int]) -> list[Target]:
    """One node target per address, one pool TCP check per port."""
    checks = tuple(CheckSpec(name=f"p{port}", kind="tcp", role="pool", port=port)
                   for port in ports)
    return [Target("bench", f"n{i}", "node", address, None, checks)
            for i, address in enumerate(addresses, 1)]


async def _castui_sweeps(targets: list[Target], probe_timeout: float, concurrency: int,
                         rounds: int) -> list[Sweep]:
    runner = Runner(timeout=probe_timeout, max_concurrency=concurrency)
    sweeps: list[Sweep] = []
    for i in range(rounds + 1):  # the first is a warm-up, not counted
        (u0, s0), t0 = _cpu(resource.RUSAGE_SELF), time.perf_counter()
        results = await runner.sweep(targets)
        wall, (u1, s1) = time.perf_counter() - t0, _cpu(resource.RUSAGE_SELF)
        if i:
            codes = Counter(r.code for rr in results for r in rr.values())
            sweeps.append(Sweep(wall, u1 - u0, s1 - s0, codes))
    return sweeps


def castui_sweeps(targets: list[Target], timeout: float, concurrency: int,
                  rounds: int) -> list[Sweep]:
    """`rounds` timed sweeps (after one warm-up) of every check of every target."""
    return asyncio.run(_castui_sweeps(targets, timeout, concurrency, rounds))


def nmap_flags(timeout: float, concurrency: int, addresses: int, ports: Sequence[int],
               host_timeout: float, fixed: bool) -> list[str]:
    """nmap options matched to castui's sweep (no discovery, no DNS, one try per port, every
    address in one host group, the same in-flight cap). By default nmap adapts its timeout to
    the measured RTT (-T4: 100 ms at least); `fixed` pins it to castui's timeout instead.
    """
    ms = f"{round(timeout * 1000)}ms"
    rtt = (["--initial-rtt-timeout", ms, "--min-rtt-timeout", ms] if fixed else [])
    return ["-Pn", "-n", "-sT", "-p", ",".join(map(str, ports)), "--max-retries", "0", "-T4",
            *rtt, "--max-rtt-timeout", ms, "--min-hostgroup", str(addresses),
            "--max-parallelism", str(concurrency), "--host-timeout", f"{host_timeout:g}s"]


_DONE = re.compile(r"scanned in ([0-9.]+) seconds")
_PORT = re.compile(r"\d+/(\w+(?:\|\w+)?)/tcp")
_IGNORED = re.compile(r"Ignored State: (\w+(?:\|\w+)?) \((\d+)\)")


def nmap_sweep(flags: list[str], addresses: Sequence[str], limit: float) -> Sweep:
    """One nmap run; port states counted from its grepable output. Raises on a failed run."""
    (u0, s0), t0 = _cpu(resource.RUSAGE_CHILDREN), time.perf_counter()
    out = subprocess.run(["nmap", *flags, "-oG", "-", *addresses], capture_output=True,
                         text=True, timeout=limit, check=True).stdout
    wall, (u1, s1) = time.perf_counter() - t0, _cpu(resource.RUSAGE_CHILDREN)
    codes: Counter[str] = Counter()
    for line in out.splitlines():
        if line.startswith("Host:") and "Ports:" in line:
            ports = line.split("Ports:", 1)[1]
            codes.update(_PORT.findall(ports))
            for state, count in _IGNORED.findall(ports):
                codes[state] += int(count)
    done = _DONE.search(out)
    return Sweep(wall, u1 - u0, s1 - s0, codes, float(done.group(1)) if done else None)


def nmap_sweeps(flags: list[str], addresses: Sequence[str], rounds: int,
                limit: float) -> list[Sweep]:
    """`rounds` timed nmap runs after one warm-up run."""
    nmap_sweep(flags, addresses, limit)
    return [nmap_sweep(flags, addresses, limit) for _ in range(rounds)]


# --------------------------------------------------------------------------------------------
# Report


def _codes(codes: Counter[str]) -> str:
    return " ".join(f"{code} {n}" for code, n in sorted(codes.items()))


_HEADER = ("  {:<11}{:>8}{:>8}{:>10}{:>8}{:>8}{:>8}{:>8}   {}".format(
    "tool", "wall s", "", "probes/s", "", "user s", "sys s", "nmap s", "results (last round)")
    + "\n  {:<11}{:>8}{:>8}{:>10}{:>8}{:>8}{:>8}{:>8}".format(
    "", "median", "best", "median", "best", "median", "median", "says"))


def _row(tool: str, sweeps: list[Sweep], probes: int) -> str:
    med, best = statistics.median(s.wall for s in sweeps), min(s.wall for s in sweeps)
    selfs = [s.self_reported for s in sweeps if s.self_reported is not None]
    own = f"{statistics.median(selfs):8.2f}" if selfs else f"{'-':>8}"
    return (f"  {tool:<11}{med:8.3f}{best:8.3f}{probes / med:10.0f}{probes / best:8.0f}"
            f"{statistics.median(s.user for s in sweeps):8.3f}"
            f"{statistics.median(s.system for s in sweeps):8.3f}{own}   {_codes(sweeps[-1].codes)}")


def _verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def report_clean(castui: list[Sweep], nmap: list[Sweep] | None, probes: int,
                 nmap_fixed_cost: float | None) -> None:
    """The all-open case's verdicts on the two issue targets."""
    med = statistics.median(s.wall for s in castui)
    rate = probes / med
    print(f"  castui: {rate:.0f} probes/s median, {probes / min(s.wall for s in castui):.0f}"
          f" best (target >= {_TARGET_RATE:.0f} on one core: {_verdict(rate >= _TARGET_RATE)});"
          f" {probes / _cpu_median(castui):.0f} probes per CPU-second")
    if nmap:
        ratio = med / statistics.median(s.wall for s in nmap)
        best = min(s.wall for s in castui) / min(s.wall for s in nmap)
        print(f"  castui/nmap wall time: {ratio:.2f} median, {best:.2f} best-to-best"
              f" (target <= {_TARGET_RATIO}: {_verdict(ratio <= _TARGET_RATIO)});"
              f" CPU time {_cpu_median(castui) / _cpu_median(nmap):.2f}")
    if nmap and nmap_fixed_cost is not None:
        net = statistics.median(s.wall for s in nmap) - nmap_fixed_cost
        print(f"  nmap start-up and one-probe scan alone take {nmap_fixed_cost:.3f} s; net of it"
              f" nmap sweeps {probes / net:.0f} probes/s and castui/nmap is {med / net:.2f}"
              if net > 0 else f"  nmap start-up alone takes {nmap_fixed_cost:.3f} s")


def _cpu_median(sweeps: list[Sweep]) -> float:
    """Median user+system CPU seconds per sweep: the figure other load on the box disturbs least."""
    return statistics.median(s.user + s.system for s in sweeps)


def report_blackhole(castui: list[Sweep], dead: int, concurrency: int, timeout: float,
                     open_sweep: float) -> None:
    """The black-hole case's verdict: black holes should add about one timeout, not one each."""
    med = statistics.median(s.wall for s in castui)
    added = med - open_sweep
    # Each black-holed probe holds a concurrency slot for the whole timeout.
    expected = -(-dead // concurrency)
    last = castui[-1].codes
    print(f"  castui: sweep {med:.3f} s median with timeout {timeout:g} s; the all-open sweep took"
          f" {open_sweep:.3f} s, so black holes added {added:.3f} s = {added / timeout:.2f}"
          f" timeouts (expected ~{expected} = ceil({dead} black-holed / concurrency"
          f" {concurrency})); last round L4TOUT {last[Code.L4TOUT]}, L4OK {last[Code.L4OK]}")


# --------------------------------------------------------------------------------------------
# Main


def _pin() -> tuple[list[int], str]:
    """Cores for the listener process, and a description of where castui and nmap run."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return [], f"{len(cores)} core, shared with the listeners (not pinned)"
    return cores[1:], (f"castui and nmap pinned to core {cores[0]} (sched_setaffinity, nmap"
                       f" inherits it); listener process on core(s) {cores[1:]}")


def _expect(label: str, codes: Counter[str], want: Counter[str]) -> bool:
    if codes == want:
        return True
    print(f"  WRONG RESULTS ({label}): got {_codes(codes)}, expected {_codes(want)}")
    return False


def _nmap_rows(args: argparse.Namespace, addresses: list[str], ports: list[int],
               blackhole: bool) -> list[tuple[str, list[Sweep]]]:
    """nmap sweeps: adaptive timeout, plus castui's fixed timeout when there are black holes."""
    host_timeout = max(30.0, 10 * args.timeout)
    rows: list[tuple[str, list[Sweep]]] = []
    for label, fixed in (("nmap", False), ("nmap fixed", True))[:2 if blackhole else 1]:
        flags = nmap_flags(args.timeout, args.concurrency, len(addresses), ports, host_timeout,
                           fixed)
        shown = " ".join(flags).replace(",".join(map(str, ports)), f"<{len(ports)} ports>")
        print(f"  {label}: nmap {shown} -oG - <{len(addresses)} addresses>")
        try:
            rows.append((label, nmap_sweeps(flags, addresses, args.rounds, host_timeout + 30)))
        except (subprocess.SubprocessError, OSError) as exc:
            print(f"  {label} skipped: {exc}")
    return rows


def nmap_fixed_cost(args: argparse.Namespace, address: str, port: int) -> float | None:
    """Median wall time of nmap scanning one port: its start-up cost, paid by every sweep."""
    flags = nmap_flags(args.timeout, args.concurrency, 1, [port], 30.0, fixed=False)
    try:
        return statistics.median(nmap_sweep(flags, [address], 60.0).wall for _ in range(5))
    except (subprocess.SubprocessError, OSError):
        return None


def run_case(args: argparse.Namespace, use_nmap: bool, open_sweep: float | None = None) -> tuple[
        bool, float]:
    """Start listeners, sweep them with castui (and nmap), print figures.

    Without `open_sweep` this is the all-open case; with it (that case's castui median), the
    black-hole case. Returns whether every result was right, and castui's median sweep time.
    """
    blackhole = open_sweep is not None
    addresses = [f"{_NET}.{i}" for i in range(1, args.addresses + 1)]
    black = addresses[::_BLACKHOLE_EVERY] if blackhole else []
    probes, dead = args.addresses * args.ports, len(black) * args.ports
    listener_cpus, pinned = _pin()
    listeners = start_listeners(addresses, args.ports, black, listener_cpus)
    saved = os.sched_getaffinity(0)
    try:
        if listener_cpus:
            os.sched_setaffinity(0, saved - set(listener_cpus))
        title = (f"BLACK-HOLE CASE ({len(black)} of {len(addresses)} addresses, {dead} probes,"
                 f" never answer a SYN)" if blackhole else "ALL-OPEN CASE")
        print(f"\n{title}: {args.addresses} addresses x {args.ports} ports = {probes}"
              f" probes/sweep, {args.rounds} timed sweeps after 1 warm-up per tool\n  {pinned}"
              f"\n  castui: Runner(timeout={args.timeout:g}, max_concurrency={args.concurrency}),"
              " runner.sweep(targets), as `castui check` runs each round")
        targets = build_targets(addresses, listeners.ports)
        rows = [("castui", castui_sweeps(targets, args.timeout, args.concurrency, args.rounds))]
        if use_nmap:
            rows += _nmap_rows(args, addresses, listeners.ports, blackhole)
        print(_HEADER)
        for tool, sweeps in rows:
            print(_row(tool, sweeps, probes))
        right = True
        for tool, sweeps in rows:
            ok, bad = (Code.L4OK, Code.L4TOUT) if tool == "castui" else ("open", "filtered")
            want = Counter({ok: probes - dead, bad: dead}) - Counter()
            right &= all(_expect(tool, s.codes, want) for s in sweeps)
        if blackhole:
            assert open_sweep is not None
            report_blackhole(rows[0][1], dead, args.concurrency, args.timeout, open_sweep)
        else:
            nmap = rows[1][1] if len(rows) > 1 else None
            fixed = nmap_fixed_cost(args, addresses[0], listeners.ports[0]) if nmap else None
            report_clean(rows[0][1], nmap, probes, fixed)
        return right, statistics.median(s.wall for s in rows[0][1])
    finally:
        os.sched_setaffinity(0, saved)
        stop_listeners(listeners)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command line; --quick shrinks everything to a few-second smoke run."""
    p = argparse.ArgumentParser(prog="python3 -m bench.probe_sweep", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--addresses", type=int, default=50, help="listener addresses (1-254)")
    p.add_argument("--ports", type=int, default=10, help="ports per address (1-100)")
    p.add_argument("--rounds", type=int, default=5, help="timed sweeps per tool (1-100)")
    p.add_argument("--timeout", type=float, default=1.0, help="probe timeout, s (0.05-10)")
    p.add_argument("--concurrency", type=int, default=256,
                   help="castui max_concurrency, also nmap --max-parallelism (1-10000)")
    p.add_argument("--no-nmap", action="store_true", help="skip the nmap comparison")
    p.add_argument("--quick", action="store_true",
                   help="CI smoke: 10 addresses x 4 ports, 2 rounds, 0.5 s timeout")
    args = p.parse_args(argv)
    if args.quick:
        args.addresses, args.ports, args.rounds, args.timeout = 10, 4, 2, 0.5
    for name, lo, hi in (("addresses", 1, 254), ("ports", 1, 100), ("rounds", 1, 100),
                         ("timeout", 0.05, 10), ("concurrency", 1, 10000)):
        if not lo <= getattr(args, name) <= hi:
            p.error(f"--{name} must be between {lo} and {hi}")
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft != resource.RLIM_INFINITY and args.concurrency + 64 > soft:
        p.error(f"--concurrency {args.concurrency} needs more open files than ulimit -n {soft}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run both cases; exit 1 only if a sweep reported wrong results (never on slowness)."""
    args = parse_args(argv)
    use_nmap = not args.no_nmap and shutil.which("nmap") is not None
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"probe_sweep: python {sys.version.split()[0]}, {os.cpu_count()} cpus,"
          f" load average {load} (other load inflates wall times; CPU times less so),"
          f" nmap {'yes' if use_nmap else 'no'}")
    try:
        right, open_sweep = run_case(args, use_nmap)
        right &= run_case(args, use_nmap, open_sweep)[0]
    except (OSError, RuntimeError) as exc:
        print(f"probe_sweep: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("probe_sweep: interrupted", file=sys.stderr)
        return 130
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\ncastui (bench process) peak RSS: {rss:.1f} MiB")
    return 0 if right else 1


if __name__ == "__main__":
    sys.exit(main())
