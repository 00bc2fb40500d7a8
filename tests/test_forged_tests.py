"""Issue 19, finding 1: a forged test pass never beats a failure (SPEC sections 7 and 13).

With Argo Workflows showing a release's tests Failed in integration, a `POST /webhooks/tests`
"Succeeded" with the integration cluster's own token must not unlock anything: not CI's
`/update-image-tag` to staging, not an automatic promotion, not a typed `/deploy promote` without
`--force`. Where only webhooks tell the tests, a pass for the run that failed changes nothing either.
The whole bot runs on loopback against the fake Argo CD and Argo Workflows; passes are run by
calling the reconciler's `run_once`, as the scheduled job does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes import FakeArgoCD, FakeArgoWorkflows, FakeSlack
from tests.fakes.argo_workflows import DEFAULT_TOKEN as WORKFLOWS_TOKEN
from tests.fakes.argocd import DEFAULT_TOKEN as ARGOCD_TOKEN
from tests.support.app import MEMBER, USERS, BotHarness
from tests.support.charts import ChartsRemote
from tests.support.payloads import smokey_payload

INTEGRATION_TOKEN = "integration-cluster-token-for-the-forgery-tests"
APP, TAG = "whitehall", "v9200"  # integration's whitehall file promotes automatically


@pytest.fixture
def argocd() -> Iterator[FakeArgoCD]:
    fake = FakeArgoCD().start()
    yield fake
    fake.stop()


@pytest.fixture
def workflows() -> Iterator[FakeArgoWorkflows]:
    fake = FakeArgoWorkflows().start()
    yield fake
    fake.stop()


def _config(tmp_path: Path, argocd: FakeArgoCD, workflows: FakeArgoWorkflows) -> Path:
    lines = ["environments:"]
    for name, team in (
        ("integration", "gov-uk"),
        ("staging", "gov-uk-production"),
        ("production", "gov-uk-production"),
    ):
        lines += [f"  - name: {name}", f"    team: {team}"]
        if name == "integration":
            lines += [f"    argocd_url: {argocd.url}", f"    workflows_url: {workflows.url}"]
    lines += ["users:"] + [f"  {slack}: {login}" for slack, login in USERS.items()]
    path = tmp_path / "forgery-config.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _pass(bot: BotHarness) -> None:
    bot.services.reconciler.run_once()
    bot.settle()


def _tests_failed_in_integration(bot: BotHarness, slack: FakeSlack, argocd, workflows) -> None:
    _pass(bot)  # the first pass: nothing recorded yet
    # CI's deploy, which keeps promote_deployment true: a pass would promote it by itself
    ci = {"environment": "integration", "repoName": APP, "imageTag": TAG, "promoteDeployment": "true"}
    assert bot.webhook("/update-image-tag", ci).status_code == 202
    bot.settle()
    argocd.set_app(APP, image_tag=TAG)
    workflows.add_workflow(
        "post-sync-abc12", repo_name=APP, image_tag=TAG, phase="Failed", failures=[("e2e", "2 failed")]
    )
    _pass(bot)
    assert "*integration*: tests failed" in slack.roots()[0].all_text()


def _forged_pass(bot: BotHarness, workflow_name: str | None) -> int:
    body = {**smokey_payload(APP, "integration", TAG, "Succeeded"), "suite": None}
    if workflow_name is None:
        body.pop("workflowName")
    else:
        body["workflowName"] = workflow_name
    answer = bot.webhook("/webhooks/tests", body, token=INTEGRATION_TOKEN)
    bot.settle()
    return answer.status_code


@pytest.mark.parametrize("workflow_name", ["post-sync-abc12", "post-sync-zzzzz", None])
def test_a_forged_pass_unlocks_nothing_where_argo_workflows_says_failed(
    bot_env, tmp_path, argocd, workflows, fake_slack: FakeSlack, charts_remote: ChartsRemote, workflow_name
) -> None:
    bot = BotHarness(
        {
            **bot_env,
            "BOT_CONFIG": str(_config(tmp_path, argocd, workflows)),
            "ARGOCD_TOKEN_INTEGRATION": ARGOCD_TOKEN,
            "ARGO_WORKFLOWS_TOKEN_INTEGRATION": WORKFLOWS_TOKEN,
            "WEBHOOK_TOKEN_INTEGRATION": INTEGRATION_TOKEN,
            "RECONCILE_SECONDS": "0",
        }
    )
    try:
        _tests_failed_in_integration(bot, fake_slack, argocd, workflows)
        staging_before = charts_remote.read("staging", APP)

        assert _forged_pass(bot, workflow_name) in (200, 202)
        assert "*integration*: tests failed" in fake_slack.roots()[0].all_text()
        assert fake_slack.roots()[0].button("promote") is None
        assert charts_remote.read("staging", APP) == staging_before  # no automatic promotion

        ci = {"environment": "staging", "repoName": APP, "imageTag": TAG, "promoteDeployment": "true"}
        refused = bot.webhook("/update-image-tag", ci, token=INTEGRATION_TOKEN)
        assert refused.status_code == 403, refused.text
        assert "tests" in refused.json()["error"]

        bot.slash(f"promote {APP} to staging", user=MEMBER, response_url=fake_slack.response_url("typed"))
        [typed] = fake_slack.wait_for_response("typed", timeout=30)
        assert "Committed" not in typed["text"] and "failed" in typed["text"], typed
        bot.settle()
        assert charts_remote.read("staging", APP) == staging_before

        _pass(bot)  # Argo Workflows still says Failed: still failed
        assert "*integration*: tests failed" in fake_slack.roots()[0].all_text()

        bot.slash(
            f"promote {APP} to staging --force the fix is in", user=MEMBER, response_url=fake_slack.response_url("f")
        )
        assert "Committed" in fake_slack.wait_for_response("f", timeout=30)[-1]["text"]  # a person may override
    finally:
        bot.stop()


def test_a_newer_run_read_from_argo_workflows_passes_after_the_failure(
    bot_env, tmp_path, argocd, workflows, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    bot = BotHarness(
        {
            **bot_env,
            "BOT_CONFIG": str(_config(tmp_path, argocd, workflows)),
            "ARGOCD_TOKEN_INTEGRATION": ARGOCD_TOKEN,
            "ARGO_WORKFLOWS_TOKEN_INTEGRATION": WORKFLOWS_TOKEN,
            "RECONCILE_SECONDS": "0",
        }
    )
    try:
        _tests_failed_in_integration(bot, fake_slack, argocd, workflows)
        workflows.add_workflow(
            "post-sync-def34", repo_name=APP, image_tag=TAG, phase="Succeeded", created="2026-11-29T11:00:00Z"
        )
        _pass(bot)
        assert "*integration*: tests passed" in fake_slack.roots()[0].all_text()
        assert TAG in charts_remote.read("staging", APP)  # and now it is promoted automatically
    finally:
        bot.stop()


def test_without_a_workflows_token_a_pass_for_the_run_that_failed_changes_nothing(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    ci = {"environment": "integration", "repoName": APP, "imageTag": TAG, "promoteDeployment": "true"}
    assert bot.webhook("/update-image-tag", ci).status_code == 202
    bot.settle()
    assert TAG in charts_remote.read("integration", APP)
    staging_before = charts_remote.read("staging", APP)
    failed = smokey_payload(APP, "integration", TAG, "Failed")
    assert bot.webhook("/webhooks/smokey", failed).status_code == 202
    bot.settle()
    for forged in ({**failed, "status": "Succeeded"}, {**failed, "status": "Succeeded", "workflowName": ""}):
        assert bot.webhook("/webhooks/smokey", forged).status_code in (200, 202)
        bot.settle()
        assert "*integration*: tests failed" in fake_slack.roots()[0].all_text()
    assert charts_remote.read("staging", APP) == staging_before  # no automatic promotion

    refused = bot.webhook("/update-image-tag", {**ci, "environment": "staging"})
    assert refused.status_code == 403 and "tests" in refused.json()["error"], refused.text
    bot.settle()
    assert charts_remote.read("staging", APP) == staging_before

    retried = {**failed, "status": "Succeeded", "workflowName": "post-sync-retry1"}
    assert bot.webhook("/webhooks/smokey", retried).status_code == 202  # a newer run (another name) passes
    bot.settle()
    assert "*integration*: tests passed" in fake_slack.roots()[0].all_text()
    assert TAG in charts_remote.read("staging", APP)  # promoted automatically, as GOV.UK's post-sync would


def test_the_failed_run_retried_in_place_in_argo_workflows_passes_and_promotes(
    bot_env, tmp_path, argocd, workflows, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    """`argo retry` (the UI's Retry button) re-runs the failed workflow itself: same name, same
    creationTimestamp. Read from Argo Workflows, its pass is a genuine retry and must count."""
    bot = BotHarness(
        {
            **bot_env,
            "BOT_CONFIG": str(_config(tmp_path, argocd, workflows)),
            "ARGOCD_TOKEN_INTEGRATION": ARGOCD_TOKEN,
            "ARGO_WORKFLOWS_TOKEN_INTEGRATION": WORKFLOWS_TOKEN,
            "RECONCILE_SECONDS": "0",
        }
    )
    try:
        _tests_failed_in_integration(bot, fake_slack, argocd, workflows)
        workflows.finish("post-sync-abc12", "Succeeded")  # retried in place, and now it passes
        _pass(bot)
        assert "*integration*: tests passed" in fake_slack.roots()[0].all_text()
        assert TAG in charts_remote.read("staging", APP)  # promoted automatically
    finally:
        bot.stop()


def test_govuks_post_sync_promotion_while_its_workflow_runs_still_ends_in_staging(
    bot_env, tmp_path, argocd, workflows, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    """GOV.UK's post-sync calls `/update-image-tag` while its own workflow is still Running (SPEC 10.0)
    and ignores the answer. The bot cannot see those tests as passed yet, so it refuses; once the
    workflow ends Succeeded the bot's automatic promotion (same flags) moves the release, once."""
    bot = BotHarness(
        {
            **bot_env,
            "BOT_CONFIG": str(_config(tmp_path, argocd, workflows)),
            "ARGOCD_TOKEN_INTEGRATION": ARGOCD_TOKEN,
            "ARGO_WORKFLOWS_TOKEN_INTEGRATION": WORKFLOWS_TOKEN,
            "WEBHOOK_TOKEN_INTEGRATION": INTEGRATION_TOKEN,
            "RECONCILE_SECONDS": "0",
        }
    )
    try:
        _pass(bot)
        ci = {"environment": "integration", "repoName": APP, "imageTag": TAG, "promoteDeployment": "true"}
        assert bot.webhook("/update-image-tag", ci).status_code == 202
        bot.settle()
        argocd.set_app(APP, image_tag=TAG)
        workflows.add_workflow("post-sync-run01", repo_name=APP, image_tag=TAG, phase="Running")
        _pass(bot)
        staging_before = charts_remote.read("staging", APP)

        early = bot.webhook("/update-image-tag", {**ci, "environment": "staging"}, token=INTEGRATION_TOKEN)
        assert early.status_code in (202, 403), early.text  # curl -s: GOV.UK never reads it
        bot.settle()
        workflows.finish("post-sync-run01", "Succeeded")
        _pass(bot)
        assert "*integration*: tests passed" in fake_slack.roots()[0].all_text()
        assert TAG in charts_remote.read("staging", APP)
        assert staging_before != charts_remote.read("staging", APP)
    finally:
        bot.stop()
