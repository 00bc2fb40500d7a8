"""Section 10 on GOV.UK's real topology, against fakes that answer as the real servers do (SPEC 10.0).

The charts repository holds every tag file of GOV.UK's integration and staging; the fake Argo CD
holds every Application of staging (59 of them, draft stacks, whitehall-admin, licensify's
imageValues, the no-tests `mirror`) plus another project's; the fake Argo Workflows holds
`deploy-image` runs beside the post-sync tests. Passes are the reconciler's own `run_once`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes import FakeArgoCD, FakeSlack, govuk_topology
from tests.fakes.argo_workflows import DEFAULT_TOKEN as WORKFLOWS_TOKEN
from tests.fakes.argocd import DEFAULT_TOKEN as ARGOCD_TOKEN
from tests.fakes.argocd import NGINX_IMAGE, image
from tests.support.app import MEMBER, USERS, BotHarness
from tests.support.charts import ChartsRemote, make_charts_remote

ENV = "staging"


@pytest.fixture
def charts_remote(tmp_path: Path) -> ChartsRemote:
    """GOV.UK's tag files: every one of integration and staging (v100 each), a few of production."""
    return make_charts_remote(
        tmp_path,
        {
            "integration": govuk_topology.tag_files("integration"),
            "staging": govuk_topology.tag_files("staging"),
            "production": govuk_topology.tag_files("production"),
        },
    )


@pytest.fixture
def argocd() -> Iterator[FakeArgoCD]:
    with FakeArgoCD() as fake:
        govuk_topology.populate(fake, ENV)
        yield fake


@pytest.fixture
def govuk_bot(bot_env, tmp_path, argocd, workflows) -> Iterator[BotHarness]:
    lines = ["environments:"]
    for name, team in (("integration", "gov-uk"), ("staging", "gov-uk-production-deploy"), ("production", "gov-uk-production-deploy")):  # fmt: skip
        lines += [f"  - name: {name}", f"    team: {team}"]
        if name == ENV:
            lines += [f"    argocd_url: {argocd.url}", f"    workflows_url: {workflows.url}"]
    lines += ["users:"] + [f"  {slack}: {login}" for slack, login in USERS.items()]
    config = tmp_path / "govuk-config.yaml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = {
        **bot_env,
        "BOT_CONFIG": str(config),
        "ARGOCD_TOKEN_STAGING": ARGOCD_TOKEN,
        "ARGO_WORKFLOWS_TOKEN_STAGING": WORKFLOWS_TOKEN,
        "RECONCILE_SECONDS": "0",
    }
    harness = BotHarness(env)
    try:
        yield harness
    finally:
        harness.stop()


def _pass(bot: BotHarness) -> None:
    bot.services.reconciler.run_once()
    bot.settle()


def _deploy(bot: BotHarness, slack: FakeSlack, app: str, tag: str, name: str) -> None:
    bot.slash(f"{app} {tag} {ENV}", user=MEMBER, response_url=slack.response_url(name))
    assert "Committed" in slack.wait_for_response(name, timeout=30)[-1]["text"]
    bot.settle()


def _line(slack: FakeSlack, app: str, tag: str) -> str:
    [card] = [root for root in slack.roots() if f"`{tag}`" in root.all_text()]
    return next(line for line in card.all_text().splitlines() if f"*{ENV}*" in line)


def _roll_out(
    argocd: FakeArgoCD, names: list[str], tag: str, *, phase: str = "Succeeded", health: str = "Healthy"
) -> None:
    for name in names:
        argocd.flip_image_tag(name, tag)
        argocd.start_operation(name)
        argocd.finish_operation(name, phase=phase, health=health, message="" if phase == "Succeeded" else "one or more synchronization tasks completed unsuccessfully: password=hunter2")  # fmt: skip


def test_a_flipped_annotation_over_a_stale_success_is_not_synced(govuk_bot, fake_slack, argocd) -> None:
    """The app-of-apps flips imageTag first; the previous Succeeded/Healthy sits under the new tag."""
    _pass(govuk_bot)
    _deploy(govuk_bot, fake_slack, "router", "v9000", "deploy")
    for name in ("router", "draft-router"):
        argocd.flip_image_tag(name, "v9000")
    _pass(govuk_bot)
    assert "requested" in _line(fake_slack, "router", "v9000")
    argocd.start_operation("router")
    argocd.start_operation("draft-router")
    _pass(govuk_bot)
    assert "syncing" in _line(fake_slack, "router", "v9000")
    argocd.finish_operation("router")
    _pass(govuk_bot)
    # router has synced; draft-router, following the same file, still syncs: the line names it
    assert "syncing (draft-router)" in _line(fake_slack, "router", "v9000")
    argocd.finish_operation("draft-router")
    _pass(govuk_bot)
    line = _line(fake_slack, "router", "v9000")
    assert "synced" in line and "draft-router)" not in line


