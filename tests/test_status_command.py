"""`/deploy status`, `history` and `stats` end to end: signed slash commands to the real HTTP app,
real Redis, the charts remote, the fake GitHub's compare endpoint and fake Argo CD servers.

Each command is acknowledged at once; the answer arrives at the command's response_url.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes import FakeArgoCD, FakeGitHub, FakeSlack
from tests.support.app import MEMBER, OUTSIDER, USERS, BotHarness
from tests.support.charts import ChartsRemote
from tests.support.payloads import smokey_payload
from tests.test_deploy_command import ack_text

ACK_LIMIT = 1.0  # the ack does no I/O: far within Slack's 3 s
ANSWER_LIMIT = 3.0  # Slack's 3 s: the whole answer, Argo CD and GitHub included


def config(tmp_path: Path, integration: FakeArgoCD, staging: FakeArgoCD) -> str:
    users = "".join(f"  {slack}: {login}\n" for slack, login in USERS.items())
    text = (
        "environments:\n"
        f"  - {{name: integration, team: gov-uk, argocd_url: '{integration.url}', workflows_url: 'https://wf.int'}}\n"
        f"  - {{name: staging, team: gov-uk-production, argocd_url: '{staging.url}', workflows_url: 'https://wf.stg'}}\n"
        "  - {name: production, team: gov-uk-production, argocd_url: 'http://127.0.0.1:9', workflows_url: 'https://wf'}\n"
        f"users:\n{users}"
    )
    path = tmp_path / "status-config.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.fixture
def argo() -> Iterator[tuple[FakeArgoCD, FakeArgoCD]]:
    with FakeArgoCD(token="argo-int") as integration, FakeArgoCD(token="argo-stg") as staging:
        yield integration, staging


@pytest.fixture
def status_bot(bot_env: dict[str, str], tmp_path: Path, argo: tuple[FakeArgoCD, FakeArgoCD]) -> Iterator[BotHarness]:
    """Argo CD tokens for integration and staging (each its own fake), none for production."""
    integration, staging = argo
    env = {
        **bot_env,
        "BOT_CONFIG": config(tmp_path, integration, staging),
        "ARGOCD_TOKEN_INTEGRATION": "argo-int",
        "ARGOCD_TOKEN_STAGING": "argo-stg",
        "RECONCILE_SECONDS": "0",
    }
    harness = BotHarness(env)
    try:
        yield harness
    finally:
        harness.stop()


def ask(bot: BotHarness, fake_slack: FakeSlack, text: str, name: str) -> tuple[str, str, float]:
    """(ack text, answer text, seconds from the command to the answer)."""
    started = time.monotonic()
    ack = ack_text(bot.slash(text, response_url=fake_slack.response_url(name)))
    assert time.monotonic() - started < ACK_LIMIT, "the ack must not wait for Argo CD or GitHub"
    (answer,) = fake_slack.wait_for_response(name, timeout=10)
    assert answer.get("response_type") == "ephemeral"
    return ack, answer["text"], time.monotonic() - started


def sync(bot: BotHarness, env: str, tag: str, state: str = "Succeeded", health: str = "Healthy") -> None:
    payload = {"application": "whitehall", "repoName": "whitehall", "environment": env, "state": state,
               "health": health, "imageTag": tag}  # fmt: skip
    assert bot.webhook("/webhooks/argocd", payload).status_code == 202


def deploy(bot: BotHarness, fake_slack: FakeSlack, text: str, name: str, user: str = MEMBER) -> str:
    bot.slash(text, user=user, response_url=fake_slack.response_url(name))
    bot.settle()
    return fake_slack.wait_for_response(name)[-1]["text"]


def section(text: str, env: str) -> str:
    """The lines of one environment, up to the next one's."""
    match = re.search(rf"• \*{env}\*:.*?(?=\n• |\Z)", text, re.S)
    assert match, text
    return match.group(0)


