"""Promotion by button and by `/deploy promote` (with every check of /deploy), end to end.

Everything goes through the real HTTP app (`BotHarness`), a real Redis under the test's own
prefix, a bare charts remote and the loopback Slack and GitHub fakes. What the bot did is read
from the outside only: commits on the charts remote, cards and buttons on the fake Slack, and
the ephemeral replies that arrive at response URLs.

`router` is the app of choice: its seeded integration file has `automatic_deploys_enabled:
false` and `promote_deployment: false`, so nothing is promoted unless someone clicks.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot.buttons import ButtonSigner, PromoteStep
from tests.fakes import FakeGitHub, FakeSlack
from tests.fakes.slack import SlackMessage
from tests.support.app import (
    INTEGRATION_ONLY,
    MEMBER,
    OUTSIDER,
    ROOT,
    SIGNING_SECRET,
    UNLINKED,
    BotHarness,
    run_concurrently,
)
from tests.support.charts import ChartsRemote
from tests.support.payloads import smokey_payload
from tests.support.slack_requests import click_body

APP = "router"
TAG = "v512"  # what the seeded integration file runs
NEWER = "v513"
STAGING_FILE_BEFORE = "image_tag: v511\nautomatic_deploys_enabled: false\npromote_deployment: false\n"
STAGING_FILE_AFTER = "image_tag: v512\nautomatic_deploys_enabled: false\npromote_deployment: false\n"
TEAM = "alphagov/gov-uk-production-deploy"
CLOCK = re.compile(r"\b\d\d:\d\d UTC\b")


# -- fixtures and helpers ---------------------------------------------------------------------------


def smokey(bot: BotHarness, env: str, status: str = "Succeeded", *, app: str = APP, tag: str = TAG) -> None:
    payload = smokey_payload(app, env, tag, status)
    answer = bot.webhook("/webhooks/smokey", payload)
    assert answer.status_code in (200, 202), answer.text
    bot.settle()


def argocd(bot: BotHarness, env: str, state: str = "Succeeded", *, app: str = APP, tag: str = TAG) -> None:
    payload = {
        "application": app,
        "repoName": app,
        "environment": env,
        "state": state,
        "health": "Healthy",
        "imageTag": tag,
    }
    answer = bot.webhook("/webhooks/argocd", payload)
    assert answer.status_code in (200, 202), answer.text
    bot.settle()


def card(fake_slack: FakeSlack, app: str = APP, tag: str = TAG) -> SlackMessage:
    """The one root message (deploy card) of the release."""
    found = [m for m in fake_slack.roots() if f"*{app}* `{tag}`" in m.text]
    assert len(found) == 1, f"expected one card for {app} {tag}, got {[m.text for m in fake_slack.roots()]}"
    return found[0]


def promote_button(fake_slack: FakeSlack, app: str = APP, tag: str = TAG) -> dict | None:
    return card(fake_slack, app, tag).button("promote")


def value_of(fake_slack: FakeSlack, app: str = APP, tag: str = TAG) -> str:
    button = promote_button(fake_slack, app, tag)
    assert button is not None, f"no promote button on the card: {card(fake_slack, app, tag).all_text()}"
    return button["value"]


def click(bot: BotHarness, fake_slack: FakeSlack, name: str, value: str, user: str = MEMBER) -> str:
    """Click with `value` as `user`; the ephemeral reply's text."""
    answer = bot.click(value, user=user, response_url=fake_slack.response_url(name))
    assert answer.status_code == 200, answer.text
    assert answer.elapsed.total_seconds() < 3, "Slack needs the click acknowledged within 3 seconds"
    text = fake_slack.wait_for_response(name, timeout=15)[0]["text"]
    bot.settle()
    return text


def click_card(
    bot: BotHarness, fake_slack: FakeSlack, name: str, user: str = MEMBER, app: str = APP, tag: str = TAG
) -> str:
    """Click the promote button exactly as Slack sends it (the clicked message included)."""
    message = card(fake_slack, app, tag)
    body = click_body(message, "promote", user, fake_slack.response_url(name))
    answer = bot.slack(body)
    assert answer.status_code == 200, answer.text
    text = fake_slack.wait_for_response(name, timeout=15)[0]["text"]
    bot.settle()
    return text