def test_deploy_image_workflows_are_never_tests(govuk_bot, fake_slack, argocd, workflows) -> None:
    _pass(govuk_bot)
    _deploy(govuk_bot, fake_slack, "whitehall", "v3300", "deploy")
    _roll_out(argocd, ["whitehall-admin"], "v3300")
    _pass(govuk_bot)
    for index, env in enumerate(("integration", "staging", "production")):  # CI deploys, all run here
        workflows.add_deploy_image(f"deploy-image-{index}", repo_name="whitehall", image_tag="v3300", environment=env)
    _pass(govuk_bot)
    card = fake_slack.roots()[0]
    text = card.all_text()
    assert (
        "tests failed" not in text
        and "tests passed" not in text
        and "synced" in _line(fake_slack, "whitehall", "v3300")
    )
    assert all(r.button("retry_tests") is None for r in fake_slack.replies(card.ts))
    selector = workflows.list_requests()[-1].query["listOptions.labelSelector"]
    assert selector == "workflows.argoproj.io/workflow-template=post-sync"


def test_whitehall_admin_failing_is_told_with_the_message_from_one_get(govuk_bot, fake_slack, argocd) -> None:
    _pass(govuk_bot)
    _deploy(govuk_bot, fake_slack, "whitehall", "v3301", "deploy")
    argocd.reset_requests()
    _roll_out(argocd, ["whitehall-admin"], "v3301", phase="Failed", health="Degraded")
    _pass(govuk_bot)
    _pass(govuk_bot)
    card = fake_slack.roots()[0]
    assert "sync failed" in _line(fake_slack, "whitehall", "v3301")
    broadcast = [r for r in fake_slack.replies(card.ts) if r.reply_broadcast]
    assert len(broadcast) == 1, [r.text for r in broadcast]  # failed and Degraded: one failure
    assert "one or more synchronization tasks completed unsuccessfully" in broadcast[0].text
    assert len(argocd.requests_to("/api/v1/applications/whitehall-admin")) == 1  # one GET, never again
    assert len(argocd.list_requests()) == 2  # one list a pass


def test_licensify_follows_several_tag_files_through_its_images(govuk_bot, fake_slack, argocd) -> None:
    _pass(govuk_bot)
    _deploy(govuk_bot, fake_slack, "licensify-feed", "v77", "deploy")
    images = [image(f, "v100") for f in ("licensify-admin", "licensify-backend", "licensify-frontend")]
    mid_rollout = [*images, image("licensify-feed", "v100"), image("licensify-feed", "v77"), NGINX_IMAGE]
    argocd.start_operation("licensify", images=mid_rollout)
    argocd.finish_operation("licensify", images=mid_rollout)  # both tags of the file still run
    _pass(govuk_bot)
    assert "synced" not in _line(fake_slack, "licensify-feed", "v77")
    argocd.finish_operation("licensify", images=[*images, image("licensify-feed", "v77"), NGINX_IMAGE])
    _pass(govuk_bot)
    assert "synced" in _line(fake_slack, "licensify-feed", "v77")


def test_a_tag_file_nobody_follows_is_said_once_and_never_stuck(govuk_bot, fake_slack, argocd) -> None:
    unfollowed = govuk_topology.topology(ENV).unfollowed[0]
    _pass(govuk_bot)
    _deploy(govuk_bot, fake_slack, unfollowed, "v5", "deploy")
    _pass(govuk_bot)
    _pass(govuk_bot)
    card = fake_slack.roots()[0]
    said = [r.text for r in fake_slack.replies(card.ts) if "No Argo CD application" in r.text]
    assert len(said) == 1 and f"`{unfollowed}`" in said[0] and "*staging*" in said[0]
    govuk_bot.fake_clock.advance(3600)
    assert govuk_bot.services.events.flag_stuck_deploys() == 0


