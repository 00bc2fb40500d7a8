"""Who a Slack user is on GitHub, or why they cannot deploy: never both.

A refusal is its own type, so a caller that forgets to look at it cannot act with anyone's
authority by mistake.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot import messages
from bot.config import Settings
from bot.releases.model import Requester
from bot.store import StoreError

CONFIG = "config"
LINK = "link"


@dataclass(frozen=True)
class Refusal:
    """Why the bot will not act, in words for the person who asked."""

    text: str


def identify(settings: Settings, user_id: str, links: object | None = None) -> Requester | Refusal:
    """The `users` map first (an admin's word wins), then a link made with `/deploy link`."""
    login = settings.users.get(user_id)
    if login is not None:
        return Requester(slack_user=user_id, login=login, origin=CONFIG)
    if links is not None:
        try:
            link = links.get(user_id)
        except StoreError:
            return Refusal(messages.STORE_DOWN)
        if link is not None:
            if any(login.lower() == link.login.lower() for login in settings.users.values()):
                # the map gives this login to someone else since: one login, one Slack user
                return Refusal(messages.link_overruled_by_config(link.login))
            return Requester(slack_user=user_id, login=link.login, origin=LINK)
    return Refusal(
        messages.not_linked(user_id, settings.user_admins_hint, can_link=bool(settings.github_oauth_client_id))
    )
