"""Automatic promotion, as GOV.UK's post-sync workflow does it, end to end.

When smokey passes for a release in an environment whose image-tag file (in the charts repo,
not the webhook) has `promote_deployment: true` and `automatic_deploys_enabled: true`, and the
`application` is not a `draft-` one, the bot deploys the tag to the next environment itself:
requester CI, `promote_deployment: true`, said on the card. Never on failed or errored tests,
never past the last environment, never twice.

Seeded files (tests/support/charts.py): integration `whitehall` v3232 and `frontend` v1810 have
both flags true; staging `whitehall` v3231 has both true, staging `frontend` v1805 has
`promote_deployment: false`; `router` has both false everywhere.
"""

from __future__ import annotations

from pathlib import Path

from tests.fakes import FakeSlack
from tests.fakes.slack import SlackMessage
from tests.support.app import BotHarness, run_concurrently
from tests.support.charts import ChartsRemote
from tests.support.payloads import smokey_payload


def smokey(bot: BotHarness, app: str, env: str, tag: str, status: str = "Succeeded", application: str | None = None):
    answer = bot.webhook("/webhooks/smokey", smokey_payload(app, env, tag, status, application))
    assert answer.status_code in (200, 202), answer.text
    bot.settle()
    return answer


def argocd(bot: BotHarness, app: str, env: str, tag: str, **flags: str) -> None:
    payload = {
        "application": app,
        "repoName": app,
        "environment": env,
        "state": "Succeeded",
        "health": "Healthy",
        "imageTag": tag,
        **flags,
    }
    answer = bot.webhook("/webhooks/argocd", payload)
    assert answer.status_code in (200, 202), answer.text
    bot.settle()


def card(fake_slack: FakeSlack, app: str, tag: str) -> SlackMessage:
    found = [m for m in fake_slack.roots() if f"*{app}* `{tag}`" in m.text]
    assert len(found) == 1, f"expected one card for {app} {tag}, got {[m.text for m in fake_slack.roots()]}"
    return found[0]


def new_commits(charts_remote: ChartsRemote, before: int) -> list[tuple[str, str, str]]:
    count = charts_remote.commit_count()
    return list(reversed(charts_remote.log(count - before))) if count > before else []


def flags_file(tag: str, automatic: bool, promote: bool) -> str:
    return (
        f"image_tag: {tag}\nautomatic_deploys_enabled: {str(automatic).lower()}\n"
        f"promote_deployment: {str(promote).lower()}\n"
    )


# -- promotes --------------------------------------------------------------------------------------


