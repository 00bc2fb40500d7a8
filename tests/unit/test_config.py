"""bot.config: defaults, BOT_CONFIG parsing, one plain line per problem, secrets never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, Environment, Secret, Settings, load_settings

SERVE_ENV = {
    "SLACK_BOT_TOKEN": "xoxb-very-secret-bot-token",
    "SLACK_SIGNING_SECRET": "signing-secret-9f8e7d",
    "CHARTS_REPO_URL": "https://x-access-token:ghs_chartsSecret123@github.com/alphagov/govuk-helm-charts.git",
    "WEBHOOK_TOKEN": "webhook-token-abc123-0123456789abcdef",
    "GITHUB_TOKEN": "ghs_githubSecret456",
    "REDIS_URL": "rediss://:redisPassw0rd@redis.example:6380/0",
    "ARGOCD_TOKEN_INTEGRATION": "argocd-int-secret",
    "ARGOCD_TOKEN_PRODUCTION": "argocd-prod-secret",
    "WEBHOOK_TOKEN_INTEGRATION": "webhook-int-secret-0123456789abcdef",
    "BUTTON_SIGNING_KEY": "button-key-secret-000001-0123456789",
    "BUTTON_SIGNING_KEY_PREVIOUS": "button-key-secret-000000-0123456789",
}
SECRET_VALUES = [
    "xoxb-very-secret-bot-token",
    "signing-secret-9f8e7d",
    "ghs_chartsSecret123",
    "webhook-token-abc123-0123456789abcdef",
    "ghs_githubSecret456",
    "redisPassw0rd",
    "argocd-int-secret",
    "argocd-prod-secret",
    "webhook-int-secret-0123456789abcdef",
    "button-key-secret-000001-0123456789",
    "button-key-secret-000000-0123456789",
]

FULL_CONFIG = """\
github_org: alphagov
alerts_channel: govuk-deploy-alerts
environments:
  - name: integration
    team: gov-uk
    argocd_url: https://argo.eks.integration.govuk.digital
    workflows_url: https://argo-workflows.eks.integration.govuk.digital
  - name: staging
    team: gov-uk-production
    argocd_url: https://argo.eks.staging.govuk.digital/
    workflows_url: https://argo-workflows.eks.staging.govuk.digital
  - name: production
    team: gov-uk-production
users:
  U012AB3CD: octocat
  W0ABCDEF1: hubot