def slash(bot: BotHarness, fake_slack: FakeSlack, name: str, text: str, user: str = MEMBER) -> list[str]:
    """`/deploy text`: the immediate answer followed by the later reply at the response URL."""
    answer = bot.slash(text, user=user, response_url=fake_slack.response_url(name))
    assert answer.status_code == 200, answer.text
    try:
        immediate = str(answer.json().get("text", ""))
    except ValueError:
        immediate = answer.text
    later = fake_slack.wait_for_response(name, timeout=15)
    bot.settle()
    return [immediate, *(r["text"] for r in later)]


def new_commits(charts_remote: ChartsRemote, before: int) -> list[tuple[str, str, str]]:
    """Commits pushed since the remote had `before` commits, oldest first."""
    count = charts_remote.commit_count()
    return list(reversed(charts_remote.log(count - before))) if count > before else []


def pass_tests_in_integration(bot: BotHarness, app: str = APP, tag: str = TAG) -> None:
    argocd(bot, "integration", app=app, tag=tag)
    smokey(bot, "integration", app=app, tag=tag)


# -- when the button appears -------------------------------------------------------------------------


def test_button_appears_only_once_tests_pass_in_integration(bot: BotHarness, fake_slack: FakeSlack) -> None:
    slash(bot, fake_slack, "deploy", f"{APP} {NEWER} integration")
    assert promote_button(fake_slack, tag=NEWER) is None  # requested
    argocd(bot, "integration", "Running", tag=NEWER)
    assert promote_button(fake_slack, tag=NEWER) is None  # syncing
    argocd(bot, "integration", tag=NEWER)
    assert promote_button(fake_slack, tag=NEWER) is None  # synced, tests not run yet
    smokey(bot, "integration", tag=NEWER)
    button = promote_button(fake_slack, tag=NEWER)
    assert button is not None
    assert button["text"]["text"] == "Promote to staging"
    assert "confirm" not in button  # only the last environment asks for confirmation
    assert 0 < len(button["value"]) <= 2000
    # the card edits in place: still one root message for the release
    assert len([m for m in fake_slack.roots() if f"`{NEWER}`" in m.text]) == 1


def test_no_button_after_failed_or_errored_tests(bot: BotHarness, fake_slack: FakeSlack) -> None:
    for tag, status in (("v513", "Failed"), ("v514", "Error")):
        argocd(bot, "integration", tag=tag)
        smokey(bot, "integration", status, tag=tag)
        assert "tests failed" in card(fake_slack, tag=tag).all_text()
        assert card(fake_slack, tag=tag).buttons() == [], status


