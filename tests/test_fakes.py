"""The harness itself: the fakes answer real clients the way the real services do."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs

import httpx
import pytest
from slack_bolt.request.internals import parse_body
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

from tests.fakes import FakeGitHub, FakeSlack
from tests.support.charts import COMMENTED_FILE, COMMENTED_TEXT, ChartsRemote
from tests.support.slack_requests import block_actions_body, click_body, signed_headers, slash_command_body

BUTTONS = [
    {"type": "section", "block_id": "summary", "text": {"type": "mrkdwn", "text": "*whitehall* `v3232`"}},
    {
        "type": "actions",
        "block_id": "promote",
        "elements": [
            {
                "type": "button",
                "action_id": "promote",
                "text": {"type": "plain_text", "text": "Promote to staging"},
                "value": "opaque-123",
            }
        ],
    },
]


def client(fake: FakeSlack) -> WebClient:
    return WebClient(token="xoxb-test", base_url=fake.url, timeout=5)


def test_post_then_update_round_trip(fake_slack: FakeSlack) -> None:
    web = client(fake_slack)
    assert web.auth_test()["user_id"] == fake_slack.bot_user_id

    posted = web.chat_postMessage(channel="#govuk-deploy-alerts", text="whitehall v3232", blocks=BUTTONS)
    assert posted["channel"] == "C0ALERTS"
    assert posted["message"]["blocks"] == BUTTONS
    updated = web.chat_update(channel=posted["channel"], ts=posted["ts"], text="whitehall v3232: synced")
    assert updated["ts"] == posted["ts"]

    message = fake_slack.message(posted["ts"])
    assert message is not None
    assert message.text == "whitehall v3232: synced"
    assert message.blocks == BUTTONS  # chat.update without blocks keeps them, as Slack does
    assert [v["text"] for v in message.versions] == ["whitehall v3232", "whitehall v3232: synced"]
    assert message.button("promote")["block_id"] == "promote"
    assert [m for m, _ in fake_slack.calls] == ["auth.test", "chat.postMessage", "chat.update"]


def test_timestamps_are_unique_and_increasing(fake_slack: FakeSlack) -> None:
    web = client(fake_slack)
    stamps = [web.chat_postMessage(channel="govuk-deploy-alerts", text=str(i))["ts"] for i in range(3)]
    assert stamps == sorted(stamps, key=float) and len(set(stamps)) == 3
    assert all(len(ts.split(".")[1]) == 6 for ts in stamps)


def test_update_needs_a_channel_id_and_an_existing_message(fake_slack: FakeSlack) -> None:
    web = client(fake_slack)
    posted = web.chat_postMessage(channel="govuk-deploy-alerts", text="card")
    with pytest.raises(SlackApiError) as by_name:
        web.chat_update(channel="govuk-deploy-alerts", ts=posted["ts"], text="x")
    assert by_name.value.response["error"] == "channel_not_found"
    with pytest.raises(SlackApiError) as unknown_ts:
        web.chat_update(channel="C0ALERTS", ts="1600000000.000001", text="x")
    assert unknown_ts.value.response["error"] == "message_not_found"


def test_threads_broadcasts_and_history(fake_slack: FakeSlack) -> None:
    web = client(fake_slack)
    root = web.chat_postMessage(channel="govuk-deploy-alerts", text="card")
    web.chat_postMessage(channel="C0ALERTS", thread_ts=root["ts"], text="synced")
    alert = web.chat_postMessage(channel="C0ALERTS", thread_ts=root["ts"], text="<@U1> failed", reply_broadcast=True)
    later = web.chat_postMessage(channel="govuk-deploy-alerts", text="another card")

    assert [m.ts for m in fake_slack.roots("govuk-deploy-alerts")] == [root["ts"], later["ts"]]
    replies = fake_slack.replies(root["ts"])
    assert [(r.text, r.reply_broadcast) for r in replies] == [("synced", False), ("<@U1> failed", True)]

    history = web.conversations_history(channel="C0ALERTS")["messages"]
    assert [m["ts"] for m in history] == [later["ts"], alert["ts"], root["ts"]]  # newest first, broadcasts shown
    assert history[1]["subtype"] == "thread_broadcast"
    assert history[2]["reply_count"] == 2
    newer = web.conversations_history(channel="C0ALERTS", oldest=alert["ts"])["messages"]
    assert [m["ts"] for m in newer] == [later["ts"]]
    thread = web.conversations_replies(channel="C0ALERTS", ts=root["ts"])["messages"]
    assert [m["text"] for m in thread] == ["card", "synced", "<@U1> failed"]


def test_form_bodies_with_blocks_as_a_json_string(fake_slack: FakeSlack) -> None:
    answer = httpx.post(
        fake_slack.url + "chat.postMessage",
        data={"token": "xoxb-test", "channel": "govuk-deploy-alerts", "text": "t", "blocks": json.dumps(BUTTONS)},
    ).json()
    assert answer["ok"] is True
    method, params = fake_slack.calls[-1]
    assert method == "chat.postMessage" and params["blocks"] == BUTTONS and "token" not in params
    assert fake_slack.call_log[-1].token == "xoxb-test"


def test_unauthenticated_and_invalid_blocks(fake_slack: FakeSlack) -> None:
    assert httpx.post(fake_slack.url + "auth.test").json() == {"ok": False, "error": "not_authed"}
    too_long = [{**BUTTONS[1], "elements": [{**BUTTONS[1]["elements"][0], "value": "x" * 2001}]}]
    with pytest.raises(SlackApiError) as error:
        client(fake_slack).chat_postMessage(channel="govuk-deploy-alerts", text="t", blocks=too_long)
    assert error.value.response["error"] == "invalid_blocks"


def test_injected_429_raises_with_retry_after(fake_slack: FakeSlack) -> None:
    web = client(fake_slack)
    fake_slack.fail_next("chat.postMessage", status=429, retry_after=7)
    with pytest.raises(SlackApiError) as error:
        web.chat_postMessage(channel="govuk-deploy-alerts", text="card")
    assert error.value.response.status_code == 429
    assert error.value.response.headers["Retry-After"] == "7"
    assert error.value.response["error"] == "ratelimited"
    assert fake_slack.ratelimited_count == 1
    assert fake_slack.roots() == []
    web.chat_postMessage(channel="govuk-deploy-alerts", text="card")  # the fault was for one call only
    assert len(fake_slack.roots()) == 1


def test_injected_500_and_failure_after_the_post_landed(fake_slack: FakeSlack) -> None:
    web = client(fake_slack)
    fake_slack.fail_next("chat.update", status=500)
    posted = web.chat_postMessage(channel="govuk-deploy-alerts", text="card")
    with pytest.raises(SlackApiError) as error:
        web.chat_update(channel="C0ALERTS", ts=posted["ts"], text="x")
    assert error.value.response.status_code == 500

    fake_slack.fail_next("chat.postMessage", status=500, after_processing=True)
    with pytest.raises(SlackApiError):
        web.chat_postMessage(channel="govuk-deploy-alerts", text="second")
    assert [m.text for m in fake_slack.roots()] == ["card", "second"]  # it landed although the answer failed


def test_per_channel_post_rate_limit(fake_slack: FakeSlack) -> None:
    fake_slack.post_rate_limit_per_second = 1.0
    web = client(fake_slack)
    web.chat_postMessage(channel="govuk-deploy-alerts", text="one")
    web.chat_postMessage(channel="other-channel", text="elsewhere")  # another channel has its own budget
    with pytest.raises(SlackApiError) as error:
        web.chat_postMessage(channel="C0ALERTS", text="two")
    assert error.value.response.status_code == 429
    assert int(error.value.response.headers["Retry-After"]) >= 1
    assert fake_slack.ratelimited_by_method == {"chat.postMessage": 1}


def test_response_urls_record_and_wake_waiters(fake_slack: FakeSlack) -> None:
    url = fake_slack.response_url("deploy-1")
    assert url.startswith("http://127.0.0.1:") and url.endswith("/respond/deploy-1")
    WebhookClient(url).send(text="Deploying whitehall", response_type="ephemeral", replace_original=False)
    responses = fake_slack.wait_for_response("deploy-1", timeout=2)
    assert responses == [{"text": "Deploying whitehall", "response_type": "ephemeral", "replace_original": False}]
    with pytest.raises(AssertionError):
        fake_slack.wait_for_response("never-used", timeout=0.05)


def test_response_url_is_good_for_five_replies(fake_slack: FakeSlack) -> None:
    url = fake_slack.response_url("busy")
    statuses = [httpx.post(url, json={"text": str(i)}).status_code for i in range(6)]
    assert statuses == [200] * 5 + [404]
    assert len(fake_slack.responses["busy"]) == 5
    assert fake_slack.rejected_responses["busy"] == [{"text": "5"}]


def test_replace_original_through_a_tied_response_url(fake_slack: FakeSlack) -> None:
    posted = client(fake_slack).chat_postMessage(channel="govuk-deploy-alerts", text="card", blocks=BUTTONS)
    url = fake_slack.response_url("click", channel="C0ALERTS", message_ts=posted["ts"])
    httpx.post(url, json={"text": "only for you", "response_type": "ephemeral"})
    assert fake_slack.message(posted["ts"]).text == "card"
    httpx.post(url, json={"text": "replaced", "replace_original": True})
    assert fake_slack.message(posted["ts"]).text == "replaced"


def test_wait_until_wakes_on_a_call_from_another_thread(fake_slack: FakeSlack) -> None:
    threading.Timer(0.1, lambda: client(fake_slack).chat_postMessage(channel="x", text="late")).start()
    started = time.monotonic()
    assert fake_slack.wait_until(lambda: fake_slack.count("chat.postMessage") == 1, timeout=5)
    assert time.monotonic() - started < 4
    assert not fake_slack.wait_until(lambda: False, timeout=0.05)


def test_fake_github_answers_like_github(fake_github: FakeGitHub) -> None:
    fake_github.add_member("gov-uk", "octocat")
    fake_github.add_member("gov-uk", "newbie", state="pending")
    auth = {"Authorization": f"Bearer {fake_github.token}"}
    base = fake_github.url + "/orgs/alphagov/teams/gov-uk/memberships/"
    with httpx.Client(headers=auth) as http:
        active = http.get(base + "octocat")
        assert active.status_code == 200 and active.json()["state"] == "active"
        assert active.headers["x-ratelimit-remaining"].isdigit()
        assert http.get(base + "octocat", headers={"If-None-Match": active.headers["etag"]}).status_code == 304
        assert http.get(base + "newbie").json()["state"] == "pending"
        missing = http.get(base + "stranger")
        assert (missing.status_code, missing.json()["message"]) == (404, "Not Found")
        fake_github.rate_limited = True
        limited = http.get(base + "octocat")
        assert (limited.status_code, limited.headers["x-ratelimit-remaining"]) == (403, "0")
        fake_github.rate_limited, fake_github.down = False, True
        assert http.get(base + "octocat").status_code == 500
        fake_github.down = False
    assert httpx.get(base + "octocat").status_code == 401
    assert httpx.get(base + "octocat", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert len(fake_github.membership_requests(login="octocat")) == 6
    assert fake_github.requests[0].headers["authorization"] == f"Bearer {fake_github.token}"


def test_charts_remote(charts_remote: ChartsRemote) -> None:
    assert charts_remote.url.startswith("file://")
    assert charts_remote.read("integration", "whitehall").startswith("image_tag: v3232\n")
    assert charts_remote.read(*COMMENTED_FILE) == COMMENTED_TEXT
    assert "router" in charts_remote.apps("staging")
    assert charts_remote.commit_count() == 1
    sha = charts_remote.commit_directly("staging", "whitehall", "image_tag: v9\n", "Update whitehall image tag to v9")
    assert charts_remote.commit_count() == 2
    assert charts_remote.log(1) == [(sha, "Update whitehall image tag to v9", "")]
    assert charts_remote.changed_paths(sha) == ["charts/app-config/image-tags/staging/whitehall"]
    assert charts_remote.read("staging", "whitehall") == "image_tag: v9\n"
    assert charts_remote.read("staging", "whitehall", ref=f"{sha}~1").startswith("image_tag: v3231\n")


def test_signed_slash_command_and_click_bodies() -> None:
    body = slash_command_body("whitehall v3232 integration", response_url="http://127.0.0.1:1/respond/a")
    headers = signed_headers("s3cret", body)
    verifier = SignatureVerifier("s3cret")
    assert verifier.is_valid(body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"])
    assert not SignatureVerifier("other").is_valid(
        body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    )
    stale = signed_headers("s3cret", body, timestamp=int(time.time()) - 600)
    assert not verifier.is_valid(body, stale["X-Slack-Request-Timestamp"], stale["X-Slack-Signature"])
    fields = parse_qs(body.decode())
    assert fields["command"] == ["/deploy"] and fields["text"] == ["whitehall v3232 integration"]

    click = parse_body(
        block_actions_body("promote", "opaque", "U1", "http://r").decode(), "application/x-www-form-urlencoded"
    )
    assert click["type"] == "block_actions"
    assert click["actions"][0]["action_id"] == "promote" and click["actions"][0]["value"] == "opaque"
    assert click["user"]["id"] == "U1" and click["container"]["channel_id"] == "C0ALERTS"


def test_click_body_from_a_fake_slack_card(fake_slack: FakeSlack) -> None:
    posted = client(fake_slack).chat_postMessage(channel="govuk-deploy-alerts", text="card", blocks=BUTTONS)
    card = fake_slack.message(posted["ts"])
    body = click_body(card, "promote", "U012AB3CD", fake_slack.response_url("c"))
    payload = json.loads(parse_qs(body.decode())["payload"][0])
    assert payload["actions"][0]["block_id"] == "promote"
    assert payload["actions"][0]["value"] == "opaque-123"
    assert payload["actions"][0]["text"]["text"] == "Promote to staging"
    assert payload["container"]["message_ts"] == posted["ts"]
    assert payload["message"]["blocks"] == BUTTONS


def test_slack_sdk_retry_handler_rides_out_a_429(fake_slack: FakeSlack) -> None:
    web = client(fake_slack)
    web.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))
    fake_slack.fail_next("chat.postMessage", status=429, retry_after=1)
    started = time.monotonic()
    web.chat_postMessage(channel="govuk-deploy-alerts", text="card")
    assert time.monotonic() - started >= 1  # it waited for Retry-After
    assert [c.status for c in fake_slack.call_log] == [429, 200]
    assert len(fake_slack.roots()) == 1


def test_concurrent_posts_get_distinct_timestamps(fake_slack: FakeSlack) -> None:
    web = client(fake_slack)
    with ThreadPoolExecutor(max_workers=10) as pool:
        stamps = list(pool.map(lambda i: web.chat_postMessage(channel="C0ALERTS", text=str(i))["ts"], range(30)))
    assert len(set(stamps)) == 30
    assert len(fake_slack.messages) == 30


# -- views.publish and direct messages (the Home tab) ----------------------------------------


def test_views_publish_keeps_every_home_view_and_refuses_what_slack_refuses(fake_slack: FakeSlack) -> None:
    slack = client(fake_slack)
    view = {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "hello"}}]}
    answer = slack.views_publish(user_id="U012AB3CD", view=view)
    assert answer["ok"] and answer["view"]["type"] == "home"
    slack.views_publish(user_id="U012AB3CD", view={**view, "blocks": view["blocks"] * 2})
    assert len(fake_slack.home_views("U012AB3CD")) == 2
    assert len(fake_slack.home_view("U012AB3CD")["blocks"]) == 2

    too_many = {"type": "home", "blocks": view["blocks"] * 101}
    long_header = {"type": "home", "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}]}
    for bad in (too_many, long_header, {"type": "modal", "blocks": []}):
        with pytest.raises(SlackApiError) as refused:
            slack.views_publish(user_id="U012AB3CD", view=bad)
        assert refused.value.response["error"] == "invalid_arguments"
    with pytest.raises(SlackApiError):
        slack.views_publish(user_id="not-a-user", view=view)
    assert len(fake_slack.home_views("U012AB3CD")) == 2  # a refused view changes nothing


def test_a_post_to_a_user_id_is_a_direct_message(fake_slack: FakeSlack) -> None:
    answer = client(fake_slack).chat_postMessage(channel="U0MEMBER2", text="You approved it")
    assert answer["channel"] == "D0MEMBER2"
    assert [m.text for m in fake_slack.direct_messages("U0MEMBER2")] == ["You approved it"]
