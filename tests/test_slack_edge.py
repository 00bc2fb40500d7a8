"""The edge of `/slack/events`: signatures, the 5-minute window, replays, malformed
bodies and fuzzed command text. Nothing here may ever commit, and nothing may ever get a 5xx.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot import commands
from tests.support.app import (
    MEMBER,
    SIGNING_SECRET,
    SharedBot,
    shared_bot,
)
from tests.support.charts import DEFAULT_APPS, ENVIRONMENTS
from tests.support.slack_requests import block_actions_body, signed_headers, slash_command_body

APP = re.compile(r"[a-z0-9][a-z0-9-]*")
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


Shared = SharedBot


@pytest.fixture(scope="module")
def shared(tmp_path_factory, redis_url) -> Iterator[SharedBot]:
    """One bot for the whole module (hypothesis runs many examples against it)."""
    with shared_bot(tmp_path_factory.mktemp("shared-bot"), redis_url) as bot:
        yield bot


def post(shared: Shared, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return shared.bot.http.post("/slack/events", content=body, headers=headers)


def now(shared: Shared) -> int:
    return int(shared.bot.fake_clock())


def reply_text(response: httpx.Response) -> str:
    if response.headers.get("content-type", "").startswith("application/json"):
        return str(response.json().get("text") or "")
    return response.text


class Unchanged:
    """Asserts that a block committed nothing, posted no card and sent nothing to `response_url`s."""

    def __init__(self, shared: Shared, *, allow_replies: bool = False) -> None:
        self.shared = shared
        self.allow_replies = allow_replies

    def __enter__(self) -> Unchanged:
        s = self.shared
        self.head, self.count = s.remote.head(), s.remote.commit_count()
        self.calls = len(s.fake_slack.calls)
        self.responses = sum(len(v) for v in s.fake_slack.responses.values())
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:
            return
        s = self.shared
        s.bot.settle()
        assert s.remote.head() == self.head, s.remote.log(3)
        assert s.remote.commit_count() == self.count
        assert len(s.fake_slack.calls) == self.calls, s.fake_slack.calls[self.calls :]
        if not self.allow_replies:
            assert sum(len(v) for v in s.fake_slack.responses.values()) == self.responses


def deploy_body(shared: Shared, text: str = "whitehall v9999 integration", name: str | None = None) -> bytes:
    url = shared.fake_slack.response_url(name or uuid.uuid4().hex)
    return slash_command_body(text, user_id=MEMBER, response_url=url)


# -- signatures ---------------------------------------------------------------------------------


def test_a_wrong_signature_is_401_and_does_nothing(shared):
    name = uuid.uuid4().hex
    body = deploy_body(shared, name=name)
    with Unchanged(shared):
        response = post(shared, body, signed_headers("not-the-secret", body, now(shared)))
        assert response.status_code == 401
        tampered = body.replace(b"v9999", b"v9998")
        response = post(shared, tampered, signed_headers(SIGNING_SECRET, body, now(shared)))
        assert response.status_code == 401
    assert name not in shared.fake_slack.responses


@pytest.mark.parametrize("skew", [-301, -3600, +301, +86400])
def test_a_stale_or_future_timestamp_is_401(shared, skew):
    body = deploy_body(shared)
    # the bot's clock held still from signing to checking: with it running, a second of load in
    # between made a stamp 301 s ahead only 300 s ahead by the time the bot looked, rightly accepted
    with Unchanged(shared), shared.bot.fake_clock.stopped():
        response = post(shared, body, signed_headers(SIGNING_SECRET, body, now(shared) + skew))
    assert response.status_code == 401


def test_a_request_inside_the_window_is_accepted(shared):
    body = slash_command_body("help", user_id=MEMBER)
    with shared.bot.fake_clock.stopped():
        response = post(shared, body, signed_headers(SIGNING_SECRET, body, now(shared) - 290))
    assert response.status_code == 200
    assert "/deploy <app> <tag> <environment>" in reply_text(response)


def test_the_window_follows_the_bots_clock(shared):
    body = slash_command_body("help", user_id=MEMBER)
    stamp = now(shared)
    shared.bot.fake_clock.advance(400)
    try:
        response = post(shared, body, signed_headers(SIGNING_SECRET, body, stamp))
    finally:
        shared.bot.fake_clock.advance(-400)
    assert response.status_code == 401


@pytest.mark.parametrize("missing", ["X-Slack-Signature", "X-Slack-Request-Timestamp", "both"])
def test_missing_headers_are_401(shared, missing):
    body = deploy_body(shared)
    headers = signed_headers(SIGNING_SECRET, body, now(shared))
    for header in ("X-Slack-Signature", "X-Slack-Request-Timestamp") if missing == "both" else (missing,):
        del headers[header]
    with Unchanged(shared):
        response = post(shared, body, headers)
    assert response.status_code == 401


@pytest.mark.parametrize(
    "stamp", ["", "abc", "1e9", "-5", "+{now}", "{now}.0", "0x1", "17000000000000000000000000000000"]
)
def test_odd_timestamps_are_401_not_500(shared, stamp):
    body = deploy_body(shared)
    stamp = stamp.format(now=now(shared))
    headers = signed_headers(SIGNING_SECRET, body, stamp)  # signed over this very value: only the value is wrong
    with Unchanged(shared):
        response = post(shared, body, headers)
    assert response.status_code == 401


def test_a_replayed_request_acts_once(shared):
    name = uuid.uuid4().hex
    body = deploy_body(shared, "signon v9999 integration", name=name)
    headers = signed_headers(SIGNING_SECRET, body, now(shared))
    count = shared.remote.commit_count()
    first = post(shared, body, headers)
    second = post(shared, body, headers)
    assert first.status_code == 200 and "Deploying" in reply_text(first)
    assert second.status_code < 500
    assert "Deploying" not in reply_text(second)
    shared.fake_slack.wait_for_response(name, timeout=30)
    shared.bot.settle()
    third = post(shared, body, headers)  # and again after the deploy has landed
    assert third.status_code < 500 and "Deploying" not in reply_text(third)
    shared.bot.settle()
    assert shared.remote.commit_count() == count + 1
    assert len(shared.fake_slack.responses[name]) == 1
    assert [s for _, s, _ in shared.remote.log(1)] == ["Update signon image tag to v9999 for integration"]


# -- malformed but signed ----------------------------------------------------------------------


MALFORMED = [
    b"",
    b"\x00\xff\xfe garbage",
    b'{"type": "url_verification"',
    b"command=%2Fdeploy&text=whitehall+v1+integration",  # no user, no response_url
    b"payload=not-json",
    b"payload=" + json.dumps({"type": "block_actions", "actions": []}).encode(),
    b"payload="
    + json.dumps({"type": "block_actions", "user": {"id": MEMBER}, "actions": [{"action_id": "promote"}]}).encode(),
    b"payload=" + json.dumps({"type": "view_submission"}).encode(),
    b"payload=%5B1%2C2%5D",
    urlencode({"command": "/other", "text": "whitehall v1 integration", "user_id": MEMBER}).encode(),
    urlencode({"command": "/deploy", "text": "whitehall v1 integration", "user_id": ""}).encode(),
    urlencode({"command": "/deploy", "text": ["x"] * 3}, doseq=True).encode(),
    b"text=%ZZ&command=%2Fdeploy",
]


FORM, JSON = "application/x-www-form-urlencoded", "application/json"
CASES = [(FORM, body) for body in MALFORMED] + [
    (JSON, b""),
    (JSON, b'{"type": "url_verification"'),
    (JSON, b"[1, 2]"),
    (JSON, b"whitehall v1 integration"),
]


@pytest.mark.parametrize(
    ("content_type", "body"), CASES, ids=[f"{t.split('/')[1]}-{n}" for n, (t, _) in enumerate(CASES)]
)
def test_malformed_signed_bodies_never_get_a_5xx(shared, content_type, body):
    stamp = now(shared) - (content_type == JSON)  # a distinct signature, so it is not taken for a replay
    with Unchanged(shared):
        response = post(shared, body, signed_headers(SIGNING_SECRET, body, stamp, content_type=content_type))
        assert response.status_code < 500, (response.status_code, response.text)
        assert "Traceback" not in response.text


def test_a_forged_promote_button_is_refused(shared):
    name = uuid.uuid4().hex
    url = shared.fake_slack.response_url(name)
    with Unchanged(shared, allow_replies=True):
        body = block_actions_body("promote", "whitehall|v3232|integration|staging", user_id=MEMBER, response_url=url)
        response = post(shared, body, signed_headers(SIGNING_SECRET, body, now(shared)))
        assert response.status_code == 200
        [reply] = shared.fake_slack.wait_for_response(name, timeout=10)
    assert "Nothing was done" in reply["text"] or "not one of mine" in reply["text"], reply


def test_an_oversized_body_is_413(shared):
    body = slash_command_body("help " + "x" * 70_000, user_id=MEMBER)
    with Unchanged(shared):
        response = post(shared, body, signed_headers(SIGNING_SECRET, body, now(shared)))
    assert response.status_code == 413


def test_healthz_and_readyz(shared):
    assert shared.bot.http.get("/healthz").status_code == 200
    ready = shared.bot.http.get("/readyz")
    assert ready.status_code == 200, ready.text


# -- fuzzing the command text ------------------------------------------------------------------


def would_deploy(text: str) -> bool:
    """The first check of /deploy as an oracle: True when `text` names a real deploy or promotion."""
    words = text.split()
    if len(text) > commands.MAX_TEXT or not words:
        return False
    if words[0].lower() == "promote":
        rest = words[1:]
        if len(rest) == 3 and rest[1].lower() == "to":
            rest = [rest[0], rest[2]]
        if len(rest) != 2:
            return False
        app, env = rest
        return env in ENVIRONMENTS[1:] and app in DEFAULT_APPS[env]
    if len(words) != 3:
        return False
    app, tag, env = words
    return env in ENVIRONMENTS and app in DEFAULT_APPS[env] and TAG.fullmatch(tag) is not None


def mutate(word: str, how: str, extra: str) -> str:
    if how == "prefix":
        return extra + word
    if how == "suffix":
        return word + extra
    if how == "middle":
        return word[: len(word) // 2] + extra + word[len(word) // 2 :]
    if how == "upper":
        return word.upper()
    return extra


NASTY = st.sampled_from(
    [
        "-",
        "--",
        "/",
        "..",
        "../",
        ";",
        "$(id)",
        "`id`",
        "\x00",
        "\u200b",
        "\u202e",
        "é",
        "ı",
        "İ",
        "K",
        "ｗ",
        "\\",
        "'",
        '"',
        "<@U0OUTSIDE>",
        "*",
        "~",
        "%00",
        "\t",
        "\r",
        "#",
        ":",
        "=",
        "|",
        ".",
        "@",
    ]
)
NEAR_MISS = st.builds(
    lambda base, index, how, extra, sep: sep.join(
        mutate(w, how, extra) if i == index else w for i, w in enumerate(base)
    ),
    st.sampled_from(
        [
            ["whitehall", "v3300", "integration"],
            ["publishing-api", "v2200", "staging"],
            ["frontend", "v1900", "production"],
            ["promote", "whitehall", "staging"],
            ["promote", "collections", "to", "production"],
        ]
    ),
    st.integers(0, 3),
    st.sampled_from(["prefix", "suffix", "middle", "upper", "replace"]),
    NASTY,
    st.sampled_from([" ", "  ", "\t", "\n", "\u00a0", "\u3000"]),
)
COMMAND_TEXT = st.one_of(
    st.text(max_size=80),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=600),
    st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=5).map(" ".join),
    NEAR_MISS,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=COMMAND_TEXT)
@example(text="whitehall\u200b v3300 integration")
@example(text="whitehall v3300 integration\x00")
@example(text="WHITEHALL v3300 integration")
@example(text="whitehall v3300 Integration")
@example(text="promote whitehall into staging")
@example(text="promote ../whitehall staging")
@example(text="promote whitehall integration")
@example(text="whitehall " + "v" * 129 + " integration")
@example(text="x" * (commands.MAX_TEXT + 1))
def test_fuzzed_command_text_never_5xx_always_replies_never_commits_when_invalid(shared, text):
    valid = would_deploy(text)
    head, count = shared.remote.head(), shared.remote.commit_count()
    name = uuid.uuid4().hex
    body = slash_command_body(text, user_id=MEMBER, response_url=shared.fake_slack.response_url(name))
    started = time.perf_counter()
    response = post(shared, body, signed_headers(SIGNING_SECRET, body, now(shared)))
    assert time.perf_counter() - started < 3.0
    assert response.status_code == 200, (response.status_code, response.text)
    reply = reply_text(response)
    assert reply.strip(), "an empty acknowledgement"
    assert "Traceback" not in reply
    if valid:
        shared.bot.settle()
        return
    assert "Deploying" not in reply and "Promoting" not in reply, (text, reply)
    shared.bot.settle()
    assert shared.remote.head() == head and shared.remote.commit_count() == count, (text, shared.remote.log(2))
    assert name not in shared.fake_slack.responses, shared.fake_slack.responses.get(name)


def test_the_fuzzing_bot_can_deploy_a_valid_command(shared):
    """The control for the property above: the same bot does commit a valid command."""
    name = uuid.uuid4().hex
    count = shared.remote.commit_count()
    body = slash_command_body(
        "email-alert-api v9999 staging", user_id=MEMBER, response_url=shared.fake_slack.response_url(name)
    )
    response = post(shared, body, signed_headers(SIGNING_SECRET, body, now(shared)))
    assert "Deploying" in reply_text(response)
    [reply] = shared.fake_slack.wait_for_response(name, timeout=30)
    assert "Committed" in reply["text"], reply
    assert shared.remote.commit_count() == count + 1


@settings(max_examples=40, deadline=None)
@given(
    fields=st.dictionaries(
        st.sampled_from(["command", "text", "user_id", "response_url", "payload", "type", "team_id", "channel_id"]),
        st.text(max_size=40),
        max_size=6,
    )
)
def test_fuzzed_signed_form_bodies_never_5xx(shared, fields):
    # a nonce keeps every request distinct, so the replay guard cannot hide what the body does
    body = urlencode({**fields, "trigger_id": uuid.uuid4().hex}).encode()
    head = shared.remote.head()
    response = post(shared, body, signed_headers(SIGNING_SECRET, body, now(shared)))
    assert response.status_code < 500, (fields, response.status_code, response.text)
    shared.bot.settle()
    assert shared.remote.head() == head
