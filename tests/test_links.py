"""Links made with `/deploy link`: one login per Slack user, the `users` map winning."""

from __future__ import annotations

import threading
from dataclasses import replace

from bot.config import load_settings
from bot.deploys.identity import CONFIG, LINK, Refusal, identify
from bot.identity.links import Link, Links, Taken
from bot.identity.seal import Seal
from bot.store import Store


def _links(redis_client, redis_prefix) -> Links:
    return Links(Store(redis_client, redis_prefix), Seal(b"test-identity-key-0123456789abcdef"))


def test_a_link_is_kept_in_the_store_with_when_it_was_made(redis_client, redis_prefix):
    links = _links(redis_client, redis_prefix)
    assert links.link("U1", "Octocat", at=1000.0) == Link("U1", "Octocat", 1000.0)
    assert _links(redis_client, redis_prefix).get("U1") == Link("U1", "Octocat", 1000.0)
    assert links.holder("octocat") == "U1"


def test_a_login_linked_to_someone_else_is_refused_whatever_its_case(redis_client, redis_prefix):
    links = _links(redis_client, redis_prefix)
    links.link("U1", "octocat", at=1.0)
    assert links.link("U2", "OctoCat", at=2.0) == Taken("OctoCat", "U1")
    assert links.get("U2") is None
    assert links.get("U1").login == "octocat"


def test_two_users_racing_for_one_login_one_wins(redis_client, redis_prefix):
    links = _links(redis_client, redis_prefix)
    barrier = threading.Barrier(8)
    results = {}

    def race(user: str) -> None:
        barrier.wait()
        results[user] = links.link(user, "contested", at=1.0)

    threads = [threading.Thread(target=race, args=(f"U{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [user for user, result in results.items() if isinstance(result, Link)]
    assert len(winners) == 1
    assert all(result == Taken("contested", winners[0]) for user, result in results.items() if user not in winners)


def test_relinking_frees_the_earlier_login_and_unlink_frees_the_login(redis_client, redis_prefix):
    links = _links(redis_client, redis_prefix)
    links.link("U1", "first", at=1.0)
    links.link("U1", "second", at=2.0)
    assert links.holder("first") is None
    assert isinstance(links.link("U2", "first", at=3.0), Link)
    assert links.unlink("U1") == Link("U1", "second", 2.0)
    assert links.get("U1") is None and links.holder("second") is None
    assert links.unlink("U1") is None


def test_unlinking_never_frees_a_login_someone_else_now_holds(redis_client, redis_prefix):
    links = _links(redis_client, redis_prefix)
    links.link("U1", "octocat", at=1.0)
    redis_client.set(redis_prefix + "link:login:octocat", links._holder_record("octocat", "U2"))  # U2 holds it since
    links.unlink("U1")
    assert links.holder("octocat") == "U2"


def test_the_users_map_wins_over_a_link_and_says_where_the_login_came_from(redis_client, redis_prefix):
    settings = replace(load_settings({}, require_serve=False), users={"U1": "from-config"})
    links = _links(redis_client, redis_prefix)
    links.link("U1", "from-link", at=1.0)
    links.link("U2", "linked-only", at=1.0)
    mapped, linked = identify(settings, "U1", links), identify(settings, "U2", links)
    assert (mapped.login, mapped.origin) == ("from-config", CONFIG)
    assert (linked.login, linked.origin) == ("linked-only", LINK)
    assert isinstance(identify(settings, "U3", links), Refusal)


def test_an_unlinked_user_is_told_they_can_link_themselves_only_when_linking_is_on(redis_client, redis_prefix):
    off = load_settings({}, require_serve=False)
    on = load_settings({"GITHUB_OAUTH_CLIENT_ID": "Iv1.0123456789abcdef"}, require_serve=False)
    links = _links(redis_client, redis_prefix)
    assert "/deploy link" not in identify(off, "U3", links).text
    assert "/deploy link" in identify(on, "U3", links).text


def test_a_link_to_a_login_the_users_map_later_gives_someone_else_no_longer_counts(redis_client, redis_prefix):
    settings = replace(load_settings({}, require_serve=False), users={"U1": "octocat"})
    links = _links(redis_client, redis_prefix)
    links.link("U2", "OctoCat", at=1.0)  # linked before the map named U1
    refusal = identify(settings, "U2", links)
    assert isinstance(refusal, Refusal) and "no longer counts" in refusal.text
    assert identify(settings, "U1", links).login == "octocat"


def test_links_sealed_with_another_key_or_copied_to_another_user_count_for_nothing(redis_client, redis_prefix):
    links = _links(redis_client, redis_prefix)
    links.link("U1", "octocat", at=1.0)
    stranger = Links(Store(redis_client, redis_prefix), Seal(b"someone-elses-key-0123456789abcdef"))
    assert stranger.get("U1") is None and stranger.holder("octocat") is None
    redis_client.set(redis_prefix + "link:user:U2", redis_client.get(redis_prefix + "link:user:U1"))  # a copy
    assert links.get("U2") is None and links.get("U1") == Link("U1", "octocat", 1.0)


def test_a_rotated_key_still_opens_links_and_seals_them_again_with_the_new_key(redis_client, redis_prefix):
    old, new = b"old-identity-key-0123456789abcdef", b"new-identity-key-0123456789abcdef"
    Links(Store(redis_client, redis_prefix), Seal(old)).link("U1", "octocat", at=1.0)
    rotating = Links(Store(redis_client, redis_prefix), Seal(new, previous=old))
    assert rotating.get("U1") == Link("U1", "octocat", 1.0)
    assert Links(Store(redis_client, redis_prefix), Seal(new)).get("U1") == Link("U1", "octocat", 1.0)


def test_a_login_held_by_a_forged_record_can_still_be_linked_by_its_owner(redis_client, redis_prefix):
    links = _links(redis_client, redis_prefix)
    redis_client.set(redis_prefix + "link:login:octocat", "U0EVIL")  # unsigned: no one's
    assert links.holder("octocat") is None
    assert links.link("U1", "octocat", at=1.0) == Link("U1", "octocat", 1.0)
    assert links.holder("octocat") == "U1"
