"""A crash is no reason for a deploy to fail (issue 13; section 5 of the contract).

A burst of people deploy at once; every request is acknowledged; then the bot's process is
killed (SIGKILL) at one step or another of their way. Whether the same process restarts or a
second replica takes over, every acknowledged deploy must land exactly once and its requester
be told exactly once, never "failed" because of the crash, and never silence.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.fakes import FakeGitHub, FakeSlack
from tests.support.app import (
    INTEGRATION_ONLY,
    MEMBER,
    ServeProcess,
    add_standard_members,
    bot_environment,
    run_concurrently,
)
from tests.support.charts import DEFAULT_APPS, ChartsRemote

APPS = sorted(DEFAULT_APPS["integration"])  # eight apps: one deploy each, so none overtakes another


def _env(tmp_path: Path, fake_slack, fake_github, charts_remote, redis_url, redis_prefix, name: str) -> dict:
    add_standard_members(fake_github)
    folder = tmp_path / name
    folder.mkdir()
    return bot_environment(
        tmp_path=folder,
        fake_slack=fake_slack,
        fake_github=fake_github,
        charts_url=charts_remote.url,
        redis_url=redis_url,
        redis_prefix=redis_prefix,
    )


def _burst(bot: ServeProcess, slack: FakeSlack) -> list[str]:
    """Eight /deploy commands at once; the names of the requests that were acknowledged."""
    calls = [
        lambda app=app, n=n: bot.slash(
            f"{app} v77{n:02d} integration", user=MEMBER, response_url=slack.response_url(app)
        )
        for n, app in enumerate(APPS)
    ]
    answers = run_concurrently(calls)
    acknowledged = [app for app, answer in zip(APPS, answers, strict=True) if "Deploying" in answer.text]
    assert acknowledged == APPS, [a.text for a in answers]
    return acknowledged


def _wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _kill_when(moment: str, bot: ServeProcess, charts_remote: ChartsRemote, fake_github: FakeGitHub, tmp_path) -> None:
    marker = tmp_path / "pushed"
    if moment == "right after the acks":
        time.sleep(0.05)
    elif moment == "during the team check":
        time.sleep(0.5)  # GitHub takes 2 s to answer each membership question
    elif moment == "between commit and push":
        _wait_until(marker.exists, 30, "the push never started")
    elif moment == "after the push, before the reply":
        _wait_until(marker.exists, 30, "nothing was pushed")
    bot.kill(with_children=True)


def _arrange(moment: str, charts_remote: ChartsRemote, fake_github: FakeGitHub, fake_slack: FakeSlack, tmp_path):
    marker = tmp_path / "pushed"
    if moment == "during the team check":
        fake_github.slow_seconds = 2
    elif moment == "between commit and push":
        hook = charts_remote.path / "hooks" / "pre-receive"
        hook.write_text(f"#!/bin/sh\ntouch {marker}\nsleep 3\n")
        hook.chmod(0o755)
    elif moment == "after the push, before the reply":
        hook = charts_remote.path / "hooks" / "post-receive"
        hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
        hook.chmod(0o755)
        fake_slack.latency_seconds = 1.5  # replies and cards are slow to leave


def _heal(charts_remote: ChartsRemote, fake_github: FakeGitHub, fake_slack: FakeSlack) -> None:
    fake_github.slow_seconds = 0
    fake_slack.latency_seconds = 0
    for hook in ("pre-receive", "post-receive"):
        (charts_remote.path / "hooks" / hook).unlink(missing_ok=True)


MOMENTS = [
    "right after the acks",
    "during the team check",
    "between commit and push",
    "after the push, before the reply",
]


@pytest.mark.parametrize("takeover", ["same process restarted", "second replica"])
@pytest.mark.parametrize("moment", MOMENTS)
def test_every_acknowledged_deploy_lands_once_and_is_told_once_whenever_the_bot_dies(
    tmp_path, fake_slack, fake_github, charts_remote, redis_url, redis_prefix, moment, takeover
) -> None:
    env = _env(tmp_path, fake_slack, fake_github, charts_remote, redis_url, redis_prefix, "first")
    commits = charts_remote.commit_count()
    survivor = None
    if takeover == "second replica":
        other = _env(tmp_path, fake_slack, fake_github, charts_remote, redis_url, redis_prefix, "second")
        survivor = ServeProcess(other, log_path=tmp_path / "second.log")
    first = ServeProcess(env, log_path=tmp_path / "first.log")
    try:
        _arrange(moment, charts_remote, fake_github, fake_slack, tmp_path)
        acknowledged = _burst(first, fake_slack)
        _kill_when(moment, first, charts_remote, fake_github, tmp_path)
        _heal(charts_remote, fake_github, fake_slack)
        if survivor is None:
            survivor = ServeProcess(env, log_path=tmp_path / "restarted.log")

        def all_told() -> bool:
            return all(fake_slack.responses.get(app) for app in acknowledged)

        _wait_until(all_told, 60, f"not every requester was told: {sorted(fake_slack.responses)}")
        time.sleep(1.5)  # room for a second, contradicting answer, which must not come
        subjects = [subject for _, subject, _ in charts_remote.log()]
        for n, app in enumerate(APPS):
            told = [r["text"] for r in fake_slack.responses[app]]
            if moment == "after the push, before the reply":
                # a reply already on its way when the process died may or may not have reached Slack: it is
                # said again rather than risk silence, the same words, never a contradicting one
                assert 1 <= len(told) <= 2 and len(set(told)) == 1 and "Committed" in told[0], (app, told)
            else:
                assert len(told) == 1 and "Committed" in told[0], (app, told)
            assert subjects.count(f"Update {app} image tag to v77{n:02d} for integration") == 1, app
        assert charts_remote.commit_count() == commits + len(APPS)
    finally:
        _heal(charts_remote, fake_github, fake_slack)
        if survivor is not None:
            survivor.stop()
        if first.process.poll() is None:
            first.stop()


def test_a_request_older_than_ten_minutes_at_recovery_is_reported_as_not_done(bot, fake_slack, charts_remote) -> None:
    from bot.deploys.request import DeployRequest
    from bot.releases.model import Requester

    request = DeployRequest(
        app="router", env="integration", tag="v7800", requester=Requester(MEMBER, "octocat"),
        response_url=fake_slack.response_url("old"),
    )  # fmt: skip
    journal = bot.services.deployer.journal
    journal.record(request, bot.fake_clock() - 11 * 60)
    bot.services.store.client.hset(journal._key("owners"), request.deploy_id, "a-replica-that-died")
    assert bot.services.deployer.recover() == 1
    bot.settle()
    [told] = fake_slack.wait_for_response("old", timeout=30)
    assert "was not done" in told["text"] and "10 minutes" in told["text"]
    assert "v7800" not in charts_remote.read("integration", "router")


def test_a_request_overtaken_by_a_newer_deploy_is_reported_as_not_done(bot, fake_slack, charts_remote) -> None:
    from bot.deploys.request import DeployRequest
    from bot.releases.model import Requester

    def request(tag: str, name: str) -> DeployRequest:
        return DeployRequest(
            app="router", env="integration", tag=tag, requester=Requester(MEMBER, "octocat"),
            response_url=fake_slack.response_url(name),
        )  # fmt: skip

    journal = bot.services.deployer.journal
    older, newer = request("v7801", "older"), request("v7802", "newer")
    journal.record(older, bot.fake_clock())
    journal.record(newer, bot.fake_clock())
    for dead in (older, newer):
        bot.services.store.client.hset(journal._key("owners"), dead.deploy_id, "a-replica-that-died")
    assert bot.services.deployer.recover() == 2
    bot.settle()
    assert "newer deploy" in fake_slack.wait_for_response("older", timeout=30)[0]["text"]
    assert "Committed" in fake_slack.wait_for_response("newer", timeout=30)[0]["text"]
    assert "v7802" in charts_remote.read("integration", "router")


@pytest.mark.parametrize("group", [False, True], ids=["bot-paused", "bot-and-git-paused"])
def test_a_paused_replica_whose_deploy_was_taken_over_neither_pushes_nor_speaks_again(
    tmp_path, fake_slack, fake_github, charts_remote, redis_url, redis_prefix, group
) -> None:
    """Review fault 6: a replica paused (SIGSTOP) past its heartbeat while pushing; another takes over."""
    import os
    import signal

    marker = tmp_path / "pushed"
    hook = charts_remote.path / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\nsleep 2\n")
    hook.chmod(0o755)
    commits = charts_remote.commit_count()
    paused = ServeProcess(
        _env(tmp_path, fake_slack, fake_github, charts_remote, redis_url, redis_prefix, "a"),
        log_path=tmp_path / "a.log",
    )
    other = ServeProcess(
        _env(tmp_path, fake_slack, fake_github, charts_remote, redis_url, redis_prefix, "b"),
        log_path=tmp_path / "b.log",
    )
    try:
        paused.slash("router v7900 integration", user=MEMBER, response_url=fake_slack.response_url("paused"))
        _wait_until(marker.exists, 30, "the push never started")
        stop = (lambda sig: os.killpg(paused.process.pid, sig)) if group else paused.process.send_signal
        stop(signal.SIGSTOP)
        hook.unlink()
        try:
            _wait_until(lambda: fake_slack.responses.get("paused"), 60, "the other replica never answered")
        finally:
            stop(signal.SIGCONT)
        time.sleep(4)  # the paused replica wakes and finishes what it was doing
        told = [r["text"] for r in fake_slack.responses["paused"]]
        assert len(told) == 1 and "Committed" in told[0], told
        subjects = [subject for _, subject, _ in charts_remote.log()]
        assert subjects.count("Update router image tag to v7900 for integration") == 1
        assert charts_remote.commit_count() == commits + 1
    finally:
        hook.unlink(missing_ok=True)
        paused.stop()
        other.stop()


# -- every other acknowledged action: a rollback, a freeze, an approval (issue 18) ------------------------------

SECOND_MEMBER = "U0MEMBER2"  # hubot: in gov-uk and gov-uk-production
APPROVALS_CONFIG = """environments:
  - {name: integration, team: gov-uk}
  - {name: staging, team: gov-uk-production}
  - {name: production, team: gov-uk-production, approvals_required: 1}
