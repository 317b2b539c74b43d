"""The shipped examples/prometheus files, checked by Prometheus's and Alertmanager's own tools:
the rules and the scrape config load, every alert rule has unit tests and passes them, and the
rules and the Grafana dashboard name only metrics castui serves."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.procs import require_binary
from tests.support.prometheus import CONTRACT, EXAMPLES

RULES = EXAMPLES / "castui-rules.yml"
#: Metric names in PromQL: castui's own, and the recording rules' `level:metric:operation`.
METRIC = re.compile(r"\b(castui_[a-z_]+|[a-z_]+:castui_[a-z_]+:[a-z_]+)\b")
RECORDED = re.compile(r"^\s*- record: (\S+)$", re.M)


def run(*argv: str, cwd: Path = EXAMPLES) -> str:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, f"{' '.join(argv)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def alert_names(text: str) -> set[str]:
    return set(re.findall(r"^\s*- alert: (\w+)$", text, re.M))


@pytest.mark.integration
def test_promtool_checks_the_rules() -> None:
    out = run(require_binary("promtool"), "check", "rules", str(RULES))
    assert "SUCCESS: 12 rules found" in out


@pytest.mark.integration
def test_promtool_checks_the_scrape_config(tmp_path: Path) -> None:
    """The config names its token and CA files beside it; the operator provides them."""
    for name in ("prometheus.yml", "castui-rules.yml"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    (tmp_path / "castui-metrics.token").write_text("a-token-of-at-least-16-chars\n")
    (tmp_path / "castui-ca.pem").write_text("")
    out = run(require_binary("promtool"), "check", "config", "prometheus.yml", cwd=tmp_path)
    assert "is valid prometheus config file syntax" in out


@pytest.mark.integration
def test_amtool_checks_the_alertmanager_config() -> None:
    out = run(require_binary("amtool"), "check-config", str(EXAMPLES / "alertmanager.yml"))
    assert "2 inhibit rules" in out
    names = alert_names(RULES.read_text())
    text = (EXAMPLES / "alertmanager.yml").read_text()
    for name in re.findall(r"alertname=~?\"([^\"]+)\"", text):
        assert set(name.split("|")) <= names, f"{name}: not an alert of castui-rules.yml"


@pytest.mark.integration
def test_every_alert_rule_has_passing_unit_tests() -> None:
    tests = EXAMPLES / "castui-rules.test.yml"
    tested = set(re.findall(r"^\s*alertname: (\w+)$", tests.read_text(), re.M))
    assert tested == alert_names(RULES.read_text())
    out = run(require_binary("promtool"), "test", "rules", str(tests))
    assert "SUCCESS" in out


def test_rules_and_dashboard_name_only_metrics_castui_serves() -> None:
    rules = RULES.read_text()
    recorded = set(RECORDED.findall(rules))
    assert set(METRIC.findall(rules)) <= set(CONTRACT) | recorded
    dashboard = json.loads((EXAMPLES / "castui-dashboard.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    exprs += [var["definition"] for var in dashboard["templating"]["list"]
              if "definition" in var]
    used = {name for expr in exprs for name in METRIC.findall(expr)}
    assert used <= set(CONTRACT)
    # No other metric: every series selector in the dashboard is one of castui's.
    selectors = {m for expr in exprs for m in re.findall(r"\b([a-zA-Z_:][\w:]*)\{", expr)}
    assert selectors <= set(CONTRACT)
