"""Pacing shared through the store: one turn per channel for every replica (memory:// store, in process)."""

from __future__ import annotations

from bot.chat.pacing import IN_FLIGHT_SECONDS, Pacer
from bot.store import Store, connect


def two_replicas(interval: float = 1.0) -> tuple[Pacer, Pacer]:
    store = Store(connect("memory://"), "pacing:")
    return Pacer(post_interval=interval, store=store), Pacer(post_interval=interval, store=store)


def test_one_replica_takes_the_turn_and_the_other_waits_while_its_post_is_under_way() -> None:
    first, second = two_replicas()
    assert first.post_wait("#alerts") == 0.0
    waiting = second.post_wait("#alerts")
    assert 0 < waiting <= 1.0  # looks again within an interval, not the whole in-flight hold
    assert second.post_wait("#other") == 0.0  # another channel has a turn of its own


def test_after_a_post_the_channel_is_taken_for_one_interval_by_its_id_and_its_name() -> None:
    first, second = two_replicas()
    assert first.post_wait("#alerts") == 0.0
    first.posted("#alerts", "C0ALERTS")
    for channel in ("#alerts", "C0ALERTS"):  # a card goes by name, a thread reply by ID: one turn
        assert 0.5 < second.post_wait(channel) <= 1.0
    assert second.channel_ids == {"#alerts": "C0ALERTS"}  # learned from the store


def test_an_attempt_that_failed_gives_the_turn_back_after_one_interval_not_the_in_flight_hold() -> None:
    first, second = two_replicas()
    assert first.post_wait("#alerts") == 0.0
    first.posted("#alerts", None)
    ttl = first.store.client.pttl(first._turn_key("#alerts")) / 1000
    assert 0.5 < ttl <= 1.0 + IN_FLIGHT_SECONDS


def test_no_interval_means_no_pacing() -> None:
    first, second = two_replicas(interval=0.0)
    assert first.post_wait("#alerts") == second.post_wait("#alerts") == 0.0
