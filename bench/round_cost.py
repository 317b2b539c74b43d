"""Benchmark: what one target's HTTPS round costs castui (the client's side only).

`castui lab` serves one exchange2010 CAS node in a child process; this process runs that node's
HTTPS round (the certificate check and the six directory checks over one connection,
castui.probes.https) again and again, one at a time, and prints the CPU it took a round (user
and system, from getrusage) and the wall time. Read the CPU: the lab's node sometimes holds the
first answer on a connection for about 40 ms (docs/performance.md), which the wall time shows.
With `--callgrind` it also counts the instructions a round costs: it runs itself under
`valgrind --tool=callgrind` twice, for N and 3N rounds, and divides the difference by 2N, so
start-up is left out. Instruction counts do not move with the machine's load as CPU seconds do:
they are how changes to the round were compared (docs/performance.md). A figures-printing
benchmark, not a test; loopback only.

Run from the repository root: `python3 -m bench.round_cost [--rounds 400] [--callgrind]`.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import resource
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from bench.children import castui_lab
from castui.config import load_config
from castui.engine.runner import units
from castui.engine.targets import build_targets
from castui.probes.http import tls_context
from castui.probes.https import HttpsRound

NET = "127.46"
LAB_READY_S = 60.0
WARM_ROUNDS = 20
_COLLECTED = re.compile(r"Collected : (\d+)")


@contextmanager
def one_node_lab() -> Iterator[Path]:
    """`castui lab` with one site of one node; its config path once it serves."""
    with tempfile.TemporaryDirectory(prefix="castui-round-") as tmp:
        config = Path(tmp) / "lab.toml"
        with castui_lab(["--free-ports", "--net", NET, "--sites", "Site-A=1", "--no-balancer",
                         "--write-config", str(config)], LAB_READY_S):
            yield config


async def rounds(config_path: Path, count: int) -> tuple[float, float, float]:
    """(user ms, system ms, wall ms) a round over `count` rounds, after WARM_ROUNDS."""
    config = load_config(config_path)
    target = next(t for t in build_targets(config) if t.kind == "node")
    unit = next(u for u in units(target) if any(spec.kind == "tls" for spec in u))
    tls = next(spec for spec in unit if spec.kind == "tls")
    vdirs = [(spec.name, spec.expect) for spec in unit
             if spec.kind == "http" and spec.expect is not None]
    port = unit[0].port
    assert port is not None
    verify = tls_context(config.defaults.ca_file, config.defaults.tls_verify)
    assert isinstance(verify, ssl.SSLContext)  # the lab's config verifies, with its CA

    async def one() -> None:
        session = HttpsRound(address=target.address, port=port, host=target.host,
                             verify=verify, timeout=config.defaults.timeout)
        results = await session.run(tls=tls.name, names=tls.names, warn_days=30, vdirs=vdirs)
        failed = [name for name, result in results.items() if not result.ok]
        if failed:
            raise RuntimeError(f"checks failed on the lab node: {', '.join(failed)}")

    for _ in range(WARM_ROUNDS):
        await one()
    before, t0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    for _ in range(count):
        await one()
    after, wall = resource.getrusage(resource.RUSAGE_SELF), time.monotonic() - t0
    return ((after.ru_utime - before.ru_utime) * 1000 / count,
            (after.ru_stime - before.ru_stime) * 1000 / count, wall * 1000 / count)


def instructions(config: Path, count: int) -> int:
    """Instructions this script takes for `count` rounds (start-up included), by callgrind."""
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
         "-m", "bench.round_cost", "--config", str(config), "--rounds", str(count)],
        capture_output=True, text=True, timeout=1800, check=False)
    found = _COLLECTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"callgrind run failed: {done.stderr.strip()[-300:]}")
    return int(found.group(1))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.round_cost", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=400, help="rounds measured (1-100000)")
    p.add_argument("--callgrind", action="store_true",
                   help="also count instructions a round with valgrind's callgrind")
    p.add_argument("--config", type=Path, help=argparse.SUPPRESS)  # a lab already running
    args = p.parse_args(argv)
    if not 1 <= args.rounds <= 100_000:
        p.error("--rounds must be 1-100000")
    if args.callgrind and shutil.which("valgrind") is None:
        p.error("--callgrind needs valgrind (Debian package valgrind)")
    if args.config is not None:  # the inner run under callgrind: no output of its own
        asyncio.run(rounds(args.config, args.rounds))
        return 0
    with one_node_lab() as config:
        user, system, wall = asyncio.run(rounds(config, args.rounds))
        print(f"one node's HTTPS round (certificate + 6 directories, one connection), "
              f"{args.rounds} rounds: CPU {user + system:.2f} ms a round (user {user:.2f}, "
              f"system {system:.2f}), wall {wall:.2f} ms")
        if args.callgrind:
            small = max(args.rounds // 4, 25)
            low, high = instructions(config, small), instructions(config, 3 * small)
            print(f"callgrind: {(high - low) / (2 * small) / 1e6:.2f} M instructions a round "
                  f"({small} and {3 * small} rounds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
