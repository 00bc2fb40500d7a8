"""The security findings of issue 9, each driven through the real part.

Real HTTP app on loopback with real tokens, a real Redis under the test's own prefix, a bare charts
remote and the loopback Slack and GitHub fakes. What the bot did is read from the outside only:
status codes, commits on the charts remote, calls to the fake Slack and replies at response URLs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.fakes import FakeArgoWorkflows, FakeSlack
from tests.support.app import OUTSIDER, SIGNING_SECRET, BotHarness
from tests.support.charts import IMAGE_TAGS_PATH, ChartsRemote, commit_symlink
from tests.support.payloads import smokey_payload
from tests.support.slack_requests import block_actions_body, signed_headers, slash_command_body

CI = "/update-image-tag"
OUTCOMES = ("/webhooks/argocd", "/webhooks/smokey", "/webhooks/tests")
INTEGRATION_TOKEN = "integration-cluster-token-0001-abcdef"
STAGING_TOKEN = "staging-cluster-token-0002-abcdef"
PRODUCTION_TOKEN = "production-cluster-token-0003-abcdef"
CLUSTER_TOKENS = {
    "WEBHOOK_TOKEN_INTEGRATION": INTEGRATION_TOKEN,
    "WEBHOOK_TOKEN_STAGING": STAGING_TOKEN,
    "WEBHOOK_TOKEN_PRODUCTION": PRODUCTION_TOKEN,
}


@pytest.fixture
def secure_bot(bot_env: dict[str, str]) -> Iterator[BotHarness]:
    harness = BotHarness({**bot_env, **CLUSTER_TOKENS})
    try:
        yield harness
    finally:
        harness.stop()


def ci_body(env: str, tag: str, app: str = "whitehall") -> dict[str, str]:
    return {"environment": env, "repoName": app, "imageTag": tag, "promoteDeployment": "false"}


def outcome_body(path: str, env: str, tag: str, app: str = "whitehall", status: str = "Succeeded") -> dict[str, Any]:
    if path == "/webhooks/argocd":
        return {"application": app, "repoName": app, "environment": env, "state": status, "imageTag": tag}
    return {**smokey_payload(app, env, tag, status), "suite": None}


def assert_forbidden(response: httpx.Response, *words: str) -> str:
    assert response.status_code == 403, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"ok", "error"} and body["ok"] is False, body
    for word in words:
        assert word in body["error"], body
    return body["error"]


class Watch:
    """What a request may have changed: commits on the charts branch and calls to Slack."""

    def __init__(self, bot: BotHarness, slack: FakeSlack, remote: ChartsRemote) -> None:
        self.bot, self.slack, self.remote = bot, slack, remote

    def state(self) -> tuple[str, int]:
        self.bot.settle()
        return self.remote.head(), len(self.slack.calls)


# -- tokens bound to what they may do ----------------------------------------------------


def test_the_shared_token_cannot_put_an_untested_tag_into_staging_or_production(
    secure_bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    watch = Watch(secure_bot, fake_slack, charts_remote)
    before = watch.state()
    assert_forbidden(secure_bot.webhook(CI, ci_body("production", "anything")), "WEBHOOK_TOKEN", "production")
    assert_forbidden(secure_bot.webhook(CI, ci_body("staging", "v9999")), "integration", "v9999")
    assert watch.state() == before
    assert charts_remote.read("production", "whitehall") == "image_tag: v3230\npromote_deployment: false\n"


def test_govuk_flow_ci_to_integration_then_each_cluster_promotes_with_its_own_token(
    secure_bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    watch = Watch(secure_bot, fake_slack, charts_remote)
    assert secure_bot.webhook(CI, ci_body("integration", "v3233")).status_code == 202
    secure_bot.settle()
    assert charts_remote.read("integration", "whitehall").startswith("image_tag: v3233\n")

    before = watch.state()
    for env, tag, token in (
        ("production", "v3233", INTEGRATION_TOKEN),  # integration's token may not skip staging
        ("staging", "v3232", INTEGRATION_TOKEN),  # nor promote what integration no longer runs
        ("integration", "v3234", STAGING_TOKEN),  # staging's token does not deploy backwards
        ("production", "v3233", STAGING_TOKEN),  # staging does not run v3233 yet
        ("staging", "v3233", PRODUCTION_TOKEN),
    ):
        assert_forbidden(secure_bot.webhook(CI, ci_body(env, tag), token=token))
    assert watch.state() == before

    answer = secure_bot.webhook(CI, ci_body("staging", "v3233"), token=INTEGRATION_TOKEN)
    assert (answer.status_code, answer.json()) == (202, {"ok": True}), answer.text
    secure_bot.settle()
    assert charts_remote.read("staging", "whitehall").startswith("image_tag: v3233\n")
    sha, subject, message = charts_remote.log(1)[0]
    assert subject == "Update whitehall image tag to v3233 for staging"
    assert "Requested-by: CI (none)" in message.splitlines()

    answer = secure_bot.webhook(CI, ci_body("production", "v3233"), token=STAGING_TOKEN)
    assert answer.status_code == 202, answer.text
    secure_bot.settle()
    assert charts_remote.read("production", "whitehall").startswith("image_tag: v3233\n")


def test_a_cluster_token_may_deploy_directly_to_its_own_environment(
    secure_bot: BotHarness, charts_remote: ChartsRemote
) -> None:
    assert (
        secure_bot.webhook(CI, ci_body("staging", "v1591", app="collections"), token=STAGING_TOKEN).status_code == 202
    )
    secure_bot.settle()
    assert charts_remote.read("staging", "collections").startswith("image_tag: v1591\n")


@pytest.mark.parametrize("path", OUTCOMES)
def test_a_cluster_token_reports_outcomes_for_its_own_environment_only(
    secure_bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote, path: str
) -> None:
    watch = Watch(secure_bot, fake_slack, charts_remote)
    before = watch.state()
    for env in ("staging", "production"):
        error = assert_forbidden(secure_bot.webhook(path, outcome_body(path, env, "v3231"), token=INTEGRATION_TOKEN))
        assert "WEBHOOK_TOKEN_INTEGRATION" in error and env in error
    assert watch.state() == before
    assert (
        secure_bot.webhook(path, outcome_body(path, "integration", "v3232"), token=INTEGRATION_TOKEN).status_code == 202
    )
    assert secure_bot.webhook(path, outcome_body(path, "staging", "v3231"), token=STAGING_TOKEN).status_code == 202


def test_a_promotion_accepted_on_the_snapshot_is_checked_again_on_the_fresh_head(
    secure_bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    """Integration moved on behind the bot's back: the promotion of what it ran is refused by the writer."""
    staging_before = charts_remote.read("staging", "whitehall")
    charts_remote.commit_directly("integration", "whitehall", "image_tag: v3240\n", "Someone else's deploy")
    answer = secure_bot.webhook(CI, ci_body("staging", "v3232"), token=INTEGRATION_TOKEN)  # the snapshot still says so
    assert answer.status_code == 202, answer.text
    secure_bot.settle()
    assert charts_remote.read("staging", "whitehall") == staging_before


