"""Deploy cards from outside (issue 3): one live root message per release `(app, tag)`.

Everything is driven through the real HTTP app (webhooks, `/deploy`, the promote button) against
the loopback fake Slack, a local charts remote and real Redis: the card's lifecycle in three
environments, edits in place, thread replies for failures, duplicates, events out of order,
concurrent events for one new release, and restarts (in-process and `python -m bot serve`).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from tests.fakes import FakeSlack, SlackMessage
from tests.support.app import MEMBER, BotHarness, ServeProcess, run_concurrently
from tests.support.charts import ChartsRemote

ARGO = "/webhooks/argocd"
SMOKEY = "/webhooks/smokey"
ENVS = ("integration", "staging", "production")
CHANNEL = "govuk-deploy-alerts"
WORKFLOW_URL = "https://argo-workflows.eks.{env}.govuk.digital/workflows/apps/post-sync-x7k2p"
ARGOCD_LINK = "https://argo.eks.{env}.govuk.digital/applications/{application}"

# How far along each state word is (the contract names them); a card may never show a lower one later.
RANK = {
    "requested": 0,
    "syncing": 1,
    "synced": 2,
    "sync failed": 2,
    "degraded": 2,
    "tests passed": 3,
    "tests failed": 3,
}
STATE_WORDS = sorted(RANK, key=len, reverse=True)  # "tests passed" before "synced"…


# -- payloads ----------------------------------------------------------------------------------------


def argocd(
    tag: str,
    env: str,
    state: str,
    health: str | None = "Healthy",
    *,
    app: str = "whitehall",
    application: str = "whitehall-admin",
    message: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "application": application,
        "repoName": app,
        "environment": env,
        "state": state,
        "imageTag": tag,
        "revision": "5f1e0c2",
        "message": message if message is not None else f"sync {state.lower()}",
        "promoteDeployment": "false",
        "automaticDeploysEnabled": "true",
    }
    if health is not None:
        body["health"] = health
    return body


def smokey(
    tag: str,
    env: str,
    status: str,
    *,
    app: str = "whitehall",
    application: str = "whitehall-admin",
    failures: list[str] | None = None,
) -> dict[str, Any]:
    return {
        "application": application,
        "repoName": app,
        "environment": env,
        "imageTag": tag,
        "status": status,
        "suite": "smokey",
        "workflowName": "post-sync-x7k2p",
        "workflowUrl": WORKFLOW_URL.format(env=env),
        "failures": failures or [],
    }


def full_lifecycle(tag: str, env: str, **names: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (ARGO, argocd(tag, env, "Running", "Progressing", **names)),
        (ARGO, argocd(tag, env, "Succeeded", "Healthy", **names)),
        (SMOKEY, smokey(tag, env, "Succeeded", **names)),
    ]


# -- reading a card ----------------------------------------------------------------------------------


def env_states(text: str) -> dict[str, str]:
    """What the card says about each environment: `{env: state words}` from its readable text."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        match = re.search(r"\b(integration|staging|production)\b\W{0,3}:\s*(.*)", line)
        if not match or match.group(1) in found:
            continue
        rest = match.group(2).lower()
        found[match.group(1)] = next(
            (word for word in STATE_WORDS if rest.startswith(word)), rest.split("·")[0].strip()
        )
    return found


def assert_never_backwards(message: SlackMessage) -> None:
    """Across every version the card ever had, no environment's state went down."""
    best: dict[str, int] = {}
    for version in message.versions:
        for env, words in env_states(version["text"]).items():
            rank = RANK.get(words)
            if rank is None:
                continue
            assert rank >= best.get(env, -1), f"{env} went back to {words!r}: {[v['text'] for v in message.versions]}"
            best[env] = rank


def only_root(slack: FakeSlack) -> SlackMessage:
    roots = slack.roots(CHANNEL)
    assert len(roots) == 1, [r.text for r in roots]
    assert len(slack.roots()) == 1  # nothing anywhere else either
    return roots[0]


