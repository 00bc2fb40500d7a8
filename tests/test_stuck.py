"""Stuck deploys (issue 3): a deploy with no sync outcome after STUCK_AFTER_MINUTES.

No test sleeps for twenty minutes: each bot gets a FakeClock that the test moves forward, then
calls the job's own function (`services.events.flag_stuck_deploys`) or the scheduler's exclusive
wrapper around it (`bot.scheduler.exclusive`), from one bot or from two sharing one Redis prefix.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.scheduler import exclusive
from tests.fakes import FakeSlack, SlackMessage
from tests.support.app import MEMBER, BotHarness, FakeClock, run_concurrently

ARGO = "/webhooks/argocd"
ARGOCD_APP = "https://argo.eks.{env}.govuk.digital/applications/{application}"
MINUTE = 60


def deploy(bot: BotHarness, slack: FakeSlack, text: str, name: str = "deploy") -> SlackMessage:
    """`/deploy text` by MEMBER, settled; returns the release's card."""
    assert bot.slash(text, user=MEMBER, response_url=slack.response_url(name)).status_code == 200
    bot.settle()
    assert "Committed" in slack.wait_for_response(name)[-1]["text"]
    roots = slack.roots()
    assert len(roots) == 1
    return roots[0]


def stuck_replies(slack: FakeSlack, root: SlackMessage) -> list[SlackMessage]:
    """Thread replies other than the routine "X requested …" one."""
    return [reply for reply in slack.replies(root.ts) if "requested" not in reply.text]


def argocd(tag: str, env: str, state: str, health: str | None = "Healthy") -> dict[str, Any]:
    body = {"application": "whitehall", "environment": env, "state": state, "imageTag": tag}
    if health:
        body["health"] = health
    return body


def test_a_deploy_with_no_sync_outcome_gets_one_reply_mentioning_the_requester(
    bot: BotHarness, fake_slack: FakeSlack
) -> None:
    root = deploy(bot, fake_slack, "whitehall v3233 integration")
    assert len(fake_slack.replies(root.ts)) == 1  # "requested" only

    bot.fake_clock.advance(21 * MINUTE)
    assert bot.services.events.flag_stuck_deploys() == 1
    bot.settle()
    replies = stuck_replies(fake_slack, root)
    assert len(replies) == 1, [r.text for r in fake_slack.replies(root.ts)]
    text = replies[0].text
    assert f"<@{MEMBER}>" in text
    assert ARGOCD_APP.format(env="integration", application="whitehall") in text
    assert "integration" in text and "v3233" in text
    assert "20 minutes" in text

    # the job runs every minute: it never says it twice
    for _ in range(3):
        bot.fake_clock.advance(5 * MINUTE)
        assert bot.services.events.flag_stuck_deploys() == 0
    bot.settle()
    assert len(stuck_replies(fake_slack, root)) == 1
    assert len(fake_slack.roots()) == 1


def test_nothing_is_flagged_before_stuck_after_minutes(bot: BotHarness, fake_slack: FakeSlack) -> None:
    root = deploy(bot, fake_slack, "whitehall v3233 integration")
    bot.fake_clock.advance(19 * MINUTE)
    assert bot.services.events.flag_stuck_deploys() == 0
    bot.settle()
    assert stuck_replies(fake_slack, root) == []
    bot.fake_clock.advance(2 * MINUTE)
    assert bot.services.events.flag_stuck_deploys() == 1
    bot.settle()
    assert len(stuck_replies(fake_slack, root)) == 1


def test_stuck_after_minutes_is_configurable(bot_env: dict[str, str], fake_slack: FakeSlack) -> None:
    bot = BotHarness({**bot_env, "STUCK_AFTER_MINUTES": "5"}, post_interval=0.0)
    try:
        root = deploy(bot, fake_slack, "whitehall v3233 integration")
        bot.fake_clock.advance(4 * MINUTE)
        assert bot.services.events.flag_stuck_deploys() == 0
        bot.fake_clock.advance(2 * MINUTE)
        assert bot.services.events.flag_stuck_deploys() == 1
        bot.settle()
    finally:
        bot.stop()
    replies = stuck_replies(fake_slack, root)
    assert len(replies) == 1 and "5 minutes" in replies[0].text


OUTCOMES = {"succeeded": ("Succeeded", "Healthy"), "failed": ("Failed", None), "error": ("Error", None)}
OUTCOMES["degraded"] = ("Succeeded", "Degraded")


def test_a_deploy_that_got_a_sync_outcome_is_never_flagged(bot: BotHarness, fake_slack: FakeSlack) -> None:
    for number, (case, (state, health)) in enumerate(OUTCOMES.items()):
        tag = f"v324{number}"
        assert bot.slash(f"whitehall {tag} integration", response_url=fake_slack.response_url(case)).status_code == 200
        bot.settle()
        assert "Committed" in fake_slack.wait_for_response(case)[-1]["text"]
        assert bot.webhook(ARGO, argocd(tag, "integration", "Running", "Progressing")).status_code == 202
        assert bot.webhook(ARGO, argocd(tag, "integration", state, health)).status_code == 202
        bot.settle()
    replies_before = {root.ts: len(fake_slack.replies(root.ts)) for root in fake_slack.roots()}
    assert len(replies_before) == len(OUTCOMES)
    for _ in range(3):
        bot.fake_clock.advance(30 * MINUTE)
        assert bot.services.events.flag_stuck_deploys() == 0
    bot.settle()
    for root in fake_slack.roots():
        assert not any("minutes" in reply.text for reply in fake_slack.replies(root.ts)), root.text
    assert {root.ts: len(fake_slack.replies(root.ts)) for root in fake_slack.roots()} == replies_before


