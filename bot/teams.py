"""Live GitHub team membership (SPEC §5 check 3), failing closed.

Only a 200 with `"state": "active"` is membership. Every other answer, and every error,
time-out or rate limit, is a refusal; the refusal says whether GitHub said no or could not be
asked. Definite answers are cached in the store for at most 60 seconds; failures never are.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from urllib.parse import quote

import httpx

from bot.store import Store, StoreError

log = logging.getLogger(__name__)

CACHE_SECONDS = 60


@dataclass(frozen=True)
class Membership:
    member: bool
    reason: str = ""  # why not, in words for the requester

    @property
    def github_unreachable(self) -> bool:
        return self.reason.startswith("GitHub could not be asked")


class TeamChecker:
    def __init__(self, *, api_url: str, token: str, org: str, store: Store, http: httpx.Client) -> None:
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.org = org
        self.store = store
        self.http = http

    def check(self, login: str, team: str) -> Membership:
        if not self.token:
            return Membership(False, "GitHub could not be asked: the bot has no GITHUB_TOKEN configured")
        cache_key = self.store.key("team", self.org, team, login.lower())
        try:
            cached = self.store.client.get(cache_key)
        except StoreError:
            cached = None
        if cached == "active":
            return Membership(True)
        if cached is not None:
            return Membership(False, f"@{login} is not an active member of {self.org}/{team}")
        answer = self._ask(login, team)
        if answer is not None:
            with contextlib.suppress(StoreError):
                self.store.client.set(cache_key, "active" if answer.member else "no", ex=CACHE_SECONDS)
            return answer
        return Membership(False, "GitHub could not be asked (it did not answer in time or answered with an error)")

    def _ask(self, login: str, team: str) -> Membership | None:
        url = f"{self.api_url}/orgs/{quote(self.org)}/teams/{quote(team)}/memberships/{quote(login)}"
        try:
            response = self.http.get(
                url,
                headers={
                    "Authorization": f"Bearer {self.token}",
                    "Accept": "application/vnd.github+json",
                    "X-GitHub-Api-Version": "2022-11-28",
                },
            )
        except httpx.HTTPError as error:
            log.warning("GitHub team check for %s in %s failed: %s", login, team, type(error).__name__)
            return None
        if response.status_code == 404:
            return Membership(False, f"@{login} is not a member of {self.org}/{team}")
        if response.status_code != 200:
            log.warning("GitHub team check for %s in %s answered %s", login, team, response.status_code)
            return None
        try:
            state = response.json().get("state")
        except (ValueError, AttributeError):
            return None
        if state == "active":
            return Membership(True)
        return Membership(False, f"@{login}'s membership of {self.org}/{team} is {state or 'not active'}, not active")
