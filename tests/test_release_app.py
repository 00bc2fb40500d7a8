"""The Release app is told of every committed deploy (section 10.6), retried, never delaying a deploy.

A fake of GOV.UK's Release app (alphagov/release's `POST /deployments`, bearer token required)
runs on loopback. The retry intervals are the tests' tuning knobs (`Intervals`), so a retry
after "10 s" happens in a fraction of a second through the same code.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from bot.intervals import PRODUCTION_INTERVALS
from bot.metrics import Metrics
from bot.release_app import ReleaseApp
from bot.store import Store
from tests.fakes import FakeReleaseApp, FakeSlack
from tests.fakes.release_app import DEFAULT_TOKEN
from tests.support.app import MEMBER, BotHarness
from tests.support.local_servers import free_port

FAST = replace(
    PRODUCTION_INTERVALS,
    release_app_every=0.2,
    release_app_retry=0.2,
    release_app_backoff=0.5,
    release_app_give_up=3600,
)


@pytest.fixture
def release_app() -> Iterator[FakeReleaseApp]:
    fake = FakeReleaseApp().start()
    yield fake
    fake.stop()


def telling(bot_env: dict[str, str], url: str, token: str = DEFAULT_TOKEN) -> dict[str, str]:
    return {**bot_env, "RELEASE_URL": url, "RELEASE_API_TOKEN": token}


def deploy(bot: BotHarness, slack: FakeSlack, text: str, name: str) -> None:
    bot.slash(text, user=MEMBER, response_url=slack.response_url(name))
    assert "Committed" in slack.wait_for_response(name, timeout=30)[-1]["text"]


def test_a_persons_deploy_is_recorded_with_the_bearer_token(bot_env, fake_slack, release_app) -> None:
    bot = BotHarness(telling(bot_env, release_app.url), intervals=FAST)
    try:
        deploy(bot, fake_slack, "whitehall v4100 integration", "deploy")
        [recorded] = release_app.wait_for_deployments(1)
        [request] = release_app.requests
        assert request["method"] == "POST" and request["path"] == "/deployments"
        assert request["authorization"] == f"Bearer {DEFAULT_TOKEN}"
        assert request["content_type"] == "application/json"
        assert json.loads(request["body"]) == {
            "repo": "alphagov/whitehall",
            "deployment": {"environment": "integration", "version": "v4100"},
        }
        assert (recorded.repo, recorded.environment, recorded.version) == ("alphagov/whitehall", "integration", "v4100")
    finally:
        bot.stop()


def test_a_ci_deploy_is_recorded_without_the_release_prefix(bot_env, fake_slack, release_app) -> None:
    bot = BotHarness(telling(bot_env, release_app.url), intervals=FAST)
    try:
        payload = {"environment": "integration", "repoName": "collections", "imageTag": "release-4f2a9c1"}
        assert bot.webhook("/update-image-tag", payload).status_code == 202
        [recorded] = release_app.wait_for_deployments(1)
        assert (recorded.repo, recorded.environment, recorded.version) == (
            "alphagov/collections",
            "integration",
            "4f2a9c1",
        )
    finally:
        bot.stop()


def test_a_failed_call_is_retried_until_it_lands_and_counted(bot_env, fake_slack, release_app) -> None:
    release_app.fail_next(2, 503)
    bot = BotHarness(telling(bot_env, release_app.url), intervals=FAST)
    try:
        deploy(bot, fake_slack, "whitehall v4101 integration", "deploy")
        [recorded] = release_app.wait_for_deployments(1, timeout=20)
        assert recorded.version == "v4101"
        assert [r["status"] for r in release_app.requests] == [503, 503, 200]
        metrics = bot.http.get("/metrics").text
        assert 'deploybot_release_app_failures_total{next="retry"} 2.0' in metrics
    finally:
        bot.stop()


def test_a_release_app_that_is_down_never_delays_or_fails_the_deploy(bot_env, fake_slack) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    bot = BotHarness(telling(bot_env, closed), intervals=replace(FAST, release_app_retry=30))
    try:
        started = time.monotonic()
        deploy(bot, fake_slack, "whitehall v4102 integration", "deploy")
        assert time.monotonic() - started < 20
        bot.settle()
        assert bot.services.release_app.wait_idle(timeout=10)
        assert bot.services.release_app.waiting() == 1  # kept for the next try
    finally:
        bot.stop()


def test_the_queue_survives_a_restart(bot_env, fake_slack, release_app) -> None:
    release_app.fail_next(1, 502)
    first = BotHarness(telling(bot_env, release_app.url), intervals=replace(FAST, release_app_retry=3600))
    try:
        deploy(first, fake_slack, "whitehall v4103 integration", "deploy")
        assert release_app.wait_until(lambda: len(release_app.requests) == 1)
        assert first.services.release_app.wait_idle(timeout=10)
    finally:
        first.stop()
    assert release_app.deployments == []
    second = BotHarness(telling(bot_env, release_app.url), intervals=FAST)
    try:
        second.fake_clock.advance(3601)  # the retry is due now, as it would be an hour after the first try
        [recorded] = release_app.wait_for_deployments(1, timeout=20)
        assert recorded.version == "v4103"
    finally:
        second.stop()


def test_it_gives_up_an_hour_after_the_deploy(bot_env, fake_slack, release_app) -> None:
    release_app.fail_next(1000, 500)
    bot = BotHarness(telling(bot_env, release_app.url), intervals=FAST)
    try:
        deploy(bot, fake_slack, "whitehall v4104 integration", "deploy")
        assert release_app.wait_until(lambda: len(release_app.requests) >= 2)
        bot.fake_clock.advance(3600)
        assert release_app.wait_until(lambda: bot.services.release_app.waiting() == 0, timeout=20)
        tries = len(release_app.requests)
        time.sleep(1)  # five passes of the job: nothing more is sent
        assert len(release_app.requests) == tries
        assert 'deploybot_release_app_failures_total{next="gave_up"} 1.0' in bot.http.get("/metrics").text
    finally:
        bot.stop()


def test_a_wrong_token_is_refused_by_the_release_app_and_retried(bot_env, fake_slack, release_app) -> None:
    bot = BotHarness(telling(bot_env, release_app.url, token="not-the-release-token-000000000"), intervals=FAST)
    try:
        deploy(bot, fake_slack, "whitehall v4105 integration", "deploy")
        assert release_app.wait_until(lambda: len(release_app.requests) >= 2)
        assert {r["status"] for r in release_app.requests} == {401}
        assert release_app.deployments == []
    finally:
        bot.stop()


def test_without_the_settings_nothing_is_sent(bot, fake_slack, release_app) -> None:
    deploy(bot, fake_slack, "whitehall v4106 integration", "deploy")
    bot.settle()
    assert bot.services.release_app is None and release_app.requests == []


def test_an_automatic_promotion_and_a_rollback_are_recorded_too(bot_env, fake_slack, release_app) -> None:
    bot = BotHarness(telling(bot_env, release_app.url), intervals=FAST)
    try:
        sync = {"application": "frontend", "repoName": "frontend", "environment": "integration"}
        sync |= {"state": "Succeeded", "health": "Healthy", "imageTag": "v1810"}
        assert bot.webhook("/webhooks/argocd", sync).status_code in (200, 202)
        tests = {"application": "frontend", "repoName": "frontend", "environment": "integration"}
        tests |= {"imageTag": "v1810", "status": "Succeeded", "suite": "smokey"}
        assert bot.webhook("/webhooks/smokey", tests).status_code in (200, 202)
        [promoted] = release_app.wait_for_deployments(1, timeout=30)  # frontend's file promotes by itself
        assert (promoted.repo, promoted.environment, promoted.version) == ("alphagov/frontend", "staging", "v1810")
        bot.settle()
        deploy(bot, fake_slack, "whitehall v4107 integration", "deploy")
        bot.slash("rollback whitehall integration", user=MEMBER, response_url=fake_slack.response_url("rollback"))
        fake_slack.wait_for_response("rollback", timeout=30)
        recorded = release_app.wait_for_deployments(3, timeout=30)
        assert [(d.environment, d.version) for d in recorded[1:]] == [
            ("integration", "v4107"),
            ("integration", "v3232"),
        ]
    finally:
        bot.stop()


def _replica(store: Store, url: str, http: httpx.Client) -> ReleaseApp:
    return ReleaseApp(
        url=url, token=DEFAULT_TOKEN, store=store, http=http, clock=time.time, intervals=FAST, metrics=Metrics()
    )


def test_a_notice_still_in_flight_when_the_sending_lock_expires_is_not_sent_again_by_another_replica(
    redis_client, redis_prefix, release_app
) -> None:
    """A slow Release app can outlast the sending lock (a batch of slow calls does): the replica that
    takes the lock next must not send the notice the first one is still sending."""
    store = Store(redis_client, redis_prefix)
    with httpx.Client() as http:
        first, second = _replica(store, release_app.url, http), _replica(store, release_app.url, http)
        try:
            answer = release_app.stall_next()
            first.committed("whitehall", "v4108", "integration", "c0ffee")
            assert release_app.wait_until(lambda: release_app.arrived == 1)
            redis_client.delete(store.key("lock", "release-app"))  # its lock expired while the call hangs
            second.send_due()
            answer.set()
            assert first.wait_idle(timeout=20)
            assert release_app.arrived == 1
            assert len(release_app.deployments) == 1 and first.waiting() == 0
        finally:
            answer.set()
            first.stop()
            second.stop()


@pytest.mark.parametrize("status", [400, 422])
def test_a_notice_the_release_app_refuses_as_invalid_is_not_retried(bot_env, fake_slack, release_app, status) -> None:
    """Sending the same body again cannot make a 400 or 422 acceptable: it is dropped at once, logged and
    counted, where a 5xx (or 401, 429) is tried again."""
    release_app.fail_next(1, status)
    bot = BotHarness(telling(bot_env, release_app.url), intervals=FAST)
    try:
        deploy(bot, fake_slack, "whitehall v4109 integration", "deploy")
        assert release_app.wait_until(lambda: len(release_app.requests) >= 1)
        assert release_app.wait_until(lambda: bot.services.release_app.waiting() == 0, timeout=20)
        time.sleep(1)  # five passes of the job: nothing more is sent
        assert [r["status"] for r in release_app.requests] == [status]
        assert 'deploybot_release_app_failures_total{next="dropped"} 1.0' in bot.http.get("/metrics").text
    finally:
        bot.stop()


def test_a_committed_deploy_is_recorded_even_when_its_card_cannot_be_saved(bot_env, fake_slack, release_app) -> None:
    """The notice is queued before anything else that follows a commit (the requester's answer, which ends
    the request in the journal, and the card): a failure there, or a crash after the journal let the
    request go, must not lose it. Here the release's record in the store cannot be read (wrong type)."""
    bot = BotHarness(telling(bot_env, release_app.url), intervals=FAST)
    try:
        bot.services.store.client.hset(bot.services.store.key("release", "whitehall", "v4110"), "x", "1")
        deploy(bot, fake_slack, "whitehall v4110 integration", "deploy")
        [recorded] = release_app.wait_for_deployments(1, timeout=20)
        assert (recorded.environment, recorded.version) == ("integration", "v4110")
    finally:
        bot.stop()