def test_status_after_a_deploy_a_sync_and_tests_shows_every_environment_and_the_gaps(
    status_bot: BotHarness, fake_slack: FakeSlack, fake_github: FakeGitHub, argo: tuple[FakeArgoCD, FakeArgoCD]
) -> None:
    integration, staging = argo
    assert "Committed" in deploy(status_bot, fake_slack, "whitehall v3233 integration", "deploy")
    sync(status_bot, "integration", "v3233")
    assert (
        status_bot.webhook("/webhooks/smokey", smokey_payload("whitehall", "integration", "v3233")).status_code == 202
    )
    status_bot.settle()
    integration.set_app("whitehall", image_tag="v3233")
    integration.set_app("draft-whitehall", image_tag="v3233", repo_name="whitehall", phase="Failed")  # a draft stack
    integration.set_app("router", image_tag="v512")
    staging.set_app("whitehall", image_tag="v3231", phase="Failed", health="Degraded")
    fake_github.set_compare("whitehall", "v3231", "v3233", ahead_by=2)  # staging is 2 behind integration
    fake_github.set_compare("whitehall", "v3230", "v3231", ahead_by=1)  # production is 1 behind staging

    ack, text, seconds = ask(status_bot, fake_slack, "status whitehall", "status")

    assert "Looking up where *whitehall* stands" in ack
    assert seconds < ANSWER_LIMIT
    first = section(text, "integration")
    assert "`v3233`" in first
    assert "Argo CD: whitehall Succeeded, Healthy" in first and "draft-whitehall" not in first
    assert re.search(r"Deployed by <@U012AB3CD> on \d+ \w+ \d\d:\d\d UTC · tests passed", first), first
    assert (
        "staging is 2 commits behind integration · <https://github.com/alphagov/whitehall/compare/v3231...v3233|compare on GitHub>"
        in first
    )  # noqa: E501
    second = section(text, "staging")
    assert "`v3231`" in second and "Argo CD: whitehall Failed, Degraded" in second
    assert "The bot has no record of deploying `v3231` here" in second
    assert "production is 1 commit behind staging" in second
    third = section(text, "production")
    assert "`v3230`" in third and "Argo CD: not read (the bot has no `ARGOCD_TOKEN_PRODUCTION`)" in third
    # one Argo CD read per environment with a token, one compare per pair, each with the bot's own token
    assert [r.headers["authorization"] for r in integration.list_requests()] == ["Bearer argo-int"]
    assert [r.headers["authorization"] for r in staging.list_requests()] == ["Bearer argo-stg"]
    compares = fake_github.compare_requests()
    assert sorted(r.path for r in compares) == [
        "/repos/alphagov/whitehall/compare/v3230...v3231",
        "/repos/alphagov/whitehall/compare/v3231...v3233",
    ]
    assert {r.headers["authorization"] for r in compares} == {"Bearer ghs-test-token"}


def test_github_and_argocd_failing_or_slow_leave_a_line_each_and_the_answer_still_comes_in_time(
    status_bot: BotHarness, fake_slack: FakeSlack, fake_github: FakeGitHub, argo: tuple[FakeArgoCD, FakeArgoCD]
) -> None:
    integration, staging = argo
    integration.slow_seconds = 6
    staging.fail_status = 503
    fake_github.set_compare("whitehall", "v3231", "v3232", ahead_by=1, slow_seconds=6)
    fake_github.set_compare("whitehall", "v3230", "v3231", ahead_by=1, fail_status=502)

    _, text, seconds = ask(status_bot, fake_slack, "status whitehall", "slow")

    assert seconds < ANSWER_LIMIT, seconds
    assert "Argo CD didn't answer: timed out" in section(text, "integration")
    assert "Argo CD didn't answer: answered 503" in section(text, "staging")
    assert "GitHub didn't answer: no answer within 2 s (commits between integration and staging)" in text
    assert "GitHub didn't answer: it answered 502 (commits between staging and production)" in text
    assert "`v3232`" in text and "`v3231`" in text and "`v3230`" in text  # the charts repo's tags are all there


def test_junk_from_github_and_argocd_is_a_line_too(
    status_bot: BotHarness, fake_slack: FakeSlack, fake_github: FakeGitHub, argo: tuple[FakeArgoCD, FakeArgoCD]
) -> None:
    integration, staging = argo
    integration.junk = "not_json"
    staging.junk = "missing_fields"
    fake_github.set_compare("whitehall", "v3231", "v3232", ahead_by=1, junk="not_json")
    fake_github.set_compare("whitehall", "v3230", "v3231", ahead_by=1, junk="missing_fields")

    _, text, _ = ask(status_bot, fake_slack, "status whitehall", "junk")

    assert "Argo CD didn't answer: not JSON" in section(text, "integration")
    assert "Argo CD didn't answer: lacks items" in section(text, "staging")
    assert "GitHub didn't answer: its answer was not JSON" in text
    assert "GitHub didn't answer: its answer lacked the commit counts" in text


def test_a_tag_github_does_not_know_and_a_later_environment_ahead_are_said_plainly(
    status_bot: BotHarness, fake_slack: FakeSlack, fake_github: FakeGitHub
) -> None:
    fake_github.set_compare("whitehall", "v3230", "v3231", ahead_by=0, behind_by=3)  # production ahead of staging
    _, text, _ = ask(status_bot, fake_slack, "status whitehall", "unknown")
    assert "GitHub didn't answer: it doesn't know alphagov/whitehall at v3231 or v3232 (404)" in text
    assert "production is 3 commits ahead of staging" in text