def card_of(slack: FakeSlack, tag: str) -> SlackMessage:
    """The one root message of release `whitehall tag`."""
    cards = [root for root in slack.roots(CHANNEL) if f"`{tag}`" in root.text]
    assert len(cards) == 1, (tag, [r.text for r in slack.roots()])
    return cards[0]


def root_posts(slack: FakeSlack) -> list[dict[str, Any]]:
    """Successful chat.postMessage calls that were not thread replies."""
    return [
        call.params
        for call in slack.call_log
        if call.method == "chat.postMessage" and call.error is None and not call.params.get("thread_ts")
    ]


def send(bot: Any, path: str, body: dict[str, Any], expected: int = 202) -> None:
    response = bot.webhook(path, body)
    assert response.status_code == expected, (path, body, response.status_code, response.text)


# -- fixtures ----------------------------------------------------------------------------------------


def deploy(bot: BotHarness, slack: FakeSlack, text: str, name: str = "deploy") -> str:
    """`/deploy text` by MEMBER; waits for the commit and the card; returns the bot's private answer."""
    response = bot.slash(text, user=MEMBER, response_url=slack.response_url(name))
    assert response.status_code == 200, response.text
    bot.settle()
    answers = slack.wait_for_response(name)
    return answers[-1]["text"]


# -- the card's lifecycle ----------------------------------------------------------------------------


def test_a_release_first_heard_of_from_a_webhook_gets_its_card_then(bot: BotHarness, fake_slack: FakeSlack) -> None:
    response = bot.webhook(ARGO, argocd("v7001", "staging", "Running", "Progressing"))
    assert response.status_code == 202
    assert response.json() == {"ok": True}
    bot.settle()

    root = only_root(fake_slack)
    assert "whitehall" in root.text and "v7001" in root.text
    states = env_states(root.text)
    assert set(states) == set(ENVS), root.text  # every environment is shown
    assert states["staging"] == "syncing"
    assert states["integration"] not in RANK and states["production"] not in RANK  # nothing happened there
    assert fake_slack.replies(root.ts) == []
    assert fake_slack.count("chat.postMessage") == 1
    assert fake_slack.count("chat.update") == 0


def test_full_lifecycle_in_three_environments_is_one_root_edited_in_place(
    bot: BotHarness, fake_slack: FakeSlack
) -> None:
    tag = "v7002"
    expected = {"Running": "syncing", "Succeeded": "synced"}
    root_ts = None
    updates = 0
    for env in ENVS:
        for path, body in full_lifecycle(tag, env):
            send(bot, path, body)
            bot.settle()
            root = only_root(fake_slack)
            root_ts = root_ts or root.ts
            assert root.ts == root_ts
            words = "tests passed" if path == SMOKEY else expected[body["state"]]
            assert env_states(root.text)[env] == words, root.text
            if (env, path, body.get("state")) != ("integration", ARGO, "Running"):
                updates += 1
            assert fake_slack.count("chat.update", ok_only=True) == updates
            assert fake_slack.count("chat.postMessage") == 1  # no failure, no person: nothing for the thread

    root = only_root(fake_slack)
    assert env_states(root.text) == dict.fromkeys(ENVS, "tests passed")
    for env in ENVS:
        assert ARGOCD_LINK.format(env=env, application="whitehall-admin") in root.all_text()
        assert WORKFLOW_URL.format(env=env) in root.all_text()
    assert root.edit_count == 8
    assert all(update["ts"] == root_ts for update in fake_slack.calls_to("chat.update"))
    assert_never_backwards(root)


