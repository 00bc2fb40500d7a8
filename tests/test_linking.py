"""`/deploy link`, `unlink`, `whoami` through signed slash commands and the fake GitHub's device flow."""

from __future__ import annotations

import logging
import re

import httpx
import pytest

from bot import messages
from tests.fakes._http import Reply
from tests.support.app import INTEGRATION_ONLY, MEMBER, OUTSIDER, UNLINKED, BotHarness

SECOND = "U0SECOND1"  # not in the users map either


def ack_text(response: httpx.Response) -> str:
    assert response.status_code == 200, (response.status_code, response.text)
    if response.headers.get("content-type", "").startswith("application/json"):
        return str(response.json().get("text") or "")
    return response.text


@pytest.fixture
def linking_env(bot_env, fake_github):
    fake_github.device_interval = 0.05  # GitHub says 5 s; the protocol is the same
    fake_github.slow_down_step = 0.05
    return {**bot_env, "GITHUB_URL": fake_github.url, "GITHUB_OAUTH_CLIENT_ID": fake_github.oauth_client_id}


@pytest.fixture
def linking_bot(linking_env):
    harness = BotHarness(linking_env)
    try:
        yield harness
    finally:
        harness.stop()


def start_link(bot, fake_slack, user: str, name: str) -> tuple[str, str]:
    """`/deploy link` as `user`: the ack text and the code it gives."""
    text = ack_text(bot.slash("link", user=user, response_url=fake_slack.response_url(name)))
    match = re.search(r"\*([A-Z0-9]{4}-[A-Z0-9]{4})\*", text)
    assert match, text
    return text, match.group(1)


def link(bot, fake_slack, fake_github, user: str, login: str, name: str) -> str:
    _, code = start_link(bot, fake_slack, user, name)
    fake_github.approve(login, code)
    [reply] = fake_slack.wait_for_response(name, timeout=10)
    return reply["text"]


def test_link_through_github_then_deploy_as_the_linked_login(linking_bot, fake_slack, fake_github, charts_remote):
    fake_github.add_member("gov-uk", "newcomer")
    ack, code = start_link(linking_bot, fake_slack, UNLINKED, "link")
    assert fake_github.url + "/login/device" in ack and code == fake_github.device_grants[-1].user_code
    fake_github.approve("newcomer", code)
    [reply] = fake_slack.wait_for_response("link", timeout=10)
    assert reply["text"] == messages.linked("newcomer", "")
    assert reply.get("response_type", "ephemeral") == "ephemeral"
    linking_bot.settle()
    announced = [m for m in fake_slack.roots() if "now linked" in m.all_text()]
    assert [m.text for m in announced] == [f"<@{UNLINKED}> is now linked to GitHub @newcomer"]
    [record] = [r for r in linking_bot.services.audit.read() if r["action"] == "linked"]
    assert record["actor"] == {"slack": UNLINKED, "github": "newcomer"}

    linking_bot.slash("whitehall v4000 integration", user=UNLINKED, response_url=fake_slack.response_url("deploy"))
    [done] = fake_slack.wait_for_response("deploy", timeout=30)
    assert "Committed" in done["text"], done
    assert f"Requested-by: newcomer ({UNLINKED})" in charts_remote.log(1)[0][2].splitlines()
    assert fake_github.membership_requests("gov-uk", "newcomer")


def test_a_linked_login_still_needs_the_team(linking_bot, fake_slack, fake_github, charts_remote):
    count = charts_remote.commit_count()
    assert "now linked" in link(linking_bot, fake_slack, fake_github, UNLINKED, "stranger", "link")
    linking_bot.slash("whitehall v4000 integration", user=UNLINKED, response_url=fake_slack.response_url("deploy"))
    [refused] = fake_slack.wait_for_response("deploy", timeout=30)
    assert "alphagov/gov-uk" in refused["text"]
    assert charts_remote.commit_count() == count


def test_a_refused_code_links_nothing_and_says_so(linking_bot, fake_slack, fake_github):
    _, code = start_link(linking_bot, fake_slack, UNLINKED, "link")
    fake_github.deny(code)
    [reply] = fake_slack.wait_for_response("link", timeout=10)
    assert reply["text"] == messages.LINK_DENIED
    assert ack_text(linking_bot.slash("whoami", user=UNLINKED)) == messages.whoami_nobody(can_link=True)
    assert not [r for r in linking_bot.services.audit.read() if r["action"] == "linked"]


def test_every_failure_of_the_flow_is_told_in_plain_words(linking_bot, fake_slack, fake_github):
    _, code = start_link(linking_bot, fake_slack, UNLINKED, "expired")
    fake_github.expire(code)
    assert fake_slack.wait_for_response("expired", timeout=10)[0]["text"] == messages.LINK_EXPIRED

    fake_github.token_answers = ["slow_down", "authorization_pending"] + [Reply.json({"message": "boom"}, 502)] * 3
    start_link(linking_bot, fake_slack, UNLINKED, "down")
    assert fake_slack.wait_for_response("down", timeout=10)[0]["text"] == messages.LINK_GITHUB_DOWN_WHILE_WAITING

    fake_github.down = True
    assert ack_text(linking_bot.slash("link", user=UNLINKED)) == messages.LINK_GITHUB_UNREACHABLE
    fake_github.down = False
    assert "*" in start_link(linking_bot, fake_slack, UNLINKED, "again")[0]  # a failed flow frees the user


