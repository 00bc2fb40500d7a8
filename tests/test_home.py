"""The App Home tab (SPEC 16) through the contract: signed events in, `views.publish` on the fake Slack out."""

from __future__ import annotations

import time

import pytest

from bot.store import StoreError
from tests.fakes import FakeSlack
from tests.support.app import INTEGRATION_ONLY, MEMBER, SIGNING_SECRET, UNLINKED, BotHarness
from tests.support.slack_requests import (
    JSON,
    home_click_body,
    home_opened_body,
    signed_headers,
    url_verification_body,
)

WAIT = 20  # generous: the promise is 5 s, but the machine may be busy


def send_event(bot: BotHarness, body: bytes):
    headers = signed_headers(SIGNING_SECRET, body, int(bot.clock()), content_type=JSON)
    return bot.http.post("/slack/events", content=body, headers=headers)


def open_home(bot: BotHarness, fake_slack: FakeSlack, user: str) -> dict:
    before = len(fake_slack.home_views(user))
    response = send_event(bot, home_opened_body(user))
    assert response.status_code == 200, response.text
    assert fake_slack.wait_until(lambda: len(fake_slack.home_views(user)) > before, WAIT), "no views.publish"
    return fake_slack.home_view(user)


def view_text(view: dict | None) -> str:
    parts: list[str] = []

    def collect(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    parts.append(value)
                else:
                    collect(value)
        elif isinstance(node, list):
            for item in node:
                collect(item)

    collect(view or {})
    return "\n".join(parts)


def wait_for_view(fake_slack: FakeSlack, user: str, words: str, timeout: float = WAIT) -> dict:
    if not fake_slack.wait_until(lambda: words in view_text(fake_slack.home_view(user)), timeout):
        raise AssertionError(f"{words!r} never shown in {user}'s Home tab: {view_text(fake_slack.home_view(user))}")
    return fake_slack.home_view(user)


def publish_times(fake_slack: FakeSlack, user: str) -> list[float]:
    return [c.at for c in fake_slack.call_log if c.method == "views.publish" and c.params.get("user_id") == user]


def test_the_events_url_answers_slacks_challenge(bot):
    response = send_event(bot, url_verification_body("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"))
    assert response.status_code == 200
    assert "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" in response.text


def test_an_unsigned_home_event_publishes_nothing(bot, fake_slack):
    body = home_opened_body(MEMBER)
    response = bot.http.post("/slack/events", content=body, headers={"Content-Type": JSON})
    assert response.status_code == 401
    time.sleep(1)
    assert fake_slack.home_views(MEMBER) == []


def test_opening_the_home_tab_shows_link_windows_and_freezes(bot, fake_slack):
    view = open_home(bot, fake_slack, MEMBER)
    text = view_text(view)
    assert view["type"] == "home" and len(view["blocks"]) <= 100
    assert "You act as GitHub @octocat" in text
    assert "You have asked for no deploys in the last 24 hours." in text
    assert "Nothing is frozen." in text
    for env in ("integration", "staging", "production"):
        assert f"*{env}*: always open" in text

    unlinked = view_text(open_home(bot, fake_slack, UNLINKED))
    assert "not linked to a GitHub account" in unlinked


def test_the_messages_tab_publishes_nothing(bot, fake_slack):
    response = send_event(bot, home_opened_body(MEMBER, tab="messages"))
    assert response.status_code == 200
    time.sleep(1.5)
    assert fake_slack.home_views(MEMBER) == []


def test_a_persons_deploy_shows_in_their_tab_with_the_cards_words_and_follows_the_card(bot, fake_slack):
    open_home(bot, fake_slack, MEMBER)
    bot.slash("whitehall v5000 integration", user=MEMBER)
    view = wait_for_view(fake_slack, MEMBER, "`v5000`")
    bot.settle()
    [card] = [m for m in fake_slack.roots() if "v5000" in m.text]
    # linked to the card: Slack's permalink of its root message
    link = f"https://govuk.slack.com/archives/{card.channel}/p{card.ts.replace('.', '')}"
    view = wait_for_view(fake_slack, MEMBER, link)
    assert "*whitehall*" in view_text(view)

    changed_at = time.monotonic()
    response = bot.webhook(
        "/webhooks/argocd",
        {"application": "whitehall", "environment": "integration", "state": "Succeeded", "imageTag": "v5000"},
    )
    assert response.status_code == 202
    wait_for_view(fake_slack, MEMBER, "*integration*: synced")
    # within 5 s of the card changing (a little over only when the 5-second throttle was still running)
    assert time.monotonic() - changed_at < 5 + 2

    # somebody else's tab does not list it
    other = view_text(open_home(bot, fake_slack, INTEGRATION_ONLY))
    assert "`v5000`" not in other


def test_nobody_who_has_not_opened_the_tab_gets_one(bot, fake_slack):
    bot.slash("whitehall v5001 integration", user=MEMBER)
    bot.settle()
    time.sleep(1.5)
    assert fake_slack.count("views.publish") == 0


def test_at_most_one_publish_per_person_every_5_seconds_and_the_last_change_is_shown(bot, fake_slack):
    open_home(bot, fake_slack, MEMBER)
    for number in range(6):
        bot.slash(f"whitehall v60{number:02d} integration", user=MEMBER)
        time.sleep(0.3)
    wait_for_view(fake_slack, MEMBER, "`v6005`", timeout=30)
    times = publish_times(fake_slack, MEMBER)
    assert len(times) >= 2, times
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    assert all(gap >= 4.9 for gap in gaps), gaps
    # six cards, each linked, with one chat.getPermalink ever (the workspace's archives URL, kept)
    bot.settle()
    view = wait_for_view(fake_slack, MEMBER, "/archives/C0ALERTS/p")
    assert view_text(view).count("/archives/C0ALERTS/p") == 6
    assert fake_slack.count("chat.getPermalink") == 1


def test_a_freeze_shows_in_every_watchers_tab_with_who_and_why(bot, fake_slack):
    open_home(bot, fake_slack, MEMBER)
    open_home(bot, fake_slack, INTEGRATION_ONLY)
    bot.slash("freeze all production incident 4512", user=MEMBER)
    for user in (MEMBER, INTEGRATION_ONLY):
        text = view_text(wait_for_view(fake_slack, user, "incident 4512"))
        assert "every app in production, frozen by <@U012AB3CD> (@octocat)" in text
    bot.slash("unfreeze all production", user=MEMBER)
    wait_for_view(fake_slack, INTEGRATION_ONLY, "Nothing is frozen.")


APPROVALS_CONFIG = """environments:
  - {name: integration, team: gov-uk}
  - {name: staging, team: gov-uk-production}
  - {name: production, team: gov-uk-production, approvals_required: 1}
users:
"""
SECOND_MEMBER = "U0MEMBER2"


@pytest.fixture
def abot(bot_env, tmp_path, fake_github):
    fake_github.add_member("gov-uk", "hubot")
    fake_github.add_member("gov-uk-production", "hubot")
    users = {MEMBER: "octocat", INTEGRATION_ONLY: "integrator", SECOND_MEMBER: "hubot"}
    path = tmp_path / "home-approvals.yaml"
    path.write_text(APPROVALS_CONFIG + "".join(f"  {k}: {v}\n" for k, v in users.items()), encoding="utf-8")
    harness = BotHarness({**bot_env, "BOT_CONFIG": str(path)})
    try:
        yield harness
    finally:
        harness.stop()


def home_button(view: dict, action_id: str) -> dict:
    for block in view["blocks"]:
        for element in block.get("elements") or []:
            if element.get("action_id") == action_id:
                return element
    raise AssertionError(f"no {action_id} button in the Home tab: {view_text(view)}")


def dms_to(fake_slack: FakeSlack, user: str) -> list[str]:
    return [m.text for m in fake_slack.direct_messages(user)]


def test_an_approval_waits_in_other_members_tabs_and_a_click_there_decides_it_once(abot, fake_slack, charts_remote):
    open_home(abot, fake_slack, MEMBER)
    open_home(abot, fake_slack, SECOND_MEMBER)
    abot.slash("whitehall v7000 production", user=MEMBER, response_url=fake_slack.response_url("deploy"))
    view = wait_for_view(fake_slack, SECOND_MEMBER, "asks to deploy")
    assert "*whitehall* `v7000` to *production*" in view_text(view)
    approve = home_button(view, "approve")
    assert home_button(view, "deny")["value"] == approve["value"]
    # not in the requester's own tab
    time.sleep(1)
    assert "asks to deploy" not in view_text(fake_slack.home_view(MEMBER))

    # a click in the Home tab has no response_url: the answer comes as a direct message
    response = abot.slack(home_click_body("approve", approve["value"], SECOND_MEMBER))
    assert response.status_code == 200
    assert fake_slack.wait_until(lambda: any("You approved" in t for t in dms_to(fake_slack, SECOND_MEMBER)), WAIT)
    abot.settle()
    assert "image_tag: v7000" in charts_remote.read("production", "whitehall")
    commits = charts_remote.commit_count()
    assert "Approved-by: hubot (U0MEMBER2)" in charts_remote.log(1)[0][2]

    # a second click decides nothing more, and says so, again by direct message
    abot.slack(home_click_body("approve", approve["value"], SECOND_MEMBER))
    assert fake_slack.wait_until(lambda: any("already approved" in t for t in dms_to(fake_slack, SECOND_MEMBER)), WAIT)
    abot.settle()
    assert charts_remote.commit_count() == commits
    # and the request leaves the tab
    wait_for_view(fake_slack, SECOND_MEMBER, "No approval request is waiting")


def test_a_requester_clicking_approve_in_their_own_tab_is_refused_by_direct_message(abot, fake_slack):
    open_home(abot, fake_slack, SECOND_MEMBER)
    abot.slash("whitehall v7100 production", user=MEMBER)
    view = wait_for_view(fake_slack, SECOND_MEMBER, "asks to deploy")
    approve = home_button(view, "approve")
    abot.slack(home_click_body("approve", approve["value"], MEMBER))
    assert fake_slack.wait_until(lambda: any("your own request" in t for t in dms_to(fake_slack, MEMBER)), WAIT)


def test_a_closed_window_says_when_it_opens(bot_env, tmp_path, fake_slack):
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    today = datetime.now(UTC).astimezone(ZoneInfo("Europe/London")).date()
    days = [today + timedelta(days=n) for n in range(-1, 3)]  # around midnight either way
    opens = (today + timedelta(days=3)).strftime("%A")
    config = tmp_path / "windows.yaml"
    config.write_text(
        "environments:\n"
        "  - {name: integration, team: gov-uk}\n"
        "  - name: production\n    team: gov-uk-production\n"
        "    deploy_windows: [{days: [mon, tue, wed, thu, fri, sat, sun], start: '00:00', end: '23:59'}]\n"
        f"no_deploy_days: [{', '.join(str(d) for d in days)}]\n"
        "users:\n  U012AB3CD: octocat\n",
        encoding="utf-8",
    )
    harness = BotHarness({**bot_env, "BOT_CONFIG": str(config)})
    try:
        text = view_text(open_home(harness, fake_slack, MEMBER))
    finally:
        harness.stop()
    assert "*integration*: always open" in text
    assert f"*production*: closed; opens {opens} 00:00 Europe/London" in text


def test_a_tab_last_opened_over_7_days_ago_is_no_longer_kept_current(bot, fake_slack):
    open_home(bot, fake_slack, MEMBER)
    published = fake_slack.count("views.publish")
    bot.fake_clock.advance(7 * 24 * 3600 + 60)
    bot.slash("whitehall v9100 integration", user=MEMBER)
    bot.settle()
    time.sleep(2)
    assert fake_slack.count("views.publish") == published
    # opening it again brings it back, with the deploy
    open_home(bot, fake_slack, MEMBER)
    wait_for_view(fake_slack, MEMBER, "`v9100`")


def test_a_card_that_reaches_slack_late_is_linked_without_another_change(bot, fake_slack):
    open_home(bot, fake_slack, MEMBER)
    fake_slack.fail_next("chat.postMessage", 500, count=4)  # the card goes up only after a few retries
    bot.slash("whitehall v9200 integration", user=MEMBER)
    wait_for_view(fake_slack, MEMBER, "`v9200`")
    bot.settle(timeout=60)
    [card] = [m for m in fake_slack.roots() if "v9200" in m.text]
    wait_for_view(fake_slack, MEMBER, f"/archives/{card.channel}/p{card.ts.replace('.', '')}", timeout=30)


@pytest.mark.parametrize(
    "event",
    [
        {"type": "app_home_opened"},
        {"type": "app_home_opened", "user": 12345, "tab": "home"},
        {"type": "app_home_opened", "user": "not a user", "tab": "home"},
        {"type": "app_home_opened", "user": ["U012AB3CD"], "tab": "home"},
        {"type": "app_home_opened", "user": "U012AB3CD", "tab": 7},
    ],
)
def test_a_malformed_home_event_is_answered_and_publishes_nothing(bot, fake_slack, event):
    from tests.support.slack_requests import event_body

    response = send_event(bot, event_body(event))
    assert response.status_code < 500
    time.sleep(1)
    assert fake_slack.count("views.publish") == 0


def test_linking_your_account_shows_in_your_tab(bot_env, fake_slack, fake_github):
    import re

    fake_github.device_interval = 0.05
    fake_github.slow_down_step = 0.05
    env = {**bot_env, "GITHUB_URL": fake_github.url, "GITHUB_OAUTH_CLIENT_ID": fake_github.oauth_client_id}
    harness = BotHarness(env)
    try:
        assert "not linked" in view_text(open_home(harness, fake_slack, UNLINKED))
        answer = harness.slash("link", user=UNLINKED, response_url=fake_slack.response_url("link"))
        code = re.search(r"\*([A-Z0-9]{4}-[A-Z0-9]{4})\*", answer.text)
        assert code, answer.text
        fake_github.approve("newcomer", code.group(1))
        fake_slack.wait_for_response("link", timeout=WAIT)
        wait_for_view(fake_slack, UNLINKED, "You act as GitHub @newcomer")
    finally:
        harness.stop()


class BookOnAFlakyStore:
    """The release book of a replica whose store connection drops once, in the middle of building a tab."""

    def __init__(self, book) -> None:
        self.book = book
        self.failures = 1

    def get_many(self, pairs):
        if self.failures:
            self.failures -= 1
            raise StoreError("Connection reset by peer")
        return self.book.get_many(pairs)


def test_a_tab_whose_build_fails_on_a_store_error_is_published_once_the_store_answers(bot, fake_slack):
    from bot.home.tab import HomeTab

    home = bot.services.home
    bot.slash("whitehall v9200 integration", user=MEMBER)
    bot.settle()
    home.stop()  # only this test's replica publishes
    home.run_once()  # the deploy noted as theirs (nobody watches yet: nothing published)
    replica = HomeTab(
        settings=home.settings,
        store=home.store,
        book=BookOnAFlakyStore(home.book),
        approvals=home.approvals,
        freezes=home.freezes,
        links=home.links,
        signer=home.signer,
        chat=home.chat,
        pacer=home.pacer,
        runs=home.runs,
        clock=home.clock,
    )
    replica.opened(MEMBER)
    with pytest.raises(StoreError):
        replica.run_once()  # the worker logs it and tries again at its next pass
    deadline = time.monotonic() + WAIT
    while not fake_slack.home_views(MEMBER) and time.monotonic() < deadline:
        replica.run_once()
        time.sleep(0.5)
    assert "`v9200`" in view_text(fake_slack.home_view(MEMBER))


class SlowSlack:
    """A replica's Slack client whose views.publish takes 7 seconds to arrive (a slow network, a busy Slack)."""

    def __init__(self, chat) -> None:
        self.chat = chat

    def publish_home(self, user_id, view):
        time.sleep(7)
        self.chat.publish_home(user_id, view)

    def permalink(self, channel, ts):
        return self.chat.permalink(channel, ts)


def test_a_slow_publish_never_lands_over_a_newer_one(bot, fake_slack):
    import threading

    from bot.home.tab import HomeTab

    home = bot.services.home
    home.stop()  # two replicas, each run by hand: `home` and `slow`
    slow = HomeTab(
        settings=home.settings,
        store=home.store,
        book=home.book,
        approvals=home.approvals,
        freezes=home.freezes,
        links=home.links,
        signer=home.signer,
        chat=SlowSlack(home.chat),
        pacer=home.pacer,
        runs=home.runs,
        clock=home.clock,
    )
    slow.opened(MEMBER)
    first = threading.Thread(target=slow.run_once)
    first.start()  # claims the tab and builds it now; Slack has it 7 s later
    time.sleep(1)
    bot.slash("whitehall v9300 integration", user=MEMBER)
    bot.settle()
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        home.run_once()
        time.sleep(0.2)
        if not first.is_alive() and "`v9300`" in view_text(fake_slack.home_view(MEMBER)):
            break
    first.join()
    home.run_once()
    times = publish_times(fake_slack, MEMBER)
    assert all(b - a >= 4.5 for a, b in zip(times, times[1:], strict=False)), times
    assert "`v9300`" in view_text(fake_slack.home_view(MEMBER))
