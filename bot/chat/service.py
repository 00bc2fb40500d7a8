"""What the core needs from a chat service, and how that service can fail.

Slack's Web API implements this in `handlers/slack_api.py`; the console prints instead. The
core sees only these calls and these three failures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Posted:
    channel: str  # the channel ID (chat.update needs it, not the name)
    ts: str


class RateLimited(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited; retry after {retry_after:g}s")
        self.retry_after = retry_after


class ChatUnavailable(Exception):
    """A server error or a connection failure: worth trying again."""


class ChatRejected(Exception):
    """The chat service refused the call itself (bad channel, bad blocks): trying again will not help."""


class Chat(Protocol):
    def post(
        self,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        *,
        thread_ts: str | None = None,
        broadcast: bool = False,
        marker: str | None = None,
    ) -> Posted: ...

    def find(self, channel_id: str, marker: str, thread_ts: str | None = None) -> Posted | None:
        """A recent message (in the thread, with `thread_ts`) carrying this marker, if any.

        Used after a post whose fate is unknown (a server or connection error), before posting again.
        """
        ...

    def channel_id(self, name: str) -> str | None:
        """The ID of the channel called `name`, or None when it cannot be found."""
        ...

    def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None = None) -> None: ...

    def respond(self, response_url: str, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        """An ephemeral reply to the person who asked (Slack's response_url), with buttons in `blocks`."""
        ...

    def publish_home(self, user_id: str, view: dict[str, Any]) -> None:
        """Show `view` (`{"type": "home", "blocks": […]}`) as this person's Home tab (Slack's views.publish)."""
        ...

    def permalink(self, channel: str, ts: str) -> str | None:
        """A link to the message `ts` in `channel` (Slack's chat.getPermalink), or None where there is none."""
        ...
