"""A real Prometheus and a real Alertmanager on loopback for tests, and what castui serves them.

Each runs from Debian's packages with its own temporary data directory, on free loopback ports,
with clustering off (Alertmanager's gossip would otherwise listen on every interface), and is
stopped when its context ends.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.support.net import free_port, wait_for_sync
from tests.support.procs import ManagedProcess, require_binary

#: The contract: every metric castui serves and its labels, as issue 17 names them.
CONTRACT = {
    "castui_probe_success": {"site", "target", "check"},
    "castui_probe_duration_seconds": {"site", "target", "check"},
    "castui_probe_http_status_code": {"site", "target", "check"},
    "castui_probe_failure_info": {"site", "target", "check", "code"},
    "castui_node_in_pool": {"site", "node"},
    "castui_node_state": {"site", "node", "state"},
    "castui_node_state_since_timestamp_seconds": {"site", "node"},
    "castui_vip_up": {"site"},
    "castui_vip_answer_share": {"site", "node"},
    "castui_dns_answer_is_vip": {"site", "resolver"},
    "castui_dns_ttl_seconds": {"site", "resolver"},
    "castui_tls_cert_expiry_timestamp_seconds": {"site", "target"},
    "castui_node_connections": {"site", "node", "port"},
    "castui_lb_disagrees": {"site", "node"},
    "castui_alerts_unacknowledged": {"site"},
    "castui_events_total": {"site", "kind"},
    "castui_maintenance": {"site", "node"},
    "castui_round_duration_seconds": {"site", "target"},
    "castui_last_round_timestamp_seconds": {"site", "target"},
    "castui_build_info": {"version"},
}
EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples" / "prometheus"
LOOPBACK = "127.0.0.1"
START_TIMEOUT = 30.0


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=2.0, trust_env=False)
    except httpx.HTTPError:
        return None


def _ready(url: str) -> bool:
    response = _get(url)
    return response is not None and response.status_code == 200


def quick_rules(text: str, hold: str = "2s") -> str:
    """The shipped rules with every `for:` shortened to `hold`, so a test sees alerts fire in
    seconds; the expressions are the shipped ones, untouched."""
    return re.sub(r"(?m)^(\s+for:) \S+$", rf"\1 {hold}", text)


class Alertmanager:
    """Alertmanager with `config` (YAML text); `alerts()` reads its v2 API."""

    def __init__(self, tmp: Path, config: str) -> None:
        self.port = free_port(LOOPBACK)
        self.url = f"http://{LOOPBACK}:{self.port}"
        (tmp / "alertmanager.yml").write_text(config)
        argv = [require_binary("prometheus-alertmanager"),
                f"--config.file={tmp / 'alertmanager.yml'}",
                f"--storage.path={tmp / 'alertmanager-data'}",
                f"--web.listen-address={LOOPBACK}:{self.port}",
                "--cluster.listen-address="]
        self.process = ManagedProcess(argv, log_path=tmp / "alertmanager.log",
                                      ready=lambda: _ready(f"{self.url}/-/ready"),
                                      ready_timeout=START_TIMEOUT)

    def alerts(self) -> list[dict[str, Any]]:
        response = _get(f"{self.url}/api/v2/alerts")
        return [] if response is None or response.status_code != 200 else list(response.json())

    def labels(self) -> list[dict[str, str]]:
        return [alert["labels"] for alert in self.alerts()]


class Prometheus:
    """Prometheus scraping `targets` (address -> extra target labels) as job `castui` every
    `interval`, evaluating `rules`, alerting `alertmanager`."""

    def __init__(self, tmp: Path, targets: Mapping[str, Mapping[str, str]], rules: str,
                 alertmanager: Alertmanager, interval: str = "1s") -> None:
        self.port = free_port(LOOPBACK)
        self.url = f"http://{LOOPBACK}:{self.port}"
        (tmp / "castui-rules.yml").write_text(rules)
        static = [{"targets": [address], "labels": dict(labels)}
                  for address, labels in targets.items()]
        config = {
            "global": {"scrape_interval": interval, "evaluation_interval": interval,
                       "scrape_timeout": interval},
            "rule_files": [str(tmp / "castui-rules.yml")],
            "alerting": {"alertmanagers": [{"static_configs": [
                {"targets": [f"{LOOPBACK}:{alertmanager.port}"]}]}]},
            "scrape_configs": [{"job_name": "castui", "static_configs": static}],
        }
        (tmp / "prometheus.yml").write_text(json.dumps(config, indent=2))  # JSON is YAML
        argv = [require_binary("prometheus"), f"--config.file={tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp / 'prometheus-data'}",
                f"--web.listen-address={LOOPBACK}:{self.port}",
                "--rules.alert.resend-delay=1s"]
        self.process = ManagedProcess(argv, log_path=tmp / "prometheus.log",
                                      ready=lambda: _ready(f"{self.url}/-/ready"),
                                      ready_timeout=START_TIMEOUT)

    def query(self, expr: str) -> list[tuple[dict[str, str], float]]:
        """An instant query: (labels, value) of each series; [] if Prometheus did not answer."""
        try:
            response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr},
                                 timeout=5.0, trust_env=False)
        except httpx.HTTPError:
            return []
        doc = response.json()
        assert doc["status"] == "success", doc
        return [(item["metric"], float(item["value"][1])) for item in doc["data"]["result"]]

    def targets_up(self) -> bool:
        return bool(self.query('up{job="castui"}')) and all(
            value == 1 for _, value in self.query('up{job="castui"}'))


@contextmanager
def running(*processes: ManagedProcess) -> Iterator[None]:
    """Start each in turn; stop all (last first) whatever happens."""
    started: list[ManagedProcess] = []
    try:
        for process in processes:
            started.append(process)
            process.start()
        yield
    finally:
        for process in reversed(started):
            process.stop()


def wait_for_alert(alertmanager: Alertmanager, labels: Mapping[str, str],
                   timeout: float) -> dict[str, str]:
    """The first alert in Alertmanager whose labels include `labels`."""
    def found() -> dict[str, str] | None:
        return next((seen for seen in alertmanager.labels()
                     if all(seen.get(k) == v for k, v in labels.items())), None)
    wait_for_sync(lambda: found() is not None, timeout, interval=0.5,
                  what=f"Alertmanager to list an alert {dict(labels)}")
    alert = found()
    assert alert is not None
    return alert


def metric_values(prometheus: Prometheus, expr: str) -> Sequence[float]:
    return [value for _, value in prometheus.query(expr)]
