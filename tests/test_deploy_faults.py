"""Faults a review found in the deploy path and the outbox, each driven through the real part
that had it: real Redis, real git, the fake Slack on loopback."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import redis

from bot.chat.notices import NoticeBoard
from bot.chat.outbox import Outbox
from bot.chat.pacing import Pacer
from bot.chat.queue import CardQueue
from bot.config import load_settings
from bot.deploys.identity import Refusal, identify
from bot.deploys.journal import DeployJournal
from bot.deploys.promotions import Claim, Earlier, Promotions
from bot.deploys.request import DeployRequest
from bot.gitops.charts import ChartsRepo
from bot.gitops.writer import ChartsWriter, PushFateUnknown
from bot.identity.seal import Seal
from bot.releases.book import ReleaseBook
from bot.releases.model import Release, Requester
from bot.releases.transitions import ThreadNote
from bot.store import Store
from handlers.slack_api import SlackChat
from tests.fakes import FakeSlack
from tests.support.app import MEMBER, UNLINKED, BotHarness
from tests.support.charts import ChartsRemote
from tests.test_charts_writer import change, deploy, make_repo

ALICE = Requester("U0ALICE01", "alice")
BOB = Requester("U0BOB0001", "bob")


@pytest.fixture
def store(redis_client, redis_prefix) -> Store:
    return Store(redis_client, redis_prefix)


# -- identity: a refusal is never an identity ---------------------------------------------------------


def test_a_refused_identity_is_a_refusal_and_carries_no_authority() -> None:
    settings = load_settings({"BOT_CONFIG": ""}, require_serve=False)
    answer = identify(settings, UNLINKED)
    assert isinstance(answer, Refusal)
    assert not hasattr(answer, "login") and not hasattr(answer, "is_person")
    assert "not linked to a GitHub login" in answer.text


# -- promotion claims ------------------------------------------------------------------------------------


def test_a_promotion_interrupted_by_the_store_keeps_no_claim_and_is_finished_later(
    bot: BotHarness, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    for path, body in [
        ("/webhooks/argocd", {"state": "Succeeded", "health": "Healthy"}),
        ("/webhooks/smokey", {"status": "Succeeded"}),
    ]:
        payload = {"application": "router", "environment": "integration", "imageTag": "v512", **body}
        assert bot.webhook(path, payload).status_code == 202
    bot.settle()
    value = fake_slack.roots()[0].button("promote")["value"]

    journal = bot.services.deployer.journal
    real_record = journal.keep_claim

    def store_down(*args, **kwargs):
        raise redis.ConnectionError("store down while writing the journal")

    monkeypatch.setattr(journal, "keep_claim", store_down)
    bot.click(value, user=MEMBER, response_url=fake_slack.response_url("down"))
    bot.settle()
    assert "down" not in fake_slack.responses  # recorded, so it is not given up: recovery finishes it

    monkeypatch.setattr(journal, "keep_claim", real_record)
    assert bot.services.deployer.recover() == 1  # the store is back: the click is finished, claim and all
    bot.settle()
    assert "Committed" in fake_slack.wait_for_response("down", timeout=30)[0]["text"]
    assert len(fake_slack.responses["down"]) == 1


def test_two_stale_clicks_at_once_take_the_claim_once_and_keep_the_winners_record(store: Store) -> None:
    promotions = Promotions(store)
    first = promotions.claim("whitehall", "v1", "staging", ALICE, 1.0, "d1")
    assert isinstance(first, Claim)
    promotions.done(first)
    earlier = promotions.claim("whitehall", "v1", "staging", BOB, 2.0, "d2")
    assert isinstance(earlier, Earlier) and earlier.done

    results: list = []
    barrier = threading.Barrier(2)

    def click(who: Requester) -> None:
        barrier.wait()
        results.append((who, promotions.take_over("whitehall", "v1", "staging", earlier, who, 3.0, who.login)))

    threads = [threading.Thread(target=click, args=(who,)) for who in (ALICE, BOB)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [(who, claim) for who, claim in results if claim is not None]
    assert len(winners) == 1
    stored = json.loads(store.client.get(store.key("promotion", "whitehall", "v1", "staging")))
    assert stored["by"] == winners[0][0].to_json() and stored["done"] is False

    loser = BOB if winners[0][0] == ALICE else ALICE
    record = {"by": loser.to_json(), "at": 3.0, "done": False, "deploy_id": loser.login}
    loser_claim = Claim(winners[0][1].key, json.dumps(record))
    promotions.release(loser_claim)  # a loser releasing what it thinks it holds deletes nothing
    assert store.client.get(store.key("promotion", "whitehall", "v1", "staging")) is not None


# -- the outbox ------------------------------------------------------------------------------------------


class FlakySaveBook(ReleaseBook):
    """Fails the first save of what Slack shows, after Slack has taken the message."""

    fail_saves = 1

    def save_slack_view(self, app, tag, update):
        if self.fail_saves:
            self.fail_saves -= 1
            raise redis.ConnectionError("store down after the post")
        return super().save_slack_view(app, tag, update)


def _outbox(book: ReleaseBook, queue: CardQueue, fake_slack: FakeSlack) -> Outbox:
    chat = SlackChat("xoxb-test", fake_slack.url)
    return Outbox(
        chat=chat,
        book=book,
        notices=NoticeBoard(book.store, time.time, on_change=lambda notice_id, urgent: None),
        queue=queue,
        pacer=Pacer(post_interval=0.0),
        render=lambda r: (f"card {r.app} {r.tag}", []),
        render_reply=lambda text, buttons: None,
        channel="govuk-deploy-alerts",
    )


@pytest.mark.parametrize("what", ["card", "reply"])
def test_a_post_whose_save_failed_is_not_posted_again(store: Store, fake_slack: FakeSlack, what: str) -> None:
    queue = CardQueue()
    book = FlakySaveBook(
        store, time.time, on_change=lambda app, tag, urgent: queue.touch(("release", app, tag), urgent)
    )
    book.fail_saves = 0
    if what == "reply":
        book.apply("whitehall", "v1", ThreadNote("first card"))
        outbox = _outbox(book, queue, fake_slack)
        outbox.run_due()
        book.apply("whitehall", "v1", ThreadNote("a reply"))
    else:
        book.apply("whitehall", "v1", ThreadNote("first card"))
        outbox = _outbox(book, queue, fake_slack)
    book.fail_saves = 1
    outbox.start()
    try:
        assert outbox.drain(timeout=20)
    finally:
        outbox.stop()
    texts = [m.text for m in fake_slack.messages]
    assert texts.count("card whitehall v1") == 1
    assert texts.count("first card") == 1 and texts.count("a reply") == (1 if what == "reply" else 0)
    assert not book.get("whitehall", "v1").needs_slack


def test_the_outbox_outlives_a_release_it_cannot_read(store: Store, fake_slack: FakeSlack) -> None:
    queue = CardQueue()
    book = ReleaseBook(store, time.time, on_change=lambda app, tag, urgent: queue.touch(("release", app, tag), urgent))
    broken = Release(app="whitehall", tag="v9", created=0.0).to_json()
    broken["envs"] = {"integration": {"state": "exploded"}}
    store.client.set(store.key("release", "whitehall", "v9"), json.dumps(broken))
    outbox = _outbox(book, queue, fake_slack)
    outbox.start()
    try:
        queue.touch(("release", "whitehall", "v9"))
        book.apply("whitehall", "v10", ThreadNote("still working"))
        assert outbox.drain(timeout=20)
        assert outbox.is_alive()
    finally:
        outbox.stop()
    assert [m.text for m in fake_slack.roots()] == ["card whitehall v10"]


def test_readiness_fails_when_the_outbox_has_stopped(bot: BotHarness) -> None:
    assert bot.http.get("/readyz").status_code == 200
    bot.services.outbox.stop()
    bot.services.outbox._worker = threading.Thread(target=lambda: None)
    bot.services.outbox._worker.start()
    bot.services.outbox._worker.join()
    answer = bot.http.get("/readyz")
    assert answer.status_code == 503 and "outbox" in answer.json()["error"]


# -- a push whose fate is unknown ---------------------------------------------------------------------------


class PushThenDie(ChartsRepo):
    """git pushes, then fails without saying so (the connection drops after the remote took it)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.writer._push = push_then_die(self.writer)


