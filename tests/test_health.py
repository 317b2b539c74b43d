"""HAProxy's rise/fall counter, as operators read it in the stats page."""

import pytest

from castui.engine.health import Health, HealthCounter


def feed(counter: HealthCounter, pattern: str) -> list[str]:
    """Feed '+'/'-' rounds and return the status text after each."""
    texts = []
    for mark in pattern:
        counter.observe(mark == "+")
        texts.append(counter.text)
    return texts


def test_first_round_decides_outright() -> None:
    up, down = HealthCounter(2, 3), HealthCounter(2, 3)
    assert up.text == "UNKNOWN"
    assert feed(up, "+") == ["UP"]
    assert feed(down, "-") == ["DOWN"]


def test_fall_failures_take_it_down_with_haproxy_countdown() -> None:
    counter = HealthCounter(rise=2, fall=3)
    assert feed(counter, "+---") == ["UP", "UP 2/3", "UP 1/3", "DOWN"]
    assert counter.state is Health.DOWN


def test_rise_successes_bring_it_back() -> None:
    counter = HealthCounter(rise=2, fall=3)
    assert feed(counter, "-++") == ["DOWN", "DOWN 1/2", "UP"]


def test_a_success_while_going_down_restores_full_health() -> None:
    counter = HealthCounter(rise=2, fall=3)
    assert feed(counter, "+--+-") == ["UP", "UP 2/3", "UP 1/3", "UP", "UP 2/3"]


def test_a_single_blip_does_not_flip_state() -> None:
    counter = HealthCounter(rise=2, fall=3)
    assert feed(counter, "+-+-+") == ["UP", "UP 2/3", "UP", "UP 2/3", "UP"]


@pytest.mark.parametrize(("rise", "fall"), [(1, 1), (1, 5), (5, 1), (3, 2)])
def test_exact_counts(rise: int, fall: int) -> None:
    counter = HealthCounter(rise, fall)
    counter.observe(True)
    changes = [counter.observe(False) for _ in range(fall)]
    assert changes == [False] * (fall - 1) + [True]
    changes = [counter.observe(True) for _ in range(rise)]
    assert changes == [False] * (rise - 1) + [True]
