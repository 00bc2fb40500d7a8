"""Approvals through signed slash commands and clicks, on loopback fakes and a real Redis."""

from __future__ import annotations

import time

import pytest

from bot import messages
from tests.fakes import FakeGitHub, FakeSlack
from tests.support.app import INTEGRATION_ONLY, MEMBER, OUTSIDER, USERS, BotHarness, run_concurrently
from tests.support.slack_requests import block_actions_body, find_button

SECOND_MEMBER = "U0MEMBER2"  # hubot: in gov-uk and gov-uk-production, like octocat
CONFIG = """environments:
  - {name: integration, team: gov-uk}
  - {name: staging, team: gov-uk-production}
  - {name: production, team: gov-uk-production, approvals_required: 1}
users:
"""


def approvals_env(bot_env: dict[str, str], tmp_path, fake_github: FakeGitHub, folder: str = "") -> dict[str, str]:
    fake_github.add_member("gov-uk", "hubot")
    fake_github.add_member("gov-uk-production", "hubot")
    users = {**USERS, SECOND_MEMBER: "hubot"}
    path = tmp_path / f"approvals-config{folder}.yaml"
    path.write_text(CONFIG + "".join(f"  {slack}: {login}\n" for slack, login in users.items()), encoding="utf-8")
    env = {**bot_env, "BOT_CONFIG": str(path)}
    if folder:
        env["CHARTS_WORKDIR"] = str(tmp_path / folder / "working-copy")
    return env


@pytest.fixture
def abot(bot_env, tmp_path, fake_github):
    harness = BotHarness(approvals_env(bot_env, tmp_path, fake_github))
    try:
        yield harness
    finally:
        harness.stop()


def click(bot, action_id: str, value: str, user: str, response_url: str) -> None:
    response = bot.slack(block_actions_body(action_id, value, user_id=user, response_url=response_url))
    assert response.status_code == 200, response.text


def request_notice(fake_slack: FakeSlack, bot: BotHarness):
    bot.settle()
    [notice] = [m for m in fake_slack.roots() if "asks to deploy" in m.text]
    return notice


def ask_for_approval(abot, fake_slack, user=INTEGRATION_ONLY, text="whitehall v5000 staging"):
    """A deploy refused for the team, then a click on its `request_approval`: the request's notice."""
    abot.slash(text, user=user, response_url=fake_slack.response_url("deploy"))
    [refusal] = fake_slack.wait_for_response("deploy", timeout=30)
    assert "gov-uk-production" in refusal["text"]
    button = find_button(refusal, "request_approval")
    assert button is not None, refusal
    click(abot, "request_approval", button["value"], user, fake_slack.response_url("asked"))
    [asked] = fake_slack.wait_for_response("asked", timeout=10)
    assert "asked for an approval" in asked["text"], asked
    return request_notice(fake_slack, abot)


def actions(bot) -> list[str]:
    bot.services.audit.flush(timeout=5)
    return [record["action"] for record in bot.services.audit.read()]


def test_a_member_approves_a_team_refusal_and_the_commit_says_who(abot, fake_slack, charts_remote):
    notice = ask_for_approval(abot, fake_slack)
    assert f"<@{INTEGRATION_ONLY}>" in notice.text and "@integrator" in notice.text
    assert "*whitehall* `v5000` to *staging*" in notice.text and "alphagov/gov-uk-production" in notice.text
    value = notice.button("approve")["value"]
    assert notice.button("deny")["value"] == value and len(value) <= 2000

    click(abot, "approve", value, MEMBER, fake_slack.response_url("approver"))
    assert "You approved" in fake_slack.wait_for_response("approver", timeout=10)[0]["text"]
    told = fake_slack.wait_for_response("asked", timeout=30, count=3)
    assert "approved your deploy" in told[1]["text"] and "Committed" in told[2]["text"], told
    lines = charts_remote.log(1)[0][2].splitlines()
    requested = lines.index(f"Requested-by: integrator ({INTEGRATION_ONLY})")
    assert lines[requested + 1] == f"Approved-by: octocat ({MEMBER})"
    abot.settle()
    assert "Approved by <@U012AB3CD>" in fake_slack.message(notice.ts).text
    assert fake_slack.message(notice.ts).button("approve") is None
    assert [a for a in actions(abot) if a in ("approval_requested", "approved", "denied", "deploy_committed")] == [
        "approval_requested",
        "approved",
        "deploy_committed",
    ]