def test_a_login_linked_to_someone_else_is_refused(linking_bot, fake_slack, fake_github):
    assert "now linked" in link(linking_bot, fake_slack, fake_github, UNLINKED, "newcomer", "first")
    assert link(linking_bot, fake_slack, fake_github, SECOND, "NewComer", "second") == messages.login_taken("NewComer")
    assert ack_text(linking_bot.slash("whoami", user=SECOND)) == messages.whoami_nobody(can_link=True)
    # a login the users map gives to someone is refused too
    assert link(linking_bot, fake_slack, fake_github, SECOND, "octocat", "third") == messages.login_in_config("octocat")
    linking_bot.settle()
    assert len([m for m in fake_slack.roots() if "now linked" in m.all_text()]) == 1


def test_the_users_map_wins_over_a_link(linking_bot, fake_slack, fake_github, charts_remote):
    text = link(linking_bot, fake_slack, fake_github, INTEGRATION_ONLY, "someone-else", "link")
    assert "you still act as @integrator" in text
    assert ack_text(linking_bot.slash("whoami", user=INTEGRATION_ONLY)) == messages.whoami_config("integrator")
    linking_bot.slash("whitehall v4001 integration", user=INTEGRATION_ONLY, response_url=fake_slack.response_url("d"))
    assert "Committed" in fake_slack.wait_for_response("d", timeout=30)[0]["text"]
    assert f"Requested-by: integrator ({INTEGRATION_ONLY})" in charts_remote.log(1)[0][2].splitlines()


def test_unlink_and_whoami(linking_bot, fake_slack, fake_github):
    link(linking_bot, fake_slack, fake_github, UNLINKED, "newcomer", "link")
    assert ack_text(linking_bot.slash("whoami", user=UNLINKED)).startswith(
        "You act as GitHub @newcomer, from your link"
    )
    assert ack_text(linking_bot.slash("unlink", user=UNLINKED)) == messages.unlinked("newcomer")
    assert ack_text(linking_bot.slash("unlink", user=UNLINKED)) == messages.NOTHING_TO_UNLINK
    assert ack_text(linking_bot.slash("whoami", user=UNLINKED)) == messages.whoami_nobody(can_link=True)
    refused = ack_text(linking_bot.slash("whitehall v4000 integration", user=UNLINKED))
    assert "not linked to a GitHub login" in refused and "/deploy link" in refused
    # the login is free again for someone else
    assert "now linked" in link(linking_bot, fake_slack, fake_github, SECOND, "newcomer", "second")
    linking_bot.services.audit.flush(timeout=5)
    [record] = [r for r in linking_bot.services.audit.read() if r["action"] == "unlinked"]
    assert record["actor"] == {"slack": UNLINKED, "github": "newcomer"}


def test_one_flow_per_person_at_a_time_and_starting_again_replaces_it(linking_bot, fake_slack, fake_github):
    _, first = start_link(linking_bot, fake_slack, UNLINKED, "first")
    _, second = start_link(linking_bot, fake_slack, UNLINKED, "second")
    assert second != first and len(fake_github.device_grants) == 2
    start_link(linking_bot, fake_slack, OUTSIDER, "other")  # someone else is not held up
    fake_github.approve("newcomer", first)  # the replaced code links nothing
    fake_github.approve("newcomer", second)
    [reply] = fake_slack.wait_for_response("second", timeout=10)
    assert reply["text"] == messages.linked("newcomer", "")
    linking_bot.settle()
    assert "first" not in fake_slack.responses  # the replaced flow ends quietly: its words are the newer flow's
    assert len([m for m in fake_slack.roots() if "now linked" in m.all_text()]) == 1


def test_the_token_is_never_stored_or_logged(linking_bot, fake_slack, fake_github, redis_client, redis_prefix, caplog):
    caplog.set_level(logging.DEBUG)
    link(linking_bot, fake_slack, fake_github, UNLINKED, "newcomer", "link")
    linking_bot.settle()
    (token,) = fake_github.issued_tokens
    assert token not in caplog.text
    keys = list(redis_client.scan_iter(match=redis_prefix + "*"))
    assert any("link" in key for key in keys)
    for key in keys:
        kind = redis_client.type(key)
        if kind == "string":
            values = [redis_client.get(key)]
        elif kind == "hash":
            values = list(redis_client.hgetall(key).items())
        elif kind == "stream":
            values = redis_client.xrange(key)
        elif kind == "zset":
            values = redis_client.zrange(key, 0, -1)
        elif kind == "list":
            values = redis_client.lrange(key, 0, -1)
        else:
            values = list(redis_client.smembers(key)) if kind == "set" else []
        assert token not in repr(values), key


