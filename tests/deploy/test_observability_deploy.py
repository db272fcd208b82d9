"""deploy/'s Prometheus rules and configuration, checked and unit-tested by promtool, and the
Grafana dashboard's shape (docs/observability.md). That the dashboard and the rules read only
metrics the processes expose is checked against the real processes' /metrics pages in
tests/e2e/test_e2e_observability.py."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.support.promql import ALERTS, DASHBOARD, alert_expressions, dashboard_expressions, metric_names

PROMETHEUS = ALERTS.parent
promtool = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    promtool is None,
    reason="promtool not installed (Debian package prometheus; `make test` installs it as root on Debian)")


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert promtool is not None
    return subprocess.run([promtool, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120, check=False)


@needs_promtool
def test_alert_rules_are_valid() -> None:
    result = _promtool("check", "rules", ALERTS.name)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_alert_rules_fire_when_they_should_and_not_otherwise() -> None:
    """alerts.test.yaml: made-up series for each alert, firing and quiet."""
    result = _promtool("test", "rules", "alerts.test.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_prometheus_configuration_is_valid() -> None:
    result = _promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_unit_tested() -> None:
    import yaml

    rules = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    tests = yaml.safe_load((PROMETHEUS / "alerts.test.yaml").read_text(encoding="utf-8"))
    firing = {case["alertname"] for test in tests["tests"] for case in test["alert_rule_test"] if case["exp_alerts"]}
    assert alerts - firing == set(), "an alert no test sees firing"
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in ("page", "ticket", "info") and rule["annotations"]["summary"]


def test_the_dashboard_is_a_grafana_dashboard_of_prometheus_queries() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["uid"] and dashboard["title"] and dashboard["panels"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["type"] == "prometheus"
            assert metric_names(target["expr"]), f"{panel['title']}: reads no metric"
    names = set().union(*(metric_names(e) for e in dashboard_expressions()))
    assert {"sajja_http_request_duration_seconds_bucket", "sajja_deposits_posted_total", "sajja_claims_paid_total",
            "sajja_outbox_lag_seconds", "sajja_db_pool_connections_in_use"} <= names


def test_labels_are_never_raw_paths_or_funds() -> None:
    """Queries group by bounded labels only (docs/observability.md)."""
    import re

    for expr in dashboard_expressions() + alert_expressions():
        assert not re.search(r"\b(fund_id|fund|member_id|member|user|path)\s*(=|!=|=~|!~)", expr), expr
        for grouping in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
            assert set(re.split(r"\s*,\s*", grouping.strip())) <= {
                "process", "worker", "route", "method", "status", "le", "outbox", "reason", "final", "instance",
                "pool"}, expr


def test_metric_names_are_read_from_promql() -> None:
    assert metric_names('sum by (le) (rate(a_bucket{route="/v1/x/{path}", s=~"5.."}[5m])) / on(job) b > 0.5') == \
        {"a_bucket", "b"}
    assert metric_names("time() - max by (worker) (c_seconds) > 600 and topk(10, d)") == {"c_seconds", "d"}
