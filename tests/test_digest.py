"""The weekly digest (SPEC 16): posted once a week in the alerts channel, whatever the replicas and restarts."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.reports.digest import WeeklyDigest, this_weeks_moment
from tests.support.app import ServeProcess, add_standard_members, bot_environment

WEEK = 7 * 24 * 3600


def digests(fake_slack) -> list:
    return [m for m in fake_slack.roots() if "Weekly delivery digest" in m.text]


def test_due_once_a_week_a_second_replica_and_a_late_start_post_nothing(bot, fake_slack):
    services = bot.services
    zone = ZoneInfo(services.settings.timezone)
    moment = this_weeks_moment(services.settings.digest_at, zone, bot.fake_clock()).timestamp()
    if moment > bot.fake_clock():
        moment -= WEEK  # this week's is still to come: last week's moment, so the clock moves forward only
    # a deploy to the last environment, so there is something to report
    bot.slash("whitehall v8000 production")
    bot.settle()
    bot.fake_clock.advance(moment + WEEK + 5 - bot.fake_clock())  # five seconds after next week's moment
    other_replica = WeeklyDigest(
        settings=services.settings,
        store=services.store,
        audit=services.audit,
        notices=services.notices,
        clock=bot.fake_clock,
    )
    # (the scheduled look may get there first: either way, one of them posts it)
    assert [services.digest.run(), other_replica.run(), services.digest.run()].count(True) <= 1
    bot.settle()
    [digest] = digests(fake_slack)
    assert "Deploys: 1 (up from 0)" in digest.text and "whitehall (1)" in digest.text

    # a bot that starts (or looks) more than a minute after the moment posts nothing for that week
    bot.fake_clock.advance(WEEK + 61)
    assert other_replica.run() is False
    bot.settle()
    assert len(digests(fake_slack)) == 1


def test_digest_false_turns_it_off(bot_env, tmp_path, fake_slack):
    from tests.support.app import BotHarness

    config = tmp_path / "no-digest.yaml"
    config.write_text("digest: false\n", encoding="utf-8")
    harness = BotHarness({**bot_env, "BOT_CONFIG": str(config)})
    try:
        services = harness.services
        zone = ZoneInfo(services.settings.timezone)
        moment = this_weeks_moment(services.settings.digest_at, zone, harness.fake_clock()).timestamp()
        harness.fake_clock.advance(moment + WEEK + 5 - harness.fake_clock())
        assert services.digest.run() is False
        assert all(name != "weekly-digest" for name, _, _ in services.scheduled)
    finally:
        harness.stop()
    assert digests(fake_slack) == []


def coming_minute() -> datetime:
    """The next whole minute that leaves the replicas at least 15 s to start, in UTC."""
    now = datetime.now(UTC)
    moment = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return moment if (moment - now).total_seconds() >= 15 else moment + timedelta(minutes=1)


@pytest.mark.long(80)  # waits for the coming minute, then a few seconds more
def test_two_replicas_post_the_digest_once_within_a_minute_of_digest_at(
    tmp_path, fake_slack, fake_github, charts_remote, redis_url, redis_prefix
):
    add_standard_members(fake_github)
    moment = coming_minute()
    config = tmp_path / "digest-config.yaml"
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[moment.weekday()]
    config.write_text(f'timezone: UTC\ndigest_at: "{day} {moment:%H:%M}"\nusers:\n  U012AB3CD: octocat\n')
    common = {"tmp_path": tmp_path, "fake_slack": fake_slack, "fake_github": fake_github}
    common |= {"charts_url": charts_remote.url, "redis_url": redis_url, "redis_prefix": redis_prefix}
    knobs = {"BOT_CONFIG": str(config), "DEPLOYBOT_DIGEST_CHECK_EVERY_SECONDS": "1"}
    replicas = []
    try:
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            env = bot_environment(**common, CHARTS_WORKDIR=str(tmp_path / name / "wc"), **knobs)
            replicas.append(ServeProcess(env, log_path=tmp_path / f"{name}.log"))
        assert datetime.now(UTC) < moment, "the replicas took too long to start"
        assert fake_slack.wait_until(lambda: digests(fake_slack), timeout=(moment - datetime.now(UTC)).seconds + 70)
        posted_at = datetime.now(UTC)
        assert posted_at - moment < timedelta(seconds=60 + 5)
        # a restart within the minute posts nothing more: the week is claimed in the store
        replicas[0].stop()
        env = bot_environment(**common, CHARTS_WORKDIR=str(tmp_path / "a" / "wc"), **knobs)
        replicas[0] = ServeProcess(env, log_path=tmp_path / "a2.log")
        time.sleep(4)  # each replica has looked at least three times more
        assert len(digests(fake_slack)) == 1
    finally:
        for replica in replicas:
            replica.stop()


class ReplicaKilled(BaseException):
    """The process dying (SIGKILL, OOM) while it reads the audit trail: no `except Exception` runs."""


class DyingAudit:
    """The audit trail as seen by a replica that is killed while it reads it for the digest."""

    def each(self, *args, **kwargs):
        raise ReplicaKilled


def test_a_replica_killed_while_writing_the_digest_leaves_it_to_another(bot, fake_slack):
    services = bot.services
    zone = ZoneInfo(services.settings.timezone)
    moment = this_weeks_moment(services.settings.digest_at, zone, bot.fake_clock()).timestamp()
    if moment > bot.fake_clock():
        moment -= WEEK
    bot.slash("whitehall v8000 production")
    bot.settle()
    bot.fake_clock.advance(moment + WEEK + 5 - bot.fake_clock())
    dying = WeeklyDigest(
        settings=services.settings,
        store=services.store,
        audit=DyingAudit(),
        notices=services.notices,
        clock=bot.fake_clock,
    )
    with pytest.raises(ReplicaKilled):
        dying.run()
    # the other replica looks a few seconds later, still inside the minute: the week's digest is posted
    bot.fake_clock.advance(20)
    services.digest.run()
    bot.settle()
    assert len(digests(fake_slack)) == 1
