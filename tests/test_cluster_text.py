"""Text from a cluster, a workflow or a webhook reaches Slack redacted and escaped, whatever path it takes.

Section 10.3: operation and health messages, a webhook's `message`, test `failures`, events and
logs are escaped for Slack and stripped of anything that looks like a credential before they are
posted anywhere. These tests send credentials in through the contract (webhooks, a fake Argo CD)
and read everything the bot sent to the fake Slack: no secret, no live `<!channel>`, every block
within Slack's limits.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes import FakeArgoCD, FakeArgoWorkflows, FakeSlack
from tests.fakes.argo_workflows import DEFAULT_TOKEN as WORKFLOWS_TOKEN
from tests.fakes.argocd import DEFAULT_TOKEN as ARGOCD_TOKEN
from tests.support.app import MEMBER, USERS, BotHarness

SECRETS = {
    "github": "ghp_0123456789abcdefghijABCDEFGHIJ012345",
    "slack": "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOp",
    "bearer": "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.s1gn4tur3",
    "password": "hunter2-correct-horse",
    "aws": "AKIAIOSFODNN7EXAMPLE",
    "url": "s3cr3t-db-pass",
}
LEAKY = (
    f"<!channel> sync failed: Authorization: Bearer {SECRETS['bearer']} rejected; "
    f"password={SECRETS['password']} token {SECRETS['github']} slack {SECRETS['slack']} "
    f"key {SECRETS['aws']} db postgres://app:{SECRETS['url']}@db.internal/app & <@U0EVERYONE>"
)


def everything_sent(slack: FakeSlack) -> str:
    """Every parameter of every Slack call and every response_url body, as one string."""
    return json.dumps([params for _, params in slack.calls]) + json.dumps(slack.responses)


def assert_clean(slack: FakeSlack) -> None:
    sent = everything_sent(slack)
    for name, secret in SECRETS.items():
        assert secret not in sent, f"the {name} secret reached Slack"
    assert "<!channel>" not in sent and "<@U0EVERYONE>" not in sent
    for method, params in slack.calls:
        for block in params.get("blocks") or []:
            text = (block.get("text") or {}).get("text") or ""
            assert len(text) <= 3000, f"{method} sent a section of {len(text)} characters"


def test_a_sync_failure_webhook_message_is_redacted_and_escaped(bot, fake_slack) -> None:
    payload = {
        "application": "whitehall-admin",
        "repoName": "whitehall",
        "environment": "integration",
        "state": "Failed",
        "health": "Degraded",
        "imageTag": "v4001",
        "message": LEAKY,
    }
    assert bot.webhook("/webhooks/argocd", payload).status_code == 202
    bot.settle()
    [card] = fake_slack.roots()
    [reply] = [r for r in fake_slack.replies(card.ts) if r.reply_broadcast]
    assert "[redacted]" in reply.text and "&lt;!channel&gt;" in reply.text
    assert_clean(fake_slack)


def test_test_failures_from_a_webhook_are_redacted_and_fit_a_section(bot, fake_slack) -> None:
    payload = {
        "application": "whitehall-admin",
        "repoName": "whitehall",
        "environment": "integration",
        "imageTag": "v4002",
        "status": "Failed",
        "suite": "<!here> smokey",
        "workflowName": "post-sync-abcde",
        "workflowUrl": "https://argo-workflows.test/workflows/apps/post-sync-abcde",
        "failures": [LEAKY * 3] * 20,  # 20 long failures: far more than one section block holds
    }
    assert bot.webhook("/webhooks/tests", payload).status_code == 202
    bot.settle()
    [card] = fake_slack.roots()
    [reply] = [r for r in fake_slack.replies(card.ts) if r.reply_broadcast]
    assert "[redacted]" in reply.all_text()
    assert "<!here>" not in everything_sent(fake_slack)
    assert_clean(fake_slack)


def test_a_workflow_url_from_a_webhook_carrying_a_credential_is_redacted_on_the_card_and_in_the_reply(
    bot, fake_slack
) -> None:
    """The workflow run's URL is outside text too: shown as a link on the card and in the failure reply,
    it must not carry a URL's `user:password@` or a `token=` in its query."""
    payload = {
        "application": "whitehall-admin",
        "repoName": "whitehall",
        "environment": "integration",
        "imageTag": "v4003",
        "status": "Failed",
        "suite": "smokey",
        "workflowUrl": f"https://ci:{SECRETS['url']}@argo-workflows.test/workflows/apps/x?token={SECRETS['password']}",
        "failures": ["one test failed"],
    }
    assert bot.webhook("/webhooks/tests", payload).status_code == 202
    bot.settle()
    [card] = fake_slack.roots()
    [reply] = [r for r in fake_slack.replies(card.ts) if r.reply_broadcast]
    assert "argo-workflows.test/workflows/apps/x" in reply.all_text()  # the link is still there
    assert_clean(fake_slack)


# -- read from Argo CD itself --------------------------------------------------------------------


def _config(tmp_path: Path, argocd: FakeArgoCD, workflows: FakeArgoWorkflows) -> Path:
    lines = ["team_channels:", "  router: router-team", "environments:"]
    for name in ("integration", "staging", "production"):
        lines += [f"  - name: {name}", f"    team: {'gov-uk' if name == 'integration' else 'gov-uk-production'}"]
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
        "RECONCILE_SECONDS": "0",
    }
    harness = BotHarness(env)
    try:
        yield harness
    finally:
        harness.stop()


def test_an_operation_message_read_from_argo_cd_is_redacted_everywhere(
    seeing_bot, fake_slack, argocd, workflows
) -> None:
    argocd.set_app("router", image_tag="v512")
    seeing_bot.services.reconciler.run_once()  # the silent first pass
    response_url = fake_slack.response_url("deploy")
    seeing_bot.slash("router v9200 integration", user=MEMBER, response_url=response_url)
    assert "Committed" in fake_slack.wait_for_response("deploy", timeout=30)[-1]["text"]
    seeing_bot.settle()
    argocd.set_app("router", image_tag="v9200", phase="Failed", health="Degraded", message=LEAKY)
    seeing_bot.services.reconciler.run_once()
    seeing_bot.settle()
    cards = fake_slack.roots("govuk-deploy-alerts")
    assert [c.all_text() for c in cards] and len(cards) == 1, [c.all_text() for c in fake_slack.messages]
    [broadcast] = [r for r in fake_slack.replies(cards[0].ts) if r.reply_broadcast]
    assert "[redacted]" in broadcast.text
    team = [m for m in fake_slack.messages if fake_slack.channel_name(m.channel) == "router-team"]
    assert len(team) == 1  # the team channel heard, and carries no cluster text unredacted either
    assert_clean(fake_slack)