def test_no_button_when_staging_was_already_asked_for_that_release(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    slash(bot, fake_slack, "staging", f"{APP} {TAG} staging")
    assert charts_remote.read("staging", APP) == STAGING_FILE_AFTER
    pass_tests_in_integration(bot)
    assert promote_button(fake_slack) is None


def test_no_button_when_staging_already_runs_the_release(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    # staging got the tag outside the bot (a colleague's commit): the release is "already there"
    charts_remote.commit_directly("staging", APP, STAGING_FILE_AFTER, f"Update {APP} image tag to {TAG} for staging")
    pass_tests_in_integration(bot)
    assert "tests passed" in card(fake_slack).all_text()
    assert promote_button(fake_slack) is None, "the card offers to promote to staging, which already runs it"


def test_production_button_asks_for_confirmation(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    pass_tests_in_integration(bot)
    assert "Committed" in click(bot, fake_slack, "to-staging", value_of(fake_slack))
    assert promote_button(fake_slack) is None  # staging is on its way
    argocd(bot, "staging")
    smokey(bot, "staging")
    button = promote_button(fake_slack)
    assert button is not None
    assert button["text"]["text"] == "Promote to production"
    confirm = button.get("confirm")
    assert isinstance(confirm, dict), f"no Block Kit confirm dialog on the production button: {button}"
    for part in ("title", "text", "confirm", "deny"):
        assert confirm.get(part, {}).get("text"), f"confirm dialog lacks {part}: {confirm}"
    assert "production" in (confirm["title"]["text"] + confirm["text"]["text"])

    before = charts_remote.commit_count()
    assert "Committed" in click(bot, fake_slack, "to-production", button["value"])
    (commit,) = new_commits(charts_remote, before)
    assert commit[1] == f"Update {APP} image tag to {TAG} for production"
    assert charts_remote.read("production", APP).startswith(f"image_tag: {TAG}\n")
    assert card(fake_slack).buttons() == []  # production is the last environment: nothing more to offer


# -- who may click -------------------------------------------------------------------------------------


def test_click_by_a_non_member_or_an_unlinked_user_is_refused(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    pass_tests_in_integration(bot)
    before = charts_remote.commit_count()
    for user in (INTEGRATION_ONLY, OUTSIDER):
        reply = click(bot, fake_slack, f"refused-{user}", value_of(fake_slack), user=user)
        assert TEAM in reply, reply
        assert "Committed" not in reply
    reply = click(bot, fake_slack, "unlinked", value_of(fake_slack), user=UNLINKED)
    assert "not linked" in reply and "GitHub" in reply, reply
    assert charts_remote.commit_count() == before
    assert charts_remote.read("staging", APP) == STAGING_FILE_BEFORE
    # the refusals did not use the button up: a member can still promote
    assert promote_button(fake_slack) is not None
    assert "Committed" in click(bot, fake_slack, "member", value_of(fake_slack))
    assert charts_remote.commit_count() == before + 1


# -- a member's click ----------------------------------------------------------------------------------


def test_click_by_a_member_commits_exactly_the_spec_change(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    pass_tests_in_integration(bot)
    before = charts_remote.commit_count()
    integration_before = charts_remote.read("integration", APP)
    production_before = charts_remote.read("production", APP)

    reply = click_card(bot, fake_slack, "member")  # the body exactly as Slack sends it
    assert "Committed" in reply and "staging" in reply

    commits = new_commits(charts_remote, before)
    assert len(commits) == 1, commits
    sha, subject, body = commits[0]
    assert subject == f"Update {APP} image tag to {TAG} for staging"
    assert "Requested-by: octocat (U012AB3CD)" in body.splitlines()
    assert charts_remote.changed_paths(sha) == [charts_remote.file_path("staging", APP)]
    assert charts_remote.read("staging", APP) == STAGING_FILE_AFTER
    assert charts_remote.read("integration", APP) == integration_before
    assert charts_remote.read("production", APP) == production_before
    assert charts_remote.author(sha) == ("govuk-deploy-bot", "govuk-deploy-bot@users.noreply.github.com")

    promoted = card(fake_slack)
    assert promoted.button("promote") is None  # who promoted it, instead of the button
    assert f"promoted to staging by <@{MEMBER}>" in promoted.all_text()
    assert CLOCK.search(promoted.all_text())


def test_promoting_a_file_that_sets_promote_deployment_true_writes_false(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    # a promotion asked for in Slack sets promote_deployment: false, whatever the file said
    charts_remote.commit_directly(
        "staging", APP, "image_tag: v511\nautomatic_deploys_enabled: true\npromote_deployment: true\n", "flags on"
    )
    pass_tests_in_integration(bot)
    assert "Committed" in click(bot, fake_slack, "member", value_of(fake_slack))
    assert charts_remote.read("staging", APP) == (
        "image_tag: v512\nautomatic_deploys_enabled: true\npromote_deployment: false\n"
    )


# -- once only -----------------------------------------------------------------------------------------


def test_second_click_says_who_promoted_it_and_when(
    bot: BotHarness, fake_slack: FakeSlack, fake_github: FakeGitHub, charts_remote: ChartsRemote
) -> None:
    fake_github.add_member("gov-uk-production-deploy", "integrator")  # a second person allowed to promote
    pass_tests_in_integration(bot)
    value = value_of(fake_slack)
    before = charts_remote.commit_count()
    assert "Committed" in click(bot, fake_slack, "first", value)
    for name, user in (("again-same", MEMBER), ("again-other", INTEGRATION_ONLY)):
        reply = click(bot, fake_slack, name, value, user=user)
        assert "already" in reply.lower(), reply
        assert f"<@{MEMBER}>" in reply
        assert CLOCK.search(reply), reply
        assert "Committed" not in reply
    assert charts_remote.commit_count() == before + 1


@pytest.mark.parametrize("how", ["typed-deploy", "someone-else's-commit"])
def test_a_used_button_promotes_once_ever_even_after_the_next_environment_moved_on(
    bot: BotHarness,
    fake_slack: FakeSlack,
    fake_github: FakeGitHub,
    charts_remote: ChartsRemote,
    how: str,
) -> None:
    """Issue 19, finding 6: going back is a rollback or a typed deploy, never an old button."""
    fake_github.add_member("gov-uk-production-deploy", "integrator")
    pass_tests_in_integration(bot)
    value = value_of(fake_slack)
    assert "Committed" in click(bot, fake_slack, "first", value)
    if how == "typed-deploy":
        slash(bot, fake_slack, "moved-on", f"{APP} {NEWER} staging")
    else:
        charts_remote.commit_directly(
            "staging",
            APP,
            f"image_tag: {NEWER}\nautomatic_deploys_enabled: false\npromote_deployment: false\n",
            f"Update {APP} image tag to {NEWER} for staging",
        )
    assert charts_remote.read("staging", APP).startswith(f"image_tag: {NEWER}\n")
    before = charts_remote.commit_count()
    for name, user in (("again-same", MEMBER), ("again-other", INTEGRATION_ONLY)):
        reply = click(bot, fake_slack, name, value, user=user)
        assert "already" in reply.lower() and f"<@{MEMBER}>" in reply and CLOCK.search(reply), reply
        assert "Committed" not in reply
    assert charts_remote.commit_count() == before
    assert charts_remote.read("staging", APP).startswith(f"image_tag: {NEWER}\n")


def _concurrent_clicks(bot_for, fake_slack: FakeSlack, value: str, users: list[str]) -> list[str]:
    names = [f"simultaneous-{i}" for i in range(len(users))]
    urls = [fake_slack.response_url(name) for name in names]
    answers = run_concurrently(
        [lambda i=i: bot_for(i).click(value, user=users[i], response_url=urls[i]) for i in range(len(users))]
    )
    assert [a.status_code for a in answers] == [200] * len(users)
    return [fake_slack.wait_for_response(name, timeout=30)[0]["text"] for name in names]


@pytest.mark.parametrize("users", ["same", "different"])
def test_simultaneous_clicks_commit_once(
    bot: BotHarness, fake_slack: FakeSlack, fake_github: FakeGitHub, charts_remote: ChartsRemote, users: str
) -> None:
    fake_github.add_member("gov-uk-production-deploy", "integrator")
    pass_tests_in_integration(bot)
    value = value_of(fake_slack)
    before = charts_remote.commit_count()
    who = [MEMBER] * 5 if users == "same" else [MEMBER, INTEGRATION_ONLY, MEMBER, INTEGRATION_ONLY, MEMBER]
    replies = _concurrent_clicks(lambda i: bot, fake_slack, value, who)
    bot.settle()
    assert charts_remote.commit_count() == before + 1, new_commits(charts_remote, before)
    assert sum("Committed" in r for r in replies) == 1, replies
    assert all("Committed" in r or "already" in r or "at this moment" in r for r in replies), replies
    assert charts_remote.read("staging", APP) == STAGING_FILE_AFTER


def test_two_app_processes_on_one_redis_commit_once(
    tmp_path: Path, bot_env: dict[str, str], fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    first = BotHarness({**bot_env, "CHARTS_WORKDIR": str(tmp_path / "working-copy-a")})
    second = BotHarness({**bot_env, "CHARTS_WORKDIR": str(tmp_path / "working-copy-b")})
    try:
        pass_tests_in_integration(first)
        value = value_of(fake_slack)
        before = charts_remote.commit_count()
        replies = _concurrent_clicks(lambda i: (first, second)[i % 2], fake_slack, value, [MEMBER] * 6)
        first.settle()
        second.settle()
        assert charts_remote.commit_count() == before + 1, new_commits(charts_remote, before)
        assert sum("Committed" in r for r in replies) == 1, replies
        assert len(fake_slack.roots()) == 1  # and still one card
    finally:
        first.stop()
        second.stop()


# -- stale buttons -------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["slash-command", "someone-else's-commit"])
def test_stale_button_is_refused_as_superseded(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote, how: str
) -> None:
    pass_tests_in_integration(bot)
    value = value_of(fake_slack)
    if how == "slash-command":
        slash(bot, fake_slack, "newer", f"{APP} {NEWER} integration")
    else:
        charts_remote.commit_directly(
            "integration",
            APP,
            f"image_tag: {NEWER}\nautomatic_deploys_enabled: false\npromote_deployment: false\n",
            f"Update {APP} image tag to {NEWER} for integration",
        )
    assert charts_remote.read("integration", APP).startswith(f"image_tag: {NEWER}\n")
    before = charts_remote.commit_count()
    reply = click(bot, fake_slack, "stale", value)
    assert "superseded" in reply.lower(), reply
    assert NEWER in reply
    assert "Committed" not in reply
    assert charts_remote.commit_count() == before
    assert charts_remote.read("staging", APP) == STAGING_FILE_BEFORE


def test_stale_refusal_does_not_use_the_promotion_up(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    # integration moves on and back again: the release is current once more and may still be promoted
    pass_tests_in_integration(bot)
    value = value_of(fake_slack)
    slash(bot, fake_slack, "newer", f"{APP} {NEWER} integration")
    assert "superseded" in click(bot, fake_slack, "stale", value).lower()
    slash(bot, fake_slack, "back", f"{APP} {TAG} integration")
    pass_tests_in_integration(bot)  # a redeploy is tested afresh
    before = charts_remote.commit_count()
    assert "Committed" in click(bot, fake_slack, "current-again", value)
    assert charts_remote.commit_count() == before + 1
    assert charts_remote.read("staging", APP) == STAGING_FILE_AFTER


# -- forged values -------------------------------------------------------------------------------------


def _tamper_body(value: str, step: PromoteStep) -> str:
    """`value`'s MAC on the body of another step."""
    encoded = ButtonSigner(b"irrelevant").encode(step).split(".")[0]
    return f"{encoded}.{value.split('.')[1]}"


def _flip_last_mac_char(value: str) -> str:
    return value[:-1] + ("0" if value[-1] != "0" else "1")


FORGERIES = {
    "random-string": lambda value, bot: "hello",
    "empty": lambda value, bot: "",
    "non-ascii": lambda value, bot: ".\u0080",
    "oversized": lambda value, bot: "x" * 2001,
    "oversized-genuine-prefix": lambda value, bot: value + "A" * (2001 - len(value)),
    "tampered-mac": lambda value, bot: _flip_last_mac_char(value),
    "tampered-body-skip-staging": lambda value, bot: _tamper_body(
        value, PromoteStep(APP, TAG, "integration", "production")
    ),
    "tampered-body-other-app": lambda value, bot: _tamper_body(
        value, PromoteStep("frontend", "v1810", "integration", "staging")
    ),
    "signed-with-another-secret": lambda value, bot: ButtonSigner(b"another-secret").encode(
        PromoteStep(APP, TAG, "integration", "staging")
    ),
    "genuinely-signed-non-adjacent-step": lambda value, bot: bot.services.signer.encode(
        PromoteStep(APP, TAG, "integration", "production")
    ),
    "genuinely-signed-backwards-step": lambda value, bot: bot.services.signer.encode(
        PromoteStep(APP, TAG, "staging", "integration")
    ),
}


def test_forged_values_are_refused(bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote) -> None:
    pass_tests_in_integration(bot)
    genuine = value_of(fake_slack)
    # the bot signs with a key derived from the signing secret: a value made with its signer is genuine
    assert ButtonSigner(SIGNING_SECRET.encode()).encode(PromoteStep(APP, TAG, "integration", "staging")) == genuine
    before = charts_remote.commit_count()
    wrong = {}
    for name, forge in FORGERIES.items():
        forged = forge(genuine, bot)
        assert forged != genuine
        reply = click(bot, fake_slack, f"forged-{name}", forged)
        if "nothing was done" not in reply.lower() or "Committed" in reply:
            wrong[name] = reply
        if charts_remote.commit_count() != before:
            wrong[name] = f"committed: {new_commits(charts_remote, before)}"
            break
    assert wrong == {}
    for env in ("staging", "production"):
        assert f"image_tag: {TAG}" not in charts_remote.read(env, APP)
    # the genuine button still works afterwards
    assert "Committed" in click(bot, fake_slack, "genuine", genuine)
    assert charts_remote.commit_count() == before + 1


def test_a_genuinely_signed_value_is_still_rechecked_against_the_tests(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    # a value the bot could have signed, for a release whose tests never ran: the value is only a claim
    value = bot.services.signer.encode(PromoteStep(APP, TAG, "integration", "staging"))
    before = charts_remote.commit_count()
    reply = click(bot, fake_slack, "untested", value)
    assert "Committed" not in reply
    assert "tests" in reply
    assert charts_remote.commit_count() == before
    smokey(bot, "integration", "Failed")
    assert "Committed" not in click(bot, fake_slack, "failed-tests", value)
    assert charts_remote.commit_count() == before


# -- /deploy promote shares the path -------------------------------------------------------------------


def test_slash_promote_commits_what_integration_runs_once(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    pass_tests_in_integration(bot)  # a typed promotion checks what the button checks
    before = charts_remote.commit_count()
    first = slash(bot, fake_slack, "promote-1", f"promote {APP} to staging")
    assert any("Committed" in text for text in first), first
    commits = new_commits(charts_remote, before)
    assert len(commits) == 1
    sha, subject, body = commits[0]
    assert subject == f"Update {APP} image tag to {TAG} for staging"
    assert "Requested-by: octocat (U012AB3CD)" in body.splitlines()
    assert charts_remote.changed_paths(sha) == [charts_remote.file_path("staging", APP)]
    assert charts_remote.read("staging", APP) == STAGING_FILE_AFTER

    second = slash(bot, fake_slack, "promote-2", f"promote {APP} staging")
    later = second[1:]
    assert later, second
    assert any("already" in text and f"<@{MEMBER}>" in text for text in later), second
    assert not any("Committed" in text for text in second)
    assert charts_remote.commit_count() == before + 1


def test_slash_promote_by_a_non_member_is_refused_naming_the_team(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    before = charts_remote.commit_count()
    replies = slash(bot, fake_slack, "promote", f"promote {APP} to staging", user=INTEGRATION_ONLY)
    assert any(TEAM in text for text in replies), replies
    assert charts_remote.commit_count() == before


def test_button_after_slash_promote_says_already_promoted(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    pass_tests_in_integration(bot)
    value = value_of(fake_slack)
    slash(bot, fake_slack, "promote", f"promote {APP} to staging")
    before = charts_remote.commit_count()
    reply = click(bot, fake_slack, "late-click", value)
    assert "already" in reply and f"<@{MEMBER}>" in reply, reply
    assert charts_remote.commit_count() == before
    assert promote_button(fake_slack) is None
    assert f"promoted to staging by <@{MEMBER}>" in card(fake_slack).all_text()


def test_slash_promote_after_a_click_says_already_promoted(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    pass_tests_in_integration(bot)
    assert "Committed" in click(bot, fake_slack, "click", value_of(fake_slack))
    before = charts_remote.commit_count()
    replies = slash(bot, fake_slack, "promote", f"promote {APP} to staging")
    assert any("already" in text and f"<@{MEMBER}>" in text for text in replies[1:]), replies
    assert charts_remote.commit_count() == before


# -- the console ---------------------------------------------------------------------------------------


def test_console_click_promotes(tmp_path: Path) -> None:
    script = "\n".join(
        [
            "/deploy whitehall v3232 integration",
            "argocd whitehall integration Succeeded",
            "smokey whitehall integration Succeeded",
            "click 1",
            "quit",
        ]
    )
    result = subprocess.run(
        [sys.executable, "-m", "bot", "console"],
        cwd=ROOT,
        input=script + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TMPDIR": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "[1] Promote to staging" in out, out
    after_click = out.split("> click 1", 1)[1]
    assert re.search(r"Committed whitehall `?v3232`? to staging", after_click), after_click
    assert "promoted to staging" in after_click
    # and the commit is really there, in the sandbox's charts repository
    repo = re.search(r"Charts repository: (\S+)", out)
    assert repo is not None, out
    log = subprocess.run(
        ["git", "log", "-1", "--format=%s%n%b", "main"], cwd=repo.group(1), capture_output=True, text=True, check=True
    ).stdout
    assert log.startswith("Update whitehall image tag to v3232 for staging\n"), log
    assert "Requested-by: sandbox-developer (U0SANDBOX)" in log