def test_a_promotion_refused_by_a_stale_snapshot_is_looked_up_on_the_remote(
    secure_bot: BotHarness, charts_remote: ChartsRemote
) -> None:
    charts_remote.commit_directly("integration", "whitehall", "image_tag: v3241\n", "Someone else's deploy")
    answer = secure_bot.webhook(CI, ci_body("staging", "v3241"), token=INTEGRATION_TOKEN)
    assert answer.status_code == 202, answer.text
    secure_bot.settle()
    assert charts_remote.read("staging", "whitehall").startswith("image_tag: v3241\n")


def test_without_cluster_tokens_the_shared_token_still_reports_everywhere(bot: BotHarness) -> None:
    for path in OUTCOMES:  # the tests outcome repeats smokey's: the same event, so a duplicate
        assert bot.webhook(path, outcome_body(path, "production", "v3230")).status_code in (200, 202)


# -- outcomes for apps with no image-tag file ----------------------------------------------


@pytest.mark.parametrize("path", OUTCOMES)
def test_an_outcome_for_an_app_with_no_image_tag_file_is_400_and_posts_no_card(
    bot: BotHarness, fake_slack: FakeSlack, path: str
) -> None:
    for app, env in (("no-such-app", "integration"), ("whitehall-admin", "staging")):
        answer = bot.webhook(path, outcome_body(path, env, "v1", app=app))
        assert answer.status_code == 400, answer.text
        assert answer.json() == {"ok": False, "error": f"no app called {app} in {env}"}
    bot.settle()
    assert fake_slack.calls == []


