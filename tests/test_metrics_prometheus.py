"""castui watch scraped by a real Prometheus evaluating the shipped rules, alerting a real
Alertmanager, on the lab: what a team running drills gets.

Every piece is a real process on loopback: `castui lab` (the estate, broken through its control
API with `castui lab ctl`), two `castui watch --metrics-listen` standing at two "vantage points"
(the second asks a dnsmasq of its own that answers the array FQDN with another address, as a
site's DNS would after a bad switchover), Prometheus (1 s scrapes and evaluations, the shipped
castui-rules.yml with its `for:` durations shortened to 2 s) and Alertmanager (the shipped
alertmanager.yml, its receivers pointed at a closed loopback port: the test reads its API).
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.dnsmasq import Dnsmasq
from tests.support.lab import lab_net
from tests.support.net import free_port, loopback_block, wait_for_sync
from tests.support.procs import ManagedProcess, log_tail
from tests.support.prometheus import (
    EXAMPLES,
    LOOPBACK,
    Alertmanager,
    Prometheus,
    metric_values,
    quick_rules,
    running,
    wait_for_alert,
)

CASTUI = [sys.executable, "-m", "castui"]
READY = re.compile(r"ready; config (?P<config>\S+); control (?P<control>\S+)")
NODES = ("CAS1", "CAS2", "CAS3")
#: castui sees a crash within fall x interval (3 x 2 s); Prometheus adds a scrape, an
#: evaluation, `for: 2s` and the send to Alertmanager. Generous for a loaded 2-core machine.
DETECT = 60.0
#: Longer than the shortened `for:` (2 s) plus a few 1 s evaluations and sends.
OUT_LONG = "10s"


@dataclass
class Stack:
    tmp: Path
    control: str
    prometheus: Prometheus
    alertmanager: Alertmanager
    db_a: Path

    def castui(self, *args: str) -> str:
        done = subprocess.run([*CASTUI, *args], capture_output=True, text=True, timeout=30,
                              check=False)
        assert done.returncode == 0, f"castui {' '.join(args)}: {done.stderr}"
        return done.stdout

    def ctl(self, action: str) -> None:
        self.castui("lab", "ctl", "--control", self.control, *action.split())

    def in_pool(self, node: str) -> list[float]:
        return list(metric_values(self.prometheus,
                                  f'castui_node_in_pool{{site="A",node="{node}"}}'))


def _lab_ready(log: Path) -> re.Match[str] | None:
    try:
        return READY.search(log.read_text(errors="replace"))
    except OSError:
        return None


def _serves(url: str) -> bool:
    import httpx

    try:
        response = httpx.get(url, timeout=2.0, trust_env=False)
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and "castui_node_in_pool" in response.text


def _watcher(tmp: Path, name: str, config: Path, port: int) -> ManagedProcess:
    argv = [*CASTUI, "watch", "--config", str(config), "--db", str(tmp / f"{name}.sqlite3"),
            "--metrics-listen", f"{LOOPBACK}:{port}"]
    return ManagedProcess(argv, log_path=tmp / f"watch-{name}.log",
                          ready=lambda: _serves(f"http://{LOOPBACK}:{port}/metrics"),
                          ready_timeout=30.0)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    net = lab_net()
    lab_log = tmp_path / "lab.log"
    lab = ManagedProcess(
        [*CASTUI, "lab", "--free-ports", "--net", net, "--sites", "A=3",
         "--write-config", str(tmp_path / "lab.toml")],
        log_path=lab_log, ready=lambda: _lab_ready(lab_log) is not None, ready_timeout=30.0)
    with running(lab):
        match = _lab_ready(lab_log)
        assert match is not None
        config_a = Path(match["config"])
        # Vantage point b asks its own resolver, which answers with another site's address.
        block = loopback_block()
        resolver = block.addr(53)
        dns_port = free_port(resolver)
        dnsmasq = Dnsmasq(resolver, dns_port, {"outlook.a.corp.local": [block.addr(50)]},
                          tmpdir=tmp_path)
        config_b = tmp_path / "lab-b.toml"  # beside lab.toml: its ca_file is relative
        text, count = re.subn(r"(?m)^dns_servers = .*$",
                              f'dns_servers = ["{resolver}:{dns_port}"]', config_a.read_text())
        assert count == 1
        config_b.write_text(text)
        port_a, port_b = free_port(LOOPBACK), free_port(LOOPBACK)
        watch_a = _watcher(tmp_path, "a", config_a, port_a)
        watch_b = _watcher(tmp_path, "b", config_b, port_b)
        closed = free_port(LOOPBACK)  # nothing listens: notifications go nowhere
        am_config = re.sub(r"https://\S+", f"http://{LOOPBACK}:{closed}/",
                           (EXAMPLES / "alertmanager.yml").read_text())
        alertmanager = Alertmanager(tmp_path, am_config)
        prometheus = Prometheus(
            tmp_path, {f"{LOOPBACK}:{port_a}": {"vantage": "a"},
                       f"{LOOPBACK}:{port_b}": {"vantage": "b"}},
            quick_rules((EXAMPLES / "castui-rules.yml").read_text()), alertmanager)
        with running(dnsmasq.process, watch_a, watch_b, alertmanager.process,
                     prometheus.process):
            stack = Stack(tmp_path, match["control"], prometheus, alertmanager,
                          tmp_path / "a.sqlite3")
            try:
                wait_for_sync(lambda: all(stack.in_pool(n) == [1.0, 1.0] for n in NODES),
                              DETECT, interval=0.5,
                              what="Prometheus to see every node in the pool from a and b")
                yield stack
            except BaseException:
                for log in ("watch-a.log", "watch-b.log", "prometheus.log", "lab.log"):
                    print(f"--- {log}\n{log_tail(tmp_path / log)}")
                raise


@pytest.mark.integration
def test_a_crash_reaches_prometheus_and_alertmanager_but_maintenance_raises_nothing(
        stack: Stack) -> None:
    stack.castui("maint", "set", "A/CAS1", "--for", "30m", "--db", str(stack.db_a),
                 "--reason", "patching")
    wait_for_sync(lambda: metric_values(stack.prometheus,
                                        'max(castui_maintenance{site="A",node="CAS1"})')
                  == [1.0], DETECT, interval=0.5, what="the maintenance mark in Prometheus")
    stack.ctl("crash A/CAS1")
    stack.ctl("crash A/CAS2")
    wait_for_sync(lambda: stack.in_pool("CAS2") == [0.0, 0.0], DETECT, interval=0.5,
                  what="castui_node_in_pool of CAS2 to go to 0 from both vantage points")
    alert = wait_for_alert(stack.alertmanager, {"alertname": "CastuiNodeOutOfPool",
                                                "site": "A", "node": "CAS2"}, DETECT)
    assert alert["severity"] == "page"
    # CAS1 is out of the pool too, but under a maintenance mark. Once it has been out from
    # both vantage points for OUT_LONG (the rule's `for:` plus evaluations and the send to
    # Alertmanager, which CAS2's alert just took), an alert about it would have arrived.
    wait_for_sync(lambda: metric_values(stack.prometheus, 'max_over_time(castui_node_in_pool'
                                        f'{{site="A",node="CAS1"}}[{OUT_LONG}])') == [0.0, 0.0],
                  DETECT, interval=0.5, what=f"CAS1 out of the pool for {OUT_LONG}")
    assert not [labels for labels in stack.alertmanager.labels()
                if labels.get("node") == "CAS1"]
    assert not stack.prometheus.query('ALERTS{node="CAS1"}')


@pytest.mark.integration
def test_two_vantage_points_that_disagree_raise_the_disagreement_alert(stack: Stack) -> None:
    """b's resolver answers another address: the array FQDN resolves to the VIP from a, not
    from b. A DNS problem between the sites, not a node fault, and not 'nowhere'."""
    def by_vantage() -> dict[str, float]:
        return {labels["vantage"]: value for labels, value in stack.prometheus.query(
            'min without (resolver) (castui_dns_answer_is_vip{site="A"})')}
    wait_for_sync(lambda: by_vantage() == {"a": 1.0, "b": 0.0}, DETECT, interval=0.5,
                  what="the array FQDN to answer the VIP from a only")
    alert = wait_for_alert(stack.alertmanager, {"alertname": "CastuiVantagePointsDisagree",
                                                "site": "A", "subject": "dns"}, DETECT)
    assert alert["severity"] == "warn"
    assert not stack.prometheus.query('ALERTS{alertname="CastuiArrayNotResolvingToVip"}')
    assert not stack.prometheus.query('ALERTS{alertname="CastuiNodeOutOfPool"}')
