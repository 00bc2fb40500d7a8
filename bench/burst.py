"""Benchmark 3: an alert burst against Slack's one-post-per-second-per-channel limit.

R releases each go through the full lifecycle in the three environments (Argo CD `Running`,
Argo CD `Succeeded`/`Healthy`, smokey `Succeeded`, per environment): 9 × R webhooks, sent in
lifecycle order within about 2 s by 8 sender threads. The fake Slack enforces one
`chat.postMessage` per second per channel with HTTP 429 + Retry-After. The bot (its own process,
post_interval 1.0, the production default) must end with exactly one card per release showing
"tests passed" in every environment. The floor is the number of `chat.postMessage` calls it
needs × 1 s; the drain is measured from the first webhook sent until the fake Slack shows every
card final (polled every 100 ms).

The tags are new to the charts repository, so passing tests do not trigger automatic promotion
(the image-tag file does not hold the tag): the cards' final state is exactly the lifecycle sent.
"""

from __future__ import annotations

import queue
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench.harness import start_bot
from bench.repos import BOT_ENVS, app_names, fresh_copy
from tests.fakes import FakeSlack
from tests.support.app import WEBHOOK_TOKEN

ALERTS = "govuk-deploy-alerts"
# a token opens at most 30 new cards a minute (SPEC 13): half the releases are first heard of from
# integration's own cluster token, as GOV.UK's set-up has it, so up to 60 new cards come from two tokens
CLUSTER_TOKEN = "integration-cluster-token-for-the-burst-benchmark"
CLUSTER_SETTINGS = {"WEBHOOK_TOKEN_INTEGRATION": CLUSTER_TOKEN}


def token_for(payload: dict[str, Any]) -> str:
    """Integration's events of every other release come from integration's cluster token."""
    odd = payload["imageTag"][1:].isdigit() and int(payload["imageTag"][1:]) % 2 == 1
    return CLUSTER_TOKEN if payload["environment"] == "integration" and odd else WEBHOOK_TOKEN


SEND_WINDOW = 2.0
SENDERS = 8
POLL = 0.1
TARGET_RATIO = 1.2


def lifecycle(releases: list[tuple[str, str]]) -> list[tuple[str, dict[str, Any]]]:
    """Every webhook of the burst, in the order a real pipeline would send them (phase by phase)."""
    events = []
    for env in BOT_ENVS:
        for path, extra in (
            ("/webhooks/argocd", {"state": "Running", "health": "Progressing", "message": "waiting for healthy state"}),
            ("/webhooks/argocd", {"state": "Succeeded", "health": "Healthy", "message": "successfully synced"}),
            ("/webhooks/smokey", {"status": "Succeeded", "suite": "smokey"}),
        ):
            for app, tag in releases:
                payload = {"application": app, "repoName": app, "environment": env, "imageTag": tag, **extra}
                if path.endswith("argocd"):
                    payload.update(
                        {"revision": "0" * 40, "promoteDeployment": "false", "automaticDeploysEnabled": "true"}
                    )
                else:
                    payload.update(
                        {"workflowName": f"post-sync-{app[:8]}", "workflowUrl": f"https://argo-workflows.test/{app}"}
                    )
                events.append((path, payload))
    return events


def send_burst(base_url: str, events: list[tuple[str, dict[str, Any]]], window: float) -> dict[str, Any]:
    """Send `events` spread evenly over `window` seconds; (first send time, answers by status)."""
    work: queue.Queue = queue.Queue()
    started = time.monotonic() + 0.2
    for index, (path, payload) in enumerate(events):
        work.put((started + window * index / max(1, len(events) - 1), path, payload))
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    finished: list[float] = []

    def sender() -> None:
        with httpx.Client(base_url=base_url, timeout=30) as http:
            while True:
                try:
                    due, path, payload = work.get_nowait()
                except queue.Empty:
                    return
                time.sleep(max(0.0, due - time.monotonic()))
                try:
                    headers = {"Authorization": f"Bearer {token_for(payload)}"}
                    status = http.post(path, json=payload, headers=headers).status_code
                except httpx.HTTPError:
                    status = 0
                with lock:
                    statuses[status] = statuses.get(status, 0) + 1
                    finished.append(time.monotonic())

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return {"started": started, "sent_seconds": max(finished) - started, "statuses": statuses}


