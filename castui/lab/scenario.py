"""Scenario files: timed lab actions, so a drill can be rehearsed the same way every time.

The format is plain text, one step per line:

    # comment (also after a step)
    at SECONDS: ACTION
    at SECONDS: end

SECONDS count from the start of the scenario (decimals allowed) and never go down from one step
to the next; ACTION is the lab action grammar (castui.lab.actions). `end` (optional, last)
sets the scenario's length, which matters when it loops; without it the last step ends it.
Every time is divided by the speed factor, so a test can run a drill in seconds.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from castui.lab.actions import Action, ActionError, parse_action
from castui.lab.builtin_scenarios import BUILTIN_SCENARIOS
from castui.model.text import clean

log = logging.getLogger(__name__)

#: A scenario is a page of text; anything this big is the wrong file.
MAX_SCENARIO_BYTES = 64 * 1024
MAX_STEPS = 1000
#: One day: a longer step time is a typo (milliseconds?).
MAX_SECONDS = 86_400.0

_STEP = re.compile(r"at\s+(\d+(?:\.\d+)?)\s*:\s*(.*)", re.IGNORECASE)


class ScenarioError(ValueError):
    """A scenario that cannot be read; the message is one line naming the file and line."""


@dataclass(frozen=True, slots=True)
class Step:
    """One timed action; `line` is where it was written, for error messages."""

    at: float
    action: Action
    line: int


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    steps: tuple[Step, ...]
    length: float
    source: str


def parse_scenario(text: str, source: str = "<scenario>", name: str | None = None) -> Scenario:
    """Parse scenario text; ScenarioError naming `source` and the line if a line is bad."""
    steps: list[Step] = []
    end: float | None = None
    source = clean(source)
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"{source}: line {number}"
        if end is not None:
            raise ScenarioError(f"{where}: nothing may follow 'end'")
        match = _STEP.fullmatch(line)
        if match is None:
            raise ScenarioError(f"{where}: expected 'at SECONDS: ACTION', "
                                f"got {clean(line, 60)!r}")
        at = float(match[1])
        if at > MAX_SECONDS:
            raise ScenarioError(f"{where}: {at:g} s is more than a day (seconds, not ms?)")
        last = steps[-1].at if steps else 0.0
        if at < last:
            raise ScenarioError(f"{where}: at {at:g} comes before the previous step "
                                f"(at {last:g}); steps must be in time order")
        if match[2].strip().lower() == "end":
            end = at
            continue
        try:
            action = parse_action(match[2])
        except ActionError as exc:
            raise ScenarioError(f"{where}: {exc}") from None
        if len(steps) >= MAX_STEPS:
            raise ScenarioError(f"{where}: more than {MAX_STEPS} steps")
        steps.append(Step(at, action, number))
    if not steps:
        raise ScenarioError(f"{source}: no steps (expected lines like 'at 10: crash Site-A/CAS2')")
    length = end if end is not None else steps[-1].at
    return Scenario(name or source, tuple(steps), length, source)


def load_scenario(name_or_path: str) -> Scenario:
    """A built-in scenario by name, or a scenario file; ScenarioError if neither works."""
    if name_or_path in BUILTIN_SCENARIOS:
        return parse_scenario(BUILTIN_SCENARIOS[name_or_path], f"built-in {name_or_path}",
                              name_or_path)
    path = Path(name_or_path)
    source = clean(name_or_path)
    if not path.is_file():
        known = ", ".join(BUILTIN_SCENARIOS)
        raise ScenarioError(f"{source}: no such scenario file (built-in scenarios: {known})")
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_SCENARIO_BYTES + 1)
    except OSError as exc:
        raise ScenarioError(f"{source}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_SCENARIO_BYTES:
        raise ScenarioError(f"{source}: larger than {MAX_SCENARIO_BYTES // 1024} KiB, "
                            "not a scenario")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ScenarioError(f"{source}: not UTF-8 text") from None
    return parse_scenario(text, source, path.stem)


def resolve_scenario(scenario: Scenario, resolve: Callable[[Action], Action]) -> Scenario:
    """Check every step's names (e.g. with `LabEstate.resolve`) before anything runs."""
    steps = []
    for step in scenario.steps:
        try:
            steps.append(Step(step.at, resolve(step.action), step.line))
        except ActionError as exc:
            raise ScenarioError(f"{scenario.source}: line {step.line}: {exc}") from None
    return Scenario(scenario.name, tuple(steps), scenario.length, scenario.source)


StepCallback = Callable[[Step], None]
ErrorCallback = Callable[[Step, str], None]


class ScenarioRunner:
    """Applies a scenario's steps on time (times divided by `speed`), once or in a loop.

    Steps are scheduled against the scenario's start, so a slow action does not push the
    later ones back; a step whose action fails is reported and the scenario goes on.
    """

    def __init__(self, scenario: Scenario, apply: Callable[[Action], Awaitable[object]], *,
                 speed: float = 1.0, loop: bool = False, on_step: StepCallback | None = None,
                 on_error: ErrorCallback | None = None,
                 on_loop: Callable[[], None] | None = None) -> None:
        if not speed > 0:
            raise ScenarioError(f"speed must be more than 0, not {speed:g}")
        if loop and scenario.length <= 0:
            raise ScenarioError(f"{scenario.source}: a looping scenario needs a length above "
                                "0 s (add 'at SECONDS: end')")
        self.scenario = scenario
        self.speed = speed
        self.loop = loop
        self.rounds = 0
        self._apply = apply
        self._on_step = on_step
        self._on_error = on_error
        #: Called before each loop after the first (a looping scenario starting again).
        self._on_loop = on_loop

    async def run(self) -> None:
        """Run the scenario (forever if looping; cancel the task to stop it)."""
        clock = asyncio.get_running_loop()
        start = clock.time()
        while True:
            for step in self.scenario.steps:
                await asyncio.sleep(max(0.0, start + step.at / self.speed - clock.time()))
                await self._run_step(step)
            self.rounds += 1
            if not self.loop:
                return
            # A round that ran late starts the next one now, never a burst of catch-up rounds.
            start = max(start + self.scenario.length / self.speed, clock.time())
            await asyncio.sleep(max(0.0, start - clock.time()))
            if self._on_loop is not None:
                self._on_loop()

    async def _run_step(self, step: Step) -> None:
        try:
            await self._apply(step.action)
        except ActionError as exc:
            if self._on_error is not None:
                self._on_error(step, str(exc))
            return
        if self._on_step is not None:
            self._on_step(step)
