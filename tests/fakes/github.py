"""A fake GitHub REST API on 127.0.0.1: team memberships, with GitHub's answers and failures.

Serves `GET /orgs/{org}/teams/{team}/memberships/{login}` exactly as api.github.com does:
200 `{"role", "state", "url"}` for a member, 404 `{"message": "Not Found"}` otherwise, 401
without a valid token, 403 (or 429) with `x-ratelimit-remaining: 0` when rate limited, and
304 for a matching `If-None-Match`. `.down`, `.slow_seconds` and `.rate_limited` switch on
failures; `.requests` records every request for assertions (caching: count them).
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.fakes._http import LocalServer, Reply, Request

DEFAULT_TOKEN = "ghs-test-token"
DOCS = "https://docs.github.com/rest/teams/members#get-team-membership-for-a-user"


@dataclass(frozen=True)
class GitHubRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    status: int  # what the fake answered


class FakeGitHub:
    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        org: str = "alphagov",
        rate_limit: int = 5000,
    ) -> None:
        self.token = token
        self.org = org
        self.down = False  # every request answers 500
        self.slow_seconds = 0.0  # wait this long before answering (time-out tests)
        self.rate_limited = False  # answer 403 with x-ratelimit-remaining: 0
        self.rate_limited_status = 403  # GitHub uses 403 for the primary limit, 429 for some secondary ones
        self.rate_limit = rate_limit
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._members: dict[tuple[str, str], tuple[str, str]] = {}  # (team, login) -> (state, role)
        self._teams: set[str] = set()
        self._requests: list[GitHubRequest] = []
        self._server = LocalServer(self._handle, name="fake-github")

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeGitHub:
        self._stopping.clear()
        self._server.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes any slow answer at once
        self._server.stop()

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """API base URL, for GITHUB_API_URL (no trailing slash, like https://api.github.com)."""
        return self._server.origin

    # -- membership ------------------------------------------------------------------------

    def add_member(self, team: str, login: str, state: str = "active", role: str = "member") -> None:
        with self._lock:
            self._teams.add(team)
            self._members[(team, login.lower())] = (state, role)

    def remove_member(self, team: str, login: str) -> None:
        with self._lock:
            self._members.pop((team, login.lower()), None)

    # -- recorded requests -----------------------------------------------------------------

    @property
    def requests(self) -> list[GitHubRequest]:
        with self._lock:
            return copy.deepcopy(self._requests)

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self._requests)

    def membership_requests(self, team: str | None = None, login: str | None = None) -> list[GitHubRequest]:
        """Requests for team memberships, optionally only those for `team` and/or `login`."""
        found = []
        for request in self.requests:
            parts = request.path.strip("/").split("/")
            if len(parts) != 6 or parts[0] != "orgs" or parts[2] != "teams" or parts[4] != "memberships":
                continue
            if team is not None and parts[3] != team:
                continue
            if login is not None and parts[5].lower() != login.lower():
                continue
            found.append(request)
        return found

    def reset_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def wait_until(self, predicate: Callable[[], Any], timeout: float = 5.0) -> bool:
        with self._changed:
            return bool(self._changed.wait_for(predicate, timeout=timeout))

    # -- HTTP ------------------------------------------------------------------------------

    def _handle(self, request: Request) -> Reply:
        if self.slow_seconds:
            self._stopping.wait(self.slow_seconds)
        with self._changed:
            reply = self._answer(request)
            self._requests.append(GitHubRequest(request.method, request.path, dict(request.headers), reply.status))
            self._changed.notify_all()
        return reply

    def _rate_headers(self, remaining: int) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.rate_limit),
            "x-ratelimit-remaining": str(remaining),
            "x-ratelimit-reset": str(int(time.time()) + 3600),
            "x-ratelimit-used": str(self.rate_limit - remaining),
            "x-ratelimit-resource": "core",
            "x-github-api-version-selected": "2022-11-28",
        }

    def _answer(self, request: Request) -> Reply:
        if self.down:
            return Reply.json({"message": "Server Error"}, 500)
        auth = request.headers.get("authorization", "")
        scheme, _, given = auth.partition(" ")
        if scheme.lower() not in ("bearer", "token") or given.strip() != self.token:
            return Reply.json(
                {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"},
                401,
            )
        if self.rate_limited:
            return Reply.json(
                {
                    "message": "API rate limit exceeded for installation.",
                    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
                },
                self.rate_limited_status,
                self._rate_headers(0),
            )
        remaining = max(0, self.rate_limit - len(self._requests) - 1)
        parts = request.path.strip("/").split("/")
        is_membership = len(parts) == 6 and parts[0] == "orgs" and parts[2] == "teams" and parts[4] == "memberships"
        if request.method != "GET" or not is_membership:
            return Reply.json({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}, 404)
        org, team, login = parts[1], parts[3], parts[5]
        member = self._members.get((team, login.lower())) if org.lower() == self.org.lower() else None
        if member is None:
            return Reply.json(
                {"message": "Not Found", "documentation_url": DOCS, "status": "404"}, 404, self._rate_headers(remaining)
            )
        state, role = member
        body = json.dumps(
            {"url": f"{self.url}/organizations/1/team/1/memberships/{login}", "role": role, "state": state}
        ).encode()
        etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
        headers = {**self._rate_headers(remaining), "ETag": etag, "Cache-Control": "private, max-age=60, s-maxage=60"}
        if request.headers.get("if-none-match") == etag:
            return Reply(status=304, headers=headers)
        return Reply(status=200, body=body, headers={"Content-Type": "application/json; charset=utf-8", **headers})
