"""An automatic promotion is never dropped when the store fails as it is recorded (issue 18).

Passing tests are written down, then the automatic promotion they call for is recorded in the
deploy journal. If the store fails at that second write, the tests webhook answers 503 (so the
sender tries again), and the retry, though its outcome is already known, still promotes.

The store fails for real: a proxy in front of Redis (tests/support/redis_proxy.py) cuts any
connection whose command writes the deploy journal, for as long as it is armed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.app import BotHarness
from tests.support.charts import ChartsRemote
from tests.support.payloads import smokey_payload
from tests.support.redis_proxy import RedisProxy

JOURNAL = b"deploy-journal"


@pytest.fixture
def proxied_bot(bot_env: dict[str, str], redis_url: str) -> Iterator[tuple[BotHarness, RedisProxy]]:
    with RedisProxy(redis_url) as proxy:
        harness = BotHarness({**bot_env, "REDIS_URL": proxy.url})
        try:
            yield harness, proxy
        finally:
            proxy.mend()
            harness.stop()


def test_a_store_failure_recording_the_automatic_promotion_answers_503_and_the_retry_promotes(
    proxied_bot: tuple[BotHarness, RedisProxy], charts_remote: ChartsRemote
) -> None:
    bot, proxy = proxied_bot
    sync = {"application": "frontend", "environment": "integration", "state": "Succeeded", "health": "Healthy"}
    assert bot.webhook("/webhooks/argocd", {**sync, "imageTag": "v1810"}).status_code == 202
    bot.settle()
    before = charts_remote.commit_count()

    proxy.cut_when(JOURNAL)
    answer = bot.webhook("/webhooks/smokey", smokey_payload("frontend", "integration", "v1810"))
    proxy.mend()
    assert proxy.cuts >= 1, "the promotion was never recorded in the journal"
    assert answer.status_code == 503, answer.text
    bot.settle()
    assert charts_remote.commit_count() == before

    # the post-sync workflow sends the same outcome again
    retry = bot.webhook("/webhooks/smokey", smokey_payload("frontend", "integration", "v1810"))
    assert retry.status_code in (200, 202), retry.text
    bot.settle()
    commits = charts_remote.log(charts_remote.commit_count() - before)
    assert [subject for _, subject, _ in commits] == ["Update frontend image tag to v1810 for staging"]
    assert "image_tag: v1810\n" in charts_remote.read("staging", "frontend")

    # and a third delivery, once it is promoted, changes nothing
    assert bot.webhook("/webhooks/smokey", smokey_payload("frontend", "integration", "v1810")).status_code in (200, 202)
    bot.settle()
    assert charts_remote.commit_count() == before + 1
