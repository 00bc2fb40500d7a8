"""Freezes: which freezes cover an app in an environment, kept in the real store."""

from __future__ import annotations

import redis

from bot.releases.model import Requester
from bot.safety.freezes import ALL, Freeze, Freezes, covering
from bot.store import Store

ALICE = Requester("U0ALICE01", "alice")
BOB = Requester("U0BOB0001", "bob")


def test_a_freeze_covers_what_its_scope_names():
    assert Freeze("whitehall", "staging", ALICE, 1.0).covers("whitehall", "staging")
    assert not Freeze("whitehall", "staging", ALICE, 1.0).covers("whitehall", "production")
    assert not Freeze("whitehall", "staging", ALICE, 1.0).covers("router", "staging")
    assert Freeze(ALL, "staging", ALICE, 1.0).covers("router", "staging")
    assert Freeze("router", ALL, ALICE, 1.0).covers("router", "production")
    assert Freeze(ALL, ALL, ALICE, 1.0).covers("anything", "anywhere")


def test_covering_lists_every_covering_freeze_oldest_first():
    freezes = [
        Freeze(ALL, ALL, BOB, 3.0, "incident"),
        Freeze("whitehall", "staging", ALICE, 1.0),
        Freeze(ALL, "production", ALICE, 2.0),
    ]
    assert [f.at for f in covering(freezes, "whitehall", "staging")] == [1.0, 3.0]
    assert [f.at for f in covering(freezes, "router", "production")] == [2.0, 3.0]


def test_freezes_are_kept_in_the_store_and_unfreeze_lifts_exactly_one_scope(redis_url, redis_prefix):
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        first = Freezes(Store(client, redis_prefix))
        first.freeze(Freeze(ALL, "staging", ALICE, 1.0, "release day"))
        assert first.freeze(Freeze("whitehall", "staging", BOB, 2.0, "migration")) is None
        replaced = first.freeze(Freeze("whitehall", "staging", BOB, 3.0, "migration, again"))
        assert replaced == Freeze("whitehall", "staging", BOB, 2.0, "migration")

        second = Freezes(Store(client, redis_prefix))  # another replica, or after a restart
        assert [(f.app, f.by, f.reason) for f in second.covering("whitehall", "staging")] == [
            (ALL, ALICE, "release day"),
            ("whitehall", BOB, "migration, again"),
        ]
        assert second.unfreeze(ALL, "staging") == Freeze(ALL, "staging", ALICE, 1.0, "release day")
        assert second.unfreeze(ALL, "staging") is None
        assert [f.scope for f in first.covering("whitehall", "staging")] == [("whitehall", "staging")]
        assert first.covering("router", "staging") == []
    finally:
        client.close()
