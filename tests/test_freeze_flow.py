"""Freezes and held deploys end to end: signed Slack requests, the CI endpoint, real Redis and git.

Seeded files (tests/support/charts.py): integration `whitehall` v3232 and staging `whitehall` v3231
both promote automatically; staging `frontend` does not.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes import FakeSlack
from tests.fakes.slack import SlackMessage
from tests.support.app import INTEGRATION_ONLY, MEMBER, BotHarness
from tests.support.charts import ChartsRemote
from tests.support.payloads import smokey_payload
from tests.support.slack_requests import block_actions_body

STAGING_TOKEN = "staging-cluster-token-0002-abcdef"

ALERTS = "govuk-deploy-alerts"


def slash(bot: BotHarness, fake_slack: FakeSlack, name: str, text: str, user: str = MEMBER) -> tuple[str, str]:
    """`/deploy text`: the ack's text and the later reply at the response URL."""
    answer = bot.slash(text, user=user, response_url=fake_slack.response_url(name))
    assert answer.status_code == 200, answer.text
    later = fake_slack.wait_for_response(name, timeout=15)[0]["text"]
    bot.settle()
    return answer.json().get("text", ""), later


def passes_in_integration(bot: BotHarness, app: str, tag: str) -> None:
    payload = {"application": app, "environment": "integration", "state": "Succeeded", "health": "Healthy"}
    assert bot.webhook("/webhooks/argocd", {**payload, "imageTag": tag}).status_code == 202
    assert bot.webhook("/webhooks/smokey", smokey_payload(app, "integration", tag)).status_code == 202
    bot.settle()


def card(fake_slack: FakeSlack, app: str, tag: str) -> SlackMessage:
    found = [m for m in fake_slack.roots() if f"*{app}* `{tag}`" in m.text]
    assert len(found) == 1, [m.text for m in fake_slack.roots()]
    return found[0]


def thread(fake_slack: FakeSlack, app: str, tag: str) -> list[SlackMessage]:
    return fake_slack.replies(card(fake_slack, app, tag).ts)


def announcements(fake_slack: FakeSlack) -> list[str]:
    return [m.text for m in fake_slack.roots() if m.text.startswith((":snowflake:", ":sunny:"))]


def audit(bot: BotHarness, action: str, **where: str) -> list[dict]:
    bot.services.audit.flush(timeout=5)
    return [r for r in bot.services.audit.read(**where) if r["action"] == action]


