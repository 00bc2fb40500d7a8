"""Hostile HTTP on the raw socket: header tricks, odd framing, replays and control characters.

httpx refuses to send most of these, so they are written byte by byte. Whatever arrives, the
answer is a deliberate status (never a 500 or a traceback) and nothing changes.
"""

from __future__ import annotations

import json
import socket
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.app import MEMBER, WEBHOOK_TOKEN, BotHarness
from tests.support.slack_requests import block_actions_body, signed_headers, slash_command_body


def raw(bot: BotHarness, request: bytes, timeout: float = 10.0) -> tuple[int, bytes]:
    """Send bytes as they are; return the status code and the whole answer."""
    port = int(bot.base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line = answer.split(b"\r\n", 1)[0]
    return int(status_line.split()[1]), answer


def webhook_request(body: bytes, *headers: bytes) -> bytes:
    lines = [b"POST /webhooks/argocd HTTP/1.1", b"Host: bot", b"Content-Type: application/json", *headers]
    lines.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


EVENT = json.dumps(
    {"application": "whitehall", "environment": "integration", "state": "Running", "imageTag": "v3232"}
).encode()
TOKEN = b"Authorization: Bearer " + WEBHOOK_TOKEN.encode()


def test_header_tricks_never_authorise_and_never_500(bot: BotHarness, fake_slack) -> None:
    attempts = [
        webhook_request(EVENT, b"Authorization: Bearer wrong\r\nX-Injected: yes"),  # injected header line
        webhook_request(EVENT, b"Authorization: Bearer " + WEBHOOK_TOKEN.encode() + b"x"),
        webhook_request(EVENT, b"Authorization: Bearer\t" + WEBHOOK_TOKEN.encode()[:-1]),
        webhook_request(EVENT, b"Authorization: Bearer \xff\xfe" + WEBHOOK_TOKEN.encode()),  # not ASCII
        webhook_request(EVENT, b"Authorization: Bearer " + WEBHOOK_TOKEN.encode() + b"\x00"),
        webhook_request(EVENT, b"Authorization: " + WEBHOOK_TOKEN.encode()),  # no scheme
        webhook_request(EVENT, b"Authorization: Basic " + WEBHOOK_TOKEN.encode()),
        webhook_request(EVENT),
    ]
    for request in attempts:
        status, answer = raw(bot, request)
        assert status in (400, 401), answer[:300]
        assert b"Traceback" not in answer
    bot.settle()
    assert fake_slack.count("chat.postMessage") == 0


def test_odd_framing_gets_a_deliberate_answer(bot: BotHarness, fake_slack) -> None:
    too_big = b"{" + b" " * (70 * 1024) + b"}"
    chunked_big = (
        b"POST /webhooks/argocd HTTP/1.1\r\nHost: bot\r\nContent-Type: application/json\r\n"
        + TOKEN
        + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
        + f"{len(too_big):x}\r\n".encode()
        + too_big
        + b"\r\n0\r\n\r\n"
    )
    cases = {
        "declared too big": webhook_request(too_big, TOKEN),
        "chunked too big": chunked_big,
        "body not utf-8": webhook_request(b'{"application": "\xff"}', TOKEN),
        "control characters": webhook_request(
            json.dumps(
                {"application": "white\x00hall", "environment": "integration", "state": "Running", "imageTag": "v1"}
            ).encode(),
            TOKEN,
        ),
        "bidi and zero width": webhook_request(
            json.dumps(
                {"application": "whitehall", "environment": "inte\u200bgration", "state": "Running", "imageTag": "v1"}
            ).encode(),
            TOKEN,
        ),
        "unknown method": b"BREW /webhooks/argocd HTTP/1.1\r\nHost: bot\r\nContent-Length: 0\r\n\r\n",
        "unknown path": b"GET /../../etc/passwd HTTP/1.1\r\nHost: bot\r\n\r\n",
    }
    for name, request in cases.items():
        status, answer = raw(bot, request)
        assert status in (400, 401, 404, 405, 413), (name, answer[:300])
        assert status < 500 and b"Traceback" not in answer, name
    bot.settle()
    assert fake_slack.count("chat.postMessage") == 0


def test_a_replayed_click_acts_once(bot: BotHarness, fake_slack, charts_remote) -> None:
    for path, payload in (
        ("/webhooks/argocd", {"state": "Succeeded"}),
        ("/webhooks/smokey", {"status": "Succeeded"}),
    ):
        body = {"application": "router", "environment": "integration", "imageTag": "v512", **payload}
        assert bot.webhook(path, body).status_code == 202
    bot.settle()
    value = fake_slack.roots()[0].button("promote")["value"]
    commits = charts_remote.commit_count()
    body = block_actions_body("promote", value, user_id=MEMBER, response_url=fake_slack.response_url("click"))
    headers = signed_headers("test-signing-secret", body, int(bot.fake_clock()))
    for _ in range(3):  # the very same signed request, as an attacker replaying it would send
        assert bot.http.post("/slack/events", content=body, headers=headers).status_code == 200
    bot.settle()
    assert charts_remote.commit_count() == commits + 1
    assert len(fake_slack.responses["click"]) == 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=st.characters(codec="utf-8"), max_size=80))
def test_any_text_in_any_slack_field_is_answered(bot: BotHarness, fake_slack, charts_remote, text: str) -> None:
    commits = charts_remote.commit_count()
    # a response_url that answers: replies to a closed port would be retried for seconds after the test
    reply_to = fake_slack.response_url(f"any-text-{uuid.uuid4().hex}")
    for body in (
        slash_command_body(text, user_id=text or "U0", response_url=reply_to),
        block_actions_body("promote", text, user_id=text or "U0", response_url=reply_to),
    ):
        answer = bot.slack(body)
        assert answer.status_code in (200, 400), answer.text
    assert charts_remote.commit_count() == commits


@pytest.mark.parametrize("field", ["application", "repoName", "environment", "imageTag", "state", "health", "message"])
def test_control_and_unicode_characters_in_each_webhook_field_never_500(bot: BotHarness, field: str) -> None:
    base = {"application": "whitehall", "environment": "integration", "state": "Running", "imageTag": "v3232"}
    for value in ("\x00", "\u202e", "\ud7ff", "é" * 300, "\r\nX: y", "<!channel>", "../../x"):
        answer = bot.webhook("/webhooks/argocd", {**base, field: value})
        assert answer.status_code in (200, 202, 400), (field, value, answer.text)  # 200: a duplicate
