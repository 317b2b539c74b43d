"""Scenario files: the format, its errors, the runner's timing, and every built-in drill run
end to end against castui's engine."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
from pathlib import Path

import pytest

from castui.lab.actions import Action, ActionError, parse_action
from castui.lab.builtin_scenarios import BUILTIN_SCENARIOS
from castui.lab.certs import LabCA
from castui.lab.estate import LabEstate
from castui.lab.layout import LabLayout, LabTiming
from castui.lab.scenario import (
    MAX_SCENARIO_BYTES,
    ScenarioError,
    ScenarioRunner,
    Step,
    load_scenario,
    parse_scenario,
    resolve_scenario,
)
from castui.model.exchange import Profile
from tests.support.lab import FAST, watched_lab
from tests.support.net import wait_for

# -- the format ------------------------------------------------------------------------------


def test_steps_comments_and_end() -> None:
    scenario = parse_scenario(
        "# a drill\n\n"
        "at 0: drain Site-A/CAS2   # first\n"
        "AT 2.5 : fail Site-A/CAS2 EWS\n"
        "at 2.5: switchover Site-A Site-B\n"
        "   # indented comment\n"
        "at 30: end\n", "drill.txt")
    assert [(s.at, str(s.action), s.line) for s in scenario.steps] == [
        (0.0, "drain Site-A/CAS2", 3), (2.5, "fail Site-A/CAS2 ews", 4),
        (2.5, "switchover Site-A Site-B", 5)]
    assert scenario.length == 30.0
    assert parse_scenario("at 7: reset\n").length == 7.0  # no end: the last step ends it


@pytest.mark.parametrize(("text", "message"), [
    ("at 5: crash Site-A/CAS1\nat 3: restore Site-A/CAS1\n",
     "drill.txt: line 2: at 3 comes before the previous step"),
    ("at 5: crash Site-A/CAS1\ncrash Site-A/CAS2\n",
     "drill.txt: line 2: expected 'at SECONDS: ACTION'"),
    ("\n\nat 5: explode Site-A/CAS1\n", "drill.txt: line 3: unknown action 'explode'"),
    ("at 5: crash Site-A\n", "drill.txt: line 1: crash needs SITE/NODE"),
    ("at 5: slow Site-A/CAS1 fast\n", "drill.txt: line 1: slow needs a delay"),
    ("at 5: fail Site-A/CAS1 exchange\n", "drill.txt: line 1: unknown virtual directory"),
    ("at 5: end\nat 6: reset\n", "drill.txt: line 2: nothing may follow 'end'"),
    ("at 90000: reset\n", "more than a day"),
    ("at -1: reset\n", "expected 'at SECONDS: ACTION'"),
    ("# nothing\n", "drill.txt: no steps"),
])
def test_errors_name_the_file_and_line(text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, "drill.txt")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_scenario_files(tmp_path: Path) -> None:
    good = tmp_path / "mine.txt"
    good.write_text("at 1: crash Site-A/CAS1\nat 2: restore Site-A/CAS1\n")
    assert load_scenario(str(good)).name == "mine"
    big = tmp_path / "big.txt"
    big.write_text("# x\n" * (MAX_SCENARIO_BYTES // 4 + 1))
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"at 1: crash \xff\n")
    for path, message in [(big, "larger than"), (binary, "not UTF-8"),
                          (tmp_path / "none.txt", "no such scenario file"),
                          (tmp_path, "no such scenario file")]:
        with pytest.raises(ScenarioError, match=message):
            load_scenario(str(path))


def test_unknown_names_are_caught_before_anything_runs() -> None:
    scenario = parse_scenario("at 1: crash Site-A/CAS1\nat 2: crash Site-A/CAS7\n", "x.txt")
    with pytest.raises(ScenarioError, match=r"x\.txt: line 2: no node 'CAS7' in Site-A"):
        resolve_scenario(scenario, LabEstate().resolve)


#: Built-ins written for another profile than the default lab's.
_PROFILE: dict[str, Profile] = {"exchange-maintenance": "exchange2016"}


@pytest.mark.parametrize("name", sorted(BUILTIN_SCENARIOS))
def test_builtins_are_valid_for_their_lab(name: str) -> None:
    lab = LabEstate(LabLayout(profile=_PROFILE.get(name, "exchange2010")))
    scenario = resolve_scenario(load_scenario(name), lab.resolve)
    assert scenario.steps and scenario.length > scenario.steps[-1].at
    # Each built-in leaves the estate as it found it: the last step mends the last fault.
    assert scenario.steps[-1].action.verb in ("restore", "switchback", "online")


# -- the runner --------------------------------------------------------------------------------


class Recorder:
    """Records when each action would have been applied (the runner's only collaborator)."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.applied: list[tuple[float, str]] = []

    async def apply(self, action: Action) -> Action:
        if action.node == "CAS9":
            raise ActionError("no node 'CAS9'")
        self.applied.append((time.monotonic() - self.start, str(action)))
        return action


async def test_runner_divides_times_by_speed() -> None:
    scenario = parse_scenario("at 2: crash Site-A/CAS1\nat 4: restore Site-A/CAS1\n")
    recorder = Recorder()
    steps: list[Step] = []
    runner = ScenarioRunner(scenario, recorder.apply, speed=10, on_step=steps.append)
    await asyncio.wait_for(runner.run(), 5)
    assert [text for _, text in recorder.applied] == ["crash Site-A/CAS1", "restore Site-A/CAS1"]
    (t1, _), (t2, _) = recorder.applied
    assert 0.2 <= t1 < 0.35 and 0.4 <= t2 < 0.55
    assert [str(step.action) for step in steps] == ["crash Site-A/CAS1", "restore Site-A/CAS1"]


async def test_runner_loops_on_the_scenario_length() -> None:
    scenario = parse_scenario("at 0: drain Site-A/CAS1\nat 1: ready Site-A/CAS1\nat 3: end\n")
    recorder = Recorder()
    runner = ScenarioRunner(scenario, recorder.apply, speed=10, loop=True)
    task = asyncio.create_task(runner.run())
    try:
        await wait_for(lambda: len(recorder.applied) >= 5, 3, what="three rounds")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    starts = [t for t, text in recorder.applied if text.startswith("drain")]
    assert [round(b - a, 1) for a, b in itertools.pairwise(starts)] == [0.3, 0.3]


async def test_a_failing_step_is_reported_and_the_rest_still_runs() -> None:
    scenario = parse_scenario("at 0: crash Site-A/CAS9\nat 0.5: crash Site-A/CAS1\n")
    recorder = Recorder()
    errors: list[tuple[int, str]] = []
    runner = ScenarioRunner(scenario, recorder.apply, speed=10,
                            on_error=lambda step, message: errors.append((step.line, message)))
    await asyncio.wait_for(runner.run(), 5)
    assert errors == [(1, "no node 'CAS9'")]
    assert [text for _, text in recorder.applied] == ["crash Site-A/CAS1"]


def test_a_loop_needs_a_length() -> None:
    scenario = parse_scenario("at 0: reset\n")

    async def apply(action: Action) -> None:
        del action

    with pytest.raises(ScenarioError, match="needs a length"):
        ScenarioRunner(scenario, apply, loop=True)


# -- every built-in drill, end to end ------------------------------------------------------

#: Built-in times are for people at castui's 2 s interval; tests check every 0.5 s, with
#: fall 2, so 6x leaves each step (2.5 s apart or more) time to be seen.
SPEED = 6.0
TIMING = dataclasses.replace(FAST, fall=2)

EXPECTED: dict[str, list[tuple[str, str, str]]] = {
    "maintenance": [("Site-A", "CAS2", "node_down"), ("Site-A", "CAS2", "node_up")],
    "failover": [("Site-A", "CAS1", "node_down"), ("Site-A", "CAS3", "node_down"),
                 ("Site-A", "CAS1", "node_up"), ("Site-A", "CAS3", "node_up")],
    "dr-switchover": [("Site-A", "vip", "vip_down"), ("Site-A", "dns", "dns_changed"),
                      ("Site-A", "vip", "vip_up"), ("Site-A", "dns", "dns_changed")],
    "half-dead": [("Site-A", "CAS2", "node_degraded"), ("Site-A", "CAS2", "node_recovered")],
    # The VIP's TCP checks keep CAS3 in rotation, so castui's checks through the VIP fail
    # now and then too: only the node's events are certain.
    "cert-mismatch": [("Site-A", "CAS3", "node_down"), ("Site-A", "CAS3", "node_up")],
    # ServerWideOffline takes CAS2 out; the reboot and the return changes nothing castui sees
    # until every component is Active again.
    "exchange-maintenance": [("Site-A", "CAS2", "node_down"), ("Site-A", "CAS2", "node_up")],
}
#: An Exchange 2016 node has nine healthcheck pages (nine TLS connections a round): a 1 s pace
#: and a slower drill keep healthy nodes from timing out on a loaded machine.
SLOWER = {"exchange-maintenance": (3.0, LabTiming(interval=1.0, timeout=0.8, rise=2, fall=2,
                                                  lb_inter=0.2, lb_rise=2, lb_fall=2,
                                                  lb_timeout=0.2))}


@pytest.mark.parametrize("name", list(EXPECTED))
async def test_builtin_scenario_yields_its_events(name: str, tmp_path: Path,
                                                  lab_ca: LabCA) -> None:
    assert set(EXPECTED) == set(BUILTIN_SCENARIOS)
    # Every built-in drill happens to Site-A; watching only it halves the load.
    speed, timing = SLOWER.get(name, (SPEED, TIMING))
    async with watched_lab(tmp_path, lab_ca, timing=timing, sites=("Site-A",),
                           profile=_PROFILE.get(name, "exchange2010")) as w:
        scenario = resolve_scenario(load_scenario(name), w.estate.resolve)
        applied: list[str] = []
        runner = ScenarioRunner(scenario, w.estate.apply, speed=speed,
                                on_step=lambda step: applied.append(str(step.action)))
        await asyncio.wait_for(runner.run(), scenario.length / speed + 5)
        assert applied == [str(step.action) for step in scenario.steps]

        def events() -> list[tuple[str, str, str]]:
            seen = w.seen()
            if name != "half-dead":
                # A node coming back mid-round can show DEGRADED for a round while a service
                # check's own counter catches up: the engine's business, not the drill's.
                seen = [e for e in seen if e[2] not in ("node_degraded", "node_recovered")]
            return [e for e in seen if e[1] != "vip"] if name == "cert-mismatch" else seen

        expected = EXPECTED[name]
        await wait_for(lambda: len(events()) >= len(expected), w.detection_bound(),
                       what=f"the events of {name}")
        assert events() == expected, [(e.subject, e.kind, e.detail) for e in w.events]
        if name == "dr-switchover":
            vip_a, vip_b = w.estate.sites["Site-A"].vip, w.estate.sites["Site-B"].vip
            changes = [e.data for e in w.events if e.kind == "dns_changed"]
            assert [(c["old"], c["new"]) for c in changes] == [([vip_a], [vip_b]),
                                                               ([vip_b], [vip_a])]
        # The drill ends with the estate healthy again, as it began.
        await wait_for(lambda: w.monitor.snapshot().status.name == "OK",
                       w.detection_bound(), what="the estate to be OK again")


def test_parse_action_round_trips() -> None:
    for text in ("crash Site-A/CAS2", "fail Site-A/CAS2 owa", "slow Site-B/CAS4 250",
                 "switchover Site-A Site-B", "vip-down Site-A", "reset"):
        assert str(parse_action(text)) == text