def test_history_after_several_deploys_lists_them_newest_first_with_how_each_ended(
    bot: BotHarness, fake_slack: FakeSlack, fake_github: FakeGitHub
) -> None:
    deploy(bot, fake_slack, "whitehall v3233 integration", "d1")
    sync(bot, "integration", "v3233")
    bot.webhook("/webhooks/smokey", smokey_payload("whitehall", "integration", "v3233"))
    bot.fake_clock.advance(60)
    deploy(bot, fake_slack, "whitehall v3233 staging", "d2")
    sync(bot, "staging", "v3233", "Failed")
    bot.fake_clock.advance(60)
    deploy(bot, fake_slack, "whitehall v3234 integration", "d3")
    bot.fake_clock.advance(60)
    deploy(bot, fake_slack, "whitehall v3234 production", "d4", user=OUTSIDER)  # refused: not in the team
    deploy(bot, fake_slack, "router v1 integration", "d5")  # another app: not in whitehall's history
    bot.settle()

    _, text, _ = ask(bot, fake_slack, "history whitehall", "history")
    lines = text.splitlines()
    assert lines[0] == "The last 4 deploys of *whitehall*, newest first:"
    assert lines[1].startswith(":x: `v3234` to *production* by <@U0OUTSIDE> on ")
    assert ": refused: You can't deploy to production" in lines[1]
    assert lines[2].startswith(":hourglass_flowing_sand: `v3234` to *integration* by <@U012AB3CD> on ")
    assert lines[2].endswith(": committed, no sync outcome yet")
    assert lines[3].startswith(":x: `v3233` to *staging* by <@U012AB3CD>") and lines[3].endswith(
        "committed · sync failed"
    )
    assert lines[4].endswith("committed · synced · tests passed")
    assert len(lines) == 5

    _, staging_only, _ = ask(bot, fake_slack, "history whitehall staging", "history-staging")
    assert staging_only.splitlines()[1:] == [lines[3]]


def test_stats_over_a_history_made_with_the_clock_and_the_same_figures_in_metrics(
    bot: BotHarness, fake_slack: FakeSlack
) -> None:
    deploy(bot, fake_slack, "whitehall v3233 integration", "s1")
    bot.fake_clock.advance(2 * 3600)
    deploy(bot, fake_slack, "whitehall v3233 production", "s2")  # lead time 2h
    sync(bot, "production", "v3233", "Failed")  # a failed deploy
    bot.fake_clock.advance(30 * 60)
    deploy(bot, fake_slack, "whitehall v3234 production", "s3")  # first deployed there: lead time 0
    sync(bot, "production", "v3234")  # healthy 30 minutes after the failure
    bot.settle()

    _, text, _ = ask(bot, fake_slack, "stats", "stats")
    # 2 deploys to production, 1 failed = 50%; lead times 2h and 0 -> median 1h; restore 30m
    newest_week = text.splitlines()[1]
    assert newest_week.endswith(": 2 deploys · lead time 1h · change failure rate 50% (1 of 2) · time to restore 30m")
    metrics = bot.http.get("/metrics").text

    def gauge(name: str, period: str) -> float:
        found = re.search(rf'^{name}{{period="{period}"}} (\S+)$', metrics, re.M)
        assert found, metrics
        return float(found.group(1))

    assert gauge("deploybot_last_environment_deploys", "7d") == 2
    assert gauge("deploybot_change_failure_rate", "28d") == 0.5
    # the fake clock moves on real time between commands too: a few seconds over the advanced hours
    assert gauge("deploybot_lead_time_median_seconds", "7d") == pytest.approx(3600, abs=30)
    assert gauge("deploybot_time_to_restore_median_seconds", "7d") == pytest.approx(1800, abs=30)

    _, router, _ = ask(bot, fake_slack, "stats router", "stats-router")
    assert "Delivery figures of *router*" in router and ": 0 deploys · lead time —" in router


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("status whitehal", "There is no app called `whitehal` in any environment. Did you mean `whitehall`?"),
        ("status ../etc", "is not an app name"),
        ("history whitehall nowhere", "I don't know the environment `nowhere`"),
        ("history whitehall staging now", "Say which app, and optionally which environment"),
        ("stats whitehall staging", "Stats take at most one app"),
        ("status", "Say which app: `/deploy status <app>`"),
    ],
)
def test_bad_lookups_are_told_at_once_and_nothing_else_happens(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote, text: str, says: str
) -> None:
    head = charts_remote.head()
    ack = ack_text(bot.slash(text, response_url=fake_slack.response_url("bad")))
    assert says in ack
    bot.settle()
    time.sleep(0.2)
    assert fake_slack.responses.get("bad") is None
    assert charts_remote.head() == head
    assert fake_slack.count("chat.postMessage") == 0


def test_status_tells_of_a_store_that_is_down_in_its_line_not_by_failing(
    status_bot: BotHarness, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    def store_down(app: str, tag: str) -> None:
        raise ConnectionError("store down")

    monkeypatch.setattr(status_bot.services.book, "get", store_down)
    _, text, _ = ask(status_bot, fake_slack, "status whitehall", "store-down")
    assert "Who deployed it: unknown (the state store is unavailable)" in text
    assert "`v3232`" in text