"""


def config_file(tmp_path: Path, text: str | bytes, name: str = "bot.yaml") -> str:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return str(path)


def problems_for(env: dict[str, str], *, require_serve: bool = False) -> list[str]:
    with pytest.raises(ConfigError) as error:
        load_settings(env, require_serve=require_serve)
    problems = error.value.problems
    assert str(error.value) == "\n".join(problems)
    for problem in problems:
        assert problem.strip() and "\n" not in problem and "Traceback" not in problem
    return problems


# -- defaults ---------------------------------------------------------------------------------


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings({"XDG_CACHE_HOME": str(tmp_path)}, require_serve=False)  # the user's cache dir
    assert settings.environment_names == ["integration", "staging", "production"]
    assert [e.team for e in settings.environments] == ["gov-uk", "gov-uk-production-deploy", "gov-uk-production-deploy"]
    assert settings.environment("staging") == Environment(
        "staging",
        "gov-uk-production-deploy",
        "https://argo.eks.staging.govuk.digital",
        "https://argo-workflows.eks.staging.govuk.digital",
    )
    assert settings.users == {}
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.alerts_channel == "govuk-deploy-alerts"
    assert settings.charts_repo_branch == "main"
    assert settings.charts_workdir == tmp_path / "govuk-deploy-bot" / "charts"
    assert settings.image_tags_path == "charts/app-config/image-tags"
    assert (settings.git_author_name, settings.git_author_email) == (
        "govuk-deploy-bot",
        "govuk-deploy-bot@users.noreply.github.com",
    )
    assert settings.github_api_url == "https://api.github.com"
    assert settings.github_org == "alphagov"
    assert not settings.github_token
    assert settings.redis_url.reveal() == "memory://"
    assert settings.redis_prefix == "deploybot:"
    assert settings.argocd_tokens == {}
    assert settings.stuck_after_minutes == 20
    assert (settings.host, settings.port) == ("0.0.0.0", 3000)
    assert settings.config_path is None


def test_serve_settings_come_from_the_environment() -> None:
    settings = load_settings(
        {
            **SERVE_ENV,
            "SLACK_API_URL": "http://127.0.0.1:9999/api/",
            "DEPLOY_ALERTS_CHANNEL": "#deploys",
            "CHARTS_REPO_BRANCH": "release/main",
            "CHARTS_WORKDIR": "/var/cache/charts",
            "IMAGE_TAGS_PATH": "/charts/tags/",
            "GITHUB_ORG": "govuk-one",
            "REDIS_PREFIX": "bot1:",
            "STUCK_AFTER_MINUTES": "45",
            "HOST": "127.0.0.1",
            "PORT": "8080",
        }
    )
    assert settings.slack_bot_token.reveal() == "xoxb-very-secret-bot-token"
    assert settings.webhook_token.reveal() == "webhook-token-abc123-0123456789abcdef"
    assert settings.slack_api_url == "http://127.0.0.1:9999/api/"
    assert settings.alerts_channel == "deploys"
    assert settings.charts_repo_branch == "release/main"
    assert settings.charts_workdir == Path("/var/cache/charts")
    assert settings.image_tags_path == "charts/tags"
    assert settings.github_org == "govuk-one"
    assert settings.redis_prefix == "bot1:"
    assert (settings.stuck_after_minutes, settings.host, settings.port) == (45, "127.0.0.1", 8080)
    assert {env: token.reveal() for env, token in settings.argocd_tokens.items()} == {
        "integration": "argocd-int-secret",
        "production": "argocd-prod-secret",
    }


def test_serve_requires_its_four_settings_one_line_each() -> None:
    problems = problems_for({}, require_serve=True)
    assert problems == [
        "SLACK_BOT_TOKEN is required but not set.",
        "SLACK_SIGNING_SECRET is required but not set.",
        "CHARTS_REPO_URL is required but not set.",
        "WEBHOOK_TOKEN is required but not set.",
    ]
    assert problems_for({**SERVE_ENV, "WEBHOOK_TOKEN": "   "}, require_serve=True) == [
        "WEBHOOK_TOKEN is required but not set."
    ]


# -- BOT_CONFIG -------------------------------------------------------------------------------


def test_full_config_file(tmp_path: Path) -> None:
    path = config_file(tmp_path, FULL_CONFIG)
    settings = load_settings({"BOT_CONFIG": path}, require_serve=False)
    assert settings.config_path == path
    assert settings.environment_names == ["integration", "staging", "production"]
    assert settings.environment("staging").argocd_url == "https://argo.eks.staging.govuk.digital"  # no trailing /
    assert settings.environment("production").argocd_url == "https://argo.eks.production.govuk.digital"
    assert settings.users == {"U012AB3CD": "octocat", "W0ABCDEF1": "hubot"}
    assert settings.next_environment("integration").name == "staging"
    assert settings.next_environment("production") is None
    assert settings.previous_environment("staging").name == "integration"
    assert settings.previous_environment("integration") is None
    assert settings.environment("nowhere") is None
    assert (
        settings.environment("integration").argocd_app_url("whitehall-admin")
        == "https://argo.eks.integration.govuk.digital/applications/whitehall-admin"
    )
    assert path in settings.user_admins_hint


def test_environment_variables_override_the_file(tmp_path: Path) -> None:
    path = config_file(tmp_path, "github_org: from-file\nalerts_channel: '#from-file'\n")
    from_file = load_settings({"BOT_CONFIG": path}, require_serve=False)
    assert (from_file.github_org, from_file.alerts_channel) == ("from-file", "from-file")
    overridden = load_settings(
        {"BOT_CONFIG": path, "GITHUB_ORG": "from-env", "DEPLOY_ALERTS_CHANNEL": "C0ALERTS"}, require_serve=False
    )
    assert (overridden.github_org, overridden.alerts_channel) == ("from-env", "C0ALERTS")


def test_custom_environments_and_argocd_token_names(tmp_path: Path) -> None:
    path = config_file(
        tmp_path, "environments:\n  - name: test-env\n    team: platform\n  - name: live\n    team: ops\n"
    )
    settings = load_settings({"BOT_CONFIG": path, "ARGOCD_TOKEN_TEST_ENV": "t1"}, require_serve=False)
    assert settings.environment_names == ["test-env", "live"]
    assert settings.environment("test-env").argocd_url == "https://argo.eks.test-env.govuk.digital"
    assert settings.argocd_tokens["test-env"].reveal() == "t1"


@pytest.mark.parametrize("text", ["", "# nothing here\n", "---\n"])
def test_empty_config_file_means_defaults(tmp_path: Path, text: str) -> None:
    settings = load_settings({"BOT_CONFIG": config_file(tmp_path, text)}, require_serve=False)
    assert settings.environment_names == ["integration", "staging", "production"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("environments: [\n", "not valid YAML at line"),
        ("- just\n- a list\n", "must be a mapping of settings"),
        ("colour: blue\n", "unknown setting 'colour'"),
        ("environments: []\n", "environments must be a non-empty list"),
        ("environments: staging\n", "environments must be a non-empty list"),
        ("environments:\n  - staging\n", "environments[1] must be a mapping"),
        ("environments:\n  - name: Staging!\n    team: ops\n", "environments[1].name 'Staging!'"),
        ("environments:\n  - name: staging\n    team: Ops Team\n", "team 'Ops Team' is not a GitHub team slug"),
        ("environments:\n  - {name: a, team: t}\n  - {name: a, team: t}\n", "a is listed twice"),
        ("environments:\n  - {name: a, team: t, argocd_url: 'ftp://x'}\n", "argocd_url must be an http(s) URL"),
        ("users: [U012AB3CD]\n", "users must map Slack user IDs to GitHub logins"),
        ("users:\n  octocat: U012AB3CD\n", "'octocat' is not a Slack user ID"),
        ("users:\n  U012AB3CD: -bad-login\n", "U012AB3CD maps to '-bad-login', which is not a GitHub login"),
        ("users:\n  U012AB3CD:\n", "U012AB3CD maps to ''"),
        ("github_org: 'not an org'\n", "GITHUB_ORG 'not an org' is not a GitHub organisation name"),
        ("environments:\n  - {name: a, team: t, approvals_required: 2}\n", "approvals_required must be 0 or 1"),
        ("environments:\n  - {name: a, team: t, approvals_required: yes}\n", "approvals_required must be 0 or 1"),
    ],
)
def test_each_config_file_problem_is_one_plain_line(tmp_path: Path, text: str, expected: str) -> None:
    problems = problems_for({"BOT_CONFIG": config_file(tmp_path, text)})
    assert any(expected in problem for problem in problems), problems


def test_unreadable_config_file(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.yaml")
    assert problems_for({"BOT_CONFIG": missing}) == [
        f"BOT_CONFIG {missing}: cannot be read (No such file or directory)."
    ]
    assert problems_for({"BOT_CONFIG": str(tmp_path)}) == [f"BOT_CONFIG {tmp_path}: cannot be read (Is a directory)."]


def test_config_file_that_is_not_utf8_is_a_problem_line(tmp_path: Path) -> None:
    problems_for({"BOT_CONFIG": config_file(tmp_path, b"\xff\xfeusers: {}\n")})


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = config_file(tmp_path, "colour: blue\nusers:\n  nobody: octocat\n")
    problems = problems_for(
        {
            "BOT_CONFIG": path,
            "SLACK_API_URL": "slack.com/api",
            "GITHUB_API_URL": "ftp://github",
            "REDIS_URL": "mysql://db",
            "PORT": "99999",
            "STUCK_AFTER_MINUTES": "soon",
            "CHARTS_REPO_BRANCH": "-evil",
            "IMAGE_TAGS_PATH": "../outside",
        },
        require_serve=True,
    )
    expected = [
        "unknown setting 'colour'",
        "SLACK_BOT_TOKEN is required",
        "SLACK_SIGNING_SECRET is required",
        "CHARTS_REPO_URL is required",
        "WEBHOOK_TOKEN is required",
        "'nobody' is not a Slack user ID",
        "SLACK_API_URL must be an http(s) URL, got 'slack.com/api'",
        "GITHUB_API_URL must be an http(s) URL",
        "REDIS_URL must start with redis://",
        "PORT must be a whole number from",
        "STUCK_AFTER_MINUTES must be a whole number from 1 to 1440, got 'soon'",
        "CHARTS_REPO_BRANCH '-evil' is not a safe branch name",
        "IMAGE_TAGS_PATH must be a relative path",
    ]
    for fragment in expected:
        assert sum(fragment in problem for problem in problems) == 1, (fragment, problems)
    assert len(problems) == len(expected)


@pytest.mark.parametrize(
    ("name", "value"),
    [("PORT", "-1"), ("PORT", "80.5"), ("PORT", "65536"), ("PORT", "http"), ("STUCK_AFTER_MINUTES", "0")],
)
def test_bad_numbers(name: str, value: str) -> None:
    (problem,) = problems_for({name: value})
    assert problem.startswith(f"{name} must be a whole number from ") and problem.endswith(f"got {value!r}.")


def test_superscript_digits_are_a_problem_not_a_traceback() -> None:
    problems_for({"PORT": "²"})


def test_long_values_are_cut_short_in_problems() -> None:
    (problem,) = problems_for({"SLACK_API_URL": "x" * 500})
    assert len(problem) < 150 and "..." in problem


# -- secrets ----------------------------------------------------------------------------------


def test_secret_never_shows_itself() -> None:
    secret = Secret("hunter2")
    for shown in (repr(secret), str(secret), f"{secret}", f"{secret!r}", format(secret, "")):
        assert "hunter2" not in shown
    assert secret.reveal() == "hunter2"
    assert secret == Secret("hunter2") and secret != Secret("other") and secret != "hunter2"
    assert bool(secret) and not Secret("")


def test_settings_never_show_secrets(tmp_path: Path) -> None:
    settings = load_settings({**SERVE_ENV, "BOT_CONFIG": config_file(tmp_path, FULL_CONFIG)})
    assert isinstance(settings, Settings)
    for shown in (
        repr(settings),
        str(settings),
        f"{settings}",
        str(vars(settings) if hasattr(settings, "__dict__") else ""),
    ):
        for value in SECRET_VALUES:
            assert value not in shown, value


def test_problems_never_show_secrets() -> None:
    problems = problems_for({**SERVE_ENV, "REDIS_URL": "mysql://:redisPassw0rd@db", "PORT": "x"})
    for value in SECRET_VALUES:
        assert all(value not in problem for problem in problems)


# -- tokens bound to environments, ci_environments and button keys -------------------


def test_each_environment_may_have_its_own_webhook_token(tmp_path: Path) -> None:
    settings = load_settings({**SERVE_ENV, "WEBHOOK_TOKEN_STAGING": "webhook-stg-secret-0123456789abcdef"})
    assert {env: token.reveal() for env, token in settings.webhook_env_tokens.items()} == {
        "integration": "webhook-int-secret-0123456789abcdef",
        "staging": "webhook-stg-secret-0123456789abcdef",
    }
    assert all(isinstance(token, Secret) for token in settings.webhook_env_tokens.values())
    path = config_file(tmp_path, "environments:\n  - name: test-env\n    team: platform\n")
    custom = load_settings({"BOT_CONFIG": path, "WEBHOOK_TOKEN_TEST_ENV": "t1" * 16}, require_serve=False)
    assert custom.webhook_env_tokens["test-env"].reveal() == "t1" * 16


def test_a_webhook_token_for_no_configured_environment_is_a_problem() -> None:
    problems = problems_for({"WEBHOOK_TOKEN_PRODUCTON": "webhook-typo-secret"})
    assert problems == [
        "WEBHOOK_TOKEN_PRODUCTON names no configured environment (known: WEBHOOK_TOKEN_INTEGRATION, "
        "WEBHOOK_TOKEN_PRODUCTION, WEBHOOK_TOKEN_STAGING)."
    ]


def test_webhook_tokens_must_all_differ() -> None:
    problems = problems_for(
        {
            "WEBHOOK_TOKEN": "same-secret-0123456789abcdef012345",
            "WEBHOOK_TOKEN_STAGING": "same-secret-0123456789abcdef012345",
            "WEBHOOK_TOKEN_PRODUCTION": "other-secret-0123456789abcdef01234",
        }
    )
    assert problems == ["WEBHOOK_TOKEN_STAGING is the same as WEBHOOK_TOKEN; every webhook token must differ."]
    problems = problems_for(
        {
            "WEBHOOK_TOKEN_STAGING": "same-secret-0123456789abcdef012345",
            "WEBHOOK_TOKEN_PRODUCTION": "same-secret-0123456789abcdef012345",
        }
    )
    assert problems == [
        "WEBHOOK_TOKEN_STAGING is the same as WEBHOOK_TOKEN_PRODUCTION; every webhook token must differ."
    ]


def test_ci_environments_default_to_the_first_environment(tmp_path: Path) -> None:
    assert load_settings({}, require_serve=False).ci_environments == ("integration",)
    path = config_file(tmp_path, "environments:\n  - {name: dev, team: t}\n  - {name: live, team: t}\n")
    assert load_settings({"BOT_CONFIG": path}, require_serve=False).ci_environments == ("dev",)
    path = config_file(tmp_path, "ci_environments: [integration, staging]\n", name="two.yaml")
    assert load_settings({"BOT_CONFIG": path}, require_serve=False).ci_environments == ("integration", "staging")
    path = config_file(tmp_path, "ci_environments: []\n", name="none.yaml")
    assert load_settings({"BOT_CONFIG": path}, require_serve=False).ci_environments == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ci_environments: [integraton]\n", "ci_environments: 'integraton' is not a configured environment"),
        ("ci_environments: integration\n", "ci_environments must be a list of environment names"),
        ("ci_environments: [1]\n", "ci_environments must be a list of environment names"),
    ],
)
def test_bad_ci_environments_are_a_problem(tmp_path: Path, text: str, expected: str) -> None:
    problems = problems_for({"BOT_CONFIG": config_file(tmp_path, text)})
    assert any(expected in problem for problem in problems), problems


def test_button_keys_are_secrets_of_a_useful_length() -> None:
    settings = load_settings(SERVE_ENV)
    assert settings.button_signing_key == Secret("button-key-secret-000001-0123456789")
    assert settings.button_signing_key_previous == Secret("button-key-secret-000000-0123456789")
    assert load_settings({}, require_serve=False).button_signing_key == Secret("")
    assert problems_for({"BUTTON_SIGNING_KEY": "short", "BUTTON_SIGNING_KEY_PREVIOUS": "tiny"}) == [
        "BUTTON_SIGNING_KEY must be at least 32 characters long (it has 5).",
        "BUTTON_SIGNING_KEY_PREVIOUS must be at least 32 characters long (it has 4).",
    ]


def test_approvals_and_device_flow_settings(tmp_path: Path) -> None:
    text = "environments:\n  - {name: a, team: t}\n  - {name: b, team: t, approvals_required: 1}\n"
    settings = load_settings({"BOT_CONFIG": config_file(tmp_path, text)}, require_serve=False)
    assert [e.approvals_required for e in settings.environments] == [0, 1]
    assert (settings.github_url, settings.github_oauth_client_id) == ("https://github.com", "")
    settings = load_settings(
        {"GITHUB_URL": "https://ghe.example/", "GITHUB_OAUTH_CLIENT_ID": "Iv1.abc123"}, require_serve=False
    )
    assert (settings.github_url, settings.github_oauth_client_id) == ("https://ghe.example", "Iv1.abc123")
    assert problems_for({"GITHUB_URL": "ftp://x"}) == ["GITHUB_URL must be an http(s) URL, got 'ftp://x'."]
    assert "is not an OAuth app client ID" in problems_for({"GITHUB_OAUTH_CLIENT_ID": "a b"})[0]


# -- secrets long enough to resist guessing, and one login per person (SPEC 13) ---------------


@pytest.mark.parametrize(
    "name", ["WEBHOOK_TOKEN", "WEBHOOK_TOKEN_STAGING", "BUTTON_SIGNING_KEY", "BUTTON_SIGNING_KEY_PREVIOUS"]
)
def test_a_webhook_token_or_button_key_under_32_characters_is_one_plain_problem(name: str) -> None:
    short = "x" * 31
    problems = problems_for({name: short})
    assert problems == [f"{name} must be at least 32 characters long (it has 31)."]
    assert load_settings({name: "y" * 32}, require_serve=False)


def test_a_users_map_naming_one_github_login_twice_in_any_case_is_one_plain_problem(tmp_path: Path) -> None:
    text = "users:\n  U012AB3CD: prod-dev\n  U0ABCDEF2: Prod-Dev\n  U0ABCDEF3: octocat\n"
    problems = problems_for({"BOT_CONFIG": config_file(tmp_path, text)})
    assert problems == ["users: U012AB3CD and U0ABCDEF2 both map to the GitHub login prod-dev; one login per person."]