def test_the_requester_cannot_approve_their_own_request_nor_can_a_non_member(
    abot, fake_slack, fake_github, charts_remote
):
    count = charts_remote.commit_count()
    notice = ask_for_approval(abot, fake_slack)
    value = notice.button("approve")["value"]
    click(abot, "approve", value, INTEGRATION_ONLY, fake_slack.response_url("own"))
    assert fake_slack.wait_for_response("own", timeout=10)[0]["text"] == messages.approval_own_request("approved")
    click(abot, "approve", value, OUTSIDER, fake_slack.response_url("outsider"))
    [refused] = fake_slack.wait_for_response("outsider", timeout=10)
    assert "Only an active member of alphagov/gov-uk-production" in refused["text"]
    click(abot, "approve", value + "x", MEMBER, fake_slack.response_url("forged"))
    assert fake_slack.wait_for_response("forged", timeout=10)[0]["text"] == messages.BUTTON_NOT_MINE
    abot.settle()
    assert charts_remote.commit_count() == count
    assert "approved" not in actions(abot)
    # the request still stands for a member
    click(abot, "approve", value, MEMBER, fake_slack.response_url("member"))
    fake_slack.wait_for_response("asked", timeout=30, count=3)
    assert charts_remote.commit_count() == count + 1


def test_a_denied_request_ends_there_and_is_decided_once(abot, fake_slack, charts_remote):
    count = charts_remote.commit_count()
    notice = ask_for_approval(abot, fake_slack)
    value = notice.button("deny")["value"]
    click(abot, "deny", value, MEMBER, fake_slack.response_url("denier"))
    assert "You denied" in fake_slack.wait_for_response("denier", timeout=10)[0]["text"]
    told = fake_slack.wait_for_response("asked", timeout=10, count=2)
    assert told[1]["text"] == messages.approval_denied_to_requester("whitehall", "v5000", "staging", f"<@{MEMBER}>")
    click(abot, "approve", value, SECOND_MEMBER, fake_slack.response_url("late"))
    assert "already denied by <@U012AB3CD>" in fake_slack.wait_for_response("late", timeout=10)[0]["text"]
    abot.settle()
    assert "Denied by <@U012AB3CD>" in fake_slack.message(notice.ts).text
    assert charts_remote.commit_count() == count
    assert "denied" in actions(abot)


def test_a_request_older_than_30_minutes_has_expired(abot, fake_slack, charts_remote):
    count = charts_remote.commit_count()
    notice = ask_for_approval(abot, fake_slack)
    abot.fake_clock.advance(31 * 60)
    click(abot, "approve", notice.button("approve")["value"], MEMBER, fake_slack.response_url("late"))
    assert "has expired" in fake_slack.wait_for_response("late", timeout=10)[0]["text"]
    expired = messages.approval_expired_to_requester("whitehall", "v5000", "staging")
    # 31 minutes after the click: Slack no longer takes its response_url, so the requester hears by DM
    assert fake_slack.wait_until(lambda: [m.text for m in fake_slack.direct_messages(INTEGRATION_ONLY)] == [expired])
    abot.settle()
    assert "Expired at" in fake_slack.message(notice.ts).text
    assert charts_remote.commit_count() == count
    assert "expired" in actions(abot)


def test_approvals_required_holds_a_members_own_deploy_until_another_member_approves(abot, fake_slack, charts_remote):
    count = charts_remote.commit_count()
    abot.slash("whitehall v5001 production", user=MEMBER, response_url=fake_slack.response_url("deploy"))
    [held] = fake_slack.wait_for_response("deploy", timeout=30)
    assert "production needs a second member of alphagov/gov-uk-production" in held["text"], held
    notice = request_notice(fake_slack, abot)
    assert charts_remote.commit_count() == count
    value = notice.button("approve")["value"]
    click(abot, "approve", value, MEMBER, fake_slack.response_url("own"))
    assert "cannot approve your own" in fake_slack.wait_for_response("own", timeout=10)[0]["text"]
    click(abot, "approve", value, SECOND_MEMBER, fake_slack.response_url("second"))
    told = fake_slack.wait_for_response("deploy", timeout=30, count=3)
    assert "Committed" in told[2]["text"], told
    lines = charts_remote.log(1)[0][2].splitlines()
    assert f"Approved-by: hubot ({SECOND_MEMBER})" in lines
    assert charts_remote.read("production", "whitehall").startswith("image_tag: v5001")