def card_states(slack: FakeSlack, releases: list[tuple[str, str]]) -> tuple[int, int, list[str]]:
    """(cards final, releases with more than one root, releases not final) on the fake Slack now."""
    roots = slack.roots(ALERTS)
    final, doubled, missing = 0, 0, []
    for app, tag in releases:
        heading = f"Deploy of *{app}* `{tag}`\n"
        mine = [m for m in roots if m.text.startswith(heading)]
        if len(mine) > 1:
            doubled += 1
        if mine and all(f"*{env}*: tests passed" in mine[0].text for env in BOT_ENVS):
            final += 1
        else:
            missing.append(f"{app} {tag}")
    return final, doubled, missing


def run(big_source: Path, redis_url: str, *, releases: int, log) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    names = app_names()
    chosen = [(names[i % len(names)], f"v{80_000 + i}") for i in range(releases)]
    events = lifecycle(chosen)
    with tempfile.TemporaryDirectory(prefix="bench-burst-") as folder:
        scratch = Path(folder)
        remote = fresh_copy(big_source, scratch / "remote.git")
        slack = FakeSlack(post_rate_limit_per_second=1.0).start()
        bot = start_bot(scratch / "bot", remote.url, redis_url, slack=slack, label="burst", **CLUSTER_SETTINGS)
        try:
            time.sleep(1.0)
            rss_idle = bot.rss_mb()
            log(f"  sending {len(events)} webhooks for {releases} releases within {SEND_WINDOW:g} s ...")
            sent = send_burst(bot.process.base_url, events, SEND_WINDOW)
            started = sent["started"]
            deadline = started + releases * 3 + 60
            best, progress_at = -1, started
            while True:
                final, doubled, missing = card_states(slack, chosen)
                now = time.monotonic()
                if final > best:
                    best, progress_at = final, now
                if final == releases or now > deadline:
                    break
                time.sleep(POLL)
            drained = progress_at - started  # when the last card became final (all of them, if none is lost)
            complete = final == releases
            time.sleep(2.0)  # anything late (a double post, a stray update) shows up now
            final, doubled, missing = card_states(slack, chosen)
            unfinished = [
                {"release": f"{m.text.splitlines()[0]}", "text": m.text[:600]}
                for m in slack.roots(ALERTS)
                if any(
                    m.text.startswith(f"Deploy of *{app}* `{tag}`\n") for app, tag in (r.split(" ") for r in missing)
                )
            ]
            log_calls = slack.call_log
            rss_after = bot.rss_mb()
        finally:
            bot.stop()
    posts = [c for c in log_calls if c.method == "chat.postMessage"]
    updates = [c for c in log_calls if c.method == "chat.update"]
    posts_ok = sum(1 for c in posts if c.error is None)
    updates_ok = sum(1 for c in updates if c.error is None)
    limited = sum(1 for c in log_calls if c.status == 429)
    floor = posts_ok * 1.0
    ratio = drained / floor if floor else float("nan")
    return {
        "releases": releases,
        "webhooks": len(events),
        "webhooks_sent_seconds": round(sent["sent_seconds"], 2),
        "webhook_statuses": {str(k): v for k, v in sorted(sent["statuses"].items())},
        "drain_seconds": round(drained, 2),
        "drained_completely": complete,
        "rate_limited_minimum_seconds": round(floor, 1),
        "ratio_to_minimum": round(ratio, 3),
        "target_ratio": TARGET_RATIO,
        "post_message_calls": len(posts),
        "post_message_ok": posts_ok,
        "update_calls": len(updates),
        "update_ok": updates_ok,
        "http_429": limited,
        "slack_calls_per_release": round((len(posts) + len(updates)) / releases, 2),
        "posts_per_release": round(len(posts) / releases, 2),
        "updates_per_release": round(len(updates) / releases, 2),
        "cards_final": final,
        "lost": releases - final,
        "lost_releases": missing,
        "lost_cards_text": unfinished,
        "duplicate_cards": doubled,
        "rss_mb_idle": round(rss_idle, 1),
        "rss_mb_after": round(rss_after, 1),
        "bot_pid_ready_seconds": round(bot.ready_seconds, 2),
    }
