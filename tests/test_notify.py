"""Notifiers against real hooks (python scripts) and a real webhook receiver on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from castui.config.model import Notifier
from castui.lab.certs import LabCA
from castui.model.events import Event, Kind
from castui.model.times import utcnow
from castui.notify import Dispatcher
from tests.support.net import free_port, loopback_block, wait_for
from tests.support.webhook import WebhookReceiver

HOSTS = loopback_block()
SECRET = "T0SECRET/B0SECRET/xoxSECRETtoken"

# Writes its stdin to argv[1] (atomically: the test never reads half a file).
RECORD_HOOK = """
import os, sys
data = sys.stdin.buffer.read()
with open(sys.argv[1] + ".tmp", "wb") as out:
    out.write(data)
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
"""

FAILING_HOOK = """
import sys
sys.stdin.buffer.read()
sys.stderr.write("paging gateway said no\\n\\x1b[31msomething broke: quota\\x1b[0m\\n")
sys.exit(3)
"""

# Reads the alert, starts a child that sleeps too, logs "pid child alert_id", then hangs.
HANGING_HOOK = """
import json, os, subprocess, sys, time
alert = json.loads(sys.stdin.buffer.read())
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
with open(sys.argv[1], "a") as log:
    log.write(f"{os.getpid()} {child.pid} {alert['alert_id']}\\n")
time.sleep(60)
"""


class Failures:
    """The on_failure callback, recording (notifier name, reason)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def __call__(self, name: str, reason: str) -> None:
        self.seen.append((name, reason))

    def reasons(self) -> list[str]:
        return [reason for _, reason in self.seen]


def alert(alert_id: int) -> dict[str, Any]:
    """What the engine submits: an event's JSON form plus the alert fields."""
    event = Event(utcnow(), "Zürich", "CAS01", Kind.NODE_DOWN, "EPM refused — nœud hors pool",
                  data={"checks": ["epm", "https"]})
    return event.as_dict() | {"alert": True, "alert_id": alert_id}


def webhook(url: str, *, timeout: float = 1.0, retries: int = 0,
            ca_file: Path | None = None) -> Notifier:
    return Notifier(type="webhook", name="ops-chat", url=url, timeout=timeout, retries=retries,
                    ca_file=ca_file)


def hook(tmp_path: Path, script: str, *args: str, timeout: float = 1.0,
         name: str = "pager") -> Notifier:
    path = tmp_path / f"{name}.py"
    path.write_text(script)
    return Notifier(type="command", name=name, command=(sys.executable, str(path), *args),
                    timeout=timeout)