def test_a_sync_still_running_after_stuck_after_minutes_is_flagged(bot: BotHarness, fake_slack: FakeSlack) -> None:
    """`Running` is Argo CD's operation in progress, not an outcome: twenty minutes of it is stuck."""
    root = deploy(bot, fake_slack, "whitehall v3233 integration")
    assert bot.webhook(ARGO, argocd("v3233", "integration", "Running", "Progressing")).status_code == 202
    bot.fake_clock.advance(21 * MINUTE)
    assert bot.services.events.flag_stuck_deploys() == 1
    bot.settle()
    assert len(stuck_replies(fake_slack, root)) == 1


def test_a_stuck_ci_deploy_is_flagged_with_the_argo_cd_link_and_no_mention(
    bot: BotHarness, fake_slack: FakeSlack
) -> None:
    # what integration runs: the shared WEBHOOK_TOKEN promotes to staging only that
    body = {"environment": "staging", "repoName": "collections", "imageTag": "v1590", "promoteDeployment": "false"}
    assert bot.webhook("/update-image-tag", body).status_code == 202
    bot.settle()
    root = fake_slack.roots()[0]
    bot.fake_clock.advance(25 * MINUTE)
    assert bot.services.events.flag_stuck_deploys() == 1
    bot.settle()
    replies = stuck_replies(fake_slack, root)
    assert len(replies) == 1
    assert ARGOCD_APP.format(env="staging", application="collections") in replies[0].text
    assert "<@" not in replies[0].text


def test_only_the_stuck_environment_is_flagged(bot: BotHarness, fake_slack: FakeSlack) -> None:
    root = deploy(bot, fake_slack, "whitehall v3233 integration")
    assert bot.webhook(ARGO, argocd("v3233", "integration", "Succeeded")).status_code == 202
    bot.settle()
    assert bot.slash("whitehall v3233 staging", response_url=fake_slack.response_url("staging")).status_code == 200
    bot.settle()
    fake_slack.wait_for_response("staging")
    bot.fake_clock.advance(21 * MINUTE)
    assert bot.services.events.flag_stuck_deploys() == 1
    bot.settle()
    replies = stuck_replies(fake_slack, root)
    assert len(replies) == 1
    assert "staging" in replies[0].text and ARGOCD_APP.format(env="staging", application="whitehall") in replies[0].text


# -- two replicas --------------------------------------------------------------------------------------


@pytest.fixture
def two_bots(bot_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[BotHarness, BotHarness]]:
    """Two bots on one Redis prefix and one clock, each with its own working copy (as two pods)."""
    clock = FakeClock()
    first = BotHarness(bot_env, clock=clock, post_interval=0.0)
    second = BotHarness({**bot_env, "CHARTS_WORKDIR": str(tmp_path / "second-copy")}, clock=clock, post_interval=0.0)
    try:
        yield first, second
    finally:
        first.stop()
        second.stop()


def test_two_replicas_running_the_exclusive_job_at_once_flag_once(
    two_bots: tuple[BotHarness, BotHarness], fake_slack: FakeSlack
) -> None:
    first, second = two_bots
    root = deploy(first, fake_slack, "whitehall v3233 integration")
    first.fake_clock.advance(21 * MINUTE)
    jobs = [
        exclusive(bot.services.store, "stuck-deploys", bot.services.events.flag_stuck_deploys, timeout=55)
        for bot in (first, second)
    ]
    for _ in range(3):
        run_concurrently(jobs)
        first.fake_clock.advance(MINUTE)
    for bot in (first, second):
        bot.settle()
    replies = stuck_replies(fake_slack, root)
    assert len(replies) == 1, [r.text for r in replies]
    assert f"<@{MEMBER}>" in replies[0].text
    assert len(fake_slack.roots()) == 1


def test_two_replicas_calling_the_job_itself_at_once_flag_once(
    two_bots: tuple[BotHarness, BotHarness], fake_slack: FakeSlack
) -> None:
    """Even without the scheduler's lock (a lock that expired mid-run), each deploy is flagged once."""
    first, second = two_bots
    root = deploy(first, fake_slack, "whitehall v3233 integration")
    first.fake_clock.advance(21 * MINUTE)
    counts = run_concurrently([first.services.events.flag_stuck_deploys, second.services.events.flag_stuck_deploys])
    assert sorted(counts) == [0, 1]
    for bot in (first, second):
        bot.settle()
    assert len(stuck_replies(fake_slack, root)) == 1
