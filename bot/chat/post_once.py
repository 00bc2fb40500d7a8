"""A `chat.postMessage` that never shows a message twice.

A post that fails with a server or connection error may still have reached Slack. Before
posting it again, look for its marker in the channel (or thread). And a post that Slack took
is remembered here until the caller has saved it in the store (`saved`), so a store failure
in between never posts it a second time.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.chat.pacing import Pacer
from bot.chat.service import Chat, ChatRejected, ChatUnavailable, Posted

log = logging.getLogger(__name__)

PostKey = tuple[str, ...]


class PostOnce:
    def __init__(self, chat: Chat, pacer: Pacer) -> None:
        self.chat = chat
        self.pacer = pacer
        self._unconfirmed: set[PostKey] = set()  # posts whose fate is unknown
        self._delivered: dict[PostKey, Posted] = {}  # posts Slack took that the store does not know yet

    def post(
        self,
        key: PostKey,
        channel: str,
        thread_ts: str | None,
        marker: str,
        text: str,
        blocks: list[dict[str, Any]] | None,
        *,
        broadcast: bool,
    ) -> Posted:
        if key in self._delivered:
            self.pacer.posted(channel, None)  # nothing went: the channel's turn is given back after the interval
            return self._delivered[key]
        if key in self._unconfirmed:
            found = self._find(channel, thread_ts, marker)
            if found is not None:
                self._unconfirmed.discard(key)
                self._delivered[key] = found
                self.pacer.posted(channel, None)
                return found
        try:
            posted = self.pacer.call(
                "chat.postMessage",
                lambda: self.chat.post(channel, text, blocks, thread_ts=thread_ts, broadcast=broadcast, marker=marker),
            )
        except ChatUnavailable:
            self._unconfirmed.add(key)
            self.pacer.posted(channel, None)  # it may have landed: paced as if it had
            raise
        except Exception:
            self.pacer.posted(channel, None)  # the turn taken for it is given back after the interval
            raise
        self._unconfirmed.discard(key)
        self._delivered[key] = posted
        self.pacer.posted(channel, posted.channel)
        return posted

    def saved(self, key: PostKey) -> None:
        """The store now knows this post: the store, not this memory, answers from here on."""
        self._delivered.pop(key, None)

    def _find(self, channel: str, thread_ts: str | None, marker: str) -> Posted | None:
        # a thread reply goes to the card's channel, which is already an ID
        channel_id = channel if thread_ts else self.pacer.channel_ids.get(channel) or self._resolve(channel)
        if channel_id is None:
            return None
        return self.pacer.call("conversations.history", lambda: self.chat.find(channel_id, marker, thread_ts))

    def _resolve(self, channel: str) -> str | None:
        try:
            channel_id = self.pacer.call("conversations.list", lambda: self.chat.channel_id(channel))
        except ChatRejected as error:
            log.warning("cannot look up channel %s (%s); a retried post may show twice", channel, error)
            return None
        if channel_id:
            self.pacer.channel_ids[channel] = channel_id
        return channel_id