def test_a_freeze_is_kept_announced_and_refuses_a_persons_deploy_saying_who_when_and_why(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    ack, reply = slash(bot, fake_slack, "freeze", "freeze whitehall staging database migration")
    assert ack == ":hourglass_flowing_sand: Freezing whitehall in staging…"
    assert reply.startswith(":snowflake: Froze whitehall in staging.")
    assert announcements(fake_slack) == [
        ":snowflake: <@U012AB3CD> froze deploys of whitehall in staging: database migration"
    ]
    [record] = audit(bot, "freeze", app="whitehall")
    assert record["env"] == "staging" and record["reason"] == "database migration"
    assert record["actor"] == {"slack": MEMBER, "github": "octocat"}

    before = charts_remote.commit_count()
    _, refusal = slash(bot, fake_slack, "deploy", "whitehall v3300 staging")
    assert refusal.startswith(":no_entry: *whitehall* is frozen in *staging*, so nothing was done.")
    assert "frozen by <@U012AB3CD> (@octocat) on " in refusal and "UTC: database migration" in refusal
    assert "`/deploy whitehall v3300 staging --force <reason…>`" in refusal
    _, refusal = slash(bot, fake_slack, "promote", "promote whitehall to staging")
    assert "`/deploy promote whitehall staging --force <reason…>`" in refusal
    assert charts_remote.commit_count() == before
    assert audit(bot, "deploy_refused", app="whitehall", env="staging")[0]["outcome"] == "frozen"

    # the freeze covers exactly its scope
    _, other_app = slash(bot, fake_slack, "other-app", "frontend v1900 staging")
    _, other_env = slash(bot, fake_slack, "other-env", "whitehall v3300 integration")
    assert other_app.startswith(":white_check_mark: Committed") and other_env.startswith(":white_check_mark: Committed")


def test_force_overrides_a_freeze_and_is_announced_in_the_cards_thread_broadcast(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    slash(bot, fake_slack, "freeze", "freeze all all incident")
    _, reply = slash(bot, fake_slack, "force", "whitehall v3300 staging --force fixing the incident")
    assert reply.startswith(":white_check_mark: Committed *whitehall* `v3300` to *staging*")
    assert "image_tag: v3300" in charts_remote.read("staging", "whitehall")
    [note] = [m for m in thread(fake_slack, "whitehall", "v3300") if "overrode" in m.text]
    assert note.reply_broadcast
    assert note.text == (
        ":warning: <@U012AB3CD> overrode the freeze of every app in every environment "
        "to deploy v3300 to staging: fixing the incident"
    )
    [record] = audit(bot, "override", app="whitehall")
    assert record["reason"] == "fixing the incident" and record["tag"] == "v3300"


@pytest.fixture
def staging_bot(bot_env: dict[str, str]) -> Iterator[BotHarness]:
    """The bot with staging's own webhook token, which may deploy to staging directly."""
    harness = BotHarness({**bot_env, "WEBHOOK_TOKEN_STAGING": STAGING_TOKEN})
    try:
        yield harness
    finally:
        harness.stop()


def test_held_not_lost_newest_replaces_older_and_unfreeze_offers_it_without_deploying(
    staging_bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    bot = staging_bot
    slash(bot, fake_slack, "freeze", "freeze all staging release day")
    before = charts_remote.commit_count()

    # an automatic promotion into the frozen environment is held
    passes_in_integration(bot, "whitehall", "v3232")
    assert charts_remote.commit_count() == before
    held = [m.text for m in thread(fake_slack, "whitehall", "v3232") if "held" in m.text]
    assert held == [
        ":double_vertical_bar: CI (automatic promotion)'s deploy of v3232 to staging is held, not lost: "
        "staging is frozen; it is offered here when the freeze is lifted. Nothing was committed."
    ]
    staging_line = card(fake_slack, "whitehall", "v3232").text.split("*staging*", 1)[1]
    assert ":double_vertical_bar: a deploy here is held (frozen); see the thread" in staging_line

    # CI's deploy of a newer tag is held too, answered at once, and replaces the older hold
    answer = bot.webhook(
        "/update-image-tag",
        {"environment": "staging", "repoName": "whitehall", "imageTag": "v3240", "promoteDeployment": "false"},
        token=STAGING_TOKEN,
    )
    assert (answer.status_code, answer.json()) == (202, {"ok": True, "held": True})
    bot.settle()
    assert charts_remote.commit_count() == before
    assert any("is held, not lost" in m.text for m in thread(fake_slack, "whitehall", "v3240"))
    assert any(
        m.text == ":fast_forward: The held deploy of v3232 to staging was superseded by v3240, which is held instead."
        for m in thread(fake_slack, "whitehall", "v3232")
    )
    assert "superseded by a newer tag" in card(fake_slack, "whitehall", "v3232").text
    assert "a deploy here is held (frozen)" in card(fake_slack, "whitehall", "v3240").text
    held_records = audit(bot, "deploy_held", app="whitehall")
    assert [(r["tag"], r["actor"]) for r in held_records] == [("v3232", "CI"), ("v3240", "CI")]

    # unfreeze: the newest is offered on its card; nothing deploys by itself
    _, reply = slash(bot, fake_slack, "unfreeze", "unfreeze all staging")
    assert reply == ":sunny: Lifted the freeze of every app in staging."
    assert ":sunny: <@U012AB3CD> lifted the freeze of every app in staging." in announcements(fake_slack)
    assert charts_remote.commit_count() == before
    offers = [m for m in thread(fake_slack, "whitehall", "v3240") if m.button("deploy_held")]
    assert len(offers) == 1
    button = offers[0].button("deploy_held")
    assert button["text"]["text"] == "Deploy held v3240 to staging"
    assert not any(m.button("deploy_held") for m in thread(fake_slack, "whitehall", "v3232"))
    assert "its held deploy here can go out now" in card(fake_slack, "whitehall", "v3240").text

    # a tampered value is refused; the genuine click is a person's deploy with every check
    forged = block_actions_body("deploy_held", button["value"][:-2] + "00", response_url=fake_slack.response_url("f"))
    bot.slack(forged)
    assert "tampered" in fake_slack.wait_for_response("f", timeout=15)[0]["text"]
    outsider = block_actions_body(
        "deploy_held", button["value"], user_id=INTEGRATION_ONLY, response_url=fake_slack.response_url("outsider")
    )
    bot.slack(outsider)
    assert "gov-uk-production" in fake_slack.wait_for_response("outsider", timeout=15)[0]["text"]
    bot.slack(block_actions_body("deploy_held", button["value"], response_url=fake_slack.response_url("click")))
    assert fake_slack.wait_for_response("click", timeout=15)[0]["text"].startswith(":white_check_mark: Committed")
    bot.settle()
    assert "image_tag: v3240" in charts_remote.read("staging", "whitehall")
    assert charts_remote.commit_count() == before + 1
    assert "held" not in card(fake_slack, "whitehall", "v3240").text  # deployed now: the card shows that instead


def test_a_ci_deploy_outside_any_freeze_is_not_held(bot: BotHarness, charts_remote: ChartsRemote) -> None:
    answer = bot.webhook(
        "/update-image-tag",
        {"environment": "integration", "repoName": "whitehall", "imageTag": "v3250", "promoteDeployment": "false"},
    )
    assert (answer.status_code, answer.json()) == (202, {"ok": True})
    bot.settle()
    assert "image_tag: v3250" in charts_remote.read("integration", "whitehall")


def test_unfreeze_lifts_exactly_its_scope_and_says_which_others_still_cover_it(
    bot: BotHarness, fake_slack: FakeSlack
) -> None:
    slash(bot, fake_slack, "f1", "freeze all staging")
    slash(bot, fake_slack, "f2", "freeze whitehall all migration")
    _, reply = slash(bot, fake_slack, "u1", "unfreeze whitehall staging")
    assert reply.startswith("There is no freeze of exactly whitehall in staging, so nothing was lifted.")
    assert "every app in staging, frozen by <@U012AB3CD>" in reply
    assert "whitehall in every environment, frozen by <@U012AB3CD>" in reply
    _, reply = slash(bot, fake_slack, "u2", "unfreeze all staging")
    assert reply.startswith(":sunny: Lifted the freeze of every app in staging. These freezes still cover some of it:")
    assert "whitehall in every environment, frozen by" in reply and "migration" in reply
    _, refusal = slash(bot, fake_slack, "deploy", "whitehall v3300 staging")
    assert "is frozen in *staging*" in refusal and "migration" in refusal
    assert [r["env"] for r in audit(bot, "unfreeze")] == ["staging"]


def test_freeze_and_unfreeze_need_the_team_of_every_environment_they_name(
    bot: BotHarness, fake_slack: FakeSlack
) -> None:
    _, refusal = slash(bot, fake_slack, "all", "freeze all all", user=INTEGRATION_ONLY)
    assert refusal.startswith("You can't freeze staging:") and "alphagov/gov-uk-production" in refusal
    _, reply = slash(bot, fake_slack, "integration", "freeze whitehall integration", user=INTEGRATION_ONLY)
    assert reply.startswith(":snowflake: Froze whitehall in integration.")
    _, refusal = slash(bot, fake_slack, "unfreeze", "unfreeze all all", user=INTEGRATION_ONLY)
    assert refusal.startswith("You can't unfreeze staging:")
    assert len(announcements(fake_slack)) == 1


def test_bad_freeze_scopes_are_refused_at_once(bot: BotHarness, fake_slack: FakeSlack) -> None:
    for text, expected in [
        ("freeze whitehall nowhere", "I don't know the environment `nowhere`."),
        ("freeze no-such-app all", "There is no app called `no-such-app` in any environment."),
        ("freeze ../x staging", "is not an app name"),
        ("unfreeze whitehall", "To unfreeze, say exactly the app"),
    ]:
        answer = bot.slash(text, response_url=fake_slack.response_url("bad"))
        assert expected in answer.json()["text"], (text, answer.json()["text"])
    bot.settle()
    assert announcements(fake_slack) == []
