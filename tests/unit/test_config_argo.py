"""Settings for reading Argo CD and Argo Workflows: tokens, interval, namespaces, team channels."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Secret, load_settings
from tests.unit.test_config import config_file, problems_for

CONFIG = """\
environments:
  - name: integration
    team: gov-uk
  - name: staging-eu
    team: gov-uk-production
    workflows_namespace: post-sync
team_channels:
  whitehall: "#whitehall-notifications"
  router: C0ROUTER1
"""


def test_defaults_read_nothing_extra(tmp_path: Path) -> None:
    settings = load_settings({"XDG_CACHE_HOME": str(tmp_path)}, require_serve=False)
    assert settings.workflows_tokens == {}
    assert settings.reconcile_seconds == 30
    assert settings.team_channels == {}
    assert [e.workflows_namespace for e in settings.environments] == ["apps", "apps", "apps"]


def test_workflow_tokens_namespaces_and_team_channels_are_read(tmp_path: Path) -> None:
    env = {
        "BOT_CONFIG": config_file(tmp_path, CONFIG),
        "ARGO_WORKFLOWS_TOKEN_STAGING_EU": " wf-staging-secret ",
        "ARGO_WORKFLOWS_TOKEN_PRODUCTION": "not-an-environment-here",
        "ARGOCD_TOKEN_INTEGRATION": "argocd-int",
        "RECONCILE_SECONDS": "0",
    }
    settings = load_settings(env, require_serve=False)
    assert settings.workflows_tokens == {"staging-eu": Secret("wf-staging-secret")}
    assert settings.argocd_tokens == {"integration": Secret("argocd-int")}
    assert settings.reconcile_seconds == 0  # off
    assert settings.environment("staging-eu").workflows_namespace == "post-sync"
    assert settings.environment("integration").workflows_namespace == "apps"
    assert settings.team_channels == {"whitehall": "whitehall-notifications", "router": "C0ROUTER1"}
    assert "wf-staging-secret" not in repr(settings)


@pytest.mark.parametrize(("value", "problem"), [("-1", "RECONCILE_SECONDS"), ("thirty", "RECONCILE_SECONDS"), ("999999", "RECONCILE_SECONDS")])  # fmt: skip
def test_a_bad_interval_is_one_plain_problem(value: str, problem: str) -> None:
    (found,) = problems_for({"RECONCILE_SECONDS": value})
    assert found.startswith(problem) and value in found


def test_bad_namespaces_and_team_channels_are_named(tmp_path: Path) -> None:
    text = """\
environments:
  - name: integration
    team: gov-uk
    workflows_namespace: "../kube-system"
team_channels:
  "Not An App": whitehall
  router: "bad channel!"
"""
    problems = problems_for({"BOT_CONFIG": config_file(tmp_path, text)})
    assert len(problems) == 3
    assert "workflows_namespace '../kube-system' is not a Kubernetes namespace" in problems[0]
    assert any("'Not An App' is not an app name" in p for p in problems)
    assert any("router maps to 'bad channel!'" in p for p in problems)


def test_team_channels_must_be_a_mapping(tmp_path: Path) -> None:
    (problem,) = problems_for({"BOT_CONFIG": config_file(tmp_path, "team_channels: [whitehall]\n")})
    assert problem == "team_channels must map app names to Slack channels."


def test_the_names_argo_is_read_by_default_to_govuks(tmp_path: Path) -> None:
    settings = load_settings({"XDG_CACHE_HOME": str(tmp_path)}, require_serve=False)
    assert settings.argocd_project == "govuk"
    assert settings.tests_workflow_template == "post-sync"
    assert settings.log_container == "app"
    assert settings.registry_path == "govuk"
    # GOV.UK's deploy team for staging and production: its CI gate and Argo CD's read-write team
    assert [e.team for e in settings.environments] == ["gov-uk", "gov-uk-production-deploy", "gov-uk-production-deploy"]


def test_the_names_argo_is_read_by_come_from_bot_config(tmp_path: Path) -> None:
    text = "argocd_project: govuk-apps\ntests_workflow_template: smoke-tests\nlog_container: web\nregistry_path: alphagov\n"
    settings = load_settings({"BOT_CONFIG": config_file(tmp_path, text)}, require_serve=False)
    assert (settings.argocd_project, settings.tests_workflow_template) == ("govuk-apps", "smoke-tests")
    assert (settings.log_container, settings.registry_path) == ("web", "alphagov")


@pytest.mark.parametrize("key", ["argocd_project", "tests_workflow_template", "log_container", "registry_path"])
def test_a_name_that_could_bend_a_query_is_refused(tmp_path: Path, key: str) -> None:
    found = problems_for({"BOT_CONFIG": config_file(tmp_path, f"{key}: 'govuk&projects=*'\n")})
    assert len(found) == 1 and found[0].startswith(key), found