class DieAndLoseTheRemote(ChartsRepo):
    """git fails mid-push and the remote cannot be asked what it has."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.writer._push = hang_up
        self.copy.remote_head = lambda: None


def hang_up() -> None:
    raise PushFateUnknown("push failed: the remote hung up unexpectedly")


def push_then_die(writer: ChartsWriter):
    def push() -> None:
        ChartsWriter._push(writer)
        hang_up()

    return push


def test_a_push_that_landed_but_failed_to_say_so_is_committed(
    charts_remote: ChartsRemote, tmp_path: Path, store: Store
) -> None:
    charts = make_repo(charts_remote.url, tmp_path / "wc", store, cls=PushThenDie)
    charts.prepare()
    charts.start()
    try:
        outcome = deploy(charts, change("whitehall", "v5001"))
    finally:
        charts.stop()
    assert outcome.committed and outcome.commit == charts_remote.head()


def test_a_push_whose_fate_cannot_be_told_is_unknown_not_failed(
    charts_remote: ChartsRemote, tmp_path: Path, store: Store
) -> None:
    charts = make_repo(charts_remote.url, tmp_path / "wc", store, cls=DieAndLoseTheRemote)
    charts.prepare()
    charts.start()
    try:
        outcome = deploy(charts, change("whitehall", "v5002"))
    finally:
        charts.stop()
    assert outcome.status == "unknown", outcome


def test_an_unknown_push_is_settled_once_by_the_recovery_and_told_once(
    bot_env: dict[str, str], fake_slack: FakeSlack, charts_remote: ChartsRemote, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = BotHarness(bot_env)
    try:
        charts = bot.services.charts
        monkeypatch.setattr(charts.writer, "_push", push_then_die(charts.writer))
        monkeypatch.setattr(charts.copy, "remote_head", lambda: None)
        bot.slash("whitehall v5003 integration", response_url=fake_slack.response_url("unknown"))
        first = fake_slack.wait_for_response("unknown", timeout=30)[0]["text"]
        assert "can't tell yet" in first and "Nothing was committed" not in first

        assert bot.services.deployer.recover() == 1
        bot.settle()
        replies = fake_slack.wait_for_response("unknown", timeout=30, count=2)
        assert "Committed" in replies[1]["text"]
        assert bot.services.deployer.recover() == 0
        bot.settle()
        assert len(fake_slack.responses["unknown"]) == 2
        log = [subject for _, subject, _ in charts_remote.log()]
        assert log.count("Update whitehall image tag to v5003 for integration") == 1
    finally:
        bot.stop()


# -- a replica paused past its heartbeat -------------------------------------------------------------------


def test_a_paused_replica_whose_deploy_was_taken_over_neither_pushes_nor_speaks(
    charts_remote: ChartsRemote, tmp_path: Path, store: Store
) -> None:
    seal = Seal(b"test-journal-seal-key-0123456789abcdef")
    paused, other = DeployJournal(store, "replica-a", seal), DeployJournal(store, "replica-b", seal)
    request = DeployRequest(app="whitehall", env="integration", tag="v5004", requester=ALICE)
    paused.record(request, time.time())
    taken = other.take_over(lambda owner: False, set())  # replica-a's heartbeat ran out while it was paused
    assert [entry.request.deploy_id for entry in taken] == [request.deploy_id]

    charts = make_repo(charts_remote.url, tmp_path / "wc", store, owned=paused.owned)
    charts.prepare()
    charts.start()
    try:
        head = charts_remote.head()
        outcome = deploy(charts, change("whitehall", "v5004", deploy_id=request.deploy_id))
    finally:
        charts.stop()
    assert outcome.status == "taken_over"
    assert charts_remote.head() == head
    assert not paused.finish(request.deploy_id)  # so it tells nobody: the new owner does
    assert other.finish(request.deploy_id)


def test_automatic_promotions_waiting_at_once_are_bounded(bot: BotHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 9: a flood of passing tests cannot queue unbounded work; past the bound they are dropped, logged."""
    import bot.deploys.deployer as deployer_module

    deployer = bot.services.deployer
    monkeypatch.setattr(deployer_module, "MAX_AUTOMATIC_IN_FLIGHT", 2)
    gate = threading.Event()
    busy = [deployer.jobs.submit(gate.wait, 30) for _ in range(8)]  # every worker held up
    try:
        for n in range(5):
            deployer.tests_passed("whitehall", f"v60{n}", "integration")
        assert deployer._automatic_in_flight == 2
    finally:
        gate.set()
        for job in busy:
            job.result(timeout=30)
    bot.settle()
    assert deployer._automatic_in_flight == 0


def test_words_decided_but_not_yet_said_are_said_after_a_crash_and_nothing_is_redone(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    """Issue 13: a request leaves the journal only once its requester has been told; a replica that died
    in between leaves its words behind, and whoever takes the entry over says them, not the deploy again."""
    request = DeployRequest(
        app="router", env="integration", tag="v5100", requester=ALICE, response_url=fake_slack.response_url("late")
    )
    dead = DeployJournal(bot.services.store, "a-replica-that-died", bot.services.deployer.journal.seal)
    dead.record(request, time.time())
    assert dead.settle(request.deploy_id, "Committed router v5100 (said by the replica that died)")
    head = charts_remote.head()
    assert bot.services.deployer.recover() == 1
    bot.settle()
    [told] = fake_slack.wait_for_response("late", timeout=30)
    assert told["text"] == "Committed router v5100 (said by the replica that died)"
    assert charts_remote.head() == head
    assert bot.services.deployer.recover() == 0  # gone from the journal once said