def test_a_deploy_reported_again_after_its_notice_was_delivered_is_not_told_twice(
    redis_client, redis_prefix, release_app
) -> None:
    """Recovery reports a deploy that had landed again when its replica died before the journal let it go;
    its notice, queued and perhaps delivered before the crash, is sent once."""
    store = Store(redis_client, redis_prefix)
    with httpx.Client() as http:
        app = _replica(store, release_app.url, http)
        try:
            app.committed("whitehall", "v4111", "integration", "c0ffee")
            release_app.wait_for_deployments(1)
            assert app.wait_idle(timeout=20)
            app.committed("whitehall", "v4111", "integration", "c0ffee")
            assert app.wait_idle(timeout=20)
            app.send_due()
            assert release_app.arrived == 1 and app.waiting() == 0
        finally:
            app.stop()


def test_stopping_waits_for_the_call_in_flight_only(redis_client, redis_prefix, release_app) -> None:
    """A replica shutting down while the Release app is slow finishes the call it is making and sends
    nothing more: what is left stays queued for the next pass of any replica."""
    import threading

    store = Store(redis_client, redis_prefix)
    first_answer, second_answer = release_app.stall_next(), release_app.stall_next()
    with httpx.Client() as http:
        app = _replica(store, release_app.url, http)
        try:
            app.committed("whitehall", "v4112", "integration", "c0ffee1")
            assert release_app.wait_until(lambda: release_app.arrived == 1)
            app.committed("whitehall", "v4113", "integration", "c0ffee2")
            stopped = threading.Event()
            threading.Thread(target=lambda: (app.stop(), stopped.set()), daemon=True).start()
            deadline = time.monotonic() + 20
            while not app.stopping:  # stop() has begun: only now may the slow call end
                assert time.monotonic() < deadline
                time.sleep(0.05)
            first_answer.set()
            assert stopped.wait(10), "stop() was still waiting on a second slow call"
            assert release_app.arrived == 1 and app.waiting() == 1
        finally:
            first_answer.set()
            second_answer.set()
            app.stop()
