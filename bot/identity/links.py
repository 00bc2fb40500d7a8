"""Links between Slack users and GitHub logins made with `/deploy link`, kept in the store.

A login is linked to one Slack user at most: whoever proves a GitHub identity first holds it
until they unlink. That matters beyond tidiness: a device code can be phished (someone gets a
victim to enter the attacker's code), and one holder per login plus an announcement of every
new link are what make such a link visible and stop two people acting as one login.

Both records (user -> login, login -> holder) are sealed with the bot's key (`Seal`): one written
into the store by anyone else, or changed there, is ignored, so a writer to Redis cannot make the
bot act as a login (SPEC 13).
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from bot.identity.seal import Seal
from bot.store import Store

LINK, HOLDER = "link", "link-holder"  # the seal's kinds: a record of one is never taken for the other


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
    def __init__(self, store: Store, seal: Seal) -> None:
        self.store = store
        self.seal = seal

    def _user_key(self, slack_user: str) -> str:
        return self.store.key("link", "user", slack_user)

    def _login_key(self, login: str) -> str:
        return self.store.key("link", "login", login.lower())  # GitHub logins are case-insensitive

    def get(self, slack_user: str) -> Link | None:
        """The user's link, if the bot made it: one forged or changed in the store counts as none."""
        key = self._user_key(slack_user)
        raw = self.store.client.get(key)
        data = self.seal.open(LINK, slack_user, raw)
        if data is None or not isinstance(data.get("login"), str):
            return None
        at = data.get("at") if isinstance(data.get("at"), int | float) else 0.0
        if self.seal.opened_with_previous(LINK, slack_user, raw):  # a key rotation: seal it with the new key
            self.store.client.set(key, self.seal.close(LINK, slack_user, data), xx=True)
        return Link(slack_user, data["login"], at)

    def holder(self, login: str) -> str | None:
        """The Slack user a login is linked to, if any (and if the bot wrote that)."""
        return self._holder(login, self.store.client.get(self._login_key(login)))

    def _holder(self, login: str, raw: str | None) -> str | None:
        data = self.seal.open(HOLDER, login.lower(), raw)
        holder = data.get("slack") if data else None
        return holder if isinstance(holder, str) else None

    def _holder_record(self, login: str, slack_user: str) -> str:
        return self.seal.close(HOLDER, login.lower(), {"slack": slack_user})

    def link(self, slack_user: str, login: str, at: float) -> Link | Taken:
        """Link `slack_user` to `login`, replacing their earlier link; refused when someone else holds it.

        The login is claimed with SET NX, so of two users racing for one login exactly one wins.
        """
        login_key = self._login_key(login)
        if not self.store.client.set(login_key, self._holder_record(login, slack_user), nx=True):
            raw = self.store.client.get(login_key)
            holder = self._holder(login, raw)
            if holder is None:  # not the bot's record: take the login over, unless someone else just did
                if not self._replace(login_key, raw, self._holder_record(login, slack_user)):
                    return self.link(slack_user, login, at)
            elif holder != slack_user:
                return Taken(login, holder)
        earlier = self.get(slack_user)
        self.store.client.set(self._user_key(slack_user), self.seal.close(LINK, slack_user, {"login": login, "at": at}))
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

    def _replace(self, key: str, expected: str | None, value: str) -> bool:
        """Set `key` to `value` only while it still holds `expected` (one transaction); False if it changed."""
        with self.store.client.pipeline() as pipe:
            try:
                pipe.watch(key)
                if pipe.get(key) != expected:
                    return False
                pipe.multi()
                pipe.set(key, value)
                pipe.execute()
                return True
            except redis.WatchError:
                return False

    def _release_login(self, login: str, slack_user: str) -> None:
        """Free `login` only while it is still this user's (checked and deleted in one transaction)."""
        key = self._login_key(login)
        with self.store.client.pipeline() as pipe:
            try:
                pipe.watch(key)
                if self._holder(login, pipe.get(key)) != slack_user:
                    return
                pipe.multi()
                pipe.delete(key)
                pipe.execute()
            except redis.WatchError:
                return
