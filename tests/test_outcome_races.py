"""Outcomes that arrive within a second of the push still count (fault 13).

Argo CD syncs a commit as soon as it reaches the remote, and the post-sync tests may report
before the bot has written down its own "requested" for that deploy. That late "requested" must
never take the newer outcome away: a promotion right after must see the tests as passed.
"""

from __future__ import annotations

import time

from tests.fakes import FakeSlack
from tests.support.app import BotHarness
from tests.support.charts import ChartsRemote
from tests.support.payloads import smokey_payload
from tests.test_freeze_flow import slash


def wait_until_on_the_remote(charts_remote: ChartsRemote, env: str, app: str, tag: str) -> None:
    deadline = time.monotonic() + 30
    while f"image_tag: {tag}\n" not in charts_remote.read(env, app):
        assert time.monotonic() < deadline, f"{app} {tag} never reached the remote"
        time.sleep(0.005)


def test_outcomes_sent_the_moment_the_commit_lands_let_the_release_be_promoted(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    # router promotes nowhere by itself (both flags false), so only the typed promotion moves it on
    for round_, tag in enumerate(("v513", "v514", "v515")):
        answer = bot.slash(f"router {tag} integration", response_url=fake_slack.response_url(f"deploy-{round_}"))
        assert answer.status_code == 200, answer.text
        wait_until_on_the_remote(charts_remote, "integration", "router", tag)
        sync = {"application": "router", "environment": "integration", "state": "Succeeded", "health": "Healthy"}
        assert bot.webhook("/webhooks/argocd", {**sync, "imageTag": tag}).status_code == 202
        assert bot.webhook("/webhooks/smokey", smokey_payload("router", "integration", tag)).status_code == 202
        assert fake_slack.wait_for_response(f"deploy-{round_}", timeout=15)[0]["text"].startswith(":white_check_mark:")
        bot.settle()
        _, reply = slash(bot, fake_slack, f"promote-{round_}", "promote router to staging")
        assert reply.startswith(f":white_check_mark: Committed *router* `{tag}` to *staging*"), reply
        assert f"image_tag: {tag}\n" in charts_remote.read("staging", "router")


def test_outcomes_of_a_deploy_that_landed_before_its_replica_died_are_kept_when_it_is_recovered(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    from bot.deploys.journal import DeployJournal
    from bot.deploys.request import DeployRequest
    from bot.releases.model import Requester
    from tests.support.app import MEMBER

    # the tag ran in integration before, so its card exists
    answer = bot.slash("router v516 integration", response_url=fake_slack.response_url("first"))
    assert answer.status_code == 200, answer.text
    assert fake_slack.wait_for_response("first", timeout=15)[0]["text"].startswith(":white_check_mark:")
    bot.settle()
    # a replica deploys router v517, pushes it and dies before it writes anything else down
    request = DeployRequest(
        app="router", env="integration", tag="v517", requester=Requester(MEMBER, "octocat"),
        response_url=fake_slack.response_url("recovered"),
    )  # fmt: skip
    dead = DeployJournal(bot.services.store, "a-replica-that-died", bot.services.deployer.journal.seal)
    dead.record(request, time.time())
    text = charts_remote.read("integration", "router").replace("image_tag: v516", "image_tag: v517")
    message = f"Update router image tag to v517 for integration\n\nDeploy-Id: {request.deploy_id}\n"
    charts_remote.commit_directly("integration", "router", text, message)
    # Argo CD syncs it and the tests pass before the replica's deploy is recovered
    sync = {"application": "router", "environment": "integration", "state": "Succeeded", "health": "Healthy"}
    assert bot.webhook("/webhooks/argocd", {**sync, "imageTag": "v517"}).status_code == 202
    assert bot.webhook("/webhooks/smokey", smokey_payload("router", "integration", "v517")).status_code == 202
    bot.settle()
    time.sleep(0.05)
    assert bot.services.deployer.recover() == 1
    assert fake_slack.wait_for_response("recovered", timeout=15)[0]["text"].startswith(":white_check_mark:")
    bot.settle()
    # the late 'requested' did not undo the newer outcomes: the release is promoted at once
    _, reply = slash(bot, fake_slack, "promote-recovered", "promote router to staging")
    assert reply.startswith(":white_check_mark: Committed *router* `v517` to *staging*"), reply