def test_a_no_tests_application_ends_at_synced_with_a_promote_button(
    govuk_bot, fake_slack, argocd, workflows, charts_remote
) -> None:
    production = charts_remote.read("production", "govuk-mirror")
    _pass(govuk_bot)
    _deploy(govuk_bot, fake_slack, "govuk-mirror", "v12", "deploy")  # followed by `mirror`, postSync "false"
    _roll_out(argocd, ["mirror"], "v12")
    _pass(govuk_bot)
    card = fake_slack.roots()[0]
    assert "synced (no tests)" in _line(fake_slack, "govuk-mirror", "v12")
    assert card.button("promote") is not None
    assert workflows.list_requests()  # the tests were looked for, and none will ever come
    # a release whose file asks for automatic promotion: never here, for only post-sync promotes
    text = "image_tag: v13\nautomatic_deploys_enabled: true\npromote_deployment: true\n"
    charts_remote.commit_directly(ENV, "govuk-mirror", text, f"Update govuk-mirror image tag to v13 for {ENV}")
    _roll_out(argocd, ["mirror"], "v13")
    _pass(govuk_bot)
    _pass(govuk_bot)
    assert "synced (no tests)" in _line(fake_slack, "govuk-mirror", "v13")
    assert charts_remote.read("production", "govuk-mirror") == production


def test_a_release_the_bot_follows_moves_on_the_first_pass(govuk_bot, fake_slack, argocd) -> None:
    """Issue 18 fault 6: nothing recorded yet, but this release's card is the bot's own."""
    _deploy(govuk_bot, fake_slack, "collections", "v1591", "deploy")
    _roll_out(argocd, ["collections", "draft-collections"], "v1591")
    _pass(govuk_bot)  # the first pass for staging
    assert "synced" in _line(fake_slack, "collections", "v1591")
    assert len(fake_slack.roots()) == 1  # everything else that runs was recorded silently


def test_another_projects_applications_are_never_read(govuk_bot, fake_slack, argocd) -> None:
    _pass(govuk_bot)
    _pass(govuk_bot)
    assert fake_slack.roots() == []
    assert all(r.query.get("projects") == "govuk" for r in argocd.list_requests())


# -- the doorbell (SPEC 13): where the bot can read Argo, a webhook only makes it look ---------------


def _webhook(bot: BotHarness, path: str, payload: dict) -> int:
    started = time.monotonic()
    answer = bot.webhook(path, payload)
    assert time.monotonic() - started < 5, "reading Argo must not hold up the webhook's answer"
    return answer.status_code


def test_a_sync_webhook_makes_the_bot_read_argocd_and_only_argocd_counts(govuk_bot, fake_slack, argocd) -> None:
    _pass(govuk_bot)
    _deploy(govuk_bot, fake_slack, "router", "v9200", "deploy")
    argocd.flip_image_tag("router", "v9200")  # the previous Succeeded/Healthy still stands
    argocd.reset_requests()
    said = {"application": "router", "environment": ENV, "state": "Succeeded", "health": "Healthy", "imageTag": "v9200"}
    assert _webhook(govuk_bot, "/webhooks/argocd", said) == 202
    govuk_bot.settle()
    assert len(argocd.requests_to("/api/v1/applications/router")) == 1  # one GET: the doorbell rang
    assert argocd.list_requests() == []
    assert "requested" in _line(fake_slack, "router", "v9200")  # the webhook alone moves nothing
    argocd.start_operation("router")
    argocd.finish_operation("router", phase="Failed", health="Degraded", message="ImagePullBackOff")
    assert _webhook(govuk_bot, "/webhooks/argocd", said) == 202  # it says synced; Argo CD says failed
    govuk_bot.settle()
    assert "sync failed" in _line(fake_slack, "router", "v9200")
    card = fake_slack.roots()[0]
    assert any("ImagePullBackOff" in r.text for r in fake_slack.replies(card.ts) if r.reply_broadcast)


def test_a_webhook_for_a_release_argocd_never_ran_posts_no_card(govuk_bot, fake_slack, argocd) -> None:
    _pass(govuk_bot)
    forged = {"application": "frontend", "environment": ENV, "state": "Failed", "imageTag": "v666"}
    assert _webhook(govuk_bot, "/webhooks/argocd", forged) == 202
    tests = {"application": "frontend", "environment": ENV, "imageTag": "v666", "status": "Succeeded"}
    assert _webhook(govuk_bot, "/webhooks/tests", tests) == 202
    govuk_bot.settle()
    _pass(govuk_bot)
    assert fake_slack.roots() == []


def test_a_tests_webhook_makes_the_bot_read_the_workflows(govuk_bot, fake_slack, argocd, workflows) -> None:
    _pass(govuk_bot)
    _deploy(govuk_bot, fake_slack, "collections", "v1600", "deploy")
    _roll_out(argocd, ["collections", "draft-collections"], "v1600")
    _pass(govuk_bot)
    workflows.reset_requests()
    said = {"application": "collections", "environment": ENV, "imageTag": "v1600", "status": "Succeeded"}
    assert _webhook(govuk_bot, "/webhooks/tests", said) == 202
    govuk_bot.settle()
    assert len(workflows.list_requests()) == 1
    assert "tests passed" not in _line(fake_slack, "collections", "v1600")  # no run says so
    workflows.add_workflow("post-sync-c1", repo_name="collections", image_tag="v1600", phase="Failed", created="2026-12-01T10:00:00Z", failures=[("e2e", "3 failed")])  # fmt: skip
    assert _webhook(govuk_bot, "/webhooks/tests", said) == 202
    govuk_bot.settle()
    assert "tests failed" in _line(fake_slack, "collections", "v1600")