def test_linking_is_off_without_a_client_id(bot):
    assert ack_text(bot.slash("link", user=UNLINKED)) == messages.LINKING_OFF
    assert "/deploy link" not in ack_text(bot.slash("whitehall v4000 integration", user=UNLINKED))
    assert ack_text(bot.slash("whoami", user=MEMBER)) == messages.whoami_config("octocat")


def test_a_link_overruled_by_the_users_map_says_so(linking_env, tmp_path, fake_slack, fake_github):
    first = BotHarness(linking_env)
    try:
        link(first, fake_slack, fake_github, UNLINKED, "newcomer", "link")
    finally:
        first.stop()
    # an admin then gives @newcomer to someone else in the map; the bot restarts with it
    config = tmp_path / "later.yaml"
    config.write_text(f"users:\n  {MEMBER}: octocat\n  {SECOND}: newcomer\n", encoding="utf-8")
    later = BotHarness({**linking_env, "BOT_CONFIG": str(config)})
    try:
        assert "no longer counts" in ack_text(later.slash("whoami", user=UNLINKED))
        assert "no longer counts" in ack_text(later.slash("whitehall v4000 integration", user=UNLINKED))
        assert ack_text(later.slash("whoami", user=SECOND)) == messages.whoami_config("newcomer")
    finally:
        later.stop()


def _waiting_linking(redis_client, redis_prefix, release, told, **options):
    """Linking on a GitHub whose people take until `release` to enter their code."""
    import itertools

    from bot.audit import AuditTrail
    from bot.config import load_settings
    from bot.identity.device_flow import DeviceCode, FlowFailed
    from bot.identity.linking import Linking
    from bot.identity.links import Links
    from bot.identity.seal import Seal
    from bot.store import Store

    numbers = itertools.count()

    class WaitingGitHub:
        def request_code(self, timeout=None):
            return DeviceCode("dc", f"ABCD-{next(numbers):04d}", "https://github.com/login/device", 900, 5)

        def wait_for_login(self, code, still_wanted=lambda: True):
            while not release.wait(0.05):
                if not still_wanted():
                    raise FlowFailed("replaced", "replaced")
            return "newcomer"

    class Board:
        def post(self, channel, text, buttons=None, urgent=False):
            return "n1"

    store = Store(redis_client, redis_prefix)
    return Linking(
        settings=load_settings({}, require_serve=False),
        store=store,
        links=Links(store, Seal(b"test-identity-key-0123456789abcdef")),
        flow=WaitingGitHub(),
        notices=Board(),
        audit=AuditTrail(store, 100),
        reply=lambda url, text: told.append((url, text)),
        **options,
    )


def test_at_most_max_flows_wait_at_once_and_a_finished_flow_frees_its_place(redis_client, redis_prefix):
    import threading

    from bot.commands import Link

    release = threading.Event()
    told: list[tuple[str, str]] = []
    linking = _waiting_linking(redis_client, redis_prefix, release, told, max_flows=1)
    try:
        assert "ABCD-0000" in linking.link(Link(), "U1", "url-1")
        assert linking.link(Link(), "U2", "url-2") == messages.LINK_BUSY
        release.set()
        assert linking.wait_idle(5)
        assert told == [("url-1", messages.linked("newcomer", ""))]
        assert "ABCD-" in linking.link(Link(), "U2", "url-2")
    finally:
        release.set()
        linking.stop()


def test_a_replaced_flow_gives_its_place_to_the_new_one_at_once(redis_client, redis_prefix):
    import threading

    from bot.commands import Link

    release = threading.Event()
    told: list[tuple[str, str]] = []
    linking = _waiting_linking(redis_client, redis_prefix, release, told, max_flows=1)
    try:
        assert "ABCD-0000" in linking.link(Link(), "U1", "url-1")
        assert "ABCD-0001" in linking.link(Link(), "U1", "url-1b")  # the same person again: replaced, not refused
        release.set()
        assert linking.wait_idle(5)
        assert told == [("url-1b", messages.linked("newcomer", ""))]
    finally:
        release.set()
        linking.stop()


def test_five_hundred_people_can_be_linking_at_once(redis_client, redis_prefix):
    import threading

    from bot.commands import Link

    release = threading.Event()
    told: list[tuple[str, str]] = []
    linking = _waiting_linking(redis_client, redis_prefix, release, told)
    try:
        answers = [linking.link(Link(), f"U{number:08d}", f"url-{number}") for number in range(500)]
        assert messages.LINK_BUSY not in answers
        assert all("ABCD-" in answer for answer in answers), [a for a in answers if "ABCD-" not in a][:2]
    finally:
        release.set()
        assert linking.wait_idle(30)
        linking.stop()
