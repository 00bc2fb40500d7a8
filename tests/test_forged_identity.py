"""What the bot holds for identity cannot be forged (SPEC 13): links and approvals in the store are
signed with the bot's own key, and a button value has one spelling only.

A "writer to the store" is played by a second Redis connection writing under the bot's prefix.
"""

from __future__ import annotations

import json
import logging

import redis

from tests.fakes import FakeGitHub, FakeSlack
from tests.support.app import INTEGRATION_ONLY, MEMBER, BotHarness
from tests.support.charts import ChartsRemote
from tests.support.slack_requests import find_button
from tests.test_approvals import approvals_env, ask_for_approval, click

EVIL = "U0EVIL"  # in no users map, linked to nobody
LOGIN = "teammate"  # in gov-uk on GitHub, in no users map: what a forged link would claim


def words_for(bot: BotHarness, fake_slack: FakeSlack, text: str, user: str, name: str) -> str:
    """All the bot said to `user` about one /deploy: the ack and whatever came through response_url."""
    ack = bot.slash(text, user=user, response_url=fake_slack.response_url(name))
    assert ack.status_code == 200, ack.text
    said = (
        ack.json().get("text", "") if ack.headers.get("content-type", "").startswith("application/json") else ack.text
    )
    bot.settle()
    return " ".join([said, *(r.get("text", "") for r in fake_slack.responses.get(name, []))])


def test_a_link_written_into_the_store_by_someone_else_is_ignored(
    bot: BotHarness,
    redis_client: redis.Redis,
    fake_slack: FakeSlack,
    fake_github: FakeGitHub,
    charts_remote: ChartsRemote,
    caplog,
):
    fake_github.add_member("gov-uk", LOGIN)
    store = bot.services.store
    before = charts_remote.head()
    redis_client.set(store.key("link", "user", EVIL), json.dumps({"login": LOGIN, "at": 1.0}))
    redis_client.set(store.key("link", "login", LOGIN), EVIL)
    with caplog.at_level(logging.WARNING):
        said = words_for(bot, fake_slack, "whitehall v7001 integration", EVIL, "evil")
    assert "not linked" in said and "Committed" not in said, said
    assert charts_remote.head() == before
    assert any("did not sign" in r.getMessage() for r in caplog.records), [r.getMessage() for r in caplog.records]


def test_a_genuine_link_changed_in_the_store_is_ignored(
    bot: BotHarness,
    redis_client: redis.Redis,
    fake_slack: FakeSlack,
    fake_github: FakeGitHub,
    charts_remote: ChartsRemote,
):
    fake_github.add_member("gov-uk", LOGIN)
    links = bot.services.deployer.links
    links.link(EVIL, "outsider-login", at=1.0)  # a real link, made by the bot, to a login in no team
    key = bot.services.store.key("link", "user", EVIL)
    record = json.loads(redis_client.get(key))
    record["login"] = LOGIN  # whatever signed the old login kept
    redis_client.set(key, json.dumps(record))
    before = charts_remote.head()
    said = words_for(bot, fake_slack, "whitehall v7002 integration", EVIL, "tampered")
    assert "not linked" in said and "Committed" not in said, said
    assert charts_remote.head() == before
    assert links.get(EVIL) is None


def test_an_approval_request_changed_in_the_store_is_not_deployed(
    bot_env, tmp_path, fake_github: FakeGitHub, fake_slack: FakeSlack, charts_remote: ChartsRemote, redis_client
):
    abot = BotHarness(approvals_env(bot_env, tmp_path, fake_github))
    try:
        notice = ask_for_approval(abot, fake_slack)
        [approval_id] = redis_client.zrange(abot.services.store.key("approvals", "pending"), 0, -1)
        key = abot.services.store.key("approval", approval_id)
        record = json.loads(redis_client.get(key))
        record["request"]["tag"] = "v6666"  # what the approver never saw
        redis_client.set(key, json.dumps(record))
        before = charts_remote.head()
        click(abot, "approve", notice.button("approve")["value"], MEMBER, fake_slack.response_url("approver"))
        [said] = fake_slack.wait_for_response("approver", timeout=10)
        assert "approved" not in said["text"].lower() or "v6666" not in said["text"], said
        abot.settle()
        assert charts_remote.head() == before
    finally:
        abot.stop()


def test_one_refused_deploy_gets_one_approval_request_however_its_button_value_is_spelt(
    bot_env, tmp_path, fake_github: FakeGitHub, fake_slack: FakeSlack
):
    bot = BotHarness(approvals_env(bot_env, tmp_path, fake_github))
    try:
        bot.slash("whitehall v5000 staging", user=INTEGRATION_ONLY, response_url=fake_slack.response_url("deploy"))
        [refusal] = fake_slack.wait_for_response("deploy", timeout=30)
        encoded, mac = find_button(refusal, "request_approval")["value"].split(".")
        for number, padding in enumerate(("", "=", "==", "===")):
            click(
                bot,
                "request_approval",
                f"{encoded}{padding}.{mac}",
                INTEGRATION_ONLY,
                fake_slack.response_url(f"c{number}"),
            )
            fake_slack.wait_for_response(f"c{number}", timeout=10)
        bot.settle()
        assert len([m for m in fake_slack.roots() if "asks to deploy" in m.text]) == 1
    finally:
        bot.stop()
