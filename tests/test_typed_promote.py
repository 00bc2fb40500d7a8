"""A typed `/deploy promote` checks what the button checks, and `--force <reason…>` overrides it."""

from __future__ import annotations

from tests.fakes import FakeSlack
from tests.support.app import BotHarness
from tests.support.charts import ChartsRemote
from tests.support.payloads import smokey_payload
from tests.test_freeze_flow import audit, slash, thread


def argocd(bot: BotHarness, app: str, tag: str, state: str, health: str = "Healthy") -> None:
    payload = {"application": app, "environment": "integration", "state": state, "health": health, "imageTag": tag}
    assert bot.webhook("/webhooks/argocd", payload).status_code == 202
    bot.settle()


def test_a_typed_promotion_of_a_release_not_ready_where_it_comes_from_is_refused_saying_which(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    argocd(bot, "whitehall", "v3232", "Failed")
    argocd(bot, "frontend", "v1810", "Succeeded", health="Degraded")
    argocd(bot, "collections", "v1590", "Succeeded")
    assert bot.webhook("/webhooks/smokey", smokey_payload("collections", "integration", "v1590", "Failed")).status_code
    bot.settle()
    before = charts_remote.commit_count()
    expected = {
        "whitehall": "whitehall v3232 can't be promoted: its sync failed in integration.",
        "frontend": "frontend v1810 can't be promoted: it is degraded in integration.",
        "collections": "collections v1590 can't be promoted: its tests failed in integration.",
        "signon": "signon v1201 can't be promoted: it has not passed its tests in integration.",
    }
    for app, words in expected.items():
        _, refusal = slash(bot, fake_slack, f"promote-{app}", f"promote {app} to staging")
        assert refusal == (
            f"{words} Nothing was done. To promote it anyway, say why: "
            f"`/deploy promote {app} staging --force <reason…>`."
        )
    assert charts_remote.commit_count() == before


def test_force_promotes_it_anyway_announced_broadcast_and_audited(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    argocd(bot, "whitehall", "v3232", "Failed")
    _, reply = slash(bot, fake_slack, "force", "promote whitehall to staging --force the failure is a flaky probe")
    assert reply.startswith(":white_check_mark: Committed *whitehall* `v3232` to *staging*")
    assert "image_tag: v3232" in charts_remote.read("staging", "whitehall")
    [note] = [m for m in thread(fake_slack, "whitehall", "v3232") if "overrode" in m.text]
    assert note.reply_broadcast
    assert note.text == (
        ":warning: <@U012AB3CD> overrode a failed sync in integration to deploy v3232 to staging: "
        "the failure is a flaky probe"
    )
    [record] = audit(bot, "override", app="whitehall")
    assert record["reason"] == "the failure is a flaky probe"
