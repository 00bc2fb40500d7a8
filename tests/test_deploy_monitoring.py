"""deploy/grafana and deploy/prometheus (SPEC 15): every metric the dashboard and the alert rules name is one
a running bot serves on /metrics, and the metrics they lean on move when the events happen."""

from __future__ import annotations

import json
import re

import yaml

from bot.releases.model import State
from tests.support.app import ROOT, BotHarness

DASHBOARD = ROOT / "deploy" / "grafana" / "govuk-deploy-bot.json"
RULES = ROOT / "deploy" / "prometheus" / "govuk_deploy_bot.yaml"
METRIC = re.compile(r"\bdeploybot_[a-z0-9_]+\b")
# the series a Prometheus metric family of each type exposes
SUFFIXES = {"counter": ("_total", "_created"), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count", "_created")}


def served_series(bot: BotHarness) -> set[str]:
    """Every series name /metrics exposes, from its `# TYPE` lines (a labelled family with no sample yet counts)."""
    answer = bot.http.get("/metrics")
    assert answer.status_code == 200
    series: set[str] = set()
    for line in answer.text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            base = name.removesuffix("_total") if kind == "counter" else name
            series.update(base + suffix for suffix in SUFFIXES.get(kind, ("",)))
    return series


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def rule_expressions() -> list[str]:
    rules = yaml.safe_load(RULES.read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def test_every_metric_the_dashboard_names_is_on_metrics(bot: BotHarness) -> None:
    served = served_series(bot)
    named = {name for expr in dashboard_expressions() for name in METRIC.findall(expr)}
    wanted = {
        "deploybot_deploys_total",
        "deploybot_release_outcomes_total",
        "deploybot_slack_calls_total",
        "deploybot_reconcile_errors_total",
        "deploybot_slack_ack_seconds_bucket",
        "deploybot_outbox_pending",
    }
    assert wanted <= named, f"the dashboard lacks {sorted(wanted - named)}"
    assert named <= served, f"not on /metrics: {sorted(named - served)}"


def test_every_metric_the_alert_rules_name_is_on_metrics(bot: BotHarness) -> None:
    served = served_series(bot)
    rules = yaml.safe_load(RULES.read_text())["groups"][0]["rules"]
    alerts = {rule["alert"]: rule for rule in rules}
    assert set(alerts) == {
        "DeployBotNotReady",
        "DeployBotReconcileErrors",
        "DeployBotSlackCallsFailing",
        "DeployBotDeploysFailing",
    }
    assert alerts["DeployBotReconcileErrors"]["for"] == "10m"
    named = {name for expr in rule_expressions() for name in METRIC.findall(expr)}
    assert named and named <= served, f"not on /metrics: {sorted(named - served)}"
    for rule in rules:
        assert rule["labels"]["severity"] and rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_the_release_outcomes_the_rules_and_dashboard_filter_on_are_states_the_bot_reports() -> None:
    codes = {state.code for state in State} | {"tests_passed", "tests_failed"}
    for expr in rule_expressions() + dashboard_expressions():
        for regex in re.findall(r'deploybot_release_outcomes_total\{outcome=~"([^"]+)"\}', expr):
            assert set(regex.split("|")) <= codes, regex


def sample(bot: BotHarness, name: str) -> float | None:
    for line in bot.http.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


def test_readiness_and_ack_latency_are_measured_where_they_happen(bot: BotHarness, fake_slack) -> None:
    assert sample(bot, "deploybot_ready") == 1.0
    assert sample(bot, "deploybot_socket_mode_connected") == 0.0  # no SLACK_APP_TOKEN: HTTP only
    assert bot.slash("help", response_url=fake_slack.response_url("help")).status_code == 200
    assert sample(bot, 'deploybot_slack_ack_seconds_count{transport="http"}') == 1.0
    bot.webhook(
        "/webhooks/argocd",
        {"application": "router", "environment": "integration", "state": "Failed", "imageTag": "v512"},
    )
    assert sample(bot, 'deploybot_release_outcomes_total{environment="integration",outcome="sync_failed"}') == 1.0
