"""Every acknowledged action is one journaled task, finished once and told once (issue 18).

Each test reproduces one fault a review found, end to end through the contract (signed Slack
requests, webhooks, real git and Redis, the fake Slack on loopback); a fault that needs a store
blip or a crash at one exact step gets it by replacing that one step, as test_deploy_faults does.
Each failed against the code before the fix.
"""

from __future__ import annotations

import contextlib
import time

import pytest

from bot.deploys.request import DeployRequest
from bot.releases.model import Requester
from bot.store import StoreError
from tests.fakes import FakeGitHub, FakeSlack
from tests.support.app import INTEGRATION_ONLY, MEMBER, OUTSIDER, BotHarness
from tests.support.charts import ChartsRemote
from tests.test_approvals import SECOND_MEMBER, abot, click, request_notice  # noqa: F401 - abot is a fixture
from tests.test_deploy_faults import push_then_die
from tests.test_freeze_flow import audit, passes_in_integration
from tests.test_windows_flow import MONDAY_0931, windowed  # noqa: F401 - a fixture

STAGING_TOKEN_ENV = "WEBHOOK_TOKEN"


def _fail_once(target: object, name: str, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make `target.name` raise StoreError the first time it is called (a store blip at that step)."""
    original = getattr(target, name)
    calls = [0]

    def blip(*args, **kwargs):
        calls[0] += 1
        if calls[0] == 1:
            raise StoreError("connection reset by peer")
        return original(*args, **kwargs)

    monkeypatch.setattr(target, name, blip)
    return calls


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _recover_until_idle(bot: BotHarness) -> None:
    bot.settle()
    while bot.services.deployer.recover():
        bot.settle()


# -- fault 1: a typed promotion that landed is reported with its tag -------------------------------------


def test_a_typed_promotion_whose_push_fate_was_unknown_is_reported_with_its_tag(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot.slash("router v6101 integration", response_url=fake_slack.response_url("deploy"))
    assert "Committed" in fake_slack.wait_for_response("deploy", timeout=30)[0]["text"]
    bot.settle()  # the card knows of the deploy before its outcomes come (issue 18 fault 13 is another slice's)
    passes_in_integration(bot, "router", "v6101")
    charts = bot.services.charts
    monkeypatch.setattr(charts.writer, "_push", push_then_die(charts.writer))
    monkeypatch.setattr(charts.copy, "remote_head", lambda: None)
    bot.slash("promote router staging", response_url=fake_slack.response_url("promote"))
    first = fake_slack.wait_for_response("promote", timeout=30)[0]["text"]
    assert "can't tell yet" in first, first
    monkeypatch.undo()

    assert bot.services.deployer.recover() == 1
    bot.settle()
    told = [r["text"] for r in fake_slack.wait_for_response("promote", timeout=30, count=2)]
    assert "Committed" in told[1] and "v6101" in told[1] and "None" not in told[1], told
    assert charts_remote.read("staging", "router").startswith("image_tag: v6101")
    committed = audit(bot, "deploy_committed", app="router", env="staging")
    assert [r["tag"] for r in committed] == ["v6101"]
    bot.settle()
    assert len(fake_slack.responses["promote"]) == 2


# -- fault 2: a slow reply is said once on a healthy replica ----------------------------------------------


def test_a_reply_slower_than_the_recovery_interval_is_said_once(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    commits = charts_remote.commit_count()
    fake_slack.latency_seconds = 3  # every reply takes 3 s to leave
    try:
        bot.slash("whitehall v6201 integration", response_url=fake_slack.response_url("slow"))
        _wait(lambda: charts_remote.commit_count() == commits + 1, 30, "the deploy never landed")
        # the recovery job runs while the reply is on its way (every 5 s in production)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not fake_slack.responses.get("slow"):
            bot.services.deployer.recover()
            time.sleep(0.2)
        fake_slack.wait_for_response("slow", timeout=30)
        bot.settle()
    finally:
        fake_slack.latency_seconds = 0
    time.sleep(1)
    bot.settle()
    told = [r["text"] for r in fake_slack.responses["slow"]]
    assert len(told) == 1 and "Committed" in told[0], told


# -- fault 3: an approval interrupted after its claim is finished, not lost --------------------------------


def test_an_approval_interrupted_by_the_store_after_its_claim_is_finished_later(
    abot: BotHarness,  # noqa: F811 - the fixture
    fake_slack: FakeSlack,
    charts_remote: ChartsRemote,
    monkeypatch: pytest.MonkeyPatch,  # noqa: F811
) -> None:
    abot.slash("whitehall v6301 production", user=MEMBER, response_url=fake_slack.response_url("deploy"))
    fake_slack.wait_for_response("deploy", timeout=30)
    notice = request_notice(fake_slack, abot)
    _fail_once(abot.services.approvals, "_save", monkeypatch)
    click(abot, "approve", notice.button("approve")["value"], SECOND_MEMBER, fake_slack.response_url("approver"))
    abot.services.approvals.wait_idle()
    abot.settle()
    _recover_until_idle(abot)
    told = [r["text"] for r in fake_slack.wait_for_response("deploy", timeout=30, count=3)]
    assert "Committed" in told[-1], told
    assert charts_remote.read("production", "whitehall").startswith("image_tag: v6301")
    approver = [r["text"] for r in fake_slack.responses.get("approver", [])]
    assert approver and not any("Nothing was done" in t or "try again" in t.lower() for t in approver), approver
    pending = abot.services.store.client.zrange(abot.services.approvals._pending_key, 0, -1)
    assert pending == []


# -- fault 5: the replica that took over recognises its predecessor's commit --------------------------------


def test_a_deploy_its_dead_predecessor_pushed_is_reported_committed_not_already_running(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    request = DeployRequest(
        app="whitehall", env="integration", tag="v6501", requester=Requester(MEMBER, "octocat"),
        response_url=fake_slack.response_url("taken"),
    )  # fmt: skip
    journal = bot.services.deployer.journal
    journal.record(request, bot.fake_clock())
    # the paused replica woke and pushed after this one had looked for its commit: it is on the remote now
    sha = charts_remote.commit_directly(
        "integration",
        "whitehall",
        "image_tag: v6501\nautomatic_deploys_enabled: true\npromote_deployment: false\n",
        "Update whitehall image tag to v6501 for integration\n\n"
        f"Requested-by: octocat ({MEMBER})\nDeploy-Id: {request.deploy_id}\n",
    )
    bot.services.deployer._start(request)  # as recovery starts it, its landed check already made
    bot.settle()
    [told] = fake_slack.wait_for_response("taken", timeout=30)
    assert "Committed" in told["text"] and "already runs" not in told["text"], told
    committed = audit(bot, "deploy_committed", app="whitehall", env="integration")
    assert [(r["tag"], r["commit"]) for r in committed] == [("v6501", sha)]


# -- fault 7: words are said only once they are written down ---------------------------------------------


def test_an_answer_whose_words_could_not_be_written_is_said_once(
    bot: BotHarness, fake_slack: FakeSlack, fake_github: FakeGitHub, charts_remote: ChartsRemote,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    journal = bot.services.deployer.journal
    settle, finish, blip = journal.settle, journal.finish, [True]

    def unless_blip(original):
        def call(*args, **kwargs):
            if blip[0]:
                raise StoreError("connection reset by peer")
            return original(*args, **kwargs)

        return call

    # the store blips while GitHub is down too: the refusal's words can be neither written nor cleared
    monkeypatch.setattr(journal, "settle", unless_blip(settle))
    monkeypatch.setattr(journal, "finish", unless_blip(finish))
    fake_github.down = True  # GitHub is down: the team check fails closed
    try:
        bot.slash("whitehall v6701 integration", response_url=fake_slack.response_url("blip"))
        bot.settle()
        time.sleep(0.5)
        bot.settle()
    finally:
        fake_github.down = False
        blip[0] = False
    _recover_until_idle(bot)
    time.sleep(0.5)
    bot.settle()
    told = [r["text"] for r in fake_slack.responses.get("blip", [])]
    assert len(told) == 1, told
    landed = charts_remote.read("integration", "whitehall").startswith("image_tag: v6701")
    assert landed == ("Committed" in told[0]), (told, landed)


# -- fault 8: a window hold is kept until its deploy is recorded -------------------------------------------


def test_a_window_hold_survives_a_store_blip_when_it_is_released(
    windowed: BotHarness,  # noqa: F811 - the fixture
    fake_slack: FakeSlack,
    charts_remote: ChartsRemote,
    monkeypatch: pytest.MonkeyPatch,  # noqa: F811
) -> None:
    passes_in_integration(windowed, "whitehall", "v3232")  # its automatic promotion to staging is held
    assert [h.tag for h in windowed.services.safety.holds.all()] == ["v3232"]
    windowed.fake_clock.offset = MONDAY_0931 - time.time()
    _fail_once(windowed.services.deployer.journal, "record", monkeypatch)
    with contextlib.suppress(StoreError):  # the scheduler logs it and tries again next time
        windowed.services.safety.release_window_holds()
    assert [h.tag for h in windowed.services.safety.holds.all()] == ["v3232"], "the held deploy was lost"
    assert windowed.services.safety.release_window_holds() == 1
    windowed.settle()
    assert charts_remote.read("staging", "whitehall").startswith("image_tag: v3232")


# -- fault 9: only a deploy that went ahead overtakes an older one ---------------------------------------------


def test_a_refused_request_does_not_overtake_a_recovered_deploy(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    request = DeployRequest(
        app="whitehall", env="integration", tag="v6901", requester=Requester(MEMBER, "octocat"),
        response_url=fake_slack.response_url("older"),
    )  # fmt: skip
    journal = bot.services.deployer.journal
    journal.record(request, bot.fake_clock())
    bot.services.store.client.hset(journal._key("owners"), request.deploy_id, "a-replica-that-died")
    # a newer request for the same app and environment, refused: it never deployed anything
    bot.slash("whitehall v6902 integration", user=OUTSIDER, response_url=fake_slack.response_url("refused"))
    fake_slack.wait_for_response("refused", timeout=30)
    bot.settle()
    assert bot.services.deployer.recover() == 1
    bot.settle()
    [told] = fake_slack.wait_for_response("older", timeout=30)
    assert "Committed" in told["text"], told
    assert charts_remote.read("integration", "whitehall").startswith("image_tag: v6901")


# -- fault 10: one rollback, one deploy_requested ----------------------------------------------------------------


def test_a_rollback_is_requested_once_in_the_audit(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    for name, tag in (("d1", "v6010"), ("d2", "v6011")):
        bot.slash(f"router {tag} integration", response_url=fake_slack.response_url(name))
        assert "Committed" in fake_slack.wait_for_response(name, timeout=30)[0]["text"]
        bot.settle()
    bot.slash("rollback router integration", response_url=fake_slack.response_url("rollback"))
    [told] = fake_slack.wait_for_response("rollback", timeout=30)
    assert "Committed" in told["text"], told
    bot.settle()
    requested = [r for r in audit(bot, "deploy_requested", app="router", env="integration") if r["tag"] == "v6010"]
    rolled = audit(bot, "rollback", app="router", env="integration")
    assert len(rolled) == 1
    assert [r["deploy_id"] for r in requested if r["deploy_id"] == rolled[0]["deploy_id"]] == [rolled[0]["deploy_id"]]
    ids = [r["deploy_id"] for r in audit(bot, "deploy_requested", app="router", env="integration")]
    assert len(ids) == len(set(ids)), ids


# -- fault 11: a forced deploy that waits for approval is announced once, when committed ---------------------------


def test_a_forced_deploy_awaiting_approval_is_announced_only_when_it_is_committed(
    abot: BotHarness,  # noqa: F811 - the fixture
    fake_slack: FakeSlack,
    charts_remote: ChartsRemote,
) -> None:
    abot.slash("freeze whitehall production", response_url=fake_slack.response_url("freeze"))
    fake_slack.wait_for_response("freeze", timeout=30)
    abot.settle()
    abot.slash(
        "whitehall v6111 production --force incident fix", user=MEMBER, response_url=fake_slack.response_url("denied")
    )
    fake_slack.wait_for_response("denied", timeout=30)
    notice = request_notice(fake_slack, abot)
    click(abot, "deny", notice.button("deny")["value"], SECOND_MEMBER, fake_slack.response_url("decider"))
    fake_slack.wait_for_response("decider", timeout=30)
    abot.services.approvals.wait_idle()
    abot.settle()
    assert audit(abot, "override") == [], "a denied deploy was announced as an override"

    abot.slash(
        "whitehall v6112 production --force incident fix", user=MEMBER, response_url=fake_slack.response_url("approved")
    )
    fake_slack.wait_for_response("approved", timeout=30)
    abot.settle()
    notices = [m for m in fake_slack.roots() if "asks to deploy" in m.text and "v6112" in m.text]
    assert audit(abot, "override") == [], "announced before the approval"
    click(abot, "approve", notices[0].button("approve")["value"], SECOND_MEMBER, fake_slack.response_url("ok"))
    told = fake_slack.wait_for_response("approved", timeout=30, count=3)
    assert "Committed" in told[-1]["text"], told
    abot.settle()
    assert [r["tag"] for r in audit(abot, "override")] == ["v6112"]


# -- the suspected keep_claim leak ----------------------------------------------------------------------------------


def test_a_promotion_taken_over_at_its_claim_leaves_this_replicas_hands(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    bot.slash("router v6121 integration", response_url=fake_slack.response_url("deploy"))
    fake_slack.wait_for_response("deploy", timeout=30)
    bot.settle()
    passes_in_integration(bot, "router", "v6121")
    request = DeployRequest(
        app="router", env="staging", tag="v6121", requester=Requester(MEMBER, "octocat"),
        response_url=fake_slack.response_url("promote"), source_env="integration", require_tests=True,
    )  # fmt: skip
    deployer, store = bot.services.deployer, bot.services.store
    deployer.journal.record(request, bot.fake_clock())
    store.heartbeat("a-live-replica", 60)
    store.client.hset(deployer.journal._key("owners"), request.deploy_id, "a-live-replica")  # it took it over
    deployer._start(request)
    bot.settle()
    assert request.deploy_id not in deployer._in_hand
    assert fake_slack.responses.get("promote") is None  # the owner answers, not this replica
    assert store.client.get(deployer.promotions.key("router", "v6121", "staging")) is None  # the claim is given up


def test_a_team_check_github_could_not_answer_is_worded_alike_for_a_deploy_and_a_rollback(
    bot: BotHarness, fake_slack: FakeSlack, fake_github: FakeGitHub
) -> None:
    fake_github.down = True
    try:
        bot.slash("rollback router staging", user=INTEGRATION_ONLY, response_url=fake_slack.response_url("rb"))
        bot.slash("whitehall v6131 staging", user=INTEGRATION_ONLY, response_url=fake_slack.response_url("deploy"))
        rollback = fake_slack.wait_for_response("rb", timeout=30)[0]["text"]
        deploy = fake_slack.wait_for_response("deploy", timeout=30)[0]["text"]
    finally:
        fake_github.down = False
    assert "couldn't check" in deploy, deploy
    assert rollback == deploy, (rollback, deploy)  # a rollback is a deploy: one check, one wording


# -- an approval request made by a deploy that runs again after a crash is made once ----------------------------


def test_a_deploy_run_again_after_a_crash_asks_for_its_approval_once(
    abot: BotHarness,  # noqa: F811 - the fixture
    fake_slack: FakeSlack,
) -> None:
    request = DeployRequest(
        app="whitehall", env="production", tag="v6141", requester=Requester(MEMBER, "octocat"),
        response_url=fake_slack.response_url("asked"),
    )  # fmt: skip
    journal, store = abot.services.deployer.journal, abot.services.store
    for _ in range(2):  # the second time: its replica died after asking, before the words were written
        journal.record(request, abot.fake_clock())
        store.client.hset(journal._key("owners"), request.deploy_id, "a-replica-that-died")
        assert abot.services.deployer.recover() == 1
        abot.settle()
    notices = [m for m in fake_slack.roots() if "asks to deploy" in m.text and "v6141" in m.text]
    assert len(notices) == 1, [m.text for m in notices]
    assert store.client.zcard(abot.services.approvals._pending_key) == 1


# -- fault 5, the other half: ownership checked again just before the push ------------------------------------------


def test_a_deploy_taken_over_between_its_commit_and_its_push_is_not_pushed(
    charts_remote: ChartsRemote, tmp_path, redis_client, redis_prefix
) -> None:
    from bot.store import Store
    from tests.test_charts_writer import change, deploy, make_repo

    store = Store(redis_client, redis_prefix)
    answers = iter([{"test-whitehall-v6551"}])  # owned when the batch is built, taken over by the push

    def owned(deploy_ids: list[str]) -> set[str]:
        return next(answers, set())

    commits = charts_remote.commit_count()
    charts = make_repo(charts_remote.url, tmp_path / "wc", store, owned=owned)
    charts.prepare()
    charts.start()
    try:
        outcome = deploy(charts, change("whitehall", "v6551"))
    finally:
        charts.stop()
    assert outcome.status == "taken_over", outcome
    assert charts_remote.commit_count() == commits


# -- a freeze or unfreeze run again after a crash between its change and its final words ---------------------


@pytest.mark.parametrize("command", ["freeze whitehall staging database migration", "unfreeze whitehall staging"])
def test_a_scope_change_run_again_after_a_crash_is_announced_and_audited_once(
    bot: BotHarness, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    from tests.test_freeze_flow import announcements

    if command.startswith("unfreeze"):
        bot.slash("freeze whitehall staging database migration", response_url=fake_slack.response_url("before"))
        fake_slack.wait_for_response("before", timeout=30)
        bot.settle()
    before = len(announcements(fake_slack))
    action = "unfreeze" if command.startswith("unfreeze") else "freeze"
    audited_before = len(audit(bot, action, app="whitehall"))
    # the replica dies after the change is announced and audited, before its words are written down
    _fail_once(bot.services.deployer.journal, "settle", monkeypatch)
    bot.slash(command, response_url=fake_slack.response_url("scope"))
    bot.settle()
    _recover_until_idle(bot)
    fake_slack.wait_for_response("scope", timeout=30)
    bot.settle()
    assert len(fake_slack.responses.get("scope", [])) == 1
    assert len(announcements(fake_slack)) - before == 1, announcements(fake_slack)
    assert len(audit(bot, action, app="whitehall")) - audited_before == 1


# -- a request_approval click is one journaled task, finished once after a crash ---------------------------


def test_an_approval_request_interrupted_after_its_click_is_posted_and_told_once_later(
    abot: BotHarness,  # noqa: F811 - the fixture
    fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from tests.support.slack_requests import find_button
    from tests.test_approvals import click as click_button

    abot.slash("whitehall v5000 staging", user=INTEGRATION_ONLY, response_url=fake_slack.response_url("deploy"))
    [refusal] = fake_slack.wait_for_response("deploy", timeout=30)
    value = find_button(refusal, "request_approval")["value"]
    # the store blips (or the replica dies) after the click was acknowledged, before the request is posted
    _fail_once(abot.services.notices, "post", monkeypatch)
    click_button(abot, "request_approval", value, INTEGRATION_ONLY, fake_slack.response_url("asked"))
    abot.settle()
    _recover_until_idle(abot)
    _wait(lambda: fake_slack.responses.get("asked"), 30, "the requester is told")
    abot.settle()
    told = [r["text"] for r in fake_slack.responses["asked"]]
    assert len(told) == 1 and "asked for an approval" in told[0], told
    assert len([m for m in fake_slack.roots() if "asks to deploy" in m.text]) == 1


# -- a journal entry the bot did not write is never run ------------------------------------------------------


def test_a_journal_entry_injected_into_the_store_is_not_run_on_recovery(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    import json

    # anyone who can write to Redis writes a deploy "as" a person, owned by a replica that is gone
    forged = DeployRequest(
        app="whitehall", env="integration", tag="v6666", requester=Requester(MEMBER, "octocat"),
        response_url=fake_slack.response_url("forged"),
    )  # fmt: skip
    store = bot.services.store
    entry = json.dumps({"kind": "deploy", "request": forged.to_json(), "at": time.time()})
    store.client.hset(store.key("deploy-journal", "requests"), forged.task_id, entry)
    store.client.hset(store.key("deploy-journal", "owners"), forged.task_id, "a-replica-that-died")
    head = charts_remote.head()
    bot.services.deployer.recover()
    bot.settle()
    time.sleep(1.0)
    bot.settle()
    assert charts_remote.head() == head
    assert not charts_remote.read("integration", "whitehall").startswith("image_tag: v6666")
    assert not fake_slack.responses.get("forged")


# -- a push killed by git's wall clock after another replica took the deploy over ---------------------------


def test_a_replica_whose_push_timed_out_after_its_deploy_was_taken_over_says_nothing(
    bot: BotHarness, fake_slack: FakeSlack
) -> None:
    from bot.deploys.journal import DeployJournal
    from bot.gitops.writer import Outcome

    request = DeployRequest(
        app="whitehall", env="integration", tag="v6702", requester=Requester(MEMBER, "octocat"),
        response_url=fake_slack.response_url("killed"),
    )  # fmt: skip
    journal = bot.services.deployer.journal
    journal.record(request, time.time())
    # this replica's push hangs past its heartbeat: the other replica takes the deploy over (and answers)
    other = DeployJournal(bot.services.store, "replica-b", journal.seal)
    assert [e.request.deploy_id for e in other.take_over(lambda owner: False, set())] == [request.deploy_id]
    # then git's wall clock kills the hung push: its fate is unknown to this replica
    bot.services.deployer._finish(request, None, Outcome("unknown", "v6702", reason="git push took too long"))
    bot.settle()
    time.sleep(0.5)
    bot.settle()
    assert not fake_slack.responses.get("killed")  # only the owner speaks
    assert other.owned([request.deploy_id]) == {request.deploy_id}  # nor is the deploy taken from it
