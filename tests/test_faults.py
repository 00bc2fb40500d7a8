"""Faults: the store going away and coming back, the charts remote refusing or vanishing, and
the bot killed between commit and push. Nothing is half-done and every requester hears back."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.fakes import FakeGitHub, FakeSlack
from tests.support.app import BotHarness, ServeProcess, add_standard_members, bot_environment
from tests.support.charts import ChartsRemote
from tests.support.local_servers import free_port, throwaway_redis


class StoppableRedis:
    """A redis-server of this test's own that can be stopped and started again on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self._running: ExitStack | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self._running = ExitStack()
        self._running.enter_context(throwaway_redis(self.port))

    def stop(self) -> None:
        if self._running is not None:
            self._running.close()
            self._running = None


@pytest.fixture
def own_redis() -> Iterator[StoppableRedis]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is needed for the fault tests (.ci/run installs it)")
    server = StoppableRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _env(
    tmp_path: Path, fake_slack: FakeSlack, fake_github: FakeGitHub, charts: ChartsRemote, redis_url: str, prefix: str
):
    add_standard_members(fake_github)
    return bot_environment(
        tmp_path=tmp_path,
        fake_slack=fake_slack,
        fake_github=fake_github,
        charts_url=charts.url,
        redis_url=redis_url,
        redis_prefix=prefix,
    )


def test_store_down_refuses_clearly_changes_nothing_and_recovers(
    tmp_path, fake_slack, fake_github, charts_remote, own_redis
):
    bot = BotHarness(_env(tmp_path, fake_slack, fake_github, charts_remote, own_redis.url, "fault:"))
    try:
        commits = charts_remote.commit_count()
        own_redis.stop()

        answer = bot.slash("whitehall v9001 integration")
        assert answer.status_code == 200
        assert "state store is unavailable" in answer.json()["text"]
        assert bot.http.get("/readyz").status_code == 503
        assert "state store unavailable" in bot.http.get("/readyz").json()["error"]
        event = {"application": "whitehall", "environment": "integration", "state": "Running", "imageTag": "v9001"}
        assert bot.webhook("/webhooks/argocd", event).status_code == 503
        assert charts_remote.commit_count() == commits

        own_redis.start()  # same port, empty: the bot reconnects by itself
        assert bot.http.get("/readyz").status_code == 200
        answer = bot.slash("whitehall v9001 integration", response_url=fake_slack.response_url("after"))
        assert "Deploying" in answer.json()["text"]
        replies = fake_slack.wait_for_response("after", timeout=30)
        assert "Committed" in replies[0]["text"]
        assert charts_remote.commit_count() == commits + 1
        assert bot.webhook("/webhooks/argocd", event).status_code == 202
    finally:
        bot.stop()


def test_unreachable_charts_remote_tells_requester_and_card_and_commits_nothing(
    tmp_path, fake_slack, fake_github, charts_remote, redis_url, redis_prefix
):
    bot = BotHarness(_env(tmp_path, fake_slack, fake_github, charts_remote, redis_url, redis_prefix))
    try:
        moved = charts_remote.path.with_name("moved.git")
        charts_remote.path.rename(moved)
        bot.slash("whitehall v9002 integration", response_url=fake_slack.response_url("gone"))
        reply = fake_slack.wait_for_response("gone", timeout=30)[0]["text"]
        assert "failed" in reply and "Nothing was committed" in reply
        bot.settle()
        card = fake_slack.roots()[0]
        assert "deploy failed" in card.all_text()
        assert any("failed" in r.text and r.reply_broadcast for r in fake_slack.replies(card.ts))
        moved.rename(charts_remote.path)
        assert "v9002" not in charts_remote.read("integration", "whitehall")
    finally:
        bot.stop()


def test_remote_rejecting_the_push_is_reported_and_nothing_is_left_half_done(
    tmp_path, fake_slack, fake_github, charts_remote, redis_url, redis_prefix
):
    hook = charts_remote.path / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'protected branch: pushes are refused' >&2\nexit 1\n")
    hook.chmod(0o755)
    bot = BotHarness(_env(tmp_path, fake_slack, fake_github, charts_remote, redis_url, redis_prefix))
    try:
        commits = charts_remote.commit_count()
        bot.slash("whitehall v9003 integration", response_url=fake_slack.response_url("refused"))
        reply = fake_slack.wait_for_response("refused", timeout=30)[0]["text"]
        assert "failed" in reply
        assert charts_remote.commit_count() == commits
        hook.unlink()
        bot.slash("collections v9004 integration", response_url=fake_slack.response_url("ok"))
        assert "Committed" in fake_slack.wait_for_response("ok", timeout=30)[0]["text"]
        # the refused deploy's local commit was discarded, not pushed along with the next one
        assert charts_remote.commit_count() == commits + 1
        assert "v9003" not in charts_remote.read("integration", "whitehall")
    finally:
        bot.stop()


@pytest.mark.long(8)
@pytest.mark.parametrize("with_children", [False, True], ids=["bot-only", "bot-and-git"])
def test_killed_between_commit_and_push_lands_once_and_is_reported_once(
    tmp_path, fake_slack, fake_github, charts_remote, redis_url, redis_prefix, with_children
):
    started = tmp_path / "push-started"
    hook = charts_remote.path / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\ntouch {started}\nsleep 2\n")
    hook.chmod(0o755)
    env = _env(tmp_path, fake_slack, fake_github, charts_remote, redis_url, redis_prefix)
    commits = charts_remote.commit_count()
    first = ServeProcess(env, log_path=tmp_path / "first.log")
    try:
        first.slash("whitehall v9005 integration", response_url=fake_slack.response_url("killed"))
        deadline = time.monotonic() + 30
        while not started.exists():
            assert time.monotonic() < deadline, "the push never started"
            time.sleep(0.02)
    finally:
        first.kill(with_children=with_children)
    hook.unlink()
    time.sleep(2.5)  # let an orphaned push finish or die before looking

    second = ServeProcess(env, log_path=tmp_path / "second.log")
    try:
        replies = fake_slack.wait_for_response("killed", timeout=60)
        text = replies[0]["text"]
        # whether or not the dead replica's push got through, the deploy lands exactly once
        assert "v9005" in charts_remote.read("integration", "whitehall")
        assert charts_remote.commit_count() == commits + 1
        assert "Committed" in text
        assert len(replies) == 1  # told once, one way
        # the bot goes on deploying after the recovery: the dead replica's lock was freed
        second.slash("collections v9006 integration", response_url=fake_slack.response_url("next"))
        assert "Committed" in fake_slack.wait_for_response("next", timeout=60)[0]["text"]
        log = [subject for _, subject, _ in charts_remote.log()]
        assert log.count("Update whitehall image tag to v9005 for integration") == 1
    finally:
        second.stop()
