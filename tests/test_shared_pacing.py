"""Two replicas pace their Slack posts together: at most one a second per channel, between them.

Pacing lives in the store, so it holds across replicas. The fake Slack enforces Slack's own limit
(one `chat.postMessage` a second per channel, a 429 otherwise) and records when each call arrived.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from tests.fakes import FakeSlack
from tests.support.app import BotHarness

CHANNEL = "govuk-deploy-alerts"


def failed_sync(tag: str) -> dict[str, Any]:
    return {"application": "whitehall", "environment": "integration", "state": "Failed", "imageTag": tag}


def test_two_replicas_together_post_at_most_once_a_second_per_channel(bot_env: dict[str, str], tmp_path: Path) -> None:
    slack = FakeSlack(post_rate_limit_per_second=1.0).start()
    replicas = [
        BotHarness(
            {**bot_env, "SLACK_API_URL": slack.url, "CHARTS_WORKDIR": str(tmp_path / f"copy-{n}")}, post_interval=1.0
        )
        for n in range(2)
    ]
    try:

        def burst(bot: BotHarness, first: int) -> None:
            for n in range(first, first + 3):  # each a card and a reply in its thread
                assert bot.webhook("/webhooks/argocd", failed_sync(f"v90{n}")).status_code == 202

        threads = [threading.Thread(target=burst, args=(bot, 3 * n)) for n, bot in enumerate(replicas)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for bot in replicas:
            bot.settle(timeout=90)
        assert slack.wait_until(lambda: len(slack.roots(CHANNEL)) == 6, timeout=60)
    finally:
        for bot in replicas:
            bot.stop()
        slack.stop()
    posts = [c for c in slack.call_log if c.method == "chat.postMessage" and c.error is None]
    assert len(posts) == 12, [c.params.get("text") for c in posts]
    times = sorted(c.at for c in posts)
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    assert slack.ratelimited_count == 0, f"the replicas together outran one post a second: gaps {gaps}"
    assert min(gaps) >= 0.95, gaps