def test_a_slow_argocd_does_not_hold_up_the_webhook(govuk_bot, fake_slack, argocd) -> None:
    _pass(govuk_bot)
    _deploy(govuk_bot, fake_slack, "router", "v9201", "deploy")
    argocd.slow_seconds = 8
    said = {"application": "router", "environment": ENV, "state": "Running", "imageTag": "v9201"}
    assert _webhook(govuk_bot, "/webhooks/argocd", said) == 202
    argocd.heal()


def test_a_failing_draft_stack_is_a_failure_told_once_and_named_on_the_line(govuk_bot, fake_slack, argocd) -> None:
    _pass(govuk_bot)
    _deploy(govuk_bot, fake_slack, "router", "v9300", "deploy")
    _roll_out(argocd, ["router"], "v9300")
    _roll_out(argocd, ["draft-router"], "v9300", phase="Failed", health="Degraded")
    _pass(govuk_bot)
    _pass(govuk_bot)
    assert "sync failed (draft-router)" in _line(fake_slack, "router", "v9300")
    card = fake_slack.roots()[0]
    broadcast = [r.text for r in fake_slack.replies(card.ts) if r.reply_broadcast]
    assert len(broadcast) == 1 and "draft-router" in broadcast[0], broadcast
    assert len(argocd.requests_to("/api/v1/applications/draft-router")) == 1
    assert len(argocd.requests_to("/api/v1/applications/router")) == 0  # healthy: never read alone


# -- the doorbell reads only Applications the bot's own list found in its project (review) -----------


def _errors(bot: BotHarness) -> list[str]:
    text = bot.http.get("/metrics").text
    return [line for line in text.splitlines() if line.startswith("deploybot_reconcile_errors_total{") and not line.endswith(" 0.0")]  # fmt: skip


def test_rings_for_made_up_applications_read_nothing_and_count_no_error(govuk_bot, fake_slack, argocd) -> None:
    """A token holder naming Applications that do not exist: no GET for each (a 403 each on the real
    server), no reconcile error counted, no card, and the queue of reads does not grow with them."""
    _pass(govuk_bot)
    argocd.reset_requests()
    for n in range(60):
        made_up = {"application": f"made-up-{n}", "repoName": "router", "environment": ENV, "state": "Failed", "imageTag": "v100"}  # fmt: skip
        assert _webhook(govuk_bot, "/webhooks/argocd", made_up) in (202, 429)  # 429: SPEC 13's 30 a minute
    govuk_bot.settle()
    assert [r.path for r in argocd.requests if "made-up" in r.path] == []
    assert _errors(govuk_bot) == []
    assert fake_slack.roots() == []


def test_a_ring_for_another_projects_application_is_not_its_witness(govuk_bot, fake_slack, argocd) -> None:
    """An Application of another project that runs a GOV.UK image never speaks for a GOV.UK release,
    whether the list pass (projects=govuk) or a webhook brings it up."""
    _pass(govuk_bot)
    _deploy(govuk_bot, fake_slack, "router", "v9400", "deploy")
    argocd.set_app("dgu-router", image_tag="v9400", repo_name="router", project="datagovuk", phase="Failed", health="Degraded")  # fmt: skip
    said = {"application": "dgu-router", "repoName": "router", "environment": ENV, "state": "Failed", "imageTag": "v9400"}  # fmt: skip
    assert _webhook(govuk_bot, "/webhooks/argocd", said) == 202
    govuk_bot.settle()
    _pass(govuk_bot)
    assert "requested" in _line(fake_slack, "router", "v9400")


def test_a_ring_before_the_first_pass_posts_no_card_for_what_already_ran(govuk_bot, fake_slack, argocd) -> None:
    """Before the first pass nothing is recorded: what already ran is the baseline, not news (SPEC 10.1)."""
    argocd.set_app("router", image_tag="v100", phase="Failed", health="Degraded", started_at="2099-01-01T00:00:00Z")
    said = {"application": "router", "environment": ENV, "state": "Failed", "imageTag": "v100"}
    assert _webhook(govuk_bot, "/webhooks/argocd", said) == 202
    govuk_bot.settle()
    _pass(govuk_bot)
    assert fake_slack.roots() == []