def test_passing_tests_promote_automatically_when_the_file_says_so(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    before = charts_remote.commit_count()
    # the flags come from the charts repo: a sync webhook claiming otherwise changes nothing
    argocd(bot, "frontend", "integration", "v1810", promoteDeployment="false", automaticDeploysEnabled="false")
    assert charts_remote.commit_count() == before
    smokey(bot, "frontend", "integration", "v1810")

    commits = new_commits(charts_remote, before)
    assert len(commits) == 1, commits
    sha, subject, body = commits[0]
    assert subject == "Update frontend image tag to v1810 for staging"
    assert "Requested-by: CI (none)" in body.splitlines()
    assert charts_remote.changed_paths(sha) == [charts_remote.file_path("staging", "frontend")]
    # staging's file had promote_deployment: false; an automatic promotion writes true
    assert charts_remote.read("staging", "frontend") == flags_file("v1810", True, True)

    shown = card(fake_slack, "frontend", "v1810")
    text = shown.all_text()
    assert "promoted to staging by CI" in text, text
    assert "automatic" in text.lower(), text
    assert shown.button("promote") is None  # staging is on its way: nothing to click


def test_a_ci_deploy_to_integration_is_promoted_once_its_tests_pass(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    before = charts_remote.commit_count()
    answer = bot.webhook(
        "/update-image-tag",
        {"environment": "integration", "repoName": "whitehall", "imageTag": "v3233", "promoteDeployment": "true"},
    )
    assert answer.status_code == 202, answer.text
    bot.settle()
    assert charts_remote.read("integration", "whitehall") == flags_file("v3233", True, True)
    assert charts_remote.commit_count() == before + 1
    argocd(bot, "whitehall", "integration", "v3233")
    assert charts_remote.commit_count() == before + 1  # synced is not tested
    smokey(bot, "whitehall", "integration", "v3233")

    commits = new_commits(charts_remote, before)
    assert [c[1] for c in commits] == [
        "Update whitehall image tag to v3233 for integration",
        "Update whitehall image tag to v3233 for staging",
    ]
    assert all("Requested-by: CI (none)" in c[2].splitlines() for c in commits)
    assert charts_remote.read("staging", "whitehall") == flags_file("v3233", True, True)
    assert "promoted to staging by CI" in card(fake_slack, "whitehall", "v3233").all_text()
    assert len([m for m in fake_slack.roots() if "`v3233`" in m.text]) == 1


def test_automatic_promotion_goes_on_to_production_and_never_past_it(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    before = charts_remote.commit_count()
    smokey(bot, "whitehall", "integration", "v3232")
    assert charts_remote.read("staging", "whitehall") == flags_file("v3232", True, True)
    smokey(bot, "whitehall", "staging", "v3232")  # staging's file now asks for promotion as well
    assert charts_remote.read("production", "whitehall") == "image_tag: v3232\npromote_deployment: true\n"
    assert [c[1] for c in new_commits(charts_remote, before)] == [
        "Update whitehall image tag to v3232 for staging",
        "Update whitehall image tag to v3232 for production",
    ]
    # production is the last environment: passing tests there promote nothing, whatever its file says
    charts_remote.commit_directly("production", "whitehall", flags_file("v3232", True, True), "flags on")
    after = charts_remote.commit_count()
    smokey(bot, "whitehall", "production", "v3232")
    assert charts_remote.commit_count() == after
    shown = card(fake_slack, "whitehall", "v3232")
    assert shown.buttons() == []
    assert "promoted to production by CI" in shown.all_text()


# -- does not promote ------------------------------------------------------------------------------


def test_no_automatic_promotion_unless_both_flags_are_true(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    cases = {
        "whitehall": ("v3232", True, False),
        "collections": ("v1590", False, True),
        "router": ("v512", False, False),
    }
    for app, (tag, automatic, promote) in cases.items():
        if app != "router":  # router's seeded file already has both false
            charts_remote.commit_directly("integration", app, flags_file(tag, automatic, promote), "flags")
    before = charts_remote.commit_count()
    for app, (tag, _, _) in cases.items():
        # what the webhooks say about flags does not count; only the file does
        argocd(bot, app, "integration", tag, promoteDeployment="true", automaticDeploysEnabled="true")
        smokey(bot, app, "integration", tag)
    assert new_commits(charts_remote, before) == []
    for app, (tag, _, _) in cases.items():
        shown = card(fake_slack, app, tag)
        assert "promoted" not in shown.all_text()
        button = shown.button("promote")  # a person can still promote by hand
        assert button is not None and button["text"]["text"] == "Promote to staging", app


def test_no_automatic_promotion_for_a_draft_application(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    before = charts_remote.commit_count()
    smokey(bot, "whitehall", "integration", "v3232", application="draft-whitehall")
    assert new_commits(charts_remote, before) == []
    assert "promoted" not in card(fake_slack, "whitehall", "v3232").all_text()


def test_draft_tests_passing_first_do_not_swallow_the_live_applications_promotion(
    bot: BotHarness, charts_remote: ChartsRemote
) -> None:
    # the draft stack and the live one sync the same release; whichever's tests finish first, the live
    # application's passing tests must still promote it
    before = charts_remote.commit_count()
    smokey(bot, "whitehall", "integration", "v3232", application="draft-whitehall")
    assert new_commits(charts_remote, before) == []
    live = smokey(bot, "whitehall", "integration", "v3232", application="whitehall")
    assert live.status_code == 202, f"the live application's event was answered {live.status_code} {live.text}"
    commits = new_commits(charts_remote, before)
    assert [c[1] for c in commits] == ["Update whitehall image tag to v3232 for staging"], (
        "the live application's passing tests were taken for a duplicate of draft-whitehall's"
    )


def test_no_automatic_promotion_after_failed_or_errored_tests(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    before = charts_remote.commit_count()
    smokey(bot, "frontend", "integration", "v1810", "Failed")
    smokey(bot, "whitehall", "integration", "v3232", "Error")
    assert new_commits(charts_remote, before) == []
    assert card(fake_slack, "frontend", "v1810").buttons() == []
    assert card(fake_slack, "whitehall", "v3232").buttons() == []
    # the run that failed, said to have passed, is no pass (issue 19): a re-run is a workflow of its own
    smokey(bot, "frontend", "integration", "v1810", "Succeeded")
    assert new_commits(charts_remote, before) == []
    rerun = {**smokey_payload("frontend", "integration", "v1810", "Succeeded"), "workflowName": "post-sync-rerun1"}
    assert bot.webhook("/webhooks/smokey", rerun).status_code == 202
    bot.settle()
    assert [c[1] for c in new_commits(charts_remote, before)] == ["Update frontend image tag to v1810 for staging"]


def test_no_automatic_promotion_of_a_release_integration_no_longer_runs(
    bot: BotHarness, charts_remote: ChartsRemote
) -> None:
    # integration runs whitehall v3232; late tests of an older release must not push it onwards
    before = charts_remote.commit_count()
    smokey(bot, "whitehall", "integration", "v3231")
    smokey(bot, "whitehall", "integration", "v3100")
    assert new_commits(charts_remote, before) == []
    assert charts_remote.read("staging", "whitehall") == flags_file("v3231", True, True)


# -- never twice -----------------------------------------------------------------------------------


def test_a_duplicate_smokey_webhook_promotes_once(bot: BotHarness, charts_remote: ChartsRemote) -> None:
    before = charts_remote.commit_count()
    assert smokey(bot, "frontend", "integration", "v1810").status_code == 202
    again = smokey(bot, "frontend", "integration", "v1810")
    assert again.status_code == 200 and again.json().get("duplicate") is True
    answers = run_concurrently(
        [lambda: bot.webhook("/webhooks/smokey", smokey_payload("frontend", "integration", "v1810"))] * 3
    )
    assert all(a.json().get("duplicate") is True for a in answers)
    bot.settle()
    assert [c[1] for c in new_commits(charts_remote, before)] == ["Update frontend image tag to v1810 for staging"]


def test_the_same_event_at_two_app_processes_on_one_redis_promotes_once(
    tmp_path: Path, bot_env: dict[str, str], fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    first = BotHarness({**bot_env, "CHARTS_WORKDIR": str(tmp_path / "working-copy-a")})
    second = BotHarness({**bot_env, "CHARTS_WORKDIR": str(tmp_path / "working-copy-b")})
    try:
        before = charts_remote.commit_count()
        payload = smokey_payload("frontend", "integration", "v1810")
        answers = run_concurrently(
            [lambda h=h: h.webhook("/webhooks/smokey", payload) for h in (first, second, first, second)]
        )
        assert sorted(a.status_code for a in answers) == [200, 200, 200, 202], [a.text for a in answers]
        first.settle()
        second.settle()
        assert [c[1] for c in new_commits(charts_remote, before)] == ["Update frontend image tag to v1810 for staging"]
        assert len(fake_slack.roots()) == 1
    finally:
        first.stop()
        second.stop()
