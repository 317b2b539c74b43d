"""HAProxy's health counter: `rise` good checks to go UP, `fall` bad ones to go DOWN.

The counter runs from 0 to rise+fall-1. A server is UP from the moment it reaches `rise` (the
counter then jumps to the top, and any success while UP restores the top) until it falls back
below it (the counter then drops to 0). The
transitional texts are HAProxy's: `UP 2/3` is an UP server with one failure seen (two more
checks of health left before DOWN at fall=3), `DOWN 1/2` a DOWN server with one success seen.
Before its first check a server is UNKNOWN, and its first check decides its state outright, so a
single round of `castui check` gives an answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Health(Enum):
    UNKNOWN = "unknown"
    UP = "up"
    DOWN = "down"


@dataclass(slots=True)
class HealthCounter:
    rise: int
    fall: int
    health: int = 0
    state: Health = Health.UNKNOWN

    @property
    def top(self) -> int:
        return self.rise + self.fall - 1

    def observe(self, good: bool) -> bool:
        """Fold one check result in; return True when the UP/DOWN state changed."""
        before = self.state
        if self.state is Health.UNKNOWN:
            self.state = Health.UP if good else Health.DOWN
            self.health = self.top if good else 0
            return False
        if good:
            # As HAProxy: once health reaches `rise`, one success restores it to the top.
            self.health = min(self.health + 1, self.top)
            if self.health >= self.rise:
                self.state = Health.UP
                self.health = self.top
        elif self.health > self.rise:
            self.health -= 1
        else:
            self.health = 0
            self.state = Health.DOWN
        return self.state is not before

    def restore(self) -> None:
        """Full health at once: the thing it watches is known good by other evidence."""
        self.state = Health.UP
        self.health = self.top

    @property
    def text(self) -> str:
        """HAProxy's status text: UP, UP 2/3, DOWN, DOWN 1/2, or UNKNOWN."""
        if self.state is Health.UNKNOWN:
            return "UNKNOWN"
        if self.state is Health.UP:
            if self.health >= self.top:
                return "UP"
            return f"UP {self.health - self.rise + 1}/{self.fall}"
        if self.health == 0:
            return "DOWN"
        return f"DOWN {self.health}/{self.rise}"

    @property
    def transitional(self) -> bool:
        return self.state is not Health.UNKNOWN and self.text not in ("UP", "DOWN")
