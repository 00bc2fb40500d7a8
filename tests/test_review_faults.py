"""Faults a review of the code found, each reproduced end to end through the contract.

These drive the whole bot over HTTP (signed Slack requests, bearer-token webhooks, real git and
Redis, the fake Slack on loopback), so they ran against the code before the fixes too, and failed.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.fakes import FakeSlack
from tests.support.app import MEMBER, BotHarness, run_concurrently
from tests.support.charts import ChartsRemote

MINUTE = 60


def _deploy(bot: BotHarness, slack: FakeSlack, text: str, name: str) -> None:
    assert bot.slash(text, user=MEMBER, response_url=slack.response_url(name)).status_code == 200
    bot.settle()
    assert "Committed" in slack.wait_for_response(name)[-1]["text"]


def _sync(tag: str, env: str = "integration", state: str = "Succeeded") -> dict:
    return {"application": "whitehall", "environment": env, "state": state, "health": "Healthy", "imageTag": tag}


def _tests(tag: str, status: str, env: str = "integration") -> dict:
    return {"application": "whitehall", "environment": env, "imageTag": tag, "status": status, "failures": ["x"]}


def test_a_deploy_replaced_by_a_newer_one_is_never_called_stuck(bot: BotHarness, fake_slack: FakeSlack) -> None:
    _deploy(bot, fake_slack, "whitehall v7001 integration", "first")
    _deploy(bot, fake_slack, "whitehall v7002 integration", "second")
    assert bot.webhook("/webhooks/argocd", _sync("v7002")).status_code == 202
    bot.settle()

    bot.fake_clock.advance(21 * MINUTE)
    assert bot.services.events.flag_stuck_deploys() == 0
    bot.settle()
    for root in fake_slack.roots():
        assert not any("has not reported a sync outcome" in r.text for r in fake_slack.replies(root.ts)), root.text


def test_a_failed_redeploy_keeps_passed_tests_and_the_promote_button(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote, tmp_path: Path
) -> None:
    _deploy(bot, fake_slack, "whitehall v7010 integration", "deploy")
    assert bot.webhook("/webhooks/argocd", _sync("v7010")).status_code == 202
    assert bot.webhook("/webhooks/smokey", _tests("v7010", "Succeeded")).status_code == 202
    bot.settle()
    card = fake_slack.roots()[0]
    assert card.button("promote") is not None

    # git is down: the charts remote is out of reach while the same tag is deployed again
    hidden = tmp_path / "remote-away"
    charts_remote.path.rename(hidden)
    try:
        bot.slash("whitehall v7010 integration", user=MEMBER, response_url=fake_slack.response_url("again"))
        assert "failed" in fake_slack.wait_for_response("again", timeout=30)[-1]["text"]
        bot.settle()
    finally:
        hidden.rename(charts_remote.path)

    card = fake_slack.message(card.ts)
    assert "tests passed" in card.all_text()
    assert "deploy failed" not in card.all_text()
    assert card.button("promote") is not None


@pytest.mark.long(25)  # twenty new cards at Slack's one post a second
def test_a_failure_reply_goes_before_a_burst_of_new_cards(bot_env: dict[str, str], fake_slack: FakeSlack) -> None:
    bot = BotHarness(bot_env, post_interval=1.0)  # Slack's own pace: one post a second per channel
    try:
        _deploy(bot, fake_slack, "whitehall v7020 integration", "first")
        assert bot.webhook("/webhooks/argocd", _sync("v7020")).status_code == 202
        bot.settle()
        card = fake_slack.roots()[0]

        burst = [f"collections v80{n:02d} integration" for n in range(20)]
        replies = run_concurrently([lambda text=text: bot.slash(text, user=MEMBER) for text in burst])
        assert all(r.status_code == 200 for r in replies)
        fake_slack.wait_until(lambda: len(fake_slack.roots()) >= 3, timeout=30)  # the burst's cards are going out

        sent = time.monotonic()
        assert bot.webhook("/webhooks/smokey", _tests("v7020", "Failed")).status_code == 202
        assert fake_slack.wait_until(
            lambda: any("tests failed" in r.text for r in fake_slack.replies(card.ts)), timeout=30
        )
        waited = time.monotonic() - sent
        still_to_post = 21 - len(fake_slack.roots())
        # before the fix it waited behind every new card (20 s here); now it goes next, whatever the load
        assert waited < 10, f"the failure reply waited {waited:.1f}s behind new cards"
        assert still_to_post > 5, "the burst was over before the failure arrived: the test proves nothing"
    finally:
        bot.stop()


def _promotes_itself(tag: str) -> str:
    return f"image_tag: {tag}\nautomatic_deploys_enabled: true\npromote_deployment: true\n"


def test_only_the_application_name_decides_automatic_promotion(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    """Review fault 9 is not a fault: GOV.UK's post-sync (and the contract) skip automatic promotion
    for an `application` starting with `draft-`; a repository whose name starts with `draft-` is
    promoted like any other when its application's name does not. This passed before the change too."""
    for env, tag in (("integration", "v2"), ("staging", "v1")):
        charts_remote.commit_directly(env, "draft-maker", _promotes_itself(tag), "a repository called draft-maker")
        charts_remote.commit_directly(env, "draftsman", _promotes_itself(tag), "a repository called draftsman")
    for application, repo in (("maker-web", "draft-maker"), ("draft-draftsman", "draftsman")):
        for path, body in (
            ("/webhooks/argocd", {"state": "Succeeded", "health": "Healthy"}),
            ("/webhooks/smokey", {"status": "Succeeded"}),
        ):
            payload = {"application": application, "repoName": repo, "environment": "integration", "imageTag": "v2"}
            assert bot.webhook(path, {**payload, **body}).status_code == 202, (application, path)
    bot.settle()
    assert "v2" in charts_remote.read("staging", "draft-maker")  # application maker-web: promoted
    assert "v1" in charts_remote.read("staging", "draftsman")  # application draft-draftsman: a draft stack, not