users:
  U012AB3CD: octocat
  U0INTEG01: integrator
  U0MEMBER2: hubot
"""


def _told(slack: FakeSlack, name: str) -> list[str]:
    return [r["text"] for r in slack.responses.get(name, [])]


def _prepare_rollback(bot: ServeProcess, slack: FakeSlack) -> None:
    for n, tag in enumerate(("v7501", "v7502")):
        bot.slash(f"router {tag} integration", user=MEMBER, response_url=slack.response_url(f"d{n}"))
        assert slack.wait_for_response(f"d{n}", timeout=30) and "Committed" in _told(slack, f"d{n}")[0]


def _prepare_approval(bot: ServeProcess, slack: FakeSlack) -> str:
    """A member's deploy to production, waiting for a second member: the approve button's value."""
    bot.slash("whitehall v7601 production", user=MEMBER, response_url=slack.response_url("requester"))
    assert "second member" in slack.wait_for_response("requester", timeout=30)[0]["text"]
    assert slack.wait_until(lambda: [m for m in slack.roots() if "asks to deploy" in m.text], timeout=30)
    [notice] = [m for m in slack.roots() if "asks to deploy" in m.text]
    return notice.button("approve")["value"]


@pytest.mark.parametrize("takeover", ["same process restarted", "second replica"])
@pytest.mark.parametrize("action", ["rollback", "freeze", "approval"])
def test_every_acknowledged_action_lands_once_and_is_told_once_when_the_bot_dies_right_after_its_ack(
    tmp_path, fake_slack, fake_github, charts_remote, redis_url, redis_prefix, action, takeover
) -> None:
    from tests.support.slack_requests import block_actions_body

    fake_github.add_member("gov-uk", "hubot")
    fake_github.add_member("gov-uk-production", "hubot")
    config = tmp_path / "approvals.yaml"
    config.write_text(APPROVALS_CONFIG, encoding="utf-8")
    env = {**_env(tmp_path, fake_slack, fake_github, charts_remote, redis_url, redis_prefix, "first")}
    env["BOT_CONFIG"] = str(config)
    survivor = None
    if takeover == "second replica":
        other = _env(tmp_path, fake_slack, fake_github, charts_remote, redis_url, redis_prefix, "second")
        survivor = ServeProcess({**other, "BOT_CONFIG": str(config)}, log_path=tmp_path / "second.log")
    first = ServeProcess(env, log_path=tmp_path / "first.log")
    try:
        approve = _prepare_approval(first, fake_slack) if action == "approval" else None
        if action == "rollback":
            _prepare_rollback(first, fake_slack)
        commits = charts_remote.commit_count()
        fake_github.slow_seconds = 3  # the team check of whoever acts now (not yet cached) is under way at the kill
        if action == "rollback":  # the integrator's first team check: the rollback's own, not a cached one
            ack = first.slash(
                "rollback router integration", user=INTEGRATION_ONLY, response_url=fake_slack.response_url("acted")
            )
            assert "Rolling back" in ack.json()["text"], ack.text
        elif action == "freeze":
            ack = first.slash(
                "freeze whitehall staging incident", user=MEMBER, response_url=fake_slack.response_url("acted")
            )
            assert "Freezing" in ack.json()["text"], ack.text
        else:
            body = block_actions_body(
                "approve", approve, user_id=SECOND_MEMBER, response_url=fake_slack.response_url("acted")
            )
            assert first.slack(body).status_code == 200
        time.sleep(0.5)
        first.kill(with_children=True)
        assert not _told(fake_slack, "acted"), "it had ended before the kill: the test proves nothing"
        fake_github.slow_seconds = 0
        if survivor is None:
            survivor = ServeProcess(env, log_path=tmp_path / "restarted.log")

        _wait_until(lambda: _told(fake_slack, "acted"), 60, "the person who acted was never told")
        if action == "approval":
            _wait_until(
                lambda: len(_told(fake_slack, "requester")) >= 3, 60, f"requester: {_told(fake_slack, 'requester')}"
            )
        time.sleep(2)  # room for a second answer, which must not come
        acted = _told(fake_slack, "acted")
        assert len(acted) == 1, acted
        if action == "rollback":
            assert "Committed" in acted[0] and "v7501" in acted[0], acted
            assert charts_remote.read("integration", "router").startswith("image_tag: v7501")
            assert charts_remote.commit_count() == commits + 1
            assert [subject for _, subject, _ in charts_remote.log(1)] == [
                "Update router image tag to v7501 for integration"
            ]
        elif action == "freeze":
            assert "Froze whitehall in staging" in acted[0], acted
            snowflakes = [m.text for m in fake_slack.roots() if m.text.startswith(":snowflake:")]
            assert len(snowflakes) == 1, snowflakes
            refused = first_refusal(survivor, fake_slack)
            assert "frozen" in refused, refused
            assert charts_remote.commit_count() == commits
        else:
            told = _told(fake_slack, "requester")
            assert len(told) == 3 and "approved" in told[1] and "Committed" in told[2], told
            assert charts_remote.read("production", "whitehall").startswith("image_tag: v7601")
            assert charts_remote.commit_count() == commits + 1
            assert f"Approved-by: hubot ({SECOND_MEMBER})" in charts_remote.log(1)[0][2].splitlines()
    finally:
        fake_github.slow_seconds = 0
        if survivor is not None:
            survivor.stop()
        if first.process.poll() is None:
            first.stop()


def first_refusal(bot: ServeProcess, slack: FakeSlack) -> str:
    bot.slash("whitehall v7602 staging", user=MEMBER, response_url=slack.response_url("after"))
    return slack.wait_for_response("after", timeout=30)[0]["text"]
