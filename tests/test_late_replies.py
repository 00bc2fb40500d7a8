"""Anything said to a requester more than 25 minutes after their command or click goes by direct message.

Slack accepts a `response_url` for 30 minutes only (the fake refuses an older one with
`expired_url`, as Slack does, on a clock the test shares with the bot's). An approval decided
late, an expiry, a held deploy released later: the requester hears of it in the bot's Messages
tab (`chat.postMessage` to their user ID), not through a URL Slack no longer takes.
"""

from __future__ import annotations

import pytest
import yaml

from bot import messages
from bot.manifest import manifest
from tests.fakes import FakeSlack
from tests.support.app import INTEGRATION_ONLY, MEMBER, USERS, BotHarness
from tests.support.slack_requests import block_actions_body, find_button

APPROVER = "U0MEMBER2"  # hubot: in gov-uk-production, like octocat
CONFIG = """environments:
  - {name: integration, team: gov-uk}
  - {name: staging, team: gov-uk-production}
  - {name: production, team: gov-uk-production, approvals_required: 1}
users:
"""


@pytest.fixture
def abot(bot_env, tmp_path, fake_github, fake_slack):
    fake_github.add_member("gov-uk", "hubot")
    fake_github.add_member("gov-uk-production", "hubot")
    users = {**USERS, APPROVER: "hubot"}
    path = tmp_path / "late-config.yaml"
    path.write_text(CONFIG + "".join(f"  {slack}: {login}\n" for slack, login in users.items()), encoding="utf-8")
    harness = BotHarness({**bot_env, "BOT_CONFIG": str(path)})
    fake_slack.clock = harness.fake_clock  # response URLs age with the bot's clock
    try:
        yield harness
    finally:
        harness.stop()


def click(bot: BotHarness, action_id: str, value: str, user: str, response_url: str) -> None:
    assert bot.slack(block_actions_body(action_id, value, user_id=user, response_url=response_url)).status_code == 200


def ask_for_approval(abot: BotHarness, fake_slack: FakeSlack):
    """integrator, not in gov-uk-production, asks for an approval to deploy to staging: the request's notice."""
    abot.slash("whitehall v6000 staging", user=INTEGRATION_ONLY, response_url=fake_slack.response_url("deploy"))
    [refusal] = fake_slack.wait_for_response("deploy", timeout=30)
    button = find_button(refusal, "request_approval")
    assert button is not None, refusal
    click(abot, "request_approval", button["value"], INTEGRATION_ONLY, fake_slack.response_url("asked"))
    assert "asked for an approval" in fake_slack.wait_for_response("asked", timeout=10)[0]["text"]
    abot.settle()
    [notice] = [m for m in fake_slack.roots() if "asks to deploy" in m.text]
    return notice


def direct(fake_slack: FakeSlack, user: str, words: str, timeout: float = 20) -> list:
    said = lambda: [m.text for m in fake_slack.direct_messages(user)]  # noqa: E731 - read twice below
    assert fake_slack.wait_until(lambda: any(words in text for text in said()), timeout), said()
    return fake_slack.direct_messages(user)


def test_an_expiry_after_30_minutes_reaches_the_requester_by_direct_message(abot, fake_slack) -> None:
    ask_for_approval(abot, fake_slack)
    abot.fake_clock.advance(31 * 60)
    assert abot.services.approvals.expire_old() == 1
    [told] = direct(fake_slack, INTEGRATION_ONLY, "expired")
    assert told.text == messages.approval_expired_to_requester("whitehall", "v6000", "staging")
    abot.settle()
    assert len(fake_slack.responses["asked"]) == 1 and not fake_slack.rejected_responses.get("asked")
    [dm] = [p for p in fake_slack.calls_to("chat.postMessage") if p.get("channel") == INTEGRATION_ONLY]
    assert "thread_ts" not in dm  # a message of its own in the Messages tab


def test_an_approval_decided_after_25_minutes_is_told_by_direct_message(abot, fake_slack, charts_remote) -> None:
    notice = ask_for_approval(abot, fake_slack)
    abot.fake_clock.advance(26 * 60)  # Slack would still take the URL for 4 minutes: too close to count on
    click(abot, "approve", notice.button("approve")["value"], APPROVER, fake_slack.response_url("approver"))
    direct(fake_slack, INTEGRATION_ONLY, "Committed", timeout=30)
    assert charts_remote.read("staging", "whitehall").startswith("image_tag: v6000")
    abot.settle()
    assert len(fake_slack.responses["asked"]) == 1  # nothing more through the old URL
    assert fake_slack.responses["approver"]  # the approver clicked just now: their URL is fresh


def test_a_reply_within_25_minutes_still_comes_through_the_response_url(abot, fake_slack) -> None:
    notice = ask_for_approval(abot, fake_slack)
    abot.fake_clock.advance(5 * 60)
    click(abot, "approve", notice.button("approve")["value"], APPROVER, fake_slack.response_url("approver"))
    told = fake_slack.wait_for_response("asked", timeout=30, count=3)
    assert "approved your deploy" in told[1]["text"] and "Committed" in told[2]["text"]
    abot.settle()
    assert fake_slack.direct_messages(INTEGRATION_ONLY) == []


def test_a_response_url_slack_refuses_is_answered_by_direct_message(bot, fake_slack) -> None:
    fake_slack.response_url_limit = 1  # the URL is used up after one answer
    url = fake_slack.response_url("status")
    bot.slash("whitehall v6001 integration", user=MEMBER, response_url=url)
    fake_slack.wait_for_response("status", timeout=30)
    bot.settle()
    bot.services.replies.send(url, "one more thing")  # Slack refuses the URL now: used_url
    bot.settle()
    direct(fake_slack, MEMBER, "one more thing")


def test_the_manifest_enables_the_messages_tab() -> None:
    document = yaml.safe_load(manifest("https://deploy-bot.example.gov.uk"))
    assert document["features"]["app_home"]["messages_tab_enabled"] is True
    assert "chat:write" in document["oauth_config"]["scopes"]["bot"]  # all a DM to a user ID needs
