"""Rounds are spread over the interval like HAProxy's spread-checks: each target at its own
fixed offset, so castui's own bursts do not land on its measurements."""

from __future__ import annotations

import asyncio

from castui.config import parse_config
from castui.engine.monitor import Monitor
from castui.engine.pool import TargetState
from tests.support.net import free_port, wait_for

INTERVAL = 0.8
NODES = 3  # with the VIP: four targets, one every 0.2 s


async def test_each_target_keeps_its_own_offset_within_the_interval() -> None:
    # Nothing listens on these ports: every check is refused at once, so a round is short.
    port = free_port("127.0.14.1")
    lines = ["[defaults]", f"interval = {INTERVAL}", "timeout = 0.3", "",
             "[[sites]]", 'name = "Site-A"', 'array_fqdn = "outlook.site-a.test"',
             'vip = "127.0.14.50"', f"ports = {{ epm = {port}, https = {port}, http = {port} }}"]
    for n in range(1, NODES + 1):
        lines += ["[[sites.nodes]]", f'name = "CAS{n}"', f'address = "127.0.14.{n}"']
    monitor = Monitor(parse_config("\n".join(lines) + "\n", "spread.toml"))
    loop = asyncio.get_running_loop()
    ends: dict[str, list[float]] = {key: [] for key in monitor.states}

    def note(state: TargetState) -> None:
        ends[state.target.key].append(loop.time())

    monitor.on_round(note)
    stop = asyncio.Event()
    task = asyncio.create_task(monitor.run(stop=stop))
    try:
        await wait_for(lambda: all(len(times) >= 4 for times in ends.values()), 10,
                       what="four rounds of every target")
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
    order = list(monitor.states)  # the schedule's order: target i at i/n of the interval
    spacing = INTERVAL / len(order)
    first = ends[order[0]][0]
    for index, key in enumerate(order):
        # Each round of target i ends about i/n of an interval after target 0's, every time.
        for round_number, end in enumerate(ends[key][:4]):
            offset = (end - first - round_number * INTERVAL) % INTERVAL
            expected = index * spacing
            assert min(abs(offset - expected), INTERVAL - abs(offset - expected)) \
                < spacing / 2, (key, round_number, offset, expected)
