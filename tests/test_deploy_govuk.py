"""deploy/govuk (SPEC 15): what a platform engineer adds to govuk-helm-charts and govuk-infrastructure.

Every Kubernetes manifest there passes kubernetes-validate for the Kubernetes version GOV.UK runs; the
ExternalSecrets (a CRD it has no schema for) have the shape GOV.UK's use and make every secret the app
entry reads; the app entry sets every variable the bot reads, and those settings load.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from bot.config import load_settings
from tests.support.app import ROOT

GOVUK = ROOT / "deploy" / "govuk"
CHARTS = GOVUK / "govuk-helm-charts" / "charts"
ENTRY = CHARTS / "app-config" / "values-production.yaml"
BOT_CONFIG_MAP = CHARTS / "app-config" / "templates" / "govuk-deploy-bot-config.yaml"
ARGO_CD_VALUES = (
    GOVUK
    / "govuk-infrastructure"
    / "terraform"
    / "deployments"
    / "cluster-services"
    / "argo-cd-values.govuk-deploy-bot.yaml"
)
# govuk-infrastructure: terraform/variables/{integration,staging,production}/cluster-infrastructure.tfvars
KUBERNETES_VERSION = "1.36"
# The YAML anchors GOV.UK's values-production.yaml defines above `govukApplications`, which the entry uses.
GOVUK_ANCHORS = (
    "_alb-ingress-defaults: &alb-ingress-defaults {}\n_alb-ingress-group-backend: &alb-ingress-group-backend {}\n"
)
# What production's values-production.yaml says these are, for the entry's `{{ .Values.x }}` templates.
PRODUCTION_VALUES = {
    "publishingDomainSuffix": "publishing.service.gov.uk",
    "k8sExternalDomainSuffix": "eks.production.govuk.digital",
}
# custom resources kubernetes-validate has no schema for: their shape is checked below
CUSTOM_KINDS = {("external-secrets.io/v1", "ExternalSecret"), ("monitoring.coreos.com/v1", "PodMonitor")}
ENVIRONMENTS = ("INTEGRATION", "STAGING", "PRODUCTION")
# read by bot/config.py, and deliberately not set by the entry
NOT_SET = {"XDG_CACHE_HOME": "only the default of CHARTS_WORKDIR, which the entry sets"}


def manifests() -> list[tuple[Path, dict[str, Any]]]:
    found = []
    for path in sorted(GOVUK.rglob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()) if path != ENTRY else []:
            if isinstance(document, dict) and "apiVersion" in document and "kind" in document:
                found.append((path, document))
    return found


def entry() -> dict[str, Any]:
    [application] = yaml.safe_load(GOVUK_ANCHORS + ENTRY.read_text())["govukApplications"]
    assert application["name"] == "govuk-deploy-bot"
    return application["helmValues"]


def variables_the_bot_reads() -> set[str]:
    """Every environment variable bot/config.py reads; `X_` families (per environment) for GOV.UK's three."""
    source = (ROOT / "bot" / "config.py").read_text() + (ROOT / "bot" / "tokens.py").read_text()
    names = set(re.findall(r'f?"([A-Z][A-Z0-9_]{2,})[{"]', source))
    names |= {f"{prefix}{env}" for prefix in {n for n in names if n.endswith("_")} for env in ENVIRONMENTS}
    return {n for n in names if not n.endswith("_")} - set(NOT_SET)


def test_every_kubernetes_manifest_validates_for_the_version_govuk_runs() -> None:
    found = manifests()
    kinds = {(doc["apiVersion"], doc["kind"]) for _, doc in found}
    assert {("v1", "ServiceAccount"), ("v1", "Secret"), ("v1", "ConfigMap")} <= kinds
    assert ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") in kinds
    for path, document in found:
        if (document["apiVersion"], document["kind"]) in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{path.relative_to(ROOT)}: {document['kind']} {document['metadata']['name']}: {error}")


def test_the_external_secrets_read_aws_secrets_manager_as_govuk_does() -> None:
    external = [(path, doc) for path, doc in manifests() if doc["kind"] == "ExternalSecret"]
    assert len(external) >= 5
    for path, doc in external:
        spec = doc["spec"]
        assert spec["secretStoreRef"] == {"name": "aws-secretsmanager", "kind": "ClusterSecretStore"}, path
        assert spec["target"]["name"] == doc["metadata"]["name"], path
        assert spec["data"] and all(d["remoteRef"]["key"].startswith("govuk/govuk-deploy-bot/") for d in spec["data"])
        assert path.parent.name == "govuk-deploy-bot" and path.parent.parent.name == "templates", path


def secret_keys() -> dict[str, set[str]]:
    """The keys of every Kubernetes Secret the ExternalSecrets make, by Secret name."""
    made: dict[str, set[str]] = {}
    for _, doc in manifests():
        if doc["kind"] == "ExternalSecret":
            target = doc["spec"]["target"]
            templated = (target.get("template") or {}).get("data")
            made[target["name"]] = set(templated) if templated else {d["secretKey"] for d in doc["spec"]["data"]}
    return made


def test_every_secret_the_app_entry_reads_is_made_by_an_external_secret() -> None:
    made = secret_keys()
    for variable in entry()["extraEnv"]:
        reference = (variable.get("valueFrom") or {}).get("secretKeyRef")
        if reference and not reference.get("optional"):
            assert reference["key"] in made.get(reference["name"], set()), f"{variable['name']}: {reference}"


