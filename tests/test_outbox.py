"""The Slack outbox from outside (issue 3): 429s, 5xx, pacing and coalescing.

Every write reaches the loopback fake Slack through the real HTTP app. The fake answers 429 with
`Retry-After`, fails with 5xx or by dropping the connection (before or after the message landed),
or enforces one `chat.postMessage` per second per channel; whatever it does, every card ends
right, nothing is lost and nothing is posted twice.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from tests.fakes import FakeSlack, SlackMessage
from tests.support.app import BotHarness
from tests.support.cards import card_states

ARGO = "/webhooks/argocd"
SMOKEY = "/webhooks/smokey"
CHANNEL = "govuk-deploy-alerts"


def argocd(tag: str, env: str, state: str, health: str | None = "Healthy", *, app: str = "whitehall") -> dict[str, Any]:
    body = {"application": app, "environment": env, "state": state, "imageTag": tag, "message": f"sync {state}"}
    if health:
        body["health"] = health
    return body


def smokey(tag: str, env: str, status: str, *, app: str = "whitehall") -> dict[str, Any]:
    return {
        "application": app,
        "environment": env,
        "imageTag": tag,
        "status": status,
        "workflowUrl": f"https://argo-workflows.eks.{env}.govuk.digital/workflows/apps/post-sync-1",
        "failures": ["the homepage loads"] if status != "Succeeded" else [],
    }


def send(bot: BotHarness, path: str, body: dict[str, Any]) -> None:
    response = bot.webhook(path, body)
    assert response.status_code == 202, response.text


def ok_posts(slack: FakeSlack, *, replies: bool) -> list[dict[str, Any]]:
    return [
        call.params
        for call in slack.call_log
        if call.method == "chat.postMessage" and call.error is None and bool(call.params.get("thread_ts")) == replies
    ]


def card(slack: FakeSlack, tag: str) -> SlackMessage:
    cards = [root for root in slack.roots(CHANNEL) if tag in root.text]
    assert len(cards) == 1, [root.text for root in slack.roots()]
    return cards[0]


def wait_for(slack: FakeSlack, predicate: Any, timeout: float = 10.0) -> float:
    """Block until `predicate()` holds; return the monotonic time it did."""
    assert slack.wait_until(predicate, timeout=timeout), "timed out"
    return time.monotonic()


def failed_calls(slack: FakeSlack, method: str) -> int:
    return sum(1 for call in slack.call_log if call.method == method and call.error is not None)


# -- 429 -------------------------------------------------------------------------------------------


def test_429_on_the_root_post_waits_for_retry_after_then_posts_once(bot: BotHarness, fake_slack: FakeSlack) -> None:
    fake_slack.fail_next("chat.postMessage", 429, retry_after=2)
    send(bot, ARGO, argocd("v8001", "integration", "Running", "Progressing"))
    limited_at = wait_for(fake_slack, lambda: fake_slack.count("chat.postMessage") == 1)
    posted_at = wait_for(fake_slack, lambda: fake_slack.count("chat.postMessage", ok_only=True) == 1)
    bot.settle()
    assert posted_at - limited_at >= 1.5, "retried before Retry-After had passed"
    assert fake_slack.count("chat.postMessage") == 2  # the 429 and the post: no hammering in between
    assert fake_slack.ratelimited_by_method == {"chat.postMessage": 1}
    assert card_states(card(fake_slack, "v8001").text)["integration"] == "syncing"
    assert len(fake_slack.roots()) == 1


def test_an_event_during_a_retry_after_wait_does_not_cut_the_wait_short(bot: BotHarness, fake_slack: FakeSlack) -> None:
    fake_slack.fail_next("chat.postMessage", 429, retry_after=2)
    send(bot, ARGO, argocd("v8001", "integration", "Running", "Progressing"))
    limited_at = wait_for(fake_slack, lambda: fake_slack.count("chat.postMessage") == 1)
    # a change that arrives during the wait is not lost: it joins the one post, after the wait
    send(bot, ARGO, argocd("v8001", "integration", "Succeeded"))
    posted_at = wait_for(fake_slack, lambda: fake_slack.count("chat.postMessage", ok_only=True) == 1)
    bot.settle()
    assert posted_at - limited_at >= 1.5, f"retried {posted_at - limited_at:.3f}s after a 429 with Retry-After: 2"
    assert fake_slack.count("chat.postMessage") == 2
    assert card_states(card(fake_slack, "v8001").text)["integration"] == "synced"
    assert len(fake_slack.roots()) == 1


def test_429_on_chat_update_waits_and_then_sends_one_coalesced_edit(bot: BotHarness, fake_slack: FakeSlack) -> None:
    send(bot, ARGO, argocd("v8002", "integration", "Running", "Progressing"))
    bot.settle()
    root = card(fake_slack, "v8002")
    fake_slack.fail_next("chat.update", 429, retry_after=2)
    send(bot, ARGO, argocd("v8002", "integration", "Succeeded"))
    limited_at = wait_for(fake_slack, lambda: fake_slack.count("chat.update") == 1)
    # four more changes while the card is rate limited: they must become one chat.update, not four
    send(bot, SMOKEY, smokey("v8002", "integration", "Succeeded"))
    send(bot, ARGO, argocd("v8002", "staging", "Running", "Progressing"))
    send(bot, ARGO, argocd("v8002", "staging", "Succeeded"))
    send(bot, SMOKEY, smokey("v8002", "staging", "Succeeded"))
    updated_at = wait_for(fake_slack, lambda: fake_slack.count("chat.update", ok_only=True) >= 1)
    bot.settle()
    assert updated_at - limited_at >= 1.5, f"retried {updated_at - limited_at:.3f}s after a 429 with Retry-After: 2"
    assert fake_slack.count("chat.update") == 2, fake_slack.calls_to("chat.update")
    assert fake_slack.count("chat.update", ok_only=True) == 1
    after = fake_slack.message(root.ts)
    assert card_states(after.text) | {"production": ""} == {
        "integration": "tests passed",
        "staging": "tests passed",
        "production": "",
    }
    assert len(fake_slack.roots()) == 1


def test_429_on_a_failure_reply_is_retried_and_the_reply_arrives_once(bot: BotHarness, fake_slack: FakeSlack) -> None:
    send(bot, ARGO, argocd("v8003", "integration", "Running", "Progressing"))
    bot.settle()
    root = card(fake_slack, "v8003")
    fake_slack.fail_next("chat.postMessage", 429, retry_after=1, count=2)
    send(bot, ARGO, argocd("v8003", "integration", "Failed", None))
    bot.settle()
    replies = fake_slack.replies(root.ts)
    assert len(replies) == 1 and replies[0].reply_broadcast
    assert fake_slack.ratelimited_by_method == {"chat.postMessage": 2}
    assert card_states(fake_slack.message(root.ts).text)["integration"] == "sync failed"


# -- 5xx and dropped connections ------------------------------------------------------------------------


ROOT_FAULTS = {
    "500": {"status": 500},
    "503x2": {"status": 503, "count": 2},
    "ok-false-internal_error": {"status": 200, "error": "internal_error"},
    "connection-dropped": {"status": 500, "disconnect": True},
}
LANDED_FAULTS = {
    "500-after-posting": {"status": 500, "after_processing": True},
    "dropped-after-posting": {"status": 500, "disconnect": True, "after_processing": True},
}


def test_a_failed_root_post_is_retried_and_posted_once(bot: BotHarness, fake_slack: FakeSlack) -> None:
    failed = 0
    for number, (case, fault) in enumerate(ROOT_FAULTS.items()):
        tag = f"v801{number}"
        fake_slack.fail_next("chat.postMessage", **fault)
        send(bot, ARGO, argocd(tag, "integration", "Running", "Progressing"))
        bot.settle()
        failed += fault.get("count", 1)
        assert failed_calls(fake_slack, "chat.postMessage") == failed, case
        assert len(ok_posts(fake_slack, replies=False)) == number + 1, case
        assert card_states(card(fake_slack, tag).text)["integration"] == "syncing", case
    assert len(fake_slack.roots()) == len(ROOT_FAULTS)


def test_a_root_post_that_landed_but_failed_to_answer_is_not_posted_twice(
    bot: BotHarness, fake_slack: FakeSlack
) -> None:
    """Slack took the message and the answer was lost: a retry that posts again doubles the card."""
    roots_per_release = {}
    for number, (case, fault) in enumerate(LANDED_FAULTS.items()):
        tag = f"v802{number}"
        fake_slack.fail_next("chat.postMessage", **fault)
        send(bot, ARGO, argocd(tag, "integration", "Running", "Progressing"))
        bot.settle()
        send(bot, ARGO, argocd(tag, "integration", "Succeeded"))
        bot.settle()
        cards = [root for root in fake_slack.roots() if tag in root.text]
        roots_per_release[case] = len(cards)
        assert all(card_states(c.text)["integration"] in ("synced", "syncing") for c in cards)
    assert roots_per_release == dict.fromkeys(LANDED_FAULTS, 1), f"root messages per release: {roots_per_release}"


def test_a_failure_reply_that_landed_but_failed_to_answer_is_not_posted_twice(
    bot: BotHarness, fake_slack: FakeSlack
) -> None:
    replies_per_failure = {}
    for number, (case, fault) in enumerate(LANDED_FAULTS.items()):
        tag = f"v803{number}"
        send(bot, ARGO, argocd(tag, "integration", "Running", "Progressing"))
        bot.settle()
        root = card(fake_slack, tag)
        fake_slack.fail_next("chat.postMessage", **fault)
        send(bot, SMOKEY, smokey(tag, "integration", "Failed"))
        bot.settle()
        replies_per_failure[case] = len(fake_slack.replies(root.ts))
    assert replies_per_failure == dict.fromkeys(LANDED_FAULTS, 1), f"announcements per failure: {replies_per_failure}"


def test_a_failed_card_edit_is_retried_until_the_card_is_right(bot: BotHarness, fake_slack: FakeSlack) -> None:
    faults = {"503x2": {"status": 503, "count": 2}, **LANDED_FAULTS}
    failed = 0
    for number, (case, fault) in enumerate(faults.items()):
        tag = f"v804{number}"
        send(bot, ARGO, argocd(tag, "integration", "Running", "Progressing"))
        bot.settle()
        root = card(fake_slack, tag)
        fake_slack.fail_next("chat.update", **fault)
        send(bot, ARGO, argocd(tag, "integration", "Succeeded"))
        bot.settle()
        failed += fault.get("count", 1)
        assert failed_calls(fake_slack, "chat.update") == failed, case
        assert card_states(fake_slack.message(root.ts).text)["integration"] == "synced", case
    assert len(fake_slack.roots()) == len(faults)


def test_a_refused_edit_is_logged_with_the_release_and_does_not_wedge_the_card(
    bot: BotHarness, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    send(bot, ARGO, argocd("v8014", "integration", "Running", "Progressing"))
    bot.settle()
    root = card(fake_slack, "v8014")
    fake_slack.fail_next("chat.update", 200, error="invalid_blocks")
    with caplog.at_level(logging.WARNING):
        send(bot, ARGO, argocd("v8014", "integration", "Succeeded"))
        bot.settle()
    logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("whitehall" in m and "v8014" in m and "invalid_blocks" in m for m in logged), logged
    # the next change brings the card up to date: nothing stays stuck behind the refusal
    send(bot, SMOKEY, smokey("v8014", "integration", "Succeeded"))
    bot.settle()
    assert card_states(fake_slack.message(root.ts).text)["integration"] == "tests passed"


# -- pacing --------------------------------------------------------------------------------------------


def test_posts_are_paced_to_one_per_second_per_channel_without_429s(bot_env: dict[str, str]) -> None:
    slack = FakeSlack(post_rate_limit_per_second=1.0).start()
    bot = BotHarness({**bot_env, "SLACK_API_URL": slack.url}, post_interval=1.0)
    try:
        started = time.monotonic()
        for n in range(2):
            send(bot, ARGO, argocd(f"v805{n}", "integration", "Failed", None))  # a root and a reply each
        bot.settle()
        elapsed = time.monotonic() - started
    finally:
        bot.stop()
        slack.stop()
    assert len(slack.roots()) == 2
    assert len(ok_posts(slack, replies=False)) == 2 and len(ok_posts(slack, replies=True)) == 2
    assert slack.ratelimited_count == 0, "the bot outran one post per second"
    assert elapsed >= 2.8  # four posts, one per second


def test_when_slack_limits_harder_than_the_pacing_every_429_is_waited_out(bot_env: dict[str, str]) -> None:
    slack = FakeSlack(post_rate_limit_per_second=1.0).start()
    bot = BotHarness({**bot_env, "SLACK_API_URL": slack.url}, post_interval=0.0)  # no pacing: Slack's 429s rule
    try:
        for n in range(3):
            send(bot, ARGO, argocd(f"v806{n}", "integration", "Running", "Progressing"))
        bot.settle()
    finally:
        bot.stop()
        slack.stop()
    assert slack.ratelimited_count > 0
    assert len(ok_posts(slack, replies=False)) == 3
    tags = ("v8060", "v8061", "v8062")
    assert sorted(tag for root in slack.roots() for tag in tags if tag in root.text) == list(tags)
    print(f"\n3 roots with no pacing against 1 post/s: {slack.ratelimited_count} answers of 429")


def test_webhooks_are_answered_at_once_while_slack_is_slow(bot_env: dict[str, str]) -> None:
    slack = FakeSlack(latency_seconds=1.0).start()
    bot = BotHarness({**bot_env, "SLACK_API_URL": slack.url}, post_interval=0.0)
    try:
        timings = []
        for path, body in [
            (ARGO, argocd("v8040", "integration", "Running", "Progressing")),
            (ARGO, argocd("v8040", "integration", "Succeeded")),
            (SMOKEY, smokey("v8040", "integration", "Failed")),
        ]:
            started = time.monotonic()
            send(bot, path, body)
            timings.append(time.monotonic() - started)
        bot.settle()
    finally:
        bot.stop()
        slack.stop()
    assert max(timings) < 0.5, timings
    root = card(slack, "v8040")
    assert card_states(root.text)["integration"] == "tests failed"
    assert len(slack.replies(root.ts)) == 1
    # three changes while the first post was in flight: at most the post and one edit, never one call each
    assert slack.count("chat.update") <= 1
