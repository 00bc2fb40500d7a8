"""The release's stored form: every field survives a round trip, and what it keeps is bounded."""

from __future__ import annotations

import json

import pytest

from bot.releases.model import CI, MAX_POSTED_REPLIES, CardRef, Promotion, Release, Requester, State


def test_a_release_survives_a_round_trip_through_json() -> None:
    r = Release(app="whitehall", tag="v1", created=1.0, version=3, rendered=2, shown="abc", card=CardRef("C1", "1.2"))
    entry = r.entry("integration")
    entry.state, entry.at, entry.requester, entry.commit = State.TESTS_PASSED, 5.0, Requester("U1", "octo"), "sha"
    entry.automatic, entry.application, entry.workflow_url = True, "whitehall-admin", "https://wf"
    entry.seen, entry.drafts = ["sync:x"], {"draft-whitehall": State.SYNCED}
    entry.promoted = Promotion("staging", CI, 6.0)
    r.entry("staging").requester = CI
    r.add_reply("hello", broadcast=True)
    again = Release.from_json(json.loads(json.dumps(r.to_json())))
    assert again == r


def test_a_release_stored_by_the_previous_version_still_loads() -> None:
    stored = {
        "app": "whitehall", "tag": "v1", "created": 1.0, "version": 2, "rendered": 2, "card": {"channel": "C", "ts": "1"},
        "envs": {"integration": {"state": "tests_passed", "at": 2.0, "requester": {"slack_user": None, "login": None},
                                 "commit": "abc", "automatic": False, "seen": ["tests:whitehall:Succeeded"],
                                 "promoted": {"to": "staging", "by": None, "at": 3.0}}},
        "replies": [{"id": "r1", "text": "t", "broadcast": True, "posted": False}],
    }  # fmt: skip
    r = Release.from_json(stored)
    assert r.envs["integration"].state is State.TESTS_PASSED
    assert r.envs["integration"].requester == CI and r.envs["integration"].promoted.by is None
    assert r.replies[0].urgent  # a broadcast reply was always a failure


def test_an_unknown_state_is_refused_not_guessed() -> None:
    with pytest.raises(ValueError):
        State.from_code("exploded")


def test_replies_already_on_slack_are_forgotten_beyond_a_bound() -> None:
    r = Release(app="a", tag="t", created=0.0)
    for n in range(100):
        r.add_reply(f"r{n}")
        r.mark_posted(r.replies[-1].id)
    assert len(r.replies) == MAX_POSTED_REPLIES
    assert not r.needs_slack or r.card is None


def test_urgent_means_an_unposted_failure_or_a_person_waiting() -> None:
    r = Release(app="a", tag="t", created=0.0)
    r.add_reply("routine")
    assert not r.urgent
    r.add_reply("boom", broadcast=True)
    assert r.urgent
    r.mark_posted(r.replies[-1].id)
    assert not r.urgent
