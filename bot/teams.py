"""Live GitHub team membership, failing closed.

Only a 200 with `"state": "active"` is membership. Every other answer, and every error,
time-out or rate limit, is a refusal; the refusal says whether GitHub said no or could not be
asked. Definite answers are cached for at most 60 seconds in this process's memory, never in
the store: anyone who can write to Redis could otherwise forge "active" for anybody. Failures
are never cached.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

import httpx

log = logging.getLogger(__name__)

CACHE_SECONDS = 60
MAX_CACHED = 10_000  # answers kept at once; the oldest go first, so a flood of logins cannot grow memory


@dataclass(frozen=True)
class Membership:
    member: bool
    reason: str = ""  # why not, in words for the requester

    @property
    def github_unreachable(self) -> bool:
        return self.reason.startswith("GitHub could not be asked")


class TeamChecker:
    def __init__(
        self,
        *,
        api_url: str,
        token: str,
        org: str,
        http: httpx.Client,
        clock: Callable[[], float] = time.monotonic,
        max_cached: int = MAX_CACHED,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.org = org
        self.http = http
        self.clock = clock
        self.max_cached = max_cached
        self._cache: OrderedDict[tuple[str, str], tuple[float, Membership]] = OrderedDict()
        self._cache_lock = threading.Lock()

    def check(self, login: str, team: str) -> Membership:
        if not self.token:
            return Membership(False, "GitHub could not be asked: the bot has no GITHUB_TOKEN configured")
        key = (team, login.lower())  # GitHub logins are case-insensitive
        cached = self._cached(key)
        if cached is not None:
            return cached
        answer = self._ask(login, team)
        if answer is not None:
            self._remember(key, answer)
            return answer
        return Membership(False, "GitHub could not be asked (it did not answer in time or answered with an error)")

    def cached_count(self) -> int:
        with self._cache_lock:
            return len(self._cache)

    def _cached(self, key: tuple[str, str]) -> Membership | None:
        with self._cache_lock:
            entry = self._cache.get(key)
            if entry is None:
                return None
            stored_at, answer = entry
            if not 0 <= self.clock() - stored_at < CACHE_SECONDS:
                del self._cache[key]
                return None
            return answer

    def _remember(self, key: tuple[str, str], answer: Membership) -> None:
        with self._cache_lock:
            self._cache.pop(key, None)
            self._cache[key] = (self.clock(), answer)
            while len(self._cache) > self.max_cached:
                self._cache.popitem(last=False)

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