def test_the_app_entry_sets_every_variable_the_bot_reads(tmp_path: Path) -> None:
    values = entry()
    env = {variable["name"]: variable for variable in values["extraEnv"]}
    assert values["redis"]["enabled"] is True  # the chart's Redis, and REDIS_URL set by the chart
    assert values["appPort"] == 3000  # the chart sets PORT from appPort
    assert values["kubernetesProbeEndpoints"]["readinessProbe"] == "/readyz"
    set_here = set(env) | {"PORT", "REDIS_URL"}
    missing = variables_the_bot_reads() - set_here
    assert not missing, f"read by the bot, not set in {ENTRY.relative_to(ROOT)}: {sorted(missing)}"
    assert "SLACK_APP_TOKEN" in env  # Socket Mode: Slack needs no public address

    # and what it sets loads: plain values as written, each secret a stand-in of the right shape
    bot_config = tmp_path / "bot-config.yaml"
    [config_map] = [doc for path, doc in manifests() if path == BOT_CONFIG_MAP]
    bot_config.write_text(config_map["data"]["bot-config.yaml"])
    loaded = {"PORT": "3000", "REDIS_URL": "redis://govuk-deploy-bot-redis"}
    for name, variable in env.items():
        if "value" in variable:
            value = str(variable["value"])
            for key, replacement in PRODUCTION_VALUES.items():
                value = value.replace("{{ .Values." + key + " }}", replacement)
            loaded[name] = value
        elif not variable["valueFrom"]["secretKeyRef"].get("optional"):
            loaded[name] = stand_in(name)
    loaded["BOT_CONFIG"] = str(bot_config)
    settings = load_settings(loaded)
    assert settings.slack_app_token and settings.environment_names == ["integration", "staging", "production"]
    assert set(settings.argocd_tokens) == set(settings.workflows_tokens) == set(settings.webhook_env_tokens)


def stand_in(name: str) -> str:
    if name == "SLACK_BOT_TOKEN":
        return "xoxb-" + secrets.token_hex(20)
    if name == "SLACK_APP_TOKEN":
        return "xapp-1-" + secrets.token_hex(20)
    if name == "CHARTS_REPO_URL":
        return "https://x-access-token:token@github.com/alphagov/govuk-helm-charts.git"
    if name == "GITHUB_OAUTH_CLIENT_ID":
        return "Iv1." + secrets.token_hex(8)
    return secrets.token_hex(24)


def test_argo_cd_gives_the_bot_a_read_only_api_key_account() -> None:
    values = yaml.safe_load(ARGO_CD_VALUES.read_text())
    assert values["configs"]["cm"]["accounts.govuk-deploy-bot"] == "apiKey"
    policy = [line.strip() for line in values["configs"]["rbac"]["policy.csv"].splitlines() if line.strip()]
    assert policy == [
        "p, role:govuk-deploy-bot, applications, get, govuk/*, allow",
        "p, role:govuk-deploy-bot, logs, get, govuk/*, allow",
        "g, govuk-deploy-bot, role:govuk-deploy-bot",
    ]
    added = [line[1:].strip() for line in ARGO_CD_VALUES.with_name("argo.tf.diff").read_text().splitlines()]
    assert all(line in added for line in policy)  # the Terraform change says the same
    assert '"accounts.govuk-deploy-bot" = "apiKey"' in added


def test_ci_sends_each_environment_its_own_webhook_token_and_argo_cd_notifies_the_bot() -> None:
    workflow = (GOVUK / "govuk-infrastructure" / ".github" / "workflows" / "deploy.yml.diff").read_text()
    for env in ENVIRONMENTS:
        assert f"+      WEBHOOK_TOKEN_{env}:" in workflow
        assert f"WEBHOOK_TOKEN_{env}: ${{{{ secrets.WEBHOOK_TOKEN_{env} }}}}" in workflow
    notifications = (CHARTS / "argo-services" / "config" / "argocd-notifications-config.yaml.diff").read_text()
    assert '+  - send: ["send-argo-events-webhook", "send-govuk-deploy-bot"]' in notifications
    assert '+      path: "/webhooks/argocd"' in notifications
    subscriptions = (CHARTS / "app-config" / "templates" / "govuk-application.yaml.diff").read_text()
    assert '+    notifications.argoproj.io/subscribe.on-deployed.govuk_deploy_bot: ""' in subscriptions


def test_prometheus_scrapes_the_app_container_on_its_own_port() -> None:
    [monitor] = [doc for _, doc in manifests() if doc["kind"] == "PodMonitor"]
    assert monitor["spec"]["selector"]["matchLabels"] == {"app": "govuk-deploy-bot"}
    [endpoint] = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["path"] == "/metrics" and endpoint["port"] == "http"
    assert endpoint["relabelings"][0]["regex"] == "app"
    assert entry().get("monitoring", {}).get("enabled", False) is False


def test_the_readme_names_what_deploy_govuk_makes() -> None:
    """The README's steps and deploy/govuk/ name the same Argo CD account, RBAC lines and secrets."""
    readme = (ROOT / "README.md").read_text()
    values = yaml.safe_load(ARGO_CD_VALUES.read_text())
    [account] = [key.removeprefix("accounts.") for key in values["configs"]["cm"] if key.startswith("accounts.")]
    named = set(re.findall(r"--account ([\w-]+)", readme)) | set(re.findall(r"accounts\.([\w-]+): apiKey", readme))
    assert named == {account}
    policy = {line.strip() for line in values["configs"]["rbac"]["policy.csv"].splitlines() if line.strip()}
    said = {line.strip() for line in re.findall(r"^\s*[pg], .*$", readme, re.MULTILINE) if "role:" in line}
    assert said <= policy, sorted(said - policy)
    aws_keys = set()
    for path in CHARTS.rglob("*"):
        if path.is_file():
            aws_keys |= set(re.findall(r"key: (govuk/govuk-deploy-bot/[\w-]+)", path.read_text()))
    assert set(re.findall(r"`(govuk/govuk-deploy-bot/[\w-]+)`", readme)) == aws_keys