def test_approvals_required_holds_a_promotion_too(abot, fake_slack, charts_remote):
    for path, outcome in (
        ("/webhooks/argocd", {"state": "Succeeded", "health": "Healthy"}),
        ("/webhooks/smokey", {"status": "Succeeded"}),
    ):
        release = {"application": "frontend", "environment": "staging", "imageTag": "v1805"}
        assert abot.webhook(path, {**release, **outcome}).status_code == 202  # a promotion needs passed tests
    abot.settle()  # frontend does not promote itself from staging
    count = charts_remote.commit_count()
    abot.slash("promote frontend to production", user=MEMBER, response_url=fake_slack.response_url("p"))
    [held] = fake_slack.wait_for_response("p", timeout=30)
    assert "needs a second member" in held["text"], held
    notice = request_notice(fake_slack, abot)
    assert "(promoted from staging)" in notice.text
    assert charts_remote.commit_count() == count
    click(abot, "approve", notice.button("approve")["value"], SECOND_MEMBER, fake_slack.response_url("second"))
    told = fake_slack.wait_for_response("p", timeout=30, count=3)
    assert "Committed" in told[2]["text"], told
    assert "image_tag: v1805" in charts_remote.read("production", "frontend")
    assert f"Approved-by: hubot ({SECOND_MEMBER})" in charts_remote.log(1)[0][2].splitlines()


def test_two_members_approving_at_once_on_two_replicas_make_one_decision(
    bot_env, tmp_path, fake_slack, fake_github, charts_remote
):
    first = BotHarness(approvals_env(bot_env, tmp_path, fake_github, "a"))
    second = BotHarness(approvals_env(bot_env, tmp_path, fake_github, "b"))
    try:
        count = charts_remote.commit_count()
        notice = ask_for_approval(first, fake_slack)
        value = notice.button("approve")["value"]
        urls = [fake_slack.response_url("one"), fake_slack.response_url("two")]
        run_concurrently(
            [
                lambda: click(first, "approve", value, MEMBER, urls[0]),
                lambda: click(second, "approve", value, SECOND_MEMBER, urls[1]),
            ]
        )
        answers = [fake_slack.wait_for_response(name, timeout=10)[0]["text"] for name in ("one", "two")]
        assert sorted("You approved" in a for a in answers) == [False, True], answers
        assert any("already approved" in a for a in answers), answers
        fake_slack.wait_for_response("asked", timeout=30, count=3)
        first.settle()
        second.settle()
        time.sleep(0.5)
        assert charts_remote.commit_count() == count + 1
        assert actions(first).count("approved") == 1
    finally:
        first.stop()
        second.stop()


def test_a_request_approval_button_is_only_for_the_person_refused(abot, fake_slack):
    abot.slash("whitehall v5000 staging", user=INTEGRATION_ONLY, response_url=fake_slack.response_url("deploy"))
    [refusal] = fake_slack.wait_for_response("deploy", timeout=30)
    value = find_button(refusal, "request_approval")["value"]
    click(abot, "request_approval", value, OUTSIDER, fake_slack.response_url("other"))
    assert fake_slack.wait_for_response("other", timeout=10)[0]["text"] == messages.APPROVAL_BUTTON_NOT_YOURS
    click(abot, "request_approval", value, INTEGRATION_ONLY, fake_slack.response_url("once"))
    click(abot, "request_approval", value, INTEGRATION_ONLY, fake_slack.response_url("twice"))
    assert fake_slack.wait_for_response("twice", timeout=10)[0]["text"] == messages.APPROVAL_ALREADY_ASKED
    abot.settle()
    assert len([m for m in fake_slack.roots() if "asks to deploy" in m.text]) == 1


def test_a_member_refused_for_an_unreachable_github_gets_no_approval_button(abot, fake_slack, fake_github):
    fake_github.down = True
    abot.slash("whitehall v5000 staging", user=INTEGRATION_ONLY, response_url=fake_slack.response_url("deploy"))
    [refusal] = fake_slack.wait_for_response("deploy", timeout=30)
    assert find_button(refusal, "request_approval") is None


def test_an_approved_request_keeps_its_approver_through_the_journal() -> None:
    from bot.deploys.request import DeployRequest
    from bot.releases.model import Requester

    approver = Requester("U0MEMBER2", "hubot")
    request = DeployRequest("whitehall", "production", "v1", Requester(MEMBER, "octocat"), approved_by=approver)
    again = DeployRequest.from_json(request.to_json())
    assert again == request and again.approved_by == approver
    assert DeployRequest.from_json({**request.to_json(), "approved_by": None}).approved_by is None


def test_the_scheduled_sweep_expires_old_requests_once(abot, fake_slack):
    notice = ask_for_approval(abot, fake_slack)
    assert abot.services.approvals.expire_old() == 0  # not old yet
    abot.fake_clock.advance(31 * 60)
    assert abot.services.approvals.expire_old() == 1
    assert abot.services.approvals.expire_old() == 0
    expired = messages.approval_expired_to_requester("whitehall", "v5000", "staging")
    assert fake_slack.wait_until(lambda: [m.text for m in fake_slack.direct_messages(INTEGRATION_ONLY)] == [expired])
    abot.settle()
    assert "Expired at" in fake_slack.message(notice.ts).text
    assert actions(abot).count("expired") == 1