def test_an_outcome_for_an_app_added_since_the_last_sync_is_accepted(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    charts_remote.commit_directly("integration", "brand-new-app", "image_tag: v1\n", "Add brand-new-app")
    answer = bot.webhook("/webhooks/argocd", outcome_body("/webhooks/argocd", "integration", "v1", app="brand-new-app"))
    assert answer.status_code == 202, answer.text
    bot.settle()
    assert [m for m in fake_slack.roots() if "*brand-new-app* `v1`" in m.text]


# -- /webhooks/tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "suite"), [("/webhooks/tests", "e2e"), ("/webhooks/smokey", "smokey")])
def test_tests_default_to_the_e2e_suite_and_smokey_to_smokey(
    bot: BotHarness, fake_slack: FakeSlack, path: str, suite: str
) -> None:
    answer = bot.webhook(path, outcome_body(path, "integration", "v3232", status="Failed"))
    assert answer.status_code == 202, answer.text
    bot.settle()
    replies = [m.text for root in fake_slack.roots() for m in fake_slack.replies(root.ts)]
    assert any(f"{suite} tests failed" in text for text in replies), replies


# -- Slack timestamps ------------------------------------------------------------------------------------

IMPLAUSIBLE = {
    "400-digits": "9" * 400,
    "5000-digits": "1" * 5000,
    "huge": "99999999999999999999",
    "negative": "-1700000000",
    "float": "1700000000.5",
    "exponent": "1.7e9",
    "arabic-indic-digits": "\u0661\u0667\u0660\u0660\u0660\u0660\u0660\u0660\u0660\u0660",
    "fullwidth-digits": "\uff11\uff17\uff10\uff10\uff10\uff10\uff10\uff10\uff10\uff10",
    "empty": "",
    "letters": "yesterday",
}


@pytest.mark.parametrize("timestamp", list(IMPLAUSIBLE.values()), ids=list(IMPLAUSIBLE))
def test_an_implausible_slack_timestamp_is_401_silently(
    bot: BotHarness, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture, timestamp: str
) -> None:
    body = slash_command_body("whitehall v1 integration", user_id=OUTSIDER, response_url="http://127.0.0.1:9/x")
    headers = signed_headers(SIGNING_SECRET, body, 1700000000)
    headers["X-Slack-Request-Timestamp"] = timestamp.encode("utf-8")  # bytes: non-ASCII reaches the wire as is
    with caplog.at_level(logging.DEBUG):
        answer = bot.http.post("/slack/events", content=body, headers=headers)
    assert answer.status_code == 401, answer.text
    assert "Traceback" not in answer.text
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert fake_slack.calls == []


# -- a team answer nobody can forge by writing to Redis ------------------------------------


def test_a_forged_team_answer_in_redis_does_not_let_a_non_member_deploy_to_production(
    bot: BotHarness, bot_env: dict[str, str], redis_client: redis.Redis, fake_slack: FakeSlack, charts_remote
) -> None:
    prefix = bot_env["REDIS_PREFIX"]
    for login in ("outsider", "Outsider"):
        redis_client.set(f"{prefix}team:alphagov:gov-uk-production-deploy:{login}", "active")
    head = charts_remote.head()
    answer = bot.slash("whitehall v9999 production", user=OUTSIDER, response_url=fake_slack.response_url("forged"))
    assert answer.status_code == 200, answer.text
    reply = fake_slack.wait_for_response("forged", timeout=15)[0]["text"]
    bot.settle()
    assert "gov-uk-production" in reply and "can't deploy" in reply, reply
    assert charts_remote.head() == head


# -- symbolic links in the image-tags folder -----------------------------------------------


def test_a_linked_image_tag_file_is_an_unknown_app_and_the_file_outside_is_untouched(
    bot_env: dict[str, str], fake_slack: FakeSlack, charts_remote: ChartsRemote, tmp_path: Path
) -> None:
    outside = tmp_path / "some-outside-file"
    outside.write_text("do not overwrite\n", encoding="utf-8")
    outside_folder = tmp_path / "outside-folder"
    outside_folder.mkdir()
    (outside_folder / "whitehall").write_text("do not overwrite either\n", encoding="utf-8")
    commit_symlink(charts_remote, f"{IMAGE_TAGS_PATH}/integration/x", str(outside))
    commit_symlink(charts_remote, f"{IMAGE_TAGS_PATH}/staging", str(outside_folder))
    head = charts_remote.head()
    harness = BotHarness(bot_env)
    try:
        for text, words in (
            ("x v1 integration", "There is no app called `x` in integration"),
            ("whitehall v1 staging", "There is no app called `whitehall` in staging"),
        ):
            answer = harness.slash(text)
            assert answer.status_code == 200 and words in answer.json()["text"], answer.text
        assert harness.webhook(CI, ci_body("integration", "v1", app="x")).status_code == 400
        harness.settle()
    finally:
        harness.stop()
    assert outside.read_text(encoding="utf-8") == "do not overwrite\n"
    assert (outside_folder / "whitehall").read_text(encoding="utf-8") == "do not overwrite either\n"
    assert charts_remote.head() == head


# -- button keys survive a rotation of the Slack signing secret -------------------------------------------


def click_as_slack(bot: BotHarness, slack: FakeSlack, value: str, name: str, secret: str) -> str:
    body = block_actions_body("promote", value, user_id="U012AB3CD", response_url=slack.response_url(name))
    answer = bot.slack(body, secret=secret)
    assert answer.status_code == 200, answer.text
    text = slack.wait_for_response(name, timeout=15)[0]["text"]
    bot.settle()
    return text


def test_live_buttons_survive_rotating_the_slack_secret_and_the_button_key(
    bot_env: dict[str, str], fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    first_key, second_key = "first-button-key-000001-0123456789", "second-button-key-00002-0123456789"
    env = {**bot_env, "BUTTON_SIGNING_KEY": first_key}
    harness = BotHarness(env)
    try:
        for path, body in (
            ("/webhooks/argocd", outcome_body("/webhooks/argocd", "integration", "v512", app="router")),
            ("/webhooks/smokey", smokey_payload("router", "integration", "v512")),
        ):
            assert harness.webhook(path, body).status_code == 202
        harness.settle()
        (card,) = [m for m in fake_slack.roots() if "*router* `v512`" in m.text]
        button = card.button("promote")
        assert button is not None, card.all_text()
        value = button["value"]
    finally:
        harness.stop()

    rotated = {**env, "SLACK_SIGNING_SECRET": "a-brand-new-signing-secret"}
    harness = BotHarness(rotated)
    try:
        text = click_as_slack(harness, fake_slack, value, "after-secret-rotation", rotated["SLACK_SIGNING_SECRET"])
        assert "tampered" not in text, text
        assert charts_remote.read("staging", "router").startswith("image_tag: v512\n")
    finally:
        harness.stop()

    both = {**rotated, "BUTTON_SIGNING_KEY": second_key, "BUTTON_SIGNING_KEY_PREVIOUS": first_key}
    harness = BotHarness(both)
    try:
        text = click_as_slack(harness, fake_slack, value, "during-key-rotation", both["SLACK_SIGNING_SECRET"])
        assert "tampered" not in text and "already promoted" in text, text
    finally:
        harness.stop()

    after = {**rotated, "BUTTON_SIGNING_KEY": second_key}
    harness = BotHarness(after)
    try:
        text = click_as_slack(harness, fake_slack, value, "after-key-rotation", after["SLACK_SIGNING_SECRET"])
        assert "tampered" in text, text
    finally:
        harness.stop()


# -- promotions whose tests the bot reads itself, and what one release may keep --------------------------


def test_where_the_bot_reads_the_tests_a_ci_promotion_needs_them_passed(
    bot_env: dict[str, str], fake_slack: FakeSlack, charts_remote: ChartsRemote, tmp_path: Path
) -> None:
    workflows = FakeArgoWorkflows(token="wf-token-0123456789abcdef0123456789").start()
    config = tmp_path / "reads-tests.yaml"
    config.write_text(
        Path(bot_env["BOT_CONFIG"]).read_text(encoding="utf-8")
        + f"environments:\n  - name: integration\n    team: gov-uk\n    workflows_url: {workflows.url}\n"
        + "  - name: staging\n    team: gov-uk-production-deploy\n  - name: production\n    team: gov-uk-production-deploy\n",
        encoding="utf-8",
    )
    bot = BotHarness(
        {
            **bot_env,
            **CLUSTER_TOKENS,
            "BOT_CONFIG": str(config),
            "ARGO_WORKFLOWS_TOKEN_INTEGRATION": workflows.token,
            "RECONCILE_SECONDS": "0",
        }
    )
    try:
        head = charts_remote.head()
        # integration runs v3232, but its tests have not passed there: staging's promotion is refused
        refused = bot.webhook(CI, ci_body("staging", "v3232"), token=INTEGRATION_TOKEN)
        assert_forbidden(refused, "not passed its tests in integration")
        bot.settle()
        assert charts_remote.head() == head
        # where the bot reads the tests, a webhook saying they passed is only a doorbell (SPEC 13) ...
        tests = {**smokey_payload("whitehall", "integration", "v3232", "Succeeded"), "suite": None}
        assert bot.webhook("/webhooks/tests", tests, token=INTEGRATION_TOKEN).status_code == 202
        bot.settle()
        assert_forbidden(bot.webhook(CI, ci_body("staging", "v3232"), token=INTEGRATION_TOKEN), "not passed its tests")
        # ... and what Argo Workflows says counts
        workflows.add_workflow("post-sync-w1", repo_name="whitehall", image_tag="v3232", phase="Succeeded")
        assert bot.webhook("/webhooks/tests", tests, token=INTEGRATION_TOKEN).status_code == 202
        bot.settle()
        accepted = bot.webhook(CI, ci_body("staging", "v3232"), token=INTEGRATION_TOKEN)
        assert accepted.status_code in (200, 202), accepted.text
        bot.settle()
        assert "v3232" in charts_remote.read("staging", "whitehall")
    finally:
        bot.stop()
        workflows.stop()


def test_a_card_slack_refuses_or_whose_release_expired_leaves_the_retry_set(
    secure_bot: BotHarness, fake_slack: FakeSlack
) -> None:
    services = secure_bot.services
    fake_slack.fail_next("chat.postMessage", status=200, error="invalid_blocks", count=10)
    assert (
        secure_bot.webhook("/webhooks/argocd", outcome_body("/webhooks/argocd", "integration", "v3232")).status_code
        == 202
    )
    secure_bot.settle()
    assert services.book.not_on_slack() == []
    fake_slack.clear_faults()

    services.store.client.zadd(
        services.store.key("releases", "dirty"), {"whitehall\nv0001": 1.0}
    )  # stored, then expired
    assert services.outbox.recover() >= 1
    secure_bot.settle()
    assert services.book.not_on_slack() == []


def test_text_from_git_is_escaped_before_it_is_broadcast(
    secure_bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    hook = charts_remote.path / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho '<!channel> <@U0BOSS> refused & <https://evil.example|click>' >&2\nexit 1\n")
    hook.chmod(0o755)
    secure_bot.slash("whitehall v9901 integration", response_url=fake_slack.response_url("hooked"))
    told = fake_slack.wait_for_response("hooked", timeout=30)[0]["text"]
    secure_bot.settle()
    card = fake_slack.roots()[0]
    broadcast = next(r.text for r in fake_slack.replies(card.ts) if r.reply_broadcast)
    for text in (told, broadcast):
        assert "<!channel>" not in text and "<@U0BOSS>" not in text and "<https://evil.example" not in text


@pytest.mark.parametrize("say", ["deploy_failed", "deploy_refused", "push_unknown"])
def test_every_sentence_that_carries_git_text_escapes_it(say: str) -> None:
    from bot import messages

    text = getattr(messages, say)("whitehall", "v1", "integration", "remote: <!channel> <@U0BOSS> & <https://x|y>")
    assert "<!channel>" not in text and "<@U0BOSS>" not in text and "<https://x" not in text
    assert "&lt;!channel&gt; &lt;@U0BOSS&gt; &amp;" in text
