"""The bot reads Argo CD and Argo Workflows itself (section 10 of the contract), end to end.

The whole bot runs on loopback (signed Slack requests, real git and Redis) against fake Argo CD
and Argo Workflows servers speaking their 3.x JSON. Passes are run by calling the reconciler's
own `run_once` (the scheduled job runs exactly that), except where the schedule is the point.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes import FakeArgoCD, FakeArgoWorkflows, FakeSlack
from tests.fakes.argo_workflows import DEFAULT_TOKEN as WORKFLOWS_TOKEN
from tests.fakes.argocd import DEFAULT_TOKEN as ARGOCD_TOKEN
from tests.fakes.argocd import event, node
from tests.support.app import MEMBER, USERS, BotHarness
from tests.support.slack_requests import block_actions_body

SECRET_LOOKING = "ghp_0123456789abcdefghijABCDEFGHIJ012345"


def _config(tmp_path: Path, argocd: FakeArgoCD, workflows: FakeArgoWorkflows) -> Path:
    lines = ["team_channels:", "  collections: collections-team", "environments:"]
    for name, team in (
        ("integration", "gov-uk"),
        ("staging", "gov-uk-production"),
        ("production", "gov-uk-production"),
    ):
        lines += [f"  - name: {name}", f"    team: {team}"]
        if name == "integration":
            lines += [f"    argocd_url: {argocd.url}", f"    workflows_url: {workflows.url}"]
    lines += ["users:"] + [f"  {slack}: {login}" for slack, login in USERS.items()]
    path = tmp_path / "argo-config.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def seeing_bot(bot_env, tmp_path, argocd, workflows) -> Iterator[BotHarness]:
    env = {
        **bot_env,
        "BOT_CONFIG": str(_config(tmp_path, argocd, workflows)),
        "ARGOCD_TOKEN_INTEGRATION": ARGOCD_TOKEN,
        "ARGO_WORKFLOWS_TOKEN_INTEGRATION": WORKFLOWS_TOKEN,
        "RECONCILE_SECONDS": "0",  # passes are run by the tests themselves
    }
    harness = BotHarness(env)
    try:
        yield harness
    finally:
        harness.stop()


def _pass(bot: BotHarness) -> None:
    bot.services.reconciler.run_once()
    bot.settle()


def _running_already(argocd: FakeArgoCD, workflows: FakeArgoWorkflows) -> None:
    """A busy environment: every app synced and tested long before the bot first looked."""
    for app, tag in (("whitehall", "v3232"), ("collections", "v1590"), ("router", "v512"), ("frontend", "v1810")):
        argocd.set_app(app, image_tag=tag)
        workflows.add_workflow(f"post-sync-{app}", repo_name=app, image_tag=tag, phase="Succeeded")
    argocd.set_app("frontend-draft", repo_name="frontend", image_tag="v1810", phase="Failed")


def _deploy(bot: BotHarness, slack: FakeSlack, text: str, name: str) -> None:
    bot.slash(text, user=MEMBER, response_url=slack.response_url(name))
    assert "Committed" in slack.wait_for_response(name, timeout=30)[-1]["text"]
    bot.settle()


def test_the_first_pass_on_a_busy_environment_posts_nothing(seeing_bot, fake_slack, argocd, workflows) -> None:
    _running_already(argocd, workflows)
    _pass(seeing_bot)
    assert fake_slack.messages == []
    _pass(seeing_bot)
    assert fake_slack.messages == []
    assert len(argocd.list_requests()) == 2 and len(workflows.list_requests()) == 2  # one read a pass, each


def test_cards_converge_with_every_webhook_lost(seeing_bot, fake_slack, argocd, workflows) -> None:
    _running_already(argocd, workflows)
    _pass(seeing_bot)
    _deploy(seeing_bot, fake_slack, "router v9100 integration", "deploy")

    argocd.set_app("router", image_tag="v9100", phase="Running", health="Progressing")
    _pass(seeing_bot)
    assert "syncing" in fake_slack.roots()[0].all_text()
    argocd.set_app("router", image_tag="v9100", phase="Succeeded", health="Progressing")  # on-deployed fires early
    _pass(seeing_bot)
    assert "*integration*: syncing" in fake_slack.roots()[0].all_text()
    argocd.set_app("router", image_tag="v9100")
    _pass(seeing_bot)
    assert "*integration*: synced" in fake_slack.roots()[0].all_text()
    workflows.add_workflow("post-sync-router-2", repo_name="router", image_tag="v9100", phase="Succeeded")
    _pass(seeing_bot)
    card = fake_slack.roots()[0]
    assert "*integration*: tests passed" in card.all_text()
    assert card.button("promote") is not None  # router does not promote itself
    assert len(fake_slack.roots()) == 1


def test_a_tag_deployed_without_the_bot_gets_its_card(seeing_bot, fake_slack, argocd, workflows, charts_remote) -> None:
    _running_already(argocd, workflows)
    _pass(seeing_bot)
    text = "image_tag: v9101\nautomatic_deploys_enabled: false\npromote_deployment: false\n"
    charts_remote.commit_directly("integration", "router", text, "Update router image tag to v9101 for integration")
    argocd.set_app("router", image_tag="v9101")
    _pass(seeing_bot)
    [card] = fake_slack.roots()
    assert "v9101" in card.all_text() and "synced" in card.all_text()


def test_webhook_and_api_reporting_one_failure_post_it_once(seeing_bot, fake_slack, argocd, workflows) -> None:
    _running_already(argocd, workflows)
    _pass(seeing_bot)
    _deploy(seeing_bot, fake_slack, "router v9102 integration", "deploy")
    payload = {"application": "router", "environment": "integration", "state": "Failed", "imageTag": "v9102"}
    assert seeing_bot.webhook("/webhooks/argocd", payload).status_code == 202
    argocd.set_app("router", image_tag="v9102", phase="Error", health="Degraded", message="boom")
    _pass(seeing_bot)
    assert seeing_bot.webhook("/webhooks/argocd", payload).status_code in (200, 202)  # a doorbell: Argo CD is read
    seeing_bot.settle()
    _pass(seeing_bot)
    [card] = fake_slack.roots()
    broadcasts = [r for r in fake_slack.replies(card.ts) if r.reply_broadcast]
    assert len(broadcasts) == 1 and "failed" in broadcasts[0].text
    assert f"<@{MEMBER}>" in broadcasts[0].text


def test_a_failed_sync_with_a_crash_looping_pod_carries_its_diagnosis(
    seeing_bot, fake_slack, argocd, workflows
) -> None:
    _running_already(argocd, workflows)
    _pass(seeing_bot)
    _deploy(seeing_bot, fake_slack, "router v9103 integration", "deploy")
    argocd.set_tree(
        "router",
        [
            node("Deployment", "router", health="Degraded", message="Deployment does not have minimum availability"),
            node("Pod", "router-7c9f-abcde", health="Degraded", message="back-off restarting failed container"),
            node("ConfigMap", "router-config", health=None),
        ],
    )
    argocd.set_events(
        "router",
        "router",
        [event("Deployment", "router", reason="ProgressDeadlineExceeded", message="<!channel> too slow")],
    )
    argocd.set_logs("router", "router-7c9f-abcde", [f"line {n}" for n in range(30)] + [f"password={SECRET_LOOKING}"])
    argocd.set_app("router", image_tag="v9103", phase="Failed", health="Degraded", message="one or more objects failed")
    _pass(seeing_bot)
    [card] = fake_slack.roots()
    replies = [r.text for r in fake_slack.replies(card.ts)]
    diagnosis = next(text for text in replies if "Diagnosis" in text)
    assert "router-7c9f-abcde" in diagnosis and "ProgressDeadlineExceeded" in diagnosis
    assert "line 29" in diagnosis and "line 10" not in diagnosis  # the last 20 lines only
    assert SECRET_LOOKING not in diagnosis and "[redacted]" in diagnosis
    assert "<!channel>" not in diagnosis
    _pass(seeing_bot)
    assert len(argocd.requests_to("/api/v1/applications/router/resource-tree")) == 1  # once per failure


def test_a_degraded_app_is_one_broadcast_and_the_team_channel_hears_once(
    seeing_bot, fake_slack, argocd, workflows
) -> None:
    _running_already(argocd, workflows)
    _pass(seeing_bot)
    _deploy(seeing_bot, fake_slack, "collections v9104 integration", "deploy")
    argocd.set_app("collections", image_tag="v9104", health="Degraded", health_message="pods not ready")
    _pass(seeing_bot)
    _pass(seeing_bot)
    card = next(m for m in fake_slack.roots() if "collections" in m.all_text() and m.blocks)
    assert [r.reply_broadcast for r in fake_slack.replies(card.ts)].count(True) == 1
    team = [m for m in fake_slack.messages if fake_slack.channel_name(m.channel) == "collections-team"]
    assert len(team) == 1 and "degraded" in team[0].text


@pytest.mark.parametrize("fault", ["down", "slow", "401", "junk"])
def test_api_failures_change_nothing_and_are_counted(seeing_bot, fake_slack, argocd, workflows, fault) -> None:
    _running_already(argocd, workflows)
    _pass(seeing_bot)
    argocd.set_app("router", image_tag="v9105", phase="Failed")
    workflows.add_workflow("post-sync-x", repo_name="router", image_tag="v9105", phase="Failed")
    for fake in (argocd, workflows):
        if fault == "down" or (fault == "slow" and fake is workflows):
            fake.fail_status = 503
        elif fault == "slow":
            fake.slow_seconds = 11  # the bot gives up after 10 seconds
        elif fault == "401":
            fake.fail_status = 401
        else:
            fake.junk = "not_json"
    started = time.monotonic()
    ack = seeing_bot.slash("help", user=MEMBER)
    assert ack.status_code == 200 and time.monotonic() - started < 3
    _pass(seeing_bot)
    assert fake_slack.messages == []
    metrics = seeing_bot.http.get("/metrics").text
    assert 'deploybot_reconcile_errors_total{environment="integration",source="argocd"} 1.0' in metrics
    assert 'deploybot_reconcile_errors_total{environment="integration",source="workflows"} 1.0' in metrics
    argocd.heal()
    workflows.heal()
    _pass(seeing_bot)
    assert len(fake_slack.roots()) == 1  # the next pass tries again and sees it


def test_retry_tests_resubmits_the_workflow_once(seeing_bot, fake_slack, argocd, workflows, fake_github) -> None:
    _running_already(argocd, workflows)
    _pass(seeing_bot)
    _deploy(seeing_bot, fake_slack, "router v9106 integration", "deploy")
    argocd.set_app("router", image_tag="v9106")
    workflows.add_workflow(
        "post-sync-r6", repo_name="router", image_tag="v9106", phase="Failed", failures=[("e2e", "checkout broke")]
    )
    _pass(seeing_bot)
    [card] = fake_slack.roots()
    failure = next(r for r in fake_slack.replies(card.ts) if "tests failed" in r.text)
    button = failure.button("retry_tests")
    assert button is not None

    def click(user: str, name: str):
        body = block_actions_body(
            "retry_tests", button["value"], user_id=user, response_url=fake_slack.response_url(name)
        )
        return seeing_bot.slack(body)

    assert click(MEMBER, "first").status_code == 200
    assert "running again" in fake_slack.wait_for_response("first", timeout=30)[0]["text"]
    assert click(MEMBER, "second").status_code == 200
    assert "already started again" in fake_slack.wait_for_response("second", timeout=30)[0]["text"]
    assert len(workflows.resubmit_requests()) == 1
    seeing_bot.settle()
    assert "tests running again" in fake_slack.message(card.ts).all_text()

    [(_, new_name)] = workflows.resubmitted
    workflows.finish(new_name, "Failed", failures=[("e2e", "still broken")])
    _pass(seeing_bot)
    failures = [r for r in fake_slack.replies(card.ts) if "tests failed" in r.text]
    assert len(failures) == 2 and "still broken" in failures[1].text
