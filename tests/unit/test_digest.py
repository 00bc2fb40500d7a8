"""bot.reports.digest: when the weekly digest is due, which week it belongs to; its config and its words."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot import messages
from bot.config import ConfigError, load_settings
from bot.reports.digest import GRACE_SECONDS, due, this_weeks_moment, week_of
from bot.reports.stats import compute

LONDON = ZoneInfo("Europe/London")


def london(*args: int) -> float:
    return datetime(*args, tzinfo=LONDON).timestamp()


def test_the_moment_is_this_weeks_day_and_time_in_the_zone_summer_time_too() -> None:
    # Thursday 3 December 2026: the week began on Monday 30 November
    assert this_weeks_moment("mon 09:30", LONDON, london(2026, 12, 3, 15, 0)) == datetime(
        2026, 11, 30, 9, 30, tzinfo=LONDON
    )
    # in July London is UTC+1: 09:30 there is 08:30 UTC
    moment = this_weeks_moment("mon 09:30", LONDON, london(2026, 7, 8, 12, 0))
    assert moment.astimezone(UTC).hour == 8 and moment.astimezone(UTC).minute == 30
    assert this_weeks_moment("sun 23:59", LONDON, london(2026, 12, 3, 15, 0)).day == 6


def test_it_is_due_only_within_a_minute_after_the_moment() -> None:
    moment = london(2026, 11, 30, 9, 30)
    assert due("mon 09:30", LONDON, moment - 1) is None
    assert due("mon 09:30", LONDON, moment) is not None
    assert due("mon 09:30", LONDON, moment + GRACE_SECONDS) is not None
    # a bot started later that week posts nothing for it
    assert due("mon 09:30", LONDON, moment + GRACE_SECONDS + 1) is None
    assert due("mon 09:30", LONDON, london(2026, 12, 3, 9, 30, 10)) is None


def test_the_claim_is_keyed_by_the_iso_week() -> None:
    assert week_of(datetime(2026, 11, 30, 9, 30, tzinfo=LONDON)) == "2026-W49"
    assert week_of(datetime(2027, 1, 1, 9, 30, tzinfo=LONDON)) == "2026-W53"


def settings_with(tmp_path: Path, lines: str):
    path = tmp_path / "digest.yaml"
    path.write_text(lines, encoding="utf-8")
    return load_settings({"BOT_CONFIG": str(path)}, require_serve=False)


def test_digest_at_defaults_to_monday_0930_and_takes_day_names(tmp_path) -> None:
    assert load_settings({}, require_serve=False).digest_at == "mon 09:30"
    assert load_settings({}, require_serve=False).digest is True
    assert settings_with(tmp_path, 'digest_at: "Friday 16:05"\n').digest_at == "fri 16:05"
    assert settings_with(tmp_path, "digest_at: tue 7:00\n").digest_at == "tue 07:00"
    assert settings_with(tmp_path, "digest: false\n").digest is False


@pytest.mark.parametrize("bad", ['"someday 09:30"', '"mon 25:00"', '"mon"', "930", '"mon 09:60"'])
def test_a_bad_digest_at_is_one_plain_line(tmp_path, bad: str) -> None:
    with pytest.raises(ConfigError) as error:
        settings_with(tmp_path, f"digest_at: {bad}\n")
    [problem] = error.value.problems
    assert problem.startswith("digest_at must be a day and a time of day like")


def test_digest_must_be_true_or_false(tmp_path) -> None:
    with pytest.raises(ConfigError) as error:
        settings_with(tmp_path, "digest: sometimes\n")
    assert error.value.problems == ["digest must be true or false, got 'sometimes'."]


def record(when: float, action: str, app: str, env: str, tag: str, **extra: str) -> dict:
    at = datetime.fromtimestamp(when, UTC).isoformat().replace("+00:00", "Z")
    return {"at": at, "action": action, "actor": "CI", "app": app, "env": env, "tag": tag, **extra}


def test_the_digest_compares_last_week_with_the_week_before_and_names_the_busiest_apps_and_slowest_release() -> None:
    end = london(2026, 11, 30, 9, 30)
    day = 24 * 3600
    records = [
        # the week before: one deploy to production, lead 1 h
        record(end - 10 * day, "deploy_committed", "router", "integration", "v1"),
        record(end - 10 * day + 3600, "deploy_committed", "router", "production", "v1"),
        # last week: whitehall twice (one a day from integration), router once (2 days), frontend once, failed
        record(end - 5 * day, "deploy_committed", "whitehall", "integration", "w1"),
        record(end - 4 * day, "deploy_committed", "whitehall", "production", "w1"),
        record(end - 3 * day, "deploy_committed", "whitehall", "integration", "w2"),
        record(end - 3 * day + 1800, "deploy_committed", "whitehall", "production", "w2"),
        record(end - 4 * day, "deploy_committed", "router", "integration", "v2"),
        record(end - 2 * day, "deploy_committed", "router", "production", "v2"),
        record(end - 2 * day, "deploy_committed", "frontend", "production", "f1"),
        record(end - 2 * day + 60, "sync_outcome", "frontend", "production", "f1", outcome="sync_failed"),
    ]
    figures = compute(records, last_env="production", now=end)
    last, before = figures.periods[-1], figures.periods[-2]
    assert last.by_app == (("whitehall", 2), ("frontend", 1), ("router", 1))
    assert last.slowest == ("router", "v2", 2 * day)
    text = messages.digest_report(last, before, "production")
    assert "Deploys: 4 (up from 1)" in text
    assert "Median lead time: 12h 15m (up from 1h)" in text  # of 1d, 30m, 2d and 0
    assert "Change failure rate: 25% (1 of 4) (up from 0% (0 of 1))" in text
    assert "Most deploys: whitehall (2), frontend (1), router (1)" in text
    assert "Slowest to reach production: *router* `v2`, 2d from its first deploy" in text
