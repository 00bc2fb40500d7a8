"""Slack's rate limits, kept: about one post per second per channel, and a 429 waited out.

Every Slack call goes through `call`, which counts it (for /metrics) and, on a 429, pauses that
method until its Retry-After has passed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bot.chat.service import ChatRejected, ChatUnavailable, RateLimited


class Pacer:
    def __init__(
        self,
        *,
        post_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        on_call: Callable[[str, str], None] = lambda method, outcome: None,
    ) -> None:
        self.post_interval = post_interval
        self.clock = clock
        self.on_call = on_call
        self._last_post: dict[str, float] = {}  # channel ID -> when we last posted there
        self.channel_ids: dict[str, str] = {}  # channel name -> ID, as Slack told us
        self._paused: dict[str, float] = {}  # Slack method -> when its Retry-After ends

    def post_wait(self, channel: str) -> float:
        """Seconds before a post to `channel` may go, for pacing or a 429 on chat.postMessage."""
        key = self.channel_ids.get(channel, channel)
        paced = self._last_post.get(key, -1e9) + self.post_interval - self.clock()
        return max(0.0, paced, self.paused_for("chat.postMessage"))

    def posted(self, channel: str, channel_id: str) -> None:
        self.channel_ids[channel] = channel_id
        self._last_post[channel_id] = self.clock()

    def paused_for(self, method: str) -> float:
        return max(0.0, self._paused.get(method, 0.0) - self.clock())

    def call(self, method: str, send: Callable[[], Any]) -> Any:
        try:
            result = send()
        except RateLimited as limited:
            self.on_call(method, "rate_limited")
            self._paused[method] = max(self._paused.get(method, 0.0), self.clock() + limited.retry_after)
            raise
        except ChatUnavailable:
            self.on_call(method, "unavailable")
            raise
        except ChatRejected:
            self.on_call(method, "rejected")
            raise
        self.on_call(method, "ok")
        return result
