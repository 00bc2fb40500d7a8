"""`/deploy rollback` and the `rollback` button end to end: real git, real Redis, signed requests."""

from __future__ import annotations

from tests.fakes import FakeSlack
from tests.support.app import INTEGRATION_ONLY, MEMBER, BotHarness
from tests.support.charts import ChartsRemote
from tests.support.payloads import smokey_payload
from tests.support.slack_requests import block_actions_body
from tests.test_freeze_flow import announcements, audit, card, slash, thread


def synced(bot: BotHarness, app: str, env: str, tag: str, state: str = "Succeeded") -> None:
    payload = {"application": app, "environment": env, "state": state, "health": "Healthy", "imageTag": tag}
    assert bot.webhook("/webhooks/argocd", payload).status_code == 202
    bot.settle()


def smokey_says(bot: BotHarness, app: str, env: str, tag: str, status: str = "Succeeded") -> None:
    assert bot.webhook("/webhooks/smokey", smokey_payload(app, env, tag, status)).status_code == 202
    bot.settle()


def test_rollback_goes_back_to_the_last_release_that_passed_there_and_freezes_the_app(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    # router does not promote automatically, so nothing leaves integration by itself
    slash(bot, fake_slack, "d1", "router v600 integration")
    synced(bot, "router", "integration", "v600")
    smokey_says(bot, "router", "integration", "v600")
    slash(bot, fake_slack, "d2", "router v601 integration")
    synced(bot, "router", "integration", "v601", state="Failed")

    # the failure reply offers the rollback, behind a confirmation
    [failure] = [m for m in thread(fake_slack, "router", "v601") if m.button("rollback")]
    button = failure.button("rollback")
    assert button["text"]["text"] == "Roll back to v600" and "confirm" in button

    # freezes never block a rollback
    slash(bot, fake_slack, "freeze", "freeze all integration")
    before = charts_remote.commit_count()
    ack, reply = slash(bot, fake_slack, "rollback", "rollback router integration")
    assert ack == ":hourglass_flowing_sand: Rolling back *router* in *integration*…"
    assert reply.startswith(":white_check_mark: Committed *router* `v600` to *integration*")
    [(_, subject, body)] = charts_remote.log(charts_remote.commit_count() - before)
    assert subject == "Update router image tag to v600 for integration"
    assert body.splitlines()[:2] == ["Requested-by: octocat (U012AB3CD)", "Rollback-of: v601"]
    assert "image_tag: v600\n" in charts_remote.read("integration", "router")
    assert "promote_deployment: false" in charts_remote.read("integration", "router")

    assert ":rewind: rolled back to v600 by <@U012AB3CD>" in card(fake_slack, "router", "v601").text
    [note] = [m for m in thread(fake_slack, "router", "v601") if m.text.startswith(":rewind:")]
    assert note.reply_broadcast
    assert note.text == (
        ":rewind: <@U012AB3CD> rolled integration back from v601 to v600. "
        "It stays frozen there until someone unfreezes it."
    )
    assert ":snowflake: <@U012AB3CD> froze deploys of router in integration: rolled back from v601" in announcements(
        fake_slack
    )
    [record] = audit(bot, "rollback", app="router")
    assert (record["tag"], record["rollback_of"], record["env"]) == ("v600", "v601", "integration")

    # the app stays frozen there after the other freeze is lifted
    slash(bot, fake_slack, "unfreeze", "unfreeze all integration")
    _, refusal = slash(bot, fake_slack, "again", "router v602 integration")
    assert "is frozen in *integration*" in refusal and "rolled back from v601" in refusal


def test_the_rollback_button_is_the_same_command(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    slash(bot, fake_slack, "d1", "router v600 integration")
    synced(bot, "router", "integration", "v600")
    smokey_says(bot, "router", "integration", "v600")
    slash(bot, fake_slack, "d2", "router v601 integration")
    synced(bot, "router", "integration", "v601")
    smokey_says(bot, "router", "integration", "v601", status="Failed")
    [failure] = [m for m in thread(fake_slack, "router", "v601") if m.button("rollback")]
    value = failure.button("rollback")["value"]

    bot.slack(block_actions_body("rollback", value + "x", response_url=fake_slack.response_url("forged")))
    assert "tampered" in fake_slack.wait_for_response("forged", timeout=15)[0]["text"]
    bot.slack(block_actions_body("rollback", value, response_url=fake_slack.response_url("click")))
    assert fake_slack.wait_for_response("click", timeout=15)[0]["text"].startswith(
        ":white_check_mark: Committed *router* `v600` to *integration*"
    )
    bot.settle()
    assert "Rollback-of: v601" in charts_remote.log(1)[0][2]


def test_rollback_from_git_history_alone(bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote) -> None:
    # the bot has never seen these releases: only the charts repo's history knows them
    for tag in ("v3235", "v3236"):
        charts_remote.commit_directly(
            "staging",
            "whitehall",
            f"image_tag: {tag}\nautomatic_deploys_enabled: true\npromote_deployment: true\n",
            f"Update whitehall image tag to {tag} for staging",
        )
    _, reply = slash(bot, fake_slack, "rollback", "rollback whitehall staging")
    assert reply.startswith(":white_check_mark: Committed *whitehall* `v3235` to *staging*")
    assert "Rollback-of: v3236" in charts_remote.log(1)[0][2]
    assert "promote_deployment: false" in charts_remote.read("staging", "whitehall")
    assert any(m.text.startswith(":rewind:") for m in thread(fake_slack, "whitehall", "v3236"))


def test_with_no_earlier_tag_nothing_is_committed_and_the_reply_says_so(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    before = charts_remote.commit_count()
    _, reply = slash(bot, fake_slack, "rollback", "rollback router production")
    assert reply.startswith("I found no earlier release of *router* to roll back to in *production* (it runs `v510`)")
    assert charts_remote.commit_count() == before
    assert announcements(fake_slack) == []


def test_rollback_needs_the_environments_team(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    before = charts_remote.commit_count()
    _, refusal = slash(bot, fake_slack, "rollback", "rollback whitehall staging", user=INTEGRATION_ONLY)
    assert refusal.startswith("You can't deploy to staging:") and "gov-uk-production" in refusal
    assert charts_remote.commit_count() == before
    answer = bot.slash("rollback whitehall nowhere", user=MEMBER)
    assert "I don't know the environment `nowhere`" in answer.json()["text"]


def test_a_linked_person_rolls_back_and_freezes_as_their_linked_login(
    bot: BotHarness, fake_slack: FakeSlack, fake_github, charts_remote: ChartsRemote
) -> None:
    """Rollback and freezes know accounts linked with `/deploy link`, as deploys do."""
    linked = "U0LINKED01"
    fake_github.add_member("gov-uk-production-deploy", "linked-dev")
    bot.services.deployer.links.link(linked, "linked-dev", bot.fake_clock())
    for tag in ("v3235", "v3236"):
        charts_remote.commit_directly("staging", "whitehall", f"image_tag: {tag}\n", f"whitehall {tag}")
    _, reply = slash(bot, fake_slack, "linked-rollback", "rollback whitehall staging", user=linked)
    assert reply.startswith(":white_check_mark: Committed *whitehall* `v3235` to *staging*"), reply
    assert "Requested-by: linked-dev (U0LINKED01)" in charts_remote.log(1)[0][2]
    _, frozen = slash(bot, fake_slack, "linked-freeze", "freeze whitehall production release", user=linked)
    assert frozen.startswith(":snowflake: Froze whitehall in production"), frozen