def test_deploy_and_promote_through_three_environments_keeps_one_card(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    tag = "v3233"
    answer = deploy(bot, fake_slack, f"whitehall {tag} integration")
    assert "Committed" in answer, answer
    root = only_root(fake_slack)
    assert env_states(root.text)["integration"] == "requested"
    assert f"<@{MEMBER}>" in root.all_text()
    requested = fake_slack.replies(root.ts)
    assert len(requested) == 1 and f"<@{MEMBER}>" in requested[0].text and not requested[0].reply_broadcast

    for step, env in enumerate(ENVS):
        for path, body in full_lifecycle(tag, env):
            send(bot, path, body)
        bot.settle()
        root = only_root(fake_slack)
        assert env_states(root.text)[env] == "tests passed", root.text
        if env == ENVS[-1]:
            assert root.button("promote") is None
            break
        following = ENVS[step + 1]
        button = root.button("promote")
        assert button is not None and following in button["text"]["text"], root.blocks
        response = bot.click(button["value"], user=MEMBER, response_url=fake_slack.response_url(f"click-{env}"))
        assert response.status_code == 200
        bot.settle()
        sha, subject, body = charts_remote.log(1)[0]
        assert subject == f"Update whitehall image tag to {tag} for {following}"
        assert f"Requested-by: octocat ({MEMBER})" in body
        root = only_root(fake_slack)
        states = env_states(root.text)
        assert states[following] == "requested"
        assert states[env] == "tests passed"
        assert "promoted" in root.text.lower()

    root = only_root(fake_slack)
    assert env_states(root.text) == dict.fromkeys(ENVS, "tests passed")
    assert len(root_posts(fake_slack)) == 1
    assert fake_slack.count("chat.update", ok_only=True) >= 6
    replies = fake_slack.replies(root.ts)
    assert len(replies) == 3  # who requested each environment; no failures
    assert not any(reply.reply_broadcast for reply in replies)
    assert_never_backwards(root)


# -- duplicates and order ----------------------------------------------------------------------------


DUPLICATE_CASES = {
    "sync-succeeded": lambda tag: (ARGO, argocd(tag, "integration", "Succeeded")),
    "sync-running": lambda tag: (ARGO, argocd(tag, "integration", "Running", "Progressing")),
    "tests-passed": lambda tag: (SMOKEY, smokey(tag, "integration", "Succeeded")),
    "sync-failed": lambda tag: (ARGO, argocd(tag, "integration", "Failed", "Degraded", message="apply failed")),
    "tests-failed": lambda tag: (SMOKEY, smokey(tag, "integration", "Failed", failures=["homepage is down"])),
}


def test_a_duplicate_event_answers_200_duplicate_and_makes_no_slack_call(
    bot: BotHarness, fake_slack: FakeSlack
) -> None:
    for number, (case, make) in enumerate(DUPLICATE_CASES.items()):
        tag = f"v703{number}"  # each case its own release
        path, body = make(tag)
        first = bot.webhook(path, body)
        assert first.status_code == 202 and first.json() == {"ok": True}, case
        bot.settle()
        calls = fake_slack.calls
        root = card_of(fake_slack, tag)
        replies = fake_slack.replies(root.ts)

        again = bot.webhook(path, body)
        assert (again.status_code, again.json()) == (200, {"ok": True, "duplicate": True}), case
        # the same outcome with other details (Argo CD re-sends with a new message or revision) is the same event
        reworded = {**body, "message": "said differently", "revision": "abcdef1", "workflowName": "post-sync-other"}
        results = run_concurrently([lambda p=path, b=reworded: bot.webhook(p, b) for _ in range(5)])
        assert [(r.status_code, r.json()) for r in results] == [(200, {"ok": True, "duplicate": True})] * 5, case
        bot.settle()
        assert fake_slack.calls == calls, f"{case}: a duplicate reached Slack"
        assert fake_slack.message(root.ts).text == root.text, case
        assert len(fake_slack.replies(root.ts)) == len(replies), case
    assert len(root_posts(fake_slack)) == len(DUPLICATE_CASES)


def test_events_out_of_order_never_move_the_card_backwards(bot: BotHarness, fake_slack: FakeSlack) -> None:
    tag = "v7004"
    send(bot, ARGO, argocd(tag, "integration", "Succeeded"))
    send(bot, ARGO, argocd(tag, "integration", "Running", "Progressing"))  # late: ignored
    bot.settle()
    root = only_root(fake_slack)
    assert env_states(root.text)["integration"] == "synced"

    # a late Running again, and after tests passed a late sync outcome: none of them is news
    send(bot, SMOKEY, smokey(tag, "integration", "Succeeded"))
    bot.settle()
    root = only_root(fake_slack)
    assert env_states(root.text)["integration"] == "tests passed"
    calls = fake_slack.calls
    for path, body in [
        (ARGO, argocd(tag, "integration", "Running", "Progressing")),
        (ARGO, argocd(tag, "integration", "Running", "Healthy")),
        (ARGO, argocd(tag, "integration", "Succeeded", "Progressing")),
        (ARGO, argocd(tag, "integration", "Terminating", None)),
    ]:
        response = bot.webhook(path, body)
        assert response.status_code in (200, 202), response.text
        assert response.json()["ok"] is True
    bot.settle()
    assert fake_slack.calls == calls, "a stale event reached Slack"
    root = only_root(fake_slack)
    assert env_states(root.text)["integration"] == "tests passed"
    assert_never_backwards(root)


def test_concurrent_events_for_one_new_release_post_exactly_one_root(bot: BotHarness, fake_slack: FakeSlack) -> None:
    for round_number, tag in enumerate(("v7010", "v7011", "v7012"), start=1):
        events = [event for env in ENVS for event in full_lifecycle(tag, env)]
        events.append(events[-2])  # one delivered twice, at the same moment
        assert len(events) == 10
        results = run_concurrently([lambda p=path, b=body: bot.webhook(p, b) for path, body in events])
        answers = sorted((r.status_code, r.json().get("duplicate", False)) for r in results)
        assert answers == [(200, True)] + [(202, False)] * 9, answers
        bot.settle()
        roots = fake_slack.roots(CHANNEL)
        assert len(roots) == round_number, [r.text for r in roots]
        card = next(r for r in roots if tag in r.text)
        assert env_states(card.text) == dict.fromkeys(ENVS, "tests passed"), card.text
        assert fake_slack.replies(card.ts) == []
    assert len(root_posts(fake_slack)) == 3


# -- failures in the thread --------------------------------------------------------------------------

FAILURES = ["Publisher: can create a news article", "Frontend: the homepage has a title"]


def failure_events(tag: str, env: str, kind: str) -> tuple[list[tuple[str, dict[str, Any]]], str]:
    """Events that end in a failure of `kind` in `env`, and the card's words for it."""
    running = (ARGO, argocd(tag, env, "Running", "Progressing"))
    if kind == "sync-failed":
        return [running, (ARGO, argocd(tag, env, "Failed", None, message="one or more objects failed to apply"))], (
            "sync failed"
        )
    if kind == "sync-error":
        return [running, (ARGO, argocd(tag, env, "Error", "Missing", message="rpc error: deadline exceeded"))], (
            "sync failed"
        )
    if kind == "degraded":
        return [
            running,
            (ARGO, argocd(tag, env, "Succeeded", "Degraded", message="Deployment exceeded its progress deadline")),
        ], ("degraded")
    return [
        running,
        (ARGO, argocd(tag, env, "Succeeded")),
        (SMOKEY, smokey(tag, env, "Failed", failures=FAILURES)),
    ], "tests failed"


def check_failure_reply(slack: FakeSlack, tag: str, kind: str, who: str, events: list, words: str) -> None:
    env = "integration"
    root = card_of(slack, tag)
    assert env_states(root.text)[env] == words, (kind, root.text)
    broadcasts = [reply for reply in slack.replies(root.ts) if reply.reply_broadcast]
    assert len(broadcasts) == 1, (kind, [r.text for r in slack.replies(root.ts)])
    text = broadcasts[0].text
    if who == "person":
        assert f"<@{MEMBER}>" in text, (kind, text)
    else:
        assert "<@" not in text, (kind, text)
    assert ARGOCD_LINK.format(env=env, application="whitehall-admin") in text, (kind, text)
    assert "whitehall" in text and tag in text, (kind, text)
    if kind == "tests-failed":
        assert WORKFLOW_URL.format(env=env) in text, text
        for failure in FAILURES:
            assert failure in text, text
    else:
        assert events[-1][1]["message"] in text, (kind, text)  # what Argo CD said
    # the broadcast went out as a thread reply of the card, through chat.postMessage
    post = next(p for p in slack.calls_to("chat.postMessage") if p.get("text") == text)
    assert post.get("thread_ts") == root.ts
    assert str(post.get("reply_broadcast")).lower() in ("true", "1")
    # everything else in the thread is routine and stays in the thread
    assert all(not r.reply_broadcast for r in slack.replies(root.ts) if r.ts != broadcasts[0].ts), kind


def test_a_failure_after_a_deploy_by_a_person_is_broadcast_with_mention_and_links(
    bot: BotHarness, fake_slack: FakeSlack
) -> None:
    kinds = ("sync-failed", "sync-error", "degraded", "tests-failed")
    for number, kind in enumerate(kinds):
        tag = f"v324{number}"
        deploy(bot, fake_slack, f"whitehall {tag} integration", name=f"deploy-{kind}")
        events, words = failure_events(tag, "integration", kind)
        for path, body in events:
            send(bot, path, body)
        bot.settle()
        check_failure_reply(fake_slack, tag, kind, "person", events, words)
    assert len(root_posts(fake_slack)) == len(kinds)


def test_a_failure_after_a_deploy_by_ci_is_broadcast_with_links_and_no_mention(
    bot: BotHarness, fake_slack: FakeSlack
) -> None:
    kinds = ("sync-failed", "degraded", "tests-failed")
    for number, kind in enumerate(kinds):
        tag = f"v725{number}"
        body = {"environment": "integration", "repoName": "whitehall", "imageTag": tag}
        assert bot.webhook("/update-image-tag", body).status_code == 202
        bot.settle()
        events, words = failure_events(tag, "integration", kind)
        for path, event in events:
            send(bot, path, event)
        bot.settle()
        check_failure_reply(fake_slack, tag, kind, "ci", events, words)
    assert len(root_posts(fake_slack)) == len(kinds)


def test_failures_in_two_environments_give_two_broadcasts_on_one_card(bot: BotHarness, fake_slack: FakeSlack) -> None:
    tag = "v7021"
    for path, body in full_lifecycle(tag, "integration"):
        send(bot, path, body)
    for path, body in failure_events(tag, "staging", "tests-failed")[0]:
        send(bot, path, body)
    for path, body in failure_events(tag, "production", "sync-failed")[0]:
        send(bot, path, body)
    bot.settle()
    root = only_root(fake_slack)
    assert env_states(root.text) == {
        "integration": "tests passed",
        "staging": "tests failed",
        "production": "sync failed",
    }
    broadcasts = [reply for reply in fake_slack.replies(root.ts) if reply.reply_broadcast]
    assert len(broadcasts) == 2
    assert "staging" in broadcasts[0].text and ARGOCD_LINK.format(env="staging", application="whitehall-admin") in (
        broadcasts[0].text
    )
    assert "production" in broadcasts[1].text


def test_degraded_health_after_tests_passed_is_still_announced(bot: BotHarness, fake_slack: FakeSlack) -> None:
    """Argo CD's on-health-degraded fires whenever the app turns Degraded, also long after its tests passed."""
    tag = "v3233"
    deploy(bot, fake_slack, f"whitehall {tag} integration")
    for path, body in full_lifecycle(tag, "integration"):
        send(bot, path, body)
    bot.settle()
    root = only_root(fake_slack)
    assert not any(reply.reply_broadcast for reply in fake_slack.replies(root.ts))
    response = bot.webhook(ARGO, argocd(tag, "integration", "Succeeded", "Degraded", message="CrashLoopBackOff"))
    assert response.status_code == 202, response.text
    bot.settle()
    broadcasts = [reply for reply in fake_slack.replies(root.ts) if reply.reply_broadcast]
    assert len(broadcasts) == 1, "a Degraded health was dropped because tests had passed before it"
    assert f"<@{MEMBER}>" in broadcasts[0].text and "CrashLoopBackOff" in broadcasts[0].text


def test_text_from_webhooks_cannot_ping_the_channel_or_break_formatting(bot: BotHarness, fake_slack: FakeSlack) -> None:
    """Slack reads `<!channel>`, `<@U…>` and `<url|label>` in message text; text from a webhook must be escaped."""
    tag = "v7022"
    send(bot, ARGO, argocd(tag, "integration", "Failed", None, message="<!channel> apply failed & <b>stopped</b>"))
    send(
        bot,
        SMOKEY,
        smokey(tag, "integration", "Failed", failures=["<!here> expected <title>Home</title>", "<@U0BOSS>"]),
    )
    bot.settle()
    root = only_root(fake_slack)
    replies = fake_slack.replies(root.ts)
    assert len(replies) == 2
    text = "\n".join(reply.text for reply in replies)
    assert "apply failed" in text and "Home" in text  # the content is there…
    for raw in ("<!channel>", "<!here>", "<@U0BOSS>", "<title>", "<b>"):
        assert raw not in text, f"{raw!r} reached Slack unescaped: {text!r}"  # …but not as Slack markup


def test_the_longest_failures_list_still_reaches_the_thread_and_blocks_nothing(
    bot: BotHarness, fake_slack: FakeSlack
) -> None:
    """A smokey body within the limits (20 failures × 2,000 characters, < 64 KiB) must still make a postable reply."""
    tag = "v7023"
    failures = [f"failure {n}: ".ljust(2000, "x") for n in range(20)]  # webhooks.py accepts up to 20 × 2,000
    send(bot, SMOKEY, smokey(tag, "integration", "Failed", failures=failures))
    bot.settle()
    send(bot, ARGO, argocd(tag, "staging", "Failed", None, message="later failure"))
    bot.settle()
    root = only_root(fake_slack)
    replies = fake_slack.replies(root.ts)
    rejected = [c.error for c in fake_slack.call_log if c.method == "chat.postMessage" and c.error]
    assert [reply.reply_broadcast for reply in replies] == [True, True], (len(replies), rejected)
    assert "failure 0" in replies[0].text
    assert "later failure" in replies[1].text


# -- restarts ----------------------------------------------------------------------------------------


def test_after_a_restart_the_card_is_found_in_the_store_and_edited(
    bot_env: dict[str, str], fake_slack: FakeSlack, redis_client: Any, redis_prefix: str
) -> None:
    tag = "v3233"
    first = BotHarness(bot_env, post_interval=0.0)
    try:
        deploy(first, fake_slack, f"whitehall {tag} integration")
        send(first, ARGO, argocd(tag, "integration", "Running", "Progressing"))
        first.settle()
    finally:
        first.stop()
    root = only_root(fake_slack)
    assert any(key.startswith(redis_prefix) for key in redis_client.scan_iter(match=redis_prefix + "*"))

    second = BotHarness(bot_env, post_interval=0.0)
    try:
        # the event the first process already applied is still known after the restart
        assert second.webhook(ARGO, argocd(tag, "integration", "Running", "Progressing")).json().get("duplicate")
        send(second, ARGO, argocd(tag, "integration", "Succeeded"))
        send(second, SMOKEY, smokey(tag, "integration", "Failed", failures=FAILURES))
        second.settle()
    finally:
        second.stop()

    after = only_root(fake_slack)
    assert after.ts == root.ts
    assert env_states(after.text)["integration"] == "tests failed"
    assert len(root_posts(fake_slack)) == 1
    assert fake_slack.calls_to("chat.update")[-1]["ts"] == root.ts
    broadcast = [r for r in fake_slack.replies(root.ts) if r.reply_broadcast]
    assert len(broadcast) == 1 and f"<@{MEMBER}>" in broadcast[0].text  # the requester survived the restart too


def _serve(bot_env: dict[str, str], tmp_path: Path, name: str) -> ServeProcess:
    return ServeProcess(bot_env, log_path=tmp_path / f"{name}.log")


def test_serve_process_killed_and_restarted_edits_its_cards_and_sends_what_it_had_not(
    bot_env: dict[str, str], fake_slack: FakeSlack, tmp_path: Path
) -> None:
    """`python -m bot serve` SIGKILLed with one card posted and one not yet: the next process finishes both."""
    first = _serve(bot_env, tmp_path, "first")
    try:
        send(first, ARGO, argocd("v7030", "integration", "Running", "Progressing"))
        assert fake_slack.wait_until(lambda: len(fake_slack.roots()) == 1, timeout=10)
        posted = fake_slack.roots()[0]

        # the second card's post is answered 429 with a long Retry-After: it is still owed when the process dies
        fake_slack.fail_next("chat.postMessage", 429, retry_after=60)
        send(first, ARGO, argocd("v7031", "integration", "Running", "Progressing"))
        assert fake_slack.wait_until(lambda: fake_slack.ratelimited_count == 1, timeout=10)
        time.sleep(0.2)  # let it take in the 429 and let go of the card; it is now waiting, holding nothing
    finally:
        first.kill()
    assert len(fake_slack.roots()) == 1

    second = _serve(bot_env, tmp_path, "second")
    try:
        send(second, ARGO, argocd("v7030", "integration", "Succeeded"))
        assert fake_slack.wait_until(
            lambda: (
                len(fake_slack.roots()) == 2
                and env_states(fake_slack.message(posted.ts).text)["integration"] == "synced"
            ),
            timeout=15,
        ), [m.text for m in fake_slack.roots()]
    finally:
        second.stop()
    roots = fake_slack.roots()
    assert [r.ts for r in roots if "v7030" in r.text] == [posted.ts]
    assert len([r for r in roots if "v7031" in r.text]) == 1
    assert env_states(next(r for r in roots if "v7031" in r.text).text)["integration"] == "syncing"
    assert len(root_posts(fake_slack)) == 2


def test_two_replicas_receiving_events_for_new_releases_at_once_post_one_root_each(
    bot_env: dict[str, str], fake_slack: FakeSlack, tmp_path: Path
) -> None:
    replicas = [
        _serve({**bot_env, "CHARTS_WORKDIR": str(tmp_path / f"copy-{n}")}, tmp_path, f"replica-{n}") for n in range(2)
    ]
    tags = ("v7040", "v7041")
    try:
        calls = []
        for tag in tags:
            events = [event for e in ENVS for event in full_lifecycle(tag, e)]
            for index, (path, body) in enumerate(events):
                calls.append(lambda r=replicas[index % 2], p=path, b=body: r.webhook(p, b))
        results = run_concurrently(calls)
        assert sorted({r.status_code for r in results}) == [202]

        def finished() -> bool:
            roots = fake_slack.roots()
            return len(roots) >= 2 and all(env_states(r.text) == dict.fromkeys(ENVS, "tests passed") for r in roots)

        assert fake_slack.wait_until(finished, timeout=20), [r.text for r in fake_slack.roots()]
        time.sleep(1.0)  # twice the 0.5 s a replica that lost the card's lock waits before looking again
    finally:
        for replica in replicas:
            replica.stop()
    roots = fake_slack.roots()
    assert sorted(tag for r in roots for tag in tags if tag in r.text) == sorted(tags), [r.text for r in roots]
    assert len(root_posts(fake_slack)) == 2


def test_a_failed_run_without_a_url_links_the_environments_argo_workflows(bot: BotHarness, fake_slack: FakeSlack):
    body = {"application": "whitehall", "environment": "staging", "imageTag": "v7300", "status": "Failed"}
    assert bot.webhook(SMOKEY, {**body, "workflowName": "post-sync-abc12"}).status_code == 202
    bot.settle()
    (reply,) = fake_slack.replies(fake_slack.roots()[0].ts)
    assert "https://argo-workflows.eks.staging.govuk.digital/workflows/apps/post-sync-abc12" in reply.text
