"""Notices: channel messages that belong to no card, posted once, edited in place, kept across restarts."""

from __future__ import annotations

import time

import pytest

from bot.chat.notices import NoticeBoard
from bot.chat.outbox import Outbox
from bot.chat.pacing import Pacer
from bot.chat.queue import CardQueue
from bot.releases.book import ReleaseBook
from bot.releases.model import Button
from bot.store import Store
from handlers.slack_api import SlackChat
from tests.fakes import FakeSlack


@pytest.fixture
def store(redis_client, redis_prefix) -> Store:
    return Store(redis_client, redis_prefix)


def make(store: Store, fake_slack: FakeSlack, queue: CardQueue | None = None) -> tuple[NoticeBoard, Outbox]:
    from bot import cards

    queue = queue or CardQueue()
    notices = NoticeBoard(
        store, time.time, on_change=lambda notice_id, urgent: queue.touch(("notice", notice_id), urgent)
    )
    book = ReleaseBook(store, time.time, on_change=lambda app, tag, urgent: queue.touch(("release", app, tag), urgent))
    outbox = Outbox(
        chat=SlackChat("xoxb-test", fake_slack.url),
        book=book,
        notices=notices,
        queue=queue,
        pacer=Pacer(post_interval=0.0),
        render=lambda r: ("card", []),
        render_reply=cards.reply_blocks,
        channel="govuk-deploy-alerts",
    )
    return notices, outbox


def test_a_notice_is_posted_once_with_its_buttons_and_edited_in_place(store: Store, fake_slack: FakeSlack) -> None:
    notices, outbox = make(store, fake_slack)
    notice_id = notices.post("govuk-deploy-alerts", "Approve *whitehall* `v1`?", [Button("approve", "Approve", "x")])
    outbox.run_due()
    [message] = fake_slack.roots()
    assert message.text == "Approve *whitehall* `v1`?"
    assert message.button("approve") is not None

    assert notices.edit(notice_id, "Approved by @octocat")
    outbox.run_due()
    [message] = fake_slack.roots()
    assert message.text == "Approved by @octocat" and message.button("approve") is None
    assert fake_slack.count("chat.postMessage") == 1 and fake_slack.count("chat.update") == 1
    assert not notices.get(notice_id).needs_slack


def test_a_notice_not_yet_posted_is_posted_after_a_restart(store: Store, fake_slack: FakeSlack) -> None:
    notices, _ = make(store, fake_slack)
    notices.post("govuk-deploy-alerts", "whitehall is frozen in production")
    _, restarted = make(store, fake_slack)
    assert restarted.recover() == 1
    restarted.run_due()
    assert [m.text for m in fake_slack.roots()] == ["whitehall is frozen in production"]
    assert restarted.recover() == 0


def test_a_notice_slack_refuses_is_given_up_until_it_changes(store: Store, fake_slack: FakeSlack) -> None:
    notices, outbox = make(store, fake_slack)
    fake_slack.fail_next("chat.postMessage", status=200, error="channel_not_found")
    notices.post("no-such-channel", "hello")
    outbox.run_due()
    assert fake_slack.roots() == []
    assert notices.not_on_slack() == []
