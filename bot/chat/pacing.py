"""Slack's rate limits, kept: about one post per second per channel for all replicas together, and
a 429 waited out.

A post takes its channel's turn in the store (SET NX) before it goes, and once Slack has it (or
the attempt ended) the channel stays taken for `post_interval`; so however many replicas there
are, posts to one channel are at least that far apart. Every Slack call goes through `call`,
which counts it (for /metrics) and, on a 429, pauses that method in this replica until its
Retry-After has passed (another replica finds out from its own 429). Without a store (some
tests) the pacing holds within this process only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from bot.chat.service import ChatRejected, ChatUnavailable, RateLimited
from bot.store import Store, StoreError

log = logging.getLogger(__name__)

# A turn taken is held for post_interval, no longer: a turn taken for a post that then does not go
# (the card was already there, a render or store error) must not hold the channel up. 5 s more here
# made a flood's urgent reply wait 10 s (tests/test_flood.py).
IN_FLIGHT_SECONDS = 0.0
RECHECK_SECONDS = 0.05  # a turn that has just been given back: look again this soon


class Pacer:
    def __init__(
        self,
        *,
        post_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        on_call: Callable[[str, str], None] = lambda method, outcome: None,
        store: Store | None = None,
    ) -> None:
        self.post_interval = post_interval
        self.clock = clock
        self.on_call = on_call
        self.store = store
        self._last_post: dict[str, float] = {}  # channel ID -> when we last posted there (no store)
        self.channel_ids: dict[str, str] = {}  # channel name -> ID, as Slack told us
        self._paused: dict[str, float] = {}  # Slack method -> when its Retry-After ends

    def post_wait(self, channel: str) -> float:
        """Seconds before a post to `channel` may go, for pacing or a 429 on chat.postMessage. 0.0 means
        this replica has the channel's turn: post now (and `posted` after), or the turn lapses by itself."""
        paused = self.paused_for("chat.postMessage")
        if paused > 0:
            return paused
        if self.post_interval <= 0:
            return 0.0
        key = self._channel_key(channel)
        if self.store is None:
            return max(0.0, self._last_post.get(key, -1e9) + self.post_interval - self.clock())
        hold = round((self.post_interval + IN_FLIGHT_SECONDS) * 1000)
        if self.store.client.set(self._turn_key(key), "posting", nx=True, px=hold):
            return 0.0
        left = self.store.client.pttl(self._turn_key(key)) / 1000
        # while another replica's post is under way its turn is long; look again within an interval
        return min(self.post_interval, left) if left > 0 else RECHECK_SECONDS

    def posted(self, channel: str, channel_id: str | None) -> None:
        """A post to `channel` went (or may have: `channel_id` None); the next waits `post_interval`."""
        if channel_id is not None:
            self.channel_ids[channel] = channel_id
        if self.store is None or self.post_interval <= 0:
            self._last_post[self._channel_key(channel)] = self.clock()
            return
        try:
            key = self._channel_key(channel)
            pipe = self.store.client.pipeline()
            if channel_id is not None:
                pipe.hset(self._ids_key, channel, channel_id)
            interval = round(self.post_interval * 1000)
            for turn in {self._turn_key(key), self._turn_key(channel)}:
                pipe.set(turn, "posted", px=interval)  # the next post, anyone's, no sooner than this
            pipe.execute()
        except StoreError as error:  # the turn lapses by itself
            log.warning("could not record the post to %s for pacing: %s", channel, error)

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

    def _channel_key(self, channel: str) -> str:
        """The channel's ID when anyone has learned it, so a name and its ID share one turn."""
        known = self.channel_ids.get(channel)
        if known is None and self.store is not None:
            known = self.store.client.hget(self._ids_key, channel)
            if known:
                self.channel_ids[channel] = known
        return known or channel

    @property
    def _ids_key(self) -> str:
        assert self.store is not None
        return self.store.key("slack", "channel-ids")

    def _turn_key(self, channel: str) -> str:
        assert self.store is not None
        return self.store.key("slack", "turn", channel)
