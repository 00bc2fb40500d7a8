"""Links between Slack users and GitHub logins made with `/deploy link`, kept in the store.

A login is linked to one Slack user at most: whoever proves a GitHub identity first holds it
until they unlink. That matters beyond tidiness: a device code can be phished (someone gets a
victim to enter the attacker's code), and one holder per login plus an announcement of every
new link are what make such a link visible and stop two people acting as one login.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import redis

from bot.store import Store


@dataclass(frozen=True)
class Link:
    slack_user: str
    login: str
    linked_at: float


@dataclass(frozen=True)
class Taken:
    """The login is already linked to another Slack user."""

    login: str
    by: str  # that user's Slack ID


class Links:
    def __init__(self, store: Store) -> None:
        self.store = store

    def _user_key(self, slack_user: str) -> str:
        return self.store.key("link", "user", slack_user)

    def _login_key(self, login: str) -> str:
        return self.store.key("link", "login", login.lower())  # GitHub logins are case-insensitive

    def get(self, slack_user: str) -> Link | None:
        raw = self.store.client.get(self._user_key(slack_user))
        if not raw:
            return None
        data = json.loads(raw)
        return Link(slack_user, data["login"], data.get("at") or 0.0)

    def holder(self, login: str) -> str | None:
        """The Slack user a login is linked to, if any."""
        return self.store.client.get(self._login_key(login))

    def link(self, slack_user: str, login: str, at: float) -> Link | Taken:
        """Link `slack_user` to `login`, replacing their earlier link; refused when someone else holds it.

        The login is claimed with SET NX, so of two users racing for one login exactly one wins.
        """
        login_key = self._login_key(login)
        if not self.store.client.set(login_key, slack_user, nx=True):
            holder = self.store.client.get(login_key)
            if holder != slack_user:
                return Taken(login, holder or "someone")
        earlier = self.get(slack_user)
        self.store.client.set(self._user_key(slack_user), json.dumps({"login": login, "at": at}, separators=(",", ":")))
        if earlier is not None and earlier.login.lower() != login.lower():
            self._release_login(earlier.login, slack_user)
        return Link(slack_user, login, at)

    def unlink(self, slack_user: str) -> Link | None:
        """Remove the user's link; the removed link, or None when there was none."""
        earlier = self.get(slack_user)
        if earlier is None:
            return None
        self.store.client.delete(self._user_key(slack_user))
        self._release_login(earlier.login, slack_user)
        return earlier

    def _release_login(self, login: str, slack_user: str) -> None:
        """Free `login` only while it is still this user's (checked and deleted in one transaction)."""
        key = self._login_key(login)
        with self.store.client.pipeline() as pipe:
            try:
                pipe.watch(key)
                if pipe.get(key) != slack_user:
                    return
                pipe.multi()
                pipe.delete(key)
                pipe.execute()
            except redis.WatchError:
                return
