"""Which card the outbox visits next: urgent first, then the longest waiting; visits coalesce."""

from __future__ import annotations

from bot.chat.queue import CardQueue


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def take(queue: CardQueue):
    with queue.changed:
        return queue.take_due()


def test_an_urgent_card_goes_before_cards_queued_earlier() -> None:
    clock = Clock()
    queue = CardQueue(clock)
    for n in range(20):
        queue.touch(("app", f"v{n}"))
        clock.now += 0.01
    queue.touch(("app", "failed"), urgent=True)
    assert take(queue)[0] == ("app", "failed")
    assert take(queue)[0] == ("app", "v0")


def test_many_touches_of_one_card_are_one_visit() -> None:
    queue = CardQueue(Clock())
    for _ in range(5):
        queue.touch(("app", "v1"))
    assert len(queue) == 1


def test_a_delayed_card_is_not_due_yet_and_says_when_it_will_be() -> None:
    clock = Clock()
    queue = CardQueue(clock)
    queue.touch(("app", "v1"), delay=2.0)
    key, wait = take(queue)
    assert key is None and wait == 2.0
    clock.now += 2.0
    assert take(queue)[0] == ("app", "v1")


def test_an_urgent_card_stays_urgent_through_a_retry_until_settled() -> None:
    clock = Clock()
    queue = CardQueue(clock)
    queue.touch(("app", "failed"), urgent=True)
    assert take(queue)[0] == ("app", "failed")
    queue.touch(("app", "routine"))
    queue.touch(("app", "failed"), delay=1.0)  # paced: try again in a second
    clock.now += 1.0
    assert take(queue)[0] == ("app", "failed")
    queue.settled(("app", "failed"))
    queue.touch(("app", "failed"))
    clock.now += 1.0
    assert take(queue)[0] == ("app", "routine")


def test_cards_only_heard_of_wait_behind_every_real_deploys_card_even_an_urgent_one() -> None:
    clock = Clock()
    queue = CardQueue(clock)
    for n in range(30):
        queue.touch(("release", "made-up", f"v{n}"), urgent=n % 2 == 0, background=True)
        clock.now += 0.01
    queue.touch(("release", "whitehall", "real"))
    queue.touch(("release", "router", "real-failure"), urgent=True)
    assert take(queue)[0] == ("release", "router", "real-failure")
    assert take(queue)[0] == ("release", "whitehall", "real")
    assert take(queue)[0] == ("release", "made-up", "v0")  # then the heard-of ones, urgent first
    assert take(queue)[0] == ("release", "made-up", "v2")


def test_a_card_heard_of_stays_behind_through_retries_until_the_bot_deploys_it() -> None:
    clock = Clock()
    queue = CardQueue(clock)
    queue.touch(("release", "made-up", "v1"), background=True)
    queue.touch(("release", "made-up", "v1"), delay=0.0)  # a retry says nothing of it: still behind
    queue.touch(("release", "whitehall", "real"))
    assert take(queue)[0] == ("release", "whitehall", "real")
    queue.touch(("release", "made-up", "v1"), background=False)  # the bot deployed it: a real card now
    queue.touch(("release", "whitehall", "later"))
    clock.now += 1.0
    assert take(queue)[0] == ("release", "made-up", "v1")


def test_cards_waiting_for_the_post_turn_take_it_in_order_not_by_who_asked_first() -> None:
    clock = Clock()
    queue = CardQueue(clock)
    for n in range(3):
        queue.touch(("release", "whitehall", f"v{n}"), background=True)
    for _ in range(3):  # each finds the channel's turn taken until 101.0
        queue.wait_for_turn(take(queue)[0], 101.0 - clock.now)
        clock.now += 0.01
    clock.now = 100.5
    queue.touch(("release", "router", "v1"), urgent=True)
    assert take(queue)[0] == ("release", "router", "v1")
    queue.wait_for_turn(("release", "router", "v1"), 0.501)  # the same turn, a millisecond later by its reckoning
    clock.now = 101.0
    assert take(queue)[0] is None
    clock.now = 101.001
    assert take(queue)[0] == ("release", "router", "v1")
    assert take(queue)[0] == ("release", "whitehall", "v0")  # finds the turn gone, and waits again with the rest
