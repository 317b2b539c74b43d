"""`castui lab`, `castui lab ctl` and `castui demo` as a person runs them: real processes."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from castui.config import load_config
from castui.lab.builtin_scenarios import BUILTIN_SCENARIOS
from tests.support.lab import lab_net, refuses
from tests.support.net import wait_for

CASTUI = [sys.executable, "-m", "castui"]
READY = re.compile(r"ready; config (?P<config>.+); control (?P<control>\S+)")
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


async def castui(*args: str, timeout: float = 30) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *CASTUI, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@dataclass
class Running:
    """A `castui lab` or `castui demo` process and what it printed so far."""

    proc: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)
    config: Path = Path()
    control: str = ""

    async def pump(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            self.lines.append(line.decode().rstrip("\n"))

    def has(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def index(self, text: str) -> int:
        return next(i for i, line in enumerate(self.lines) if text in line)


@contextlib.asynccontextmanager
async def running(*args: str) -> AsyncIterator[Running]:
    """Start castui, wait for its ready line; kill it afterwards if the test did not stop it."""
    proc = await asyncio.create_subprocess_exec(
        *CASTUI, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    run = Running(proc)
    pump = asyncio.create_task(run.pump())
    try:
        await wait_for(lambda: any(READY.search(line) for line in run.lines)
                       or proc.returncode is not None, START_TIMEOUT, what="the ready line")
        match = next((m for m in map(READY.search, run.lines) if m), None)
        assert match is not None, run.lines
        run.config, run.control = Path(match["config"]), match["control"]
        yield run
    finally:
        if proc.returncode is None:  # the test failed before stopping it: still let it clean up
            proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
            except TimeoutError:
                proc.kill()
        await proc.wait()
        await asyncio.wait_for(pump, 5)


async def stop(run: Running, sig: int = signal.SIGINT) -> int:
    run.proc.send_signal(sig)
    return await asyncio.wait_for(run.proc.wait(), STOP_TIMEOUT)


def endpoints(config_path: Path) -> list[tuple[str, int]]:
    """Every address and port the lab described in its config listens on."""
    config = load_config(config_path)
    found: list[tuple[str, int]] = []
    for site in config.sites:
        found += [(site.vip, port) for _, port in site.ports.tcp_checks()]
        for node in site.nodes:
            found += [(node.address, port) for _, port in node.ports.tcp_checks()]
        found += [(server.host, server.port) for server in site.dns_servers]
    return found


def _hostport(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


async def test_lab_serves_check_and_ctl_then_stops_clean_on_ctrl_c() -> None:
    async with running("lab", "--free-ports", "--net", lab_net()) as lab:
        listening = [*endpoints(lab.config), _hostport(lab.control)]
        tmpdir = lab.config.parent
        assert tmpdir.name.startswith("castui-lab-")

        code, out, err = await castui("check", "--config", str(lab.config))
        assert code == 0, out + err
        assert out.startswith("CASTUI OK - ") and "CASTUI OK - Site-B: " in out

        code, out, _ = await castui("lab", "ctl", "--control", lab.control,
                                    "crash", "Site-A/CAS2")
        assert (code, out) == (0, "applied: crash Site-A/CAS2\n")
        await wait_for(lambda: lab.has("lab: crash Site-A/CAS2 (control API)"), 5,
                       what="the lab to print the action")

        code, out, err = await castui("lab", "ctl", "--control", lab.control,
                                      "crash", "Site-A/CAS9")
        assert code == 2 and out == ""
        assert err.splitlines() == ["castui: the lab refused 'crash Site-A/CAS9': "
                                    "no node 'CAS9' in Site-A (nodes: CAS1, CAS2, CAS3)"]

        code, out, _ = await castui("lab", "ctl", "--control", lab.control, "status")
        assert code == 0
        cas2 = next(line for line in out.splitlines() if line.strip().startswith("CAS2"))
        assert "crashed" in cas2

        code, out, _ = await castui("check", "--config", str(lab.config))
        assert code == 1 and "CAS2 DOWN" in out

        assert await stop(lab) == 0
        assert lab.lines[-1] == "castui lab: stopped"
    assert not tmpdir.exists()
    assert all(refuses(address, port) for address, port in listening)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
async def test_sigterm_or_hangup_keeps_only_the_files_asked_for(tmp_path: Path,
                                                               sig: int) -> None:
    config = tmp_path / "lab.toml"
    haproxy = tmp_path / "haproxy.cfg"
    async with running("lab", "--free-ports", "--net", lab_net(), "--write-config", str(config),
                       "--no-balancer", "--haproxy-config", str(haproxy),
                       "--profile", "exchange2013") as lab:
        assert lab.config == config
        assert load_config(config).sites[0].profile == "exchange2013"
        assert "frontend site-a_https" in haproxy.read_text()
        assert await stop(lab, sig) == 0
    left = await asyncio.to_thread(lambda: sorted(p.name for p in tmp_path.iterdir()))
    assert left == ["haproxy.cfg", "lab.ca.pem", "lab.toml"]


async def test_a_second_lab_on_the_same_addresses_is_refused() -> None:
    # The lab's fixed default ports, on this test process's own /16.
    async with running("lab", "--net", lab_net()) as first:
        code, out, err = await castui("lab", "--net", lab_net())
        assert code == 2 and out == "" and "Traceback" not in err
        assert len(err.splitlines()) == 1 and "address already in use" in err.lower()
        assert await stop(first) == 0


async def test_ctl_without_a_lab() -> None:
    code, _, err = await castui("lab", "ctl", "--control", f"{lab_net()}.0.9:9", "status")
    assert code == 1
    assert err.startswith("castui: no lab control API on") and len(err.splitlines()) == 1


async def test_demo_prints_the_drill_and_what_castui_sees() -> None:
    # One small site (the drill is on Site-A/CAS2): the demo runs lab and engine in one
    # process, and this machine runs other tests at the same time.
    async with running("demo", "--free-ports", "--net", lab_net(), "--sites", "Site-A=2",
                       "--speed", "4", "--scenario", "half-dead", "--once",
                       "--duration", "40") as demo:
        tmpdir = demo.config.parent
        try:
            await wait_for(lambda: demo.has("CAS2 node_recovered"), 35, what="the drill")
        except AssertionError:
            raise AssertionError(f"the drill did not run through: {demo.lines}") from None
        assert await stop(demo) == 0
    order = [demo.index(text) for text in (
        "Site-A monitor monitor_started", "lab: fail Site-A/CAS2 ews (scenario half-dead",
        "Site-A CAS2 node_degraded: in pool but failing: ews L7STS",
        "lab: restore Site-A/CAS2 (scenario half-dead", "Site-A CAS2 node_recovered")]
    assert order == sorted(order), demo.lines
    assert demo.lines[-1] == "castui demo: stopped"
    assert not tmpdir.exists()


async def test_show_scenario_prints_the_builtin_text() -> None:
    code, out, _ = await castui("lab", "--show-scenario", "dr-switchover")
    assert code == 0 and out == BUILTIN_SCENARIOS["dr-switchover"]


@pytest.mark.parametrize(("args", "message"), [
    (["lab", "--net", "10.1"], "lab network must be a loopback /16"),
    (["lab", "--scenario", "nope"], "nope: no such scenario file"),
    (["lab", "--control", "192.168.1.1:20099"], "loopback addresses only"),
    (["lab", "--loop"], "--loop needs --scenario"),
    (["lab", "--sites", "A=0"], "site A needs 1-233 nodes"),
    (["demo", "--steady", "--scenario", "failover"], "exclude each other"),
    (["lab", "ctl", "explode", "Site-A/CAS1"], "unknown action 'explode'"),
])
async def test_bad_options_are_one_line_errors(args: list[str], message: str) -> None:
    code, out, err = await castui(*args)
    assert code == 2 and out == ""
    assert err.splitlines() == [err.strip()] and message in err and err.startswith("castui")


async def test_scenario_file_errors_name_file_and_line(tmp_path: Path) -> None:
    drill = tmp_path / "drill.txt"
    drill.write_text("# mine\nat 5: crash Site-A/CAS7\n")
    code, _, err = await castui("lab", "--scenario", str(drill))
    assert code == 2
    assert err.strip() == f"castui: {drill}: line 2: no node 'CAS7' in Site-A " \
                          "(nodes: CAS1, CAS2, CAS3)"


@pytest.mark.parametrize("args", [["lab", "--speed", "0"], ["lab", "ctl"],
                                  ["lab", "--real-ports", "--free-ports"]])
async def test_argument_errors_exit_2(args: list[str]) -> None:
    code, _, err = await castui(*args)
    assert code == 2 and "error:" in err and "Traceback" not in err
