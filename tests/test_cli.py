"""`python -m bot check-config` and `python -m bot manifest --url URL` as subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
REQUIRED = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "CHARTS_REPO_URL", "WEBHOOK_TOKEN")
SECRET_VALUES = {
    "SLACK_BOT_TOKEN": "xoxb-secret-bot-token-4242",
    "SLACK_SIGNING_SECRET": "signing-secret-4242",
    "WEBHOOK_TOKEN": "webhook-secret-4242-0123456789abcdef",
    "GITHUB_TOKEN": "ghs_secret_github_4242",
}


def clean_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SLACK_", "REDIS_", "CHARTS_", "GITHUB_", "WEBHOOK_", "BOT_", "DEPLOY_", "ARGOCD_"))
        and key not in ("PORT", "HOST", "IMAGE_TAGS_PATH", "STUCK_AFTER_MINUTES")
    }
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    env.update(settings)
    return env


def bot(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def valid_settings(tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "bot-config.yaml"
    config.write_text("users:\n  U012AB3CD: octocat\n", encoding="utf-8")
    return {
        **SECRET_VALUES,
        "CHARTS_REPO_URL": "https://x-access-token:ghp_secret_in_url_4242@github.com/alphagov/govuk-helm-charts.git",
        "REDIS_URL": "redis://:redis-password-4242@127.0.0.1:6379/0",
        "BOT_CONFIG": str(config),
    }


# -- check-config -------------------------------------------------------------------------------


def test_check_config_names_each_missing_setting_on_its_own_line(tmp_path):
    result = bot("check-config", env=clean_env(tmp_path))
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if line.strip()]
    for name in REQUIRED:
        matching = [line for line in lines if name in line]
        assert len(matching) == 1, (name, lines)
    assert not any(all(name in line for name in REQUIRED[:2]) for line in lines), "two settings on one line"


def test_check_config_passes_with_a_valid_environment_and_never_prints_secrets(tmp_path):
    result = bot("check-config", env=clean_env(tmp_path, **valid_settings(tmp_path)))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Traceback" not in output
    for secret in [*SECRET_VALUES.values(), "ghp_secret_in_url_4242", "redis-password-4242"]:
        assert secret not in output


INVALID = {
    "PORT": "eighty",
    "REDIS_URL": "http://127.0.0.1:6379",
    "STUCK_AFTER_MINUTES": "-3",
    "SLACK_API_URL": "not a url",
    "BOT_CONFIG": "/nonexistent/bot-config.yaml",
}


def test_check_config_reports_each_invalid_setting_by_name_on_its_own_line(tmp_path):
    result = bot("check-config", env=clean_env(tmp_path, **{**valid_settings(tmp_path), **INVALID}))
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    lines = output.splitlines()
    for name in INVALID:
        assert len([line for line in lines if name in line]) == 1, (name, lines)
    for secret in SECRET_VALUES.values():
        assert secret not in output


def test_check_config_reports_a_broken_config_file_and_every_other_problem(tmp_path):
    config = tmp_path / "broken.yaml"
    config.write_text("users:\n  U012AB3CD: [octocat\n", encoding="utf-8")
    result = bot("check-config", env=clean_env(tmp_path, BOT_CONFIG=str(config)))
    output = result.stdout + result.stderr
    assert result.returncode == 1
    assert "Traceback" not in output
    assert "BOT_CONFIG" in output and "YAML" in output
    for name in REQUIRED:
        assert name in output


# -- manifest -----------------------------------------------------------------------------------


def test_manifest_points_the_command_and_interactivity_at_the_url(tmp_path):
    result = bot("manifest", "--url", "https://x.example", env=clean_env(tmp_path))
    assert result.returncode == 0, result.stderr
    text = result.stdout
    for word in ("/deploy", "interactivity", "commands", "chat:write"):
        assert word in text
    manifest = yaml.safe_load(text)
    [command] = [c for c in manifest["features"]["slash_commands"] if c["command"] == "/deploy"]
    assert command["url"].startswith("https://x.example")
    interactivity = manifest["settings"]["interactivity"]
    assert interactivity["is_enabled"] is True
    assert interactivity["request_url"].startswith("https://x.example")
    assert command["url"] == interactivity["request_url"] == "https://x.example/slack/events"
    scopes = manifest["oauth_config"]["scopes"]["bot"]
    assert "commands" in scopes and "chat:write" in scopes


def test_manifest_keeps_a_path_and_does_not_double_slack_events(tmp_path):
    result = bot("manifest", "--url", "https://x.example/bot/slack/events/", env=clean_env(tmp_path))
    assert result.returncode == 0, result.stderr
    manifest = yaml.safe_load(result.stdout)
    assert manifest["settings"]["interactivity"]["request_url"] == "https://x.example/bot/slack/events"


@pytest.mark.parametrize("url", ["x.example", "ftp://x.example", "https://"])
def test_manifest_with_a_bad_url_exits_1_without_a_traceback(tmp_path, url):
    result = bot("manifest", "--url", url, env=clean_env(tmp_path))
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    assert "--url" in result.stderr
    assert result.stdout == ""


def test_manifest_for_socket_mode_has_no_request_urls(tmp_path):
    result = bot("manifest", "--socket-mode", env=clean_env(tmp_path))
    assert result.returncode == 0, result.stderr
    manifest = yaml.safe_load(result.stdout)
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert manifest["settings"]["interactivity"] == {"is_enabled": True}
    [command] = [c for c in manifest["features"]["slash_commands"] if c["command"] == "/deploy"]
    assert "url" not in command
    assert "request_url" not in result.stdout and "url:" not in result.stdout


def test_manifest_without_url_or_socket_mode_says_what_it_needs(tmp_path):
    result = bot("manifest", env=clean_env(tmp_path))
    assert result.returncode == 1
    assert "--url is required" in result.stderr and "--socket-mode" in result.stderr
    assert "Traceback" not in result.stderr


# -- serve never deletes a folder it did not make ----------------------------------------------------


def test_serve_refuses_a_charts_workdir_it_did_not_make_and_keeps_every_file(tmp_path):
    from tests.support.charts import make_charts_remote

    remote = make_charts_remote(tmp_path)
    home = tmp_path / "someones-home"
    home.mkdir()
    (home / "precious.txt").write_text("years of work\n", encoding="utf-8")
    (home / "notes").mkdir()
    env = clean_env(
        tmp_path,
        **{
            **valid_settings(tmp_path),
            "CHARTS_REPO_URL": remote.url,
            "CHARTS_WORKDIR": str(home),
            "REDIS_URL": "memory://",
            "HOST": "127.0.0.1",
            "PORT": "0",
        },
    )
    result = bot("serve", env=env)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if "CHARTS_WORKDIR" in line]
    assert len(lines) == 1 and str(home) in lines[0], output
    assert (home / "precious.txt").read_text(encoding="utf-8") == "years of work\n"
    assert sorted(p.name for p in home.iterdir()) == ["notes", "precious.txt"]


def test_check_config_reports_a_webhook_token_for_an_unknown_environment(tmp_path):
    env = clean_env(tmp_path, **valid_settings(tmp_path), WEBHOOK_TOKEN_PRODUCTON="typo-token-4242-0123456789abcdef")
    result = bot("check-config", env=env)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "WEBHOOK_TOKEN_PRODUCTON names no configured environment" in output
    assert "typo-token-4242" not in output


# -- serve ---------------------------------------------------------------------------------------


def test_serve_refuses_a_bad_tuning_variable_by_name_without_a_traceback(tmp_path):
    env = clean_env(tmp_path, **valid_settings(tmp_path), DEPLOYBOT_HEARTBEAT_SECONDS="soon")
    result = bot("serve", env=env)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "DEPLOYBOT_HEARTBEAT_SECONDS must be a number of seconds" in output
    assert "Traceback" not in output


def test_check_config_refuses_a_short_webhook_token_and_one_login_mapped_twice_one_line_each(tmp_path):
    config = tmp_path / "twice.yaml"
    config.write_text("users:\n  U012AB3CD: prod-dev\n  U0ABCDEF2: Prod-Dev\n", encoding="utf-8")
    settings = {**valid_settings(tmp_path), "WEBHOOK_TOKEN": "abc", "BOT_CONFIG": str(config)}
    result = bot("check-config", env=clean_env(tmp_path, **settings, WEBHOOK_TOKEN_STAGING="short"))
    output = result.stdout + result.stderr
    assert result.returncode == 1 and "Traceback" not in output
    lines = output.splitlines()
    assert len([line for line in lines if "WEBHOOK_TOKEN must be at least 32 characters" in line]) == 1, lines
    assert len([line for line in lines if "WEBHOOK_TOKEN_STAGING must be at least 32 characters" in line]) == 1
    assert len([line for line in lines if "prod-dev" in line and "U0ABCDEF2" in line]) == 1
