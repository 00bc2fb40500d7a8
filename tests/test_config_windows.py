"""BOT_CONFIG's deploy windows, timezone and no_deploy_days, and check-config."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings

ROOT = Path(__file__).resolve().parents[1]
GOVUK_RULES = """\
environments:
  - name: integration
    team: gov-uk
  - name: staging
    team: gov-uk-production
  - name: production
    team: gov-uk-production
    deploy_windows:
      - {days: [mon, tue, wed, thu], start: "09:30", end: "17:00"}
      - {days: [fri], start: "09:30", end: "16:00"}
timezone: Europe/London
no_deploy_days: [2026-12-25]
"""


def load(tmp_path: Path, text: str):
    path = tmp_path / "bot.yaml"
    path.write_text(text, encoding="utf-8")
    return load_settings({"BOT_CONFIG": str(path)}, require_serve=False)


def test_govuk_rules_load_for_production_only(tmp_path):
    settings = load(tmp_path, GOVUK_RULES)
    assert settings.timezone == "Europe/London"
    assert settings.no_deploy_days == {date(2026, 12, 25)}
    assert settings.environment("production").deploy_windows[1].end == time(16, 0)
    assert settings.deploy_windows("integration").always_open
    production = settings.deploy_windows("production")
    assert production.is_open(datetime(2026, 11, 30, 10, 0, tzinfo=UTC))
    assert not production.is_open(datetime(2026, 12, 25, 10, 0, tzinfo=UTC))


def test_without_windows_every_environment_is_always_open(tmp_path):
    settings = load_settings({}, require_serve=False)
    assert settings.timezone == "Europe/London" and settings.no_deploy_days == frozenset()
    assert all(settings.deploy_windows(name).always_open for name in settings.environment_names)


def test_bad_windows_zone_and_days_are_plain_problem_lines(tmp_path):
    path = tmp_path / "bot.yaml"
    path.write_text(
        "environments:\n  - name: production\n    team: gov-uk-production\n"
        "    deploy_windows: [{days: [someday], start: '09:30', end: '17:00'}]\n"
        "timezone: Nowhere/Special\nno_deploy_days: 2026-12-25\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as error:
        load_settings({"BOT_CONFIG": str(path)}, require_serve=False)
    assert error.value.problems == [
        "environments[1] (production): deploy_windows[1]: days must be a list of mon, tue, wed, thu, fri, sat, sun.",
        "timezone 'Nowhere/Special' is not a time zone name like Europe/London.",
        "no_deploy_days must be a list of dates like 2026-12-25.",
    ]


def test_check_config_names_the_windowed_environments(tmp_path):
    path = tmp_path / "bot.yaml"
    path.write_text(GOVUK_RULES, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "bot", "check-config"],
        cwd=ROOT,
        env={
            "BOT_CONFIG": str(path),
            "PATH": "/usr/bin:/bin",
            "SLACK_BOT_TOKEN": "x",
            "SLACK_SIGNING_SECRET": "y",
            "CHARTS_REPO_URL": "file:///tmp/none",
            "WEBHOOK_TOKEN": "z" * 32,
            "HOME": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Deploy windows in production (Europe/London)." in done.stdout
