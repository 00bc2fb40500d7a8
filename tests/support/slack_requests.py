"""Requests as Slack sends them to `/slack/events`: signed, form-encoded, in Slack's real shapes."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode

TEAM_ID = "T0GOVUK"
TEAM_DOMAIN = "govuk"
API_APP_ID = "A0DEPLOYBOT"
VERIFICATION_TOKEN = "legacy-verification-token"  # Slack still sends it; signed requests make it moot
ALERTS_CHANNEL_ID = "C0ALERTS"
ALERTS_CHANNEL_NAME = "govuk-deploy-alerts"
FORM = "application/x-www-form-urlencoded"


def signature(secret: str, body: bytes, timestamp: int | str) -> str:
    """Slack's v0 signature: `v0=` + hex HMAC-SHA256(secret, `v0:{timestamp}:{body}`)."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest()


def signed_headers(
    secret: str, body: bytes, timestamp: int | str | None = None, *, content_type: str = FORM
) -> dict[str, str]:
    """Headers Slack sends with `body`; pass an old `timestamp` to make a stale request."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature(secret, body, stamp),
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    }


def _trigger_id() -> str:
    return f"{int(time.time() * 1000)}.{TEAM_ID[1:]}.{hashlib.sha1(str(time.time_ns()).encode()).hexdigest()[:32]}"


def slash_command_body(
    text: str,
    user_id: str = "U012AB3CD",
    response_url: str = "https://hooks.slack.com/commands/T0GOVUK/1/placeholder",
    command: str = "/deploy",
    *,
    user_name: str = "octocat",
    channel_id: str = "C0DEPLOYS",
    channel_name: str = "govuk-deploys",
    team_id: str = TEAM_ID,
    team_domain: str = TEAM_DOMAIN,
    api_app_id: str = API_APP_ID,
    trigger_id: str | None = None,
) -> bytes:
    """A slash-command request body, form-encoded with the fields and order Slack uses."""
    fields = [
        ("token", VERIFICATION_TOKEN),
        ("team_id", team_id),
        ("team_domain", team_domain),
        ("channel_id", channel_id),
        ("channel_name", channel_name),
        ("user_id", user_id),
        ("user_name", user_name),
        ("command", command),
        ("text", text),
        ("api_app_id", api_app_id),
        ("is_enterprise_install", "false"),
        ("response_url", response_url),
        ("trigger_id", trigger_id or _trigger_id()),
    ]
    return urlencode(fields).encode("utf-8")


def find_button(message: dict[str, Any] | None, action_id: str, value: str | None = None) -> dict[str, Any] | None:
    """The button with `action_id` (and `value`, when given) in a wire-shape message, with its `block_id`."""
    for block in (message or {}).get("blocks") or []:
        elements = list(block.get("elements") or [])
        if isinstance(block.get("accessory"), dict):
            elements.append(block["accessory"])
        for element in elements:
            if element.get("action_id") == action_id and (value is None or element.get("value") == value):
                return {**element, "block_id": block.get("block_id")}
    return None


def block_actions_body(
    action_id: str,
    value: str,
    user_id: str = "U012AB3CD",
    response_url: str = "https://hooks.slack.com/actions/T0GOVUK/1/placeholder",
    *,
    message_ts: str = "1700000000.000100",
    channel_id: str = ALERTS_CHANNEL_ID,
    channel_name: str = ALERTS_CHANNEL_NAME,
    message: dict[str, Any] | None = None,
    block_id: str | None = None,
    label: str | None = None,
    user_name: str = "octocat",
    team_id: str = TEAM_ID,
    team_domain: str = TEAM_DOMAIN,
    api_app_id: str = API_APP_ID,
) -> bytes:
    """A button click (`block_actions`), form-encoded as `payload=<json>` like Slack sends it.

    `message` is the clicked message in Slack's wire shape (e.g. from `conversations.history`, or
    built from a FakeSlack message); the button's `block_id` and label are taken from it when
    not given.
    """
    button = find_button(message, action_id, value) or {}
    block_id = block_id or button.get("block_id") or "actions"
    label_text = label or (button.get("text") or {}).get("text") or action_id
    now = f"{time.time():.6f}"
    wire_message = message or {
        "type": "message",
        "user": "U0DEPLOYBOT",
        "bot_id": "B0DEPLOYBOT",
        "app_id": api_app_id,
        "team": team_id,
        "text": "",
        "ts": message_ts,
        "blocks": [],
    }
    payload = {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id},
        "api_app_id": api_app_id,
        "token": VERIFICATION_TOKEN,
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        },
        "trigger_id": _trigger_id(),
        "team": {"id": team_id, "domain": team_domain},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": channel_name},
        "message": wire_message,
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": block_id,
                "text": {"type": "plain_text", "text": label_text, "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": now,
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode("utf-8")


def wire_message(fake_message: Any, *, app_id: str = API_APP_ID, team_id: str = TEAM_ID) -> dict[str, Any]:
    """A FakeSlack `SlackMessage` in the wire shape Slack puts into `block_actions.message`."""
    wire: dict[str, Any] = {
        "type": "message",
        "user": fake_message.user,
        "bot_id": fake_message.bot_id,
        "app_id": app_id,
        "team": team_id,
        "text": fake_message.text,
        "ts": fake_message.ts,
    }
    if fake_message.blocks is not None:
        wire["blocks"] = fake_message.blocks
    if fake_message.thread_ts:
        wire["thread_ts"] = fake_message.thread_ts
    return wire


def click_body(
    fake_message: Any,
    action_id: str,
    user_id: str,
    response_url: str,
    *,
    value: str | None = None,
) -> bytes:
    """`block_actions_body` for clicking the button `action_id` on a FakeSlack message."""
    message = wire_message(fake_message)
    button = find_button(message, action_id, value)
    if button is None:
        raise AssertionError(f"no {action_id!r} button on message {fake_message.ts}: {fake_message.blocks!r}")
    return block_actions_body(
        action_id,
        str(button.get("value") or ""),
        user_id,
        response_url,
        message_ts=fake_message.ts,
        channel_id=fake_message.channel,
        message=message,
    )


def socket_mode_payload(body: bytes) -> dict[str, Any]:
    """What Slack puts in a Socket Mode envelope's `payload` for the request `body` it would POST over HTTP:
    a click's `payload` JSON, or a slash command's fields."""
    fields = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    return json.loads(fields["payload"]) if "payload" in fields else fields
