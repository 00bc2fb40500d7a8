"""Who a Slack user is on GitHub, or why they cannot deploy: never both.

A refusal is its own type, so a caller that forgets to look at it cannot act with anyone's
authority by mistake.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot import messages
from bot.config import Settings
from bot.releases.model import Requester


@dataclass(frozen=True)
class Refusal:
    """Why the bot will not act, in words for the person who asked."""

    text: str


def identify(settings: Settings, user_id: str) -> Requester | Refusal:
    login = settings.users.get(user_id)
    if login is None:
        return Refusal(messages.not_linked(user_id, settings.user_admins_hint))
    return Requester(slack_user=user_id, login=login)