@contextlib.asynccontextmanager
async def running(dispatcher: Dispatcher) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(dispatcher.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def hung_hooks(log: Path) -> list[tuple[int, int, int]]:
    """(hook pid, child pid, alert id) per hanging-hook run so far."""
    if not log.exists():
        return []
    runs = []
    for line in log.read_text().splitlines(keepends=True):
        if line.endswith("\n"):  # a complete line
            pid, child, alert_id = map(int, line.split())
            runs.append((pid, child, alert_id))
    return runs


def group_alive(pgid: int) -> bool:
    """Does any live (non-zombie) process remain in the group? Killed ones wait for init."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    for proc in psutil.process_iter(["status"]):
        with contextlib.suppress(ProcessLookupError, psutil.NoSuchProcess):
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                return True
    return False


async def ticker(gaps: list[float]) -> None:
    """Stand-in for the engine's rounds: wake every 50 ms, record how late each wake-up was."""
    last = time.monotonic()
    for _ in range(2000):
        await asyncio.sleep(0.05)
        now = time.monotonic()
        gaps.append(now - last)
        last = now


# --- webhook -----------------------------------------------------------------------------------

async def test_webhook_receives_exactly_the_alerts_in_order() -> None:
    failures = Failures()
    async with WebhookReceiver(HOSTS.addr(1)) as receiver:
        dispatcher = Dispatcher([webhook(receiver.url())], on_failure=failures)
        payloads = [alert(n) for n in range(1, 6)]
        async with running(dispatcher):
            for payload in payloads:
                dispatcher.submit(payload)
            await wait_for(lambda: len(receiver.requests) >= 5, 5, what="5 alerts")
            marker = alert(99)
            dispatcher.submit(marker)  # once it arrives, nothing else is still on its way
            await wait_for(lambda: len(receiver.requests) >= 6, 5, what="the marker")
    assert [json.loads(r.body.decode("utf-8")) for r in receiver.requests] == [*payloads, marker]
    first = receiver.requests[0]
    assert (first.method, first.target) == ("POST", "/hook")
    assert first.headers["content-type"] == "application/json"
    assert re.fullmatch(r"castui/\S+", first.headers["user-agent"])
    assert "nœud" in first.body.decode("utf-8")
    assert failures.seen == []


async def test_webhook_retries_until_it_gets_a_2xx() -> None:
    failures = Failures()
    async with WebhookReceiver(HOSTS.addr(2), statuses=[500, 500]) as receiver:
        dispatcher = Dispatcher([webhook(receiver.url(), retries=2)], on_failure=failures)
        async with running(dispatcher):
            dispatcher.submit(alert(1))
            dispatcher.submit(alert(2))
            await wait_for(lambda: len(receiver.requests) >= 4, 10, what="3 attempts + next")
    assert [json.loads(r.body)["alert_id"] for r in receiver.requests] == [1, 1, 1, 2]
    assert failures.seen == []


async def test_webhook_gives_up_after_retries_without_revealing_its_url(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    failures = Failures()
    async with WebhookReceiver(HOSTS.addr(3), default=500) as receiver:
        url = receiver.url(f"/services/{SECRET}?token=q{SECRET}")
        dispatcher = Dispatcher([webhook(url, retries=1)], on_failure=failures)
        async with running(dispatcher):
            dispatcher.submit(alert(1))
            await wait_for(lambda: bool(failures.seen), 10, what="the failure")
            assert len(receiver.requests) == 2
    assert failures.seen == [("ops-chat", "HTTP 500 after 2 attempts")]
    assert SECRET in receiver.requests[0].target  # the secret really was in use...
    assert "HTTP Request: POST <webhook ops-chat>" in caplog.text  # ...and httpx logged it...
    assert "SECRET" not in caplog.text  # ...without the URL
    assert "notifier ops-chat: HTTP 500 after 2 attempts" in caplog.text


async def test_webhook_that_never_answers_times_out_on_each_attempt() -> None:
    failures = Failures()
    async with WebhookReceiver(HOSTS.addr(4), hang=True) as receiver:
        dispatcher = Dispatcher([webhook(receiver.url(), timeout=0.5, retries=1)],
                                on_failure=failures)
        async with running(dispatcher):
            start = time.monotonic()
            dispatcher.submit(alert(1))
            await wait_for(lambda: bool(failures.seen), 5, what="the failure")
            elapsed = time.monotonic() - start
    # 0.5 s, 0.5 s back-off, 0.5 s
    assert 1.4 <= elapsed < 3.0
    assert len(receiver.requests) == 2
    assert failures.reasons() == ["timed out (limit 0.5 s) after 2 attempts"]


async def test_webhook_with_nothing_listening_reports_a_connect_failure() -> None:
    failures = Failures()
    address = HOSTS.addr(5)
    dispatcher = Dispatcher([webhook(f"http://{address}:{free_port(address)}/hook")],
                            on_failure=failures)
    async with running(dispatcher):
        dispatcher.submit(alert(1))
        await wait_for(lambda: bool(failures.seen), 5, what="the failure")
    assert failures.reasons() == ["connect failed (ConnectError) after 1 attempt"]


async def test_https_webhook_signed_by_a_private_ca_is_trusted_through_its_ca_file(
        lab_ca: LabCA, ca_file: Path) -> None:
    failures = Failures()
    host = HOSTS.addr(8)
    async with WebhookReceiver(host, tls=lab_ca.issue(host)) as receiver:
        assert receiver.url().startswith("https://")
        dispatcher = Dispatcher([webhook(receiver.url(), ca_file=ca_file)], on_failure=failures)
        async with running(dispatcher):
            dispatcher.submit(alert(1))
            await wait_for(lambda: bool(receiver.requests), 5, what="the alert over HTTPS")
    assert json.loads(receiver.requests[0].body)["alert_id"] == 1
    assert failures.seen == []


async def test_https_webhook_with_an_untrusted_certificate_fails_at_once(lab_ca: LabCA) -> None:
    """Without ca_file only the system's CAs count: the private CA's certificate is refused,
    with a reason that says what to do, and retrying would not help, so it is not retried."""
    failures = Failures()
    host = HOSTS.addr(9)
    async with WebhookReceiver(host, tls=lab_ca.issue(host)) as receiver:
        url = receiver.url(f"/hooks/{SECRET}")
        dispatcher = Dispatcher([webhook(url, retries=2)], on_failure=failures)
        async with running(dispatcher):
            dispatcher.submit(alert(1))
            await wait_for(lambda: bool(failures.seen), 5, what="the failure")
    assert receiver.requests == []
    assert failures.reasons() == [
        "certificate verify failed: unable to get local issuer certificate (a private CA goes "
        "in the notifier's ca_file) after 1 attempt"]


async def test_https_webhook_whose_certificate_names_another_host_says_so_without_the_host(
        lab_ca: LabCA, ca_file: Path) -> None:
    failures = Failures()
    host = HOSTS.addr(10)
    async with WebhookReceiver(host, tls=lab_ca.issue("chat.corp.local")) as receiver:
        dispatcher = Dispatcher([webhook(receiver.url(), ca_file=ca_file)], on_failure=failures)
        async with running(dispatcher):
            dispatcher.submit(alert(1))
            await wait_for(lambda: bool(failures.seen), 5, what="the failure")
    assert failures.reasons() == [
        "certificate verify failed: it does not cover the URL's host name after 1 attempt"]
    assert host not in failures.reasons()[0]


async def test_cancelling_run_closes_the_webhook_connection() -> None:
    async with WebhookReceiver(HOSTS.addr(6)) as receiver:
        dispatcher = Dispatcher([webhook(receiver.url())], on_failure=Failures())
        async with running(dispatcher):
            dispatcher.submit(alert(1))
            await wait_for(lambda: bool(receiver.requests), 5, what="the alert")
            assert receiver.open_connections == 1  # kept alive for the next alert
        await wait_for(lambda: receiver.open_connections == 0, 5, what="the client to close")


# --- command hook ------------------------------------------------------------------------------

async def test_hook_gets_the_alert_as_json_on_stdin(tmp_path: Path) -> None:
    failures = Failures()
    out = tmp_path / "stdin.json"
    dispatcher = Dispatcher([hook(tmp_path, RECORD_HOOK, str(out))], on_failure=failures)
    payload = alert(7)
    async with running(dispatcher):
        dispatcher.submit(payload)
        await wait_for(out.exists, 10, what="the hook's output")
    data = out.read_bytes()
    assert data.endswith(b"}\n")
    assert json.loads(data.decode("utf-8")) == payload
    assert failures.seen == []


async def test_failing_hook_reports_exit_code_and_last_stderr_line(tmp_path: Path) -> None:
    failures = Failures()
    dispatcher = Dispatcher([hook(tmp_path, FAILING_HOOK)], on_failure=failures)
    async with running(dispatcher):
        dispatcher.submit(alert(1))
        await wait_for(lambda: bool(failures.seen), 10, what="the failure")
    assert failures.seen == [("pager", "exit 3: something broke: quota")]


async def test_missing_hook_program_cannot_run(tmp_path: Path) -> None:
    failures = Failures()
    missing = Notifier(type="command", name="pager", command=(str(tmp_path / "no-such-hook"),))
    dispatcher = Dispatcher([missing], on_failure=failures)
    async with running(dispatcher):
        dispatcher.submit(alert(1))
        await wait_for(lambda: bool(failures.seen), 5, what="the failure")
    assert failures.reasons() == ["cannot run: No such file or directory"]


async def test_hanging_hook_is_killed_at_its_timeout_and_blocks_nothing(tmp_path: Path) -> None:
    failures = Failures()
    log = tmp_path / "hung.log"
    gaps: list[float] = []
    async with WebhookReceiver(HOSTS.addr(7)) as receiver:
        dispatcher = Dispatcher([hook(tmp_path, HANGING_HOOK, str(log), timeout=1.0),
                                 webhook(receiver.url())], on_failure=failures)
        async with running(dispatcher):
            ticking = asyncio.create_task(ticker(gaps))
            start = time.monotonic()
            dispatcher.submit(alert(1))
            assert time.monotonic() - start < 0.05
            await wait_for(lambda: bool(hung_hooks(log)), 10, what="the hook to start")
            [(pid, _, _)] = hung_hooks(log)  # its child shares the group
            # the webhook is not held back by the hook hanging beside it
            await wait_for(lambda: bool(receiver.requests), 5, what="the webhook")
            assert failures.seen == []
            await wait_for(lambda: bool(failures.seen), 5, what="the hook's timeout")
            elapsed = time.monotonic() - start
            await wait_for(lambda: not group_alive(pid), 10, what="the process group to die")
            ticking.cancel()
    assert failures.seen == [("pager", "killed after 1 s")]
    assert 1.0 <= elapsed < 3.0
    assert len(gaps) > 10
    assert max(gaps) < 0.5, f"event loop stalled {max(gaps):.2f}s"


async def test_full_queue_drops_the_oldest_alerts_and_says_so(tmp_path: Path) -> None:
    failures = Failures()
    log = tmp_path / "hung.log"
    dispatcher = Dispatcher([hook(tmp_path, HANGING_HOOK, str(log), timeout=0.5)],
                            on_failure=failures, queue_size=2)
    async with running(dispatcher):
        dispatcher.submit(alert(0))
        await wait_for(lambda: bool(hung_hooks(log)), 10, what="the hook to start")
        start = time.monotonic()
        for alert_id in range(1, 6):
            dispatcher.submit(alert(alert_id))
        assert time.monotonic() - start < 0.05
        assert failures.reasons()[:1] == [
            "queue full: 1 alert not sent (the notifier is slow or down; the oldest waiting "
            "were dropped)"]

        def dropped() -> int:
            return sum(int(m.group(1)) for reason in failures.reasons()
                       if (m := re.match(r"queue full: (\d+) alert", reason)))

        await wait_for(lambda: dropped() == 3 and len(hung_hooks(log)) >= 2, 10,
                       what="the drops reported and the next hook run")
    # 1, 2 and 3 were dropped: after 0 the hook got the oldest alert still waiting, 4
    assert [alert_id for _, _, alert_id in hung_hooks(log)][:2] == [0, 4]
    assert "killed after 0.5 s" in failures.reasons()


async def test_cancelling_run_kills_a_running_hook(tmp_path: Path) -> None:
    log = tmp_path / "hung.log"
    failures = Failures()
    dispatcher = Dispatcher([hook(tmp_path, HANGING_HOOK, str(log), timeout=60)],
                            on_failure=failures)
    async with running(dispatcher) as task:
        dispatcher.submit(alert(1))
        await wait_for(lambda: bool(hung_hooks(log)), 10, what="the hook to start")
        [(pid, _, _)] = hung_hooks(log)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)
    await wait_for(lambda: not group_alive(pid), 10, what="the process group to die")
    assert failures.seen == []


# --- bell --------------------------------------------------------------------------------------

async def test_bell_rings_once_per_alert_and_outlives_a_failing_bell() -> None:
    failures = Failures()
    rings: list[int] = []

    def bell() -> None:
        rings.append(len(rings) + 1)
        if len(rings) == 2:
            raise RuntimeError("terminal went away")

    dispatcher = Dispatcher([Notifier(type="bell", name="bell")], on_failure=failures, bell=bell)
    async with running(dispatcher):
        for alert_id in range(3):
            dispatcher.submit(alert(alert_id))
        await wait_for(lambda: len(rings) == 3, 5, what="three rings")
        dispatcher.submit(alert(3))
        await wait_for(lambda: len(rings) == 4, 5, what="the fourth ring")
    assert rings == [1, 2, 3, 4]
    assert failures.seen == [("bell", "internal error (RuntimeError)")]
