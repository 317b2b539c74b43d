"""The headless commands as users and Nagios run them: a real process, real exit codes."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from pathlib import Path

import pytest

from castui.history import EventStore
from castui.lab.certs import LabCA
from tests.support.estate import estate
from tests.support.procs import require_binary

CASTUI = [sys.executable, "-m", "castui"]
#: A one-round check decides on the first answer: give TLS handshakes on a busy CI box room.
CHECK_TIMING = {"interval": 1.0, "timeout": 0.9}


async def castui(*args: str, timeout: float = 30) -> tuple[int, str, str]:
    """Run castui without blocking the loop that serves the lab nodes."""
    proc = await asyncio.create_subprocess_exec(
        *CASTUI, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "NO_COLOR": "1"})
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def _integration() -> None:
    require_binary("haproxy")
    require_binary("dnsmasq")


@pytest.mark.integration
async def test_check_ok_text_with_perfdata(tmp_path: Path, lab_ca: LabCA) -> None:
    _integration()
    async with estate(tmp_path, lab_ca, **CHECK_TIMING) as est:
        code, out, err = await castui("check", "--config", str(est.config_path))
    assert code == 0, out + err
    line = out.strip().splitlines()[0]
    assert line.startswith("CASTUI OK - Site-A: VIP ")
    assert "3/3 nodes in pool" in line
    _, perf = line.split(" | ")
    assert "'nodes_in_pool'=3;;;0;3" in perf
    for node in ("CAS1", "CAS2", "CAS3"):
        for check in ("epm", "https", "owa", "ews"):
            assert f"'{node}_{check}'=" in perf
    latencies = [item for item in perf.split()
                 if item.startswith("'CAS") and "_cert_days'" not in item]
    assert all(item.split("=")[1].endswith("ms;;;0") for item in latencies)
    # Certificate days left, with Nagios ranges: warn under 30 days, critical once expired.
    assert re.search(r"'CAS1_cert_days'=\d+;30:;1:", perf)


@pytest.mark.integration
async def test_check_warning_json_names_the_down_node(tmp_path: Path, lab_ca: LabCA) -> None:
    _integration()
    async with estate(tmp_path, lab_ca, **CHECK_TIMING) as est:
        await est.nodes["CAS2"].crash()
        code, out, _ = await castui("check", "--config", str(est.config_path), "--format", "json")
    assert code == 1
    doc = json.loads(out)
    assert doc["status"] == "WARNING"
    site = doc["sites"][0]
    assert site["name"] == "Site-A" and site["status"] == "WARNING"
    assert site["vip"]["state"] == "up" and site["vip"]["address"] == est.vip
    assert site["dns"]["ok"] is True and site["dns"]["ttl"] == 300
    states = {n["name"]: n["state"] for n in site["nodes"]}
    assert states == {"CAS1": "up", "CAS2": "down", "CAS3": "up"}
    cas2 = next(n for n in site["nodes"] if n["name"] == "CAS2")
    https = next(c for c in cas2["checks"] if c["name"] == "https")
    assert https == {**https, "kind": "tcp", "ok": False, "role": "pool", "code": "L4CON"}
    assert set(https) >= {"name", "kind", "ok", "latency_ms", "detail"}
    assert "request_ms" not in https  # a TCP check has no HTTPS phases
    # CAS1's HTTPS checks share one connection: the certificate check opened it.
    checks = {c["name"]: c for c in site["nodes"][0]["checks"]}
    tls, owa = checks["tls"], checks["owa"]
    assert tls["connect_ms"] > 0 and tls["tls_ms"] > 0 and tls["request_ms"] is None
    assert (owa["connect_ms"], owa["tls_ms"]) == (None, None)
    assert 0 < owa["request_ms"] <= owa["latency_ms"]


@pytest.mark.integration
async def test_check_degraded_node_is_a_warning(tmp_path: Path, lab_ca: LabCA) -> None:
    _integration()
    async with estate(tmp_path, lab_ca, **CHECK_TIMING) as est:
        await est.nodes["CAS1"].fail("ews")
        code, out, _ = await castui("check", "--config", str(est.config_path), "--rounds", "3")
    assert code == 1
    assert "CASTUI WARNING - Site-A:" in out and "CAS1 DEGRADED" in out


@pytest.mark.integration
async def test_check_critical_when_dns_points_elsewhere(tmp_path: Path, lab_ca: LabCA) -> None:
    _integration()
    async with estate(tmp_path, lab_ca, **CHECK_TIMING) as est:
        est.dns.set_records({est.array_fqdn: ["127.0.99.99"]})
        code, out, _ = await castui("check", "--config", str(est.config_path))
    assert code == 2
    assert out.startswith("CASTUI CRITICAL - Site-A:")
    assert "does not resolve to the VIP" in out and "127.0.99.99" in out


@pytest.mark.parametrize(("command", "expected"), [("check", 3), ("watch", 2)])
async def test_bad_config_is_one_line_per_problem(tmp_path: Path, command: str,
                                                 expected: int) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[defaults]\ninterval = 1.0\ntimeout = 2.0\n[[sites]]\nname = "A"\n')
    code, _, err = await castui(command, "--config", str(bad))
    assert code == expected
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert any("defaults.timeout" in line for line in lines)
    assert all(line.startswith("castui: ") and str(bad) in line for line in lines)


async def test_missing_config_file(tmp_path: Path) -> None:
    code, _, err = await castui("check", "--config", str(tmp_path / "nope.toml"))
    assert code == 3
    assert len(err.strip().splitlines()) == 1 and "nope.toml" in err


@pytest.mark.integration
async def test_watch_jsonl_commits_before_printing_and_stops_on_sigterm(
        tmp_path: Path, lab_ca: LabCA) -> None:
    _integration()
    db = tmp_path / "watch.sqlite3"
    async with estate(tmp_path, lab_ca, **CHECK_TIMING) as est:
        proc = await asyncio.create_subprocess_exec(
            *CASTUI, "watch", "--config", str(est.config_path), "--format", "jsonl",
            "--db", str(db), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        assert proc.stdout is not None
        try:
            first = json.loads(await asyncio.wait_for(proc.stdout.readline(), 15))
            assert first["event"] == "monitor_started" and first["site"] == "Site-A"
            assert first["alert"] is False
            assert set(first) >= {"time", "site", "subject", "event", "detail"}
            await est.nodes["CAS3"].crash()
            line = json.loads(await asyncio.wait_for(proc.stdout.readline(), 10))
            assert (line["event"], line["subject"], line["alert"]) == ("node_down", "CAS3", True)
            # Printed means committed: the history already holds it.
            with EventStore(db) as store:
                kinds = [(e.kind, e.subject) for e in store.events()]
            assert ("node_down", "CAS3") in kinds
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 10) == 0
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


async def test_watch_duration_ends_with_exit_zero(tmp_path: Path) -> None:
    # Nothing listens on this block: the run still ends on time, reporting the outage.
    config = tmp_path / "dead.toml"
    config.write_text(
        "[defaults]\ninterval = 0.5\ntimeout = 0.2\n"
        '[[sites]]\nname = "S"\narray_fqdn = "outlook.s.lab.test"\nvip = "127.0.98.50"\n'
        "[sites.ports]\nepm = 1\nhttps = 2\nhttp = 3\n"
        '[[sites.nodes]]\nname = "N1"\naddress = "127.0.98.21"\n')
    code, out, err = await castui("watch", "--config", str(config), "--duration", "1.5",
                                  "--db", str(tmp_path / "h.sqlite3"))
    assert code == 0, err
    kinds = [line.split()[3].rstrip(":") for line in out.splitlines()]
    assert kinds == ["monitor_started", "node_down", "vip_down"] or \
        kinds == ["monitor_started", "vip_down", "node_down"]


@pytest.mark.parametrize("days", [1_000_000, 2**63 - 1])
async def test_a_retention_the_history_cannot_count_is_refused_before_watch_starts(
        tmp_path: Path, days: int) -> None:
    """`retention_days = 1000000` used to kill `watch` with OverflowError at its first prune."""
    config = tmp_path / "long.toml"
    config.write_text(
        f"[defaults]\nretention_days = {days}\n"
        '[[sites]]\nname = "S"\narray_fqdn = "outlook.s.lab.test"\nvip = "127.0.98.50"\n'
        '[[sites.nodes]]\nname = "N1"\naddress = "127.0.98.21"\n')
    code, out, err = await castui("watch", "--config", str(config), "--duration", "1",
                                  "--db", str(tmp_path / "h.sqlite3"))
    assert (code, out) == (2, "")
    assert err == (f"castui: {config}: defaults.retention_days: must be between 1 and 3650, "
                   f"got {days}\n")


@pytest.mark.parametrize(("command", "expected"), [("check", 3), ("watch", 2)])
async def test_unusable_agent_token_is_one_line(tmp_path: Path, command: str,
                                               expected: int) -> None:
    (tmp_path / "agent.token").write_text("\n")
    config = tmp_path / "agent.toml"
    config.write_text(
        '[[sites]]\nname = "S"\narray_fqdn = "outlook.s.lab.test"\nvip = "127.0.98.50"\n'
        'agent_token_file = "agent.token"\n'
        '[[sites.nodes]]\nname = "N1"\naddress = "127.0.98.21"\n'
        'agent = "http://127.0.98.21:8799"\n')
    code, _, err = await castui(command, "--config", str(config), "--db",
                                str(tmp_path / "h.sqlite3")) if command == "watch" else \
        await castui(command, "--config", str(config))
    assert code == expected
    assert err.strip() == f"castui: {tmp_path / 'agent.token'} is empty"
