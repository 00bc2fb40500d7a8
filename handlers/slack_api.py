"""The core's `Chat` on Slack's Web API (slack_sdk), with Slack's failures mapped to the core's three."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.webhook import WebhookClient

from bot.chat.service import ChatRejected, ChatUnavailable, Posted, RateLimited

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10
MARKER_EVENT = "govuk_deploy_card"


class SlackChat:
    def __init__(self, token: str, base_url: str) -> None:
        base_url = base_url if base_url.endswith("/") else base_url + "/"
        # No retry handlers: the outbox owns retries, so it can pace and avoid double posts.
        self.client = WebClient(token=token, base_url=base_url, timeout=TIMEOUT_SECONDS, retry_handlers=[])

    def post(
        self,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        *,
        thread_ts: str | None = None,
        broadcast: bool = False,
        marker: str | None = None,
    ) -> Posted:
        arguments: dict[str, Any] = {"channel": channel, "text": text, "unfurl_links": False, "unfurl_media": False}
        if marker:
            arguments["metadata"] = {"event_type": MARKER_EVENT, "event_payload": {"marker": marker}}
        if blocks:
            arguments["blocks"] = blocks
        if thread_ts:
            arguments["thread_ts"] = thread_ts
            arguments["reply_broadcast"] = broadcast
        response = _call(lambda: self.client.chat_postMessage(**arguments))
        return Posted(channel=response["channel"], ts=response["ts"])

    def find(self, channel_id: str, marker: str, thread_ts: str | None = None) -> Posted | None:
        if thread_ts:
            response = _call(
                lambda: self.client.conversations_replies(
                    channel=channel_id, ts=thread_ts, include_all_metadata=True, limit=200
                )
            )
        else:
            response = _call(
                lambda: self.client.conversations_history(channel=channel_id, include_all_metadata=True, limit=100)
            )
        for message in response.get("messages") or []:
            payload = ((message.get("metadata") or {}).get("event_payload")) or {}
            if payload.get("marker") == marker:
                return Posted(channel=channel_id, ts=message["ts"])
        return None

    def channel_id(self, name: str) -> str | None:
        cursor = None
        for _ in range(20):  # at most 20 pages of 1,000 channels
            response = _call(
                lambda c=cursor: self.client.conversations_list(
                    exclude_archived=True, types="public_channel,private_channel", limit=1000, cursor=c
                )
            )
            for channel in response.get("channels") or []:
                if channel.get("name") == name.lstrip("#"):
                    return channel["id"]
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
        return None

    def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        _call(lambda: self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks or []))

    def respond(self, response_url: str, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        client = WebhookClient(response_url, timeout=TIMEOUT_SECONDS, retry_handlers=[])
        try:
            response = client.send(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)
        except (SlackClientError, OSError) as error:
            raise ChatUnavailable(type(error).__name__) from None
        if response.status_code == 429:
            raise RateLimited(_retry_after(response.headers))
        if response.status_code >= 500:
            raise ChatUnavailable(f"HTTP {response.status_code}")
        if response.status_code >= 400:
            raise ChatRejected(f"HTTP {response.status_code}: {response.body[:200]}")

    def publish_home(self, user_id: str, view: dict[str, Any]) -> None:
        _call(lambda: self.client.views_publish(user_id=user_id, view=view))

    def permalink(self, channel: str, ts: str) -> str | None:
        response = _call(lambda: self.client.chat_getPermalink(channel=channel, message_ts=ts))
        return response.get("permalink") or None


def _retry_after(headers: Any) -> float:
    for name in ("Retry-After", "retry-after"):
        value = headers.get(name) if headers else None
        if isinstance(value, list):
            value = value[0] if value else None
        if value:
            try:
                return max(0.0, float(value))
            except ValueError:
                break
    return 1.0


def _call(send: Any) -> Any:
    try:
        return send()
    except SlackApiError as error:
        status = error.response.status_code
        if status == 429:
            raise RateLimited(_retry_after(error.response.headers)) from None
        if status >= 500:
            raise ChatUnavailable(f"HTTP {status}") from None
        code = error.response.get("error") if isinstance(error.response.data, dict) else None
        if code in ("ratelimited", "rate_limited"):
            raise RateLimited(_retry_after(error.response.headers)) from None
        if code in ("internal_error", "fatal_error", "service_unavailable", "request_timeout"):
            raise ChatUnavailable(code) from None
        raise ChatRejected(code or f"HTTP {status}") from None
    except (SlackClientError, OSError) as error:
        raise ChatUnavailable(type(error).__name__) from None
