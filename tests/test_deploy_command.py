"""`/deploy` end to end: signed Slack requests to the real HTTP app, real Redis, a bare
charts remote, and the loopback fakes of Slack and GitHub.

Quick refusals come back in the acknowledgement itself; refusals found after the ack (team,
GitHub, same tag) and the outcome of a deploy arrive at the command's response_url.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support.app import (
    INTEGRATION_ONLY,
    MEMBER,
    OUTSIDER,
    UNLINKED,
    BotHarness,
    SharedBot,
    shared_bot,
)
from tests.support.charts import COMMENTED_FILE, COMMENTED_TEXT, ChartsRemote, git

ALERTS = "govuk-deploy-alerts"
ACK_LIMIT = 3.0


# -- shared set-up ------------------------------------------------------------------------------


Shared = SharedBot


@pytest.fixture(scope="module")
def shared(tmp_path_factory, redis_url) -> Iterator[SharedBot]:
    """One bot for the tests that must change nothing (quick refusals, help): keeps the module fast."""
    with shared_bot(tmp_path_factory.mktemp("shared-bot"), redis_url) as bot:
        yield bot


@contextmanager
def changes_nothing(shared: Shared) -> Iterator[None]:
    """The block commits nothing and posts or edits no card."""
    head, count = shared.remote.head(), shared.remote.commit_count()
    posts, updates = shared.fake_slack.count("chat.postMessage"), shared.fake_slack.count("chat.update")
    yield
    shared.bot.settle()
    assert shared.remote.head() == head, shared.remote.log(3)
    assert shared.remote.commit_count() == count
    assert shared.fake_slack.count("chat.postMessage") == posts
    assert shared.fake_slack.count("chat.update") == updates


def ack_text(response: httpx.Response) -> str:
    """The ephemeral text of a slash-command acknowledgement (Bolt answers JSON or plain text)."""
    assert response.status_code == 200, (response.status_code, response.text)
    if response.headers.get("content-type", "").startswith("application/json"):
        return str(response.json().get("text") or "")
    return response.text


def timed_slash(bot: BotHarness, text: str, **kwargs) -> tuple[str, float]:
    started = time.perf_counter()
    response = bot.slash(text, **kwargs)
    elapsed = time.perf_counter() - started
    return ack_text(response), elapsed


def passed_in_integration(bot: BotHarness, app: str, tag: str) -> None:
    """Argo CD synced `tag` and its tests passed in integration: what a typed promotion checks."""
    common = {"application": app, "environment": "integration", "imageTag": tag}
    assert bot.webhook("/webhooks/argocd", {**common, "state": "Succeeded", "health": "Healthy"}).status_code == 202
    assert bot.webhook("/webhooks/smokey", {**common, "status": "Succeeded"}).status_code == 202
    bot.settle()


def parent_of(remote: ChartsRemote, sha: str) -> str:
    return git("rev-parse", f"{sha}^", cwd=remote.path).strip()


def assert_nothing_happened(bot: BotHarness, remote: ChartsRemote, fake_slack, head: str, count: int) -> None:
    bot.settle()
    assert remote.head() == head, remote.log(3)
    assert remote.commit_count() == count
    assert fake_slack.count("chat.postMessage") == 0, fake_slack.calls
    assert fake_slack.count("chat.update") == 0, fake_slack.calls


# -- check 1: environment, app, tag (answered in the ack) ---------------------------------------


def test_unknown_environment_lists_the_environments(shared):
    with changes_nothing(shared):
        text, elapsed = timed_slash(shared.bot, "whitehall v9999 nowhere")
    assert elapsed < ACK_LIMIT
    assert "nowhere" in text
    for env in ("integration", "staging", "production"):
        assert env in text, text


@pytest.mark.parametrize(
    ("typed", "meant"),
    [("whitehal", "whitehall"), ("publishing-ap", "publishing-api"), ("frontned", "frontend"), ("sigon", "signon")],
)
def test_unknown_app_suggests_close_names(shared, typed, meant):
    with changes_nothing(shared):
        text, _ = timed_slash(shared.bot, f"{typed} v9999 integration")
    assert f"`{meant}`" in text, text
    assert typed in text


def test_unknown_app_with_nothing_close_says_where_apps_come_from(shared):
    with changes_nothing(shared):
        text, _ = timed_slash(shared.bot, "zzzzqqq v9999 staging")
    assert "zzzzqqq" in text
    assert "charts/app-config/image-tags/staging" in text, text


@pytest.mark.parametrize("app", ["../x", "a/b", "-rf", "Whitehall", "..", "whitehall/../signon", "--upload-pack=x"])
def test_bad_app_names_are_refused(shared, app):
    with changes_nothing(shared):
        text, _ = timed_slash(shared.bot, f"{app} v9999 integration")
    assert "app name" in text.lower(), text
    assert "Deploying" not in text


@pytest.mark.parametrize("tag", ["-x", ".v1", "a" * 129, "v1;rm", "v1$(id)", "--amend", "v1/../x", "v1`x`"])
def test_bad_tags_are_refused(shared, tag):
    with changes_nothing(shared):
        text, _ = timed_slash(shared.bot, f"whitehall {tag} integration")
    assert "image tag" in text.lower(), text
    assert "Deploying" not in text


def test_the_longest_valid_tag_is_accepted(bot, charts_remote, fake_slack):
    tag = "v" + "1" * 127  # 128 characters: the limit itself
    done = fake_slack.response_url("done")
    text, _ = timed_slash(bot, f"whitehall {tag} integration", response_url=done)
    assert "Deploying" in text, text
    fake_slack.wait_for_response("done", timeout=30)
    bot.settle()
    assert f"image_tag: {tag}\n" in charts_remote.read("integration", "whitehall")


# -- check 2: the Slack user is linked to a GitHub login ----------------------------------------


def test_unlinked_user_is_told_who_maintains_users(shared):
    asked = len(shared.fake_github.membership_requests())
    with changes_nothing(shared):
        text, _ = timed_slash(shared.bot, "whitehall v9999 integration", user=UNLINKED)
    assert "not linked" in text, text
    assert "GitHub" in text
    assert "`users`" in text and "maintain" in text.lower(), text
    assert len(shared.fake_github.membership_requests()) == asked  # nobody asks GitHub about a stranger


def test_checks_run_in_order_environment_and_tag_before_user(shared):
    with changes_nothing(shared):
        text, _ = timed_slash(shared.bot, "whitehall v9999 nowhere", user=UNLINKED)
        assert "integration" in text and "staging" in text and "not linked" not in text, text
        text, _ = timed_slash(shared.bot, "whitehall -bad integration", user=UNLINKED)
        assert "image tag" in text.lower() and "not linked" not in text, text
        text, _ = timed_slash(shared.bot, "whitehal v1 integration", user=UNLINKED)
        assert "`whitehall`" in text and "not linked" not in text, text


# -- check 3: team membership, asked of GitHub after the ack -----------------------------------


def test_user_not_in_the_team_is_refused_naming_team_and_login(bot, charts_remote, fake_slack, fake_github):
    head, count = charts_remote.head(), charts_remote.commit_count()
    url = fake_slack.response_url("team")
    text, elapsed = timed_slash(bot, "whitehall v9999 staging", user=INTEGRATION_ONLY, response_url=url)
    assert elapsed < ACK_LIMIT
    [reply] = fake_slack.wait_for_response("team", timeout=10)
    assert "alphagov/gov-uk-production" in reply["text"], reply
    assert "integrator" in reply["text"], reply
    assert reply.get("response_type", "ephemeral") == "ephemeral"
    assert_nothing_happened(bot, charts_remote, fake_slack, head, count)
    assert fake_github.membership_requests("gov-uk-production-deploy", "integrator"), fake_github.requests


def test_the_same_user_may_deploy_where_their_team_allows(bot, charts_remote, fake_slack):
    url = fake_slack.response_url("ok")
    timed_slash(bot, "whitehall v9999 integration", user=INTEGRATION_ONLY, response_url=url)
    [reply] = fake_slack.wait_for_response("ok", timeout=30)
    assert "Committed" in reply["text"], reply
    assert "Requested-by: integrator (U0INTEG01)" in charts_remote.log(1)[0][2]


def test_outsider_is_refused_even_for_integration(bot, charts_remote, fake_slack):
    head, count = charts_remote.head(), charts_remote.commit_count()
    url = fake_slack.response_url("outsider")
    timed_slash(bot, "whitehall v9999 integration", user=OUTSIDER, response_url=url)
    [reply] = fake_slack.wait_for_response("outsider", timeout=10)
    assert "alphagov/gov-uk" in reply["text"] and "outsider" in reply["text"], reply
    assert_nothing_happened(bot, charts_remote, fake_slack, head, count)


@pytest.mark.parametrize("failure", ["down", "rate_limited"])
def test_github_failing_is_a_refusal_that_fails_closed(bot, charts_remote, fake_slack, fake_github, failure):
    setattr(fake_github, failure, True)
    head, count = charts_remote.head(), charts_remote.commit_count()
    url = fake_slack.response_url("gh")
    _, elapsed = timed_slash(bot, "whitehall v9999 integration", response_url=url)
    assert elapsed < ACK_LIMIT
    [reply] = fake_slack.wait_for_response("gh", timeout=10)
    assert "GitHub" in reply["text"], reply
    assert re.search(r"could(n't| not)", reply["text"]), reply
    assert "alphagov/gov-uk" in reply["text"], reply
    assert_nothing_happened(bot, charts_remote, fake_slack, head, count)
    assert fake_github.membership_requests("gov-uk", "octocat")


def test_github_failure_is_not_cached(bot, charts_remote, fake_slack, fake_github):
    fake_github.down = True
    timed_slash(bot, "whitehall v9999 integration", response_url=fake_slack.response_url("first"))
    fake_slack.wait_for_response("first", timeout=10)
    bot.settle()
    fake_github.down = False
    timed_slash(bot, "whitehall v9999 integration", response_url=fake_slack.response_url("second"))
    [reply] = fake_slack.wait_for_response("second", timeout=30)
    assert "Committed" in reply["text"], reply


def test_github_slow_times_out_and_fails_closed(bot, charts_remote, fake_slack, fake_github):
    fake_github.slow_seconds = 8.0  # longer than any sane time-out; the fake is woken when stopped
    head, count = charts_remote.head(), charts_remote.commit_count()
    url = fake_slack.response_url("slow")
    text, elapsed = timed_slash(bot, "whitehall v9999 production", response_url=url)
    assert elapsed < ACK_LIMIT, "the ack waited for GitHub"
    started = time.monotonic()
    [reply] = fake_slack.wait_for_response("slow", timeout=7.5)
    print(f"\nGitHub time-out refusal after {time.monotonic() - started:.2f}s")
    assert "GitHub" in reply["text"] and "alphagov/gov-uk-production" in reply["text"], reply
    assert re.search(r"could(n't| not)", reply["text"]), reply
    assert_nothing_happened(bot, charts_remote, fake_slack, head, count)


def test_a_pending_membership_is_not_membership(bot, charts_remote, fake_slack, fake_github):
    fake_github.add_member("gov-uk", "outsider", state="pending")
    head, count = charts_remote.head(), charts_remote.commit_count()
    timed_slash(bot, "whitehall v9999 integration", user=OUTSIDER, response_url=fake_slack.response_url("pending"))
    [reply] = fake_slack.wait_for_response("pending", timeout=10)
    assert "alphagov/gov-uk" in reply["text"] and "outsider" in reply["text"], reply
    assert "Committed" not in reply["text"]
    assert_nothing_happened(bot, charts_remote, fake_slack, head, count)


@pytest.mark.parametrize("token", ["", "ghs-wrong-token"])
def test_without_a_usable_github_token_every_team_check_is_denied(bot_env, charts_remote, fake_slack, token):
    harness = BotHarness({**bot_env, "GITHUB_TOKEN": token})
    try:
        head, count = charts_remote.head(), charts_remote.commit_count()
        timed_slash(harness, "whitehall v9999 integration", response_url=fake_slack.response_url("token"))
        [reply] = fake_slack.wait_for_response("token", timeout=10)
        assert "alphagov/gov-uk" in reply["text"] and "Committed" not in reply["text"], reply
        assert "ghs-wrong-token" not in reply["text"]
        assert_nothing_happened(harness, charts_remote, fake_slack, head, count)
    finally:
        harness.stop()


# -- check 4: the environment already runs that tag --------------------------------------------


def test_same_tag_is_a_no_op(bot, charts_remote, fake_slack):
    head, count = charts_remote.head(), charts_remote.commit_count()
    url = fake_slack.response_url("same")
    timed_slash(bot, "whitehall v3231 staging", response_url=url)  # staging already runs v3231
    [reply] = fake_slack.wait_for_response("same", timeout=10)
    assert "already runs" in reply["text"], reply
    assert "v3231" in reply["text"]
    assert_nothing_happened(bot, charts_remote, fake_slack, head, count)


def test_team_check_comes_before_same_tag(bot, charts_remote, fake_slack):
    url = fake_slack.response_url("order")
    timed_slash(bot, "whitehall v3231 staging", user=INTEGRATION_ONLY, response_url=url)
    [reply] = fake_slack.wait_for_response("order", timeout=10)
    assert "gov-uk-production" in reply["text"] and "already runs" not in reply["text"], reply


# -- help ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "help", "HELP", "whitehall", "whitehall v1", "a b c d"])
def test_help_and_wrong_word_counts_show_usage(shared, text):
    with changes_nothing(shared):
        reply, elapsed = timed_slash(shared.bot, text)
    assert elapsed < ACK_LIMIT
    assert "/deploy <app> <tag> <environment>" in reply, reply
    assert "promote" in reply


# -- a deploy that lands ------------------------------------------------------------------------


def test_a_deploy_is_one_commit_in_govuk_format(bot, charts_remote, fake_slack):
    before_head, before_count = charts_remote.head(), charts_remote.commit_count()
    url = fake_slack.response_url("deploy")
    started = time.perf_counter()
    text, elapsed = timed_slash(bot, "whitehall v9999 integration", response_url=url)
    assert elapsed < ACK_LIMIT
    assert "whitehall" in text and "v9999" in text, text
    [reply] = fake_slack.wait_for_response("deploy", timeout=30)
    landed = time.perf_counter() - started
    print(f"\ncommand to pushed commit (reply received): {landed * 1000:.0f} ms; ack {elapsed * 1000:.0f} ms")

    assert charts_remote.commit_count() == before_count + 1
    sha, subject, body = charts_remote.log(1)[0]
    assert parent_of(charts_remote, sha) == before_head
    assert subject == "Update whitehall image tag to v9999 for integration"
    assert "Requested-by: octocat (U012AB3CD)" in body.splitlines(), body
    assert charts_remote.changed_paths(sha) == ["charts/app-config/image-tags/integration/whitehall"]
    assert charts_remote.author(sha) == ("govuk-deploy-bot", "govuk-deploy-bot@users.noreply.github.com")
    assert charts_remote.read("integration", "whitehall") == (
        "image_tag: v9999\nautomatic_deploys_enabled: true\npromote_deployment: false\n"
    )
    assert "Committed" in reply["text"] and sha[:7] in reply["text"], reply

    bot.settle()
    roots = fake_slack.roots(ALERTS)
    assert len(roots) == 1, [m.text for m in roots]
    card = roots[0].all_text()
    for part in ("whitehall", "v9999", "integration", f"<@{MEMBER}>"):
        assert part in card, card


def test_every_other_byte_of_the_file_is_kept(bot, charts_remote, fake_slack):
    env, app = COMMENTED_FILE
    url = fake_slack.response_url("bytes")
    timed_slash(bot, f"{app} v1900 {env}", response_url=url)
    [reply] = fake_slack.wait_for_response("bytes", timeout=30)
    assert "Committed" in reply["text"], reply
    expected = COMMENTED_TEXT.replace("image_tag: v1802  # pinned", "image_tag: v1900  # pinned", 1)
    assert expected != COMMENTED_TEXT
    assert charts_remote.read_bytes(env, app) == expected.encode("utf-8")
    sha = charts_remote.log(1)[0][0]
    assert charts_remote.changed_paths(sha) == [charts_remote.file_path(env, app)]


def test_a_file_without_automatic_deploys_keeps_its_shape(bot, charts_remote, fake_slack):
    url = fake_slack.response_url("short")
    timed_slash(bot, "content-store v800 production", response_url=url)
    fake_slack.wait_for_response("short", timeout=30)
    assert charts_remote.read_bytes("production", "content-store") == b"image_tag: v800\npromote_deployment: false\n"


def test_a_second_environment_edits_the_same_card(bot, charts_remote, fake_slack):
    timed_slash(bot, "whitehall v9999 integration", response_url=fake_slack.response_url("one"))
    fake_slack.wait_for_response("one", timeout=30)
    bot.settle()
    [root] = fake_slack.roots(ALERTS)
    posts_before = [c for c in fake_slack.calls_to("chat.postMessage") if not c.get("thread_ts")]
    assert len(posts_before) == 1

    timed_slash(bot, "whitehall v9999 staging", response_url=fake_slack.response_url("two"))
    [reply] = fake_slack.wait_for_response("two", timeout=30)
    assert "Committed" in reply["text"], reply
    bot.settle()

    roots = fake_slack.roots(ALERTS)
    assert [m.ts for m in roots] == [root.ts], "a second root message was posted for the same release"
    root_posts = [c for c in fake_slack.calls_to("chat.postMessage") if not c.get("thread_ts")]
    assert len(root_posts) == 1
    updates = fake_slack.calls_to("chat.update")
    assert updates and all(u["ts"] == root.ts for u in updates), updates
    current = fake_slack.message(root.ts)
    staging_lines = [line for line in current.text.splitlines() if "staging" in line]
    assert staging_lines and "requested" in staging_lines[0] and f"<@{MEMBER}>" in staging_lines[0], current.text
    assert charts_remote.read("staging", "whitehall").startswith("image_tag: v9999\n")


# -- promote ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["promote router staging", "promote router to staging"])
def test_promote_deploys_what_the_previous_environment_runs(bot, charts_remote, fake_slack, text):
    passed_in_integration(bot, "router", "v512")  # router does not promote by itself
    count = charts_remote.commit_count()
    running = charts_remote.read("integration", "router").splitlines()[0]
    assert running == "image_tag: v512"
    url = fake_slack.response_url("promote")
    ack, elapsed = timed_slash(bot, text, response_url=url)
    assert elapsed < ACK_LIMIT
    assert "router" in ack and "staging" in ack, ack
    [reply] = fake_slack.wait_for_response("promote", timeout=30)
    assert "Committed" in reply["text"], reply
    assert charts_remote.commit_count() == count + 1
    sha, subject, body = charts_remote.log(1)[0]
    assert subject == "Update router image tag to v512 for staging"
    assert "Requested-by: octocat (U012AB3CD)" in body.splitlines()
    assert charts_remote.changed_paths(sha) == ["charts/app-config/image-tags/staging/router"]
    assert charts_remote.read("staging", "router") == (
        "image_tag: v512\nautomatic_deploys_enabled: false\npromote_deployment: false\n"
    )


def test_promote_into_the_first_environment_is_refused(shared):
    with changes_nothing(shared):
        text, _ = timed_slash(shared.bot, "promote whitehall integration")
    assert "first environment" in text, text


def test_promote_needs_the_target_environments_team(bot, charts_remote, fake_slack):
    head, count = charts_remote.head(), charts_remote.commit_count()
    url = fake_slack.response_url("p-team")
    timed_slash(bot, "promote whitehall to staging", user=INTEGRATION_ONLY, response_url=url)
    [reply] = fake_slack.wait_for_response("p-team", timeout=10)
    assert "alphagov/gov-uk-production" in reply["text"] and "integrator" in reply["text"], reply
    assert_nothing_happened(bot, charts_remote, fake_slack, head, count)


def test_promote_of_what_already_runs_there_commits_nothing(bot, charts_remote, fake_slack):
    passed_in_integration(bot, "publishing-api", "v2104")
    head, count = charts_remote.head(), charts_remote.commit_count()
    url = fake_slack.response_url("p-same")
    timed_slash(bot, "promote publishing-api staging", response_url=url)  # both run v2104
    [reply] = fake_slack.wait_for_response("p-same", timeout=10)
    assert "already" in reply["text"], reply
    bot.settle()
    assert charts_remote.head() == head and charts_remote.commit_count() == count


def test_promote_again_after_a_rollback_deploys_again(bot, charts_remote, fake_slack):
    """The contract lists the only reasons to refuse `/deploy promote`; an earlier promotion of the same
    tag is not one of them once the environment no longer runs it (e.g. after a rollback)."""
    passed_in_integration(bot, "router", "v512")
    timed_slash(bot, "promote router staging", response_url=fake_slack.response_url("p1"))
    assert "Committed" in fake_slack.wait_for_response("p1", timeout=30)[0]["text"]
    timed_slash(bot, "router v511 staging", response_url=fake_slack.response_url("rollback"))
    assert "Committed" in fake_slack.wait_for_response("rollback", timeout=30)[0]["text"]
    assert charts_remote.read("staging", "router").startswith("image_tag: v511\n")

    timed_slash(bot, "promote router staging", response_url=fake_slack.response_url("p2"))
    [reply] = fake_slack.wait_for_response("p2", timeout=30)
    bot.settle()
    assert "Committed" in reply["text"], reply
    assert charts_remote.read("staging", "router").startswith("image_tag: v512\n")
    assert [s for _, s, _ in charts_remote.log(3)] == [
        "Update router image tag to v512 for staging",
        "Update router image tag to v511 for staging",
        "Update router image tag to v512 for staging",
    ]


# -- a push the charts repository refuses -------------------------------------------------------


def test_a_refused_push_is_reported_to_the_requester_and_on_the_card(bot, charts_remote, fake_slack):
    hook = charts_remote.path / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'branch protection: pushes are paused' >&2\nexit 1\n", encoding="utf-8")
    hook.chmod(0o755)
    head, count = charts_remote.head(), charts_remote.commit_count()
    text, elapsed = timed_slash(bot, "whitehall v9999 integration", response_url=fake_slack.response_url("refused"))
    assert elapsed < ACK_LIMIT and "Deploying" in text
    [reply] = fake_slack.wait_for_response("refused", timeout=30)
    bot.settle()
    assert "failed" in reply["text"] and "Committed" not in reply["text"], reply
    assert "Nothing was committed" in reply["text"]
    assert charts_remote.head() == head and charts_remote.commit_count() == count
    [root] = fake_slack.roots(ALERTS)
    assert "whitehall" in root.all_text() and "v9999" in root.all_text()
    assert "failed" in root.text, root.text
    failures = [m for m in fake_slack.replies(root.ts) if f"<@{MEMBER}>" in m.text and "failed" in m.text]
    assert failures and failures[0].reply_broadcast, [m.text for m in fake_slack.replies(root.ts)]


# -- the working copy across a restart, and readiness ------------------------------------------


def test_the_working_copy_survives_a_restart_and_stays_shallow(bot_env, charts_remote, fake_slack):
    for n in range(3):  # some history, so that a shallow copy is distinguishable from a full one
        charts_remote.commit_directly("integration", "router", f"image_tag: v6{n}\n", f"Router v6{n}")
    workdir = Path(bot_env["CHARTS_WORKDIR"])

    first = BotHarness(bot_env)
    try:
        marker = workdir / ".git" / "test-restart-marker"
        marker.write_text("kept\n", encoding="utf-8")
        inode = (workdir / ".git").stat().st_ino
        first.slash("whitehall v9001 integration", response_url=fake_slack.response_url("a"))
        fake_slack.wait_for_response("a", timeout=30)
        first.settle()
    finally:
        first.stop()

    second = BotHarness(bot_env)
    try:
        assert marker.exists(), "the working copy was cloned again on restart"
        assert (workdir / ".git").stat().st_ino == inode
        assert git("rev-parse", "--is-shallow-repository", cwd=workdir).strip() == "true"
        assert int(git("rev-list", "--count", "HEAD", cwd=workdir).strip()) < charts_remote.commit_count()
        [card] = fake_slack.roots(ALERTS)
        second.slash("whitehall v9001 staging", response_url=fake_slack.response_url("b"))
        [reply] = fake_slack.wait_for_response("b", timeout=30)
        assert "Committed" in reply["text"], reply
        second.settle()
        assert charts_remote.log(1)[0][1] == "Update whitehall image tag to v9001 for staging"
        # the card of this release was posted before the restart: it is edited, not posted again
        assert [m.ts for m in fake_slack.roots(ALERTS)] == [card.ts]
        assert any(u["ts"] == card.ts for u in fake_slack.calls_to("chat.update"))
        assert git("rev-parse", "--is-shallow-repository", cwd=workdir).strip() == "true"
        assert marker.exists()
    finally:
        second.stop()


def test_healthz_and_readyz(shared):
    assert shared.bot.http.get("/healthz").status_code == 200
    ready = shared.bot.http.get("/readyz")
    assert ready.status_code == 200, ready.text


def test_readyz_is_503_with_a_reason_when_the_working_copy_is_gone(bot, bot_env, charts_remote, fake_slack):
    shutil.rmtree(Path(bot_env["CHARTS_WORKDIR"]) / ".git")
    ready = bot.http.get("/readyz")
    assert ready.status_code == 503, ready.text
    assert "working copy" in ready.text
    assert bot.http.get("/healthz").status_code == 200
    head, count = charts_remote.head(), charts_remote.commit_count()
    text, elapsed = timed_slash(bot, "whitehall v9999 integration")
    assert elapsed < ACK_LIMIT
    assert "Deploying" not in text and "can't deploy" in text, text
    assert_nothing_happened(bot, charts_remote, fake_slack, head, count)


def test_without_the_store_readyz_is_503_and_deploys_are_refused_in_time(bot_env, charts_remote, fake_slack):
    harness = BotHarness({**bot_env, "REDIS_URL": "redis://127.0.0.1:1/0"})  # nothing listens there
    try:
        assert harness.http.get("/healthz").status_code == 200
        ready = harness.http.get("/readyz")
        assert ready.status_code == 503 and "store" in ready.text, ready.text
        head, count = charts_remote.head(), charts_remote.commit_count()
        text, elapsed = timed_slash(harness, "whitehall v9999 integration")
        assert elapsed < ACK_LIMIT
        assert "Deploying" not in text and "store" in text, text
        assert charts_remote.head() == head and charts_remote.commit_count() == count
    finally:
        harness.stop()
