"""The engine's trouble order: what needs looking at first, decided once in the snapshot.

The console sorts node tables and timeline lanes by it and `P` filters on it; the rule lives in
castui.engine.snapshot. The real Monitor folds fixed rounds on a frozen clock (no network).
"""

from __future__ import annotations

from pathlib import Path

from castui.engine.targets import CheckSpec, Target
from castui.history import EventStore
from castui.model.events import Event, Kind
from castui.model.results import Code, ProbeResult
from castui.model.status import Status
from tests.support.ui_estate import Driver, lb_view, new_driver, refused, status_503, steady


def test_nodes_sort_by_trouble_first_and_config_order_among_equals() -> None:
    driver = new_driver()
    steady(driver)
    site = driver.monitor.snapshot().sites[0]
    assert site.by_trouble == ("CAS1", "CAS2", "CAS3"), "all UP: config order"
    assert site.problems == ()
    driver.faults["Site-A/CAS3"] = refused
    driver.faults["Site-A/CAS2"] = {"ews": status_503}
    driver.run(2)  # one failed round each: CAS3 is `UP 2/3`, transitional
    site = driver.monitor.snapshot().sites[0]
    assert [n.status_text for n in site.nodes][2].startswith("UP ")
    assert site.by_trouble[0] == "CAS3", "a transitional node before the plainly UP ones"
    driver.run(10)  # both settle: CAS3 down, CAS2 degraded
    site = driver.monitor.snapshot().sites[0]
    assert {n.subject: n.state for n in site.nodes} == {
        "CAS1": "up", "CAS2": "degraded", "CAS3": "down"}
    assert site.by_trouble == ("CAS3", "CAS2", "CAS1")
    assert site.problems == ("CAS3", "CAS2")
    assert site.troubled


def test_maintenance_and_a_disagreeing_balancer_are_trouble_too(tmp_path: Path) -> None:
    with EventStore(tmp_path / "history.sqlite3") as store:
        driver = new_driver(store)
        steady(driver)
        _maintenance_and_balancer(driver)


def _maintenance_and_balancer(driver: Driver) -> None:
    driver.monitor.set_maintenance("Site-A", "CAS3", 3600, "patching")
    driver.balancer["Site-A"] = {"CAS1": lb_view("CAS1", "UP"), "CAS2": lb_view("CAS2", "DOWN"),
                                 "CAS3": lb_view("CAS3", "UP")}
    driver.run(4)
    site = driver.monitor.snapshot().sites[0]
    assert site.by_trouble == ("CAS2", "CAS3", "CAS1"), "balancer disagrees, then maintenance"
    assert site.problems == ("CAS2", "CAS3")


def test_the_worst_site_is_named_only_when_something_is_wrong() -> None:
    driver = new_driver()
    steady(driver)
    assert driver.monitor.snapshot().worst_site is None
    driver.faults["Site-B/CAS5"] = refused
    driver.run(10)
    snapshot = driver.monitor.snapshot()
    assert snapshot.status is Status.WARNING
    assert snapshot.worst_site == "Site-B"
    assert not snapshot.sites[0].troubled and snapshot.sites[1].troubled


def slow(target: Target, spec: CheckSpec) -> ProbeResult:
    """A pool check that passes in 900 ms (the timeout is 1.5 s: slow from 750 ms)."""
    return ProbeResult(True, Code.L4OK, "connected", 900.0)


def test_slow_checks_are_marked_and_a_node_slow_for_fall_rounds_gets_node_slow() -> None:
    driver = new_driver()
    steady(driver)
    said: list[Event] = []
    driver.monitor.subscribe(said.append)
    pool = [spec.name for spec in driver.monitor.states["Site-A/CAS2"].target.checks
            if spec.role == "pool"]
    driver.faults["Site-A/CAS2"] = dict.fromkeys(pool, slow)
    driver.run(4)  # two slow rounds: fall is 3
    node = driver.monitor.snapshot().sites[0].nodes[1]
    assert {c.name for c in node.checks if c.slow} == set(pool)
    assert node.state == "up" and not node.trouble, "slow is no outage"
    assert [e for e in said if e.kind == Kind.NODE_SLOW] == []
    driver.run(6)  # the third slow round tips it; more say nothing more
    (event,) = [e for e in said if e.kind == Kind.NODE_SLOW]
    assert (event.subject, event.data["rounds"], event.data["slow_ms"]) == ("CAS2", 3, 750.0)
    assert "slower than 750ms for 3 rounds" in event.detail
    assert not driver.monitor.alerts.ongoing(event) and len(driver.monitor.alerts) == 0
    del driver.faults["Site-A/CAS2"]
    driver.run(2)
    assert not any(c.slow for c in driver.monitor.snapshot().sites[0].nodes[1].checks)
