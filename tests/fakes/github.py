"""A fake GitHub REST API on 127.0.0.1: team memberships and compares, with GitHub's answers and failures.

Serves `GET /orgs/{org}/teams/{team}/memberships/{login}` exactly as api.github.com does:
200 `{"role", "state", "url"}` for a member, 404 `{"message": "Not Found"}` otherwise, 401
without a valid token, 403 (or 429) with `x-ratelimit-remaining: 0` when rate limited, and
304 for a matching `If-None-Match`. `.down`, `.slow_seconds` and `.rate_limited` switch on
failures; `.requests` records every request for assertions (caching: count them).

Also serves `GET /repos/{owner}/{repo}/compare/{base}...{head}` as GitHub does: 200 with
`status`, `ahead_by`, `behind_by`, `total_commits`, `html_url`, `commits[]` (and the other
top-level fields) for a comparison set with `set_compare`, 404 for any other. Each comparison
can be slow (`slow_seconds`), fail (`fail_status`) or answer junk (`junk`: "not_json" or
"missing_fields"), without touching the membership endpoint.

It is also github.com's OAuth device flow (the same origin serves as GITHUB_URL):
`POST /login/device/code` and `POST /login/oauth/access_token` answer as GitHub does (HTTP 200
with `error` for `authorization_pending`, `slow_down` with a new `interval`, `expired_token`,
`access_denied`, `incorrect_client_credentials`, `device_flow_disabled`, ...), and `GET /user`
answers for a token the flow issued. `.approve()`, `.deny()` play the person at
github.com/login/device; `.token_answers` scripts the next answers of the token endpoint.
"""

from __future__ import annotations

import copy
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from tests.fakes._http import LocalServer, Reply, Request

DEFAULT_TOKEN = "ghs-test-token"
DOCS = "https://docs.github.com/rest/teams/members#get-team-membership-for-a-user"
COMPARE_DOCS = "https://docs.github.com/rest/commits/commits#compare-two-commits"
OAUTH_CLIENT_ID = "Iv1.fakeclientid0001"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
DEVICE_DOCS = "https://docs.github.com/developers/apps/authorizing-oauth-apps#device-flow"


@dataclass(frozen=True)
class GitHubRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    status: int  # what the fake answered


@dataclass
class Compare:
    ahead_by: int
    behind_by: int = 0
    slow_seconds: float = 0.0
    fail_status: int | None = None
    junk: str | None = None  # "not_json" | "missing_fields"


@dataclass
class DeviceGrant:
    device_code: str
    user_code: str
    expires_at: float
    interval: float
    state: str = "pending"  # pending, approved, denied, used
    login: str | None = None
    polls: int = 0
    tokens: list[str] = field(default_factory=list)


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
        self._compares: dict[tuple[str, str, str], Compare] = {}  # (repo, base, head)
        self._requests: list[GitHubRequest] = []
        self._server = LocalServer(self._handle, name="fake-github")
        # -- the OAuth device flow
        self.oauth_client_id = OAUTH_CLIENT_ID
        self.device_flow_enabled = True
        self.device_interval: float = 5  # what GitHub says today; tests make it tiny
        self.device_expires_in = 899
        self.slow_down_step: float = 5  # added to the interval on slow_down, as GitHub does
        self.token_answers: list[Any] = []  # the next answers of the token endpoint: an error code or a Reply
        self.user_status = 200  # what GET /user answers with a good token
        self._grants: dict[str, DeviceGrant] = {}
        self._user_tokens: dict[str, str] = {}  # issued access token -> login

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

    # -- compares ---------------------------------------------------------------------------

    def set_compare(
        self,
        repo: str,
        base: str,
        head: str,
        ahead_by: int,
        behind_by: int = 0,
        *,
        slow_seconds: float = 0.0,
        fail_status: int | None = None,
        junk: str | None = None,
    ) -> None:
        """What `compare/{base}...{head}` of `{org}/{repo}` answers: `head` is `ahead_by` commits ahead of `base`."""
        with self._lock:
            self._compares[(repo, base, head)] = Compare(ahead_by, behind_by, slow_seconds, fail_status, junk)

    def compare_requests(self) -> list[GitHubRequest]:
        return [r for r in self.requests if "/compare/" in r.path]

    def _compare_delay(self, request: Request) -> float:
        found = self._compare_of(request.path)
        return found[1].slow_seconds if found else 0.0

    def _compare_of(self, path: str) -> tuple[tuple[str, str, str, str], Compare] | None:
        parts = path.strip("/").split("/")
        if len(parts) != 5 or parts[0] != "repos" or parts[3] != "compare" or "..." not in parts[4]:
            return None
        base, _, head = parts[4].partition("...")
        with self._lock:
            found = self._compares.get((parts[2], base, head)) if parts[1].lower() == self.org.lower() else None
        return ((parts[1], parts[2], base, head), found) if found else None

    def _compare(self, request: Request, remaining: int) -> Reply:
        found = self._compare_of(request.path)
        if found is None:
            return Reply.json(
                {"message": "Not Found", "documentation_url": COMPARE_DOCS, "status": "404"},
                404,
                self._rate_headers(remaining),
            )
        (owner, repo, base, head), compare = found
        if compare.fail_status is not None:
            return Reply.json({"message": "Server Error"}, compare.fail_status, self._rate_headers(remaining))
        if compare.junk == "not_json":
            return Reply(status=200, body=b"<html><body>Unicorn!</body></html>", headers={"Content-Type": "text/html"})
        if compare.junk == "missing_fields":
            return Reply.json({"url": f"{self.url}{request.path}", "commits": []}, 200, self._rate_headers(remaining))
        if compare.ahead_by and compare.behind_by:
            status = "diverged"
        elif compare.ahead_by:
            status = "ahead"
        elif compare.behind_by:
            status = "behind"
        else:
            status = "identical"
        page = int(request.query.get("per_page", "250") or 250)
        commits = [
            {
                "sha": hashlib.sha1(f"{repo}{head}{n}".encode()).hexdigest(),
                "commit": {"message": f"Commit {n} of {head}", "author": {"name": "GOV.UK developer"}},
                "html_url": f"https://github.com/{owner}/{repo}/commit/{n}",
            }
            for n in range(min(compare.ahead_by, page, 250))
        ]
        base_commit = {"sha": hashlib.sha1(f"{repo}{base}".encode()).hexdigest(), "commit": {"message": base}}
        body = {
            "url": f"{self.url}/repos/{owner}/{repo}/compare/{base}...{head}",
            "html_url": f"https://github.com/{owner}/{repo}/compare/{base}...{head}",
            "permalink_url": f"https://github.com/{owner}/{repo}/compare/{owner}:{base}...{owner}:{head}",
            "diff_url": f"https://github.com/{owner}/{repo}/compare/{base}...{head}.diff",
            "patch_url": f"https://github.com/{owner}/{repo}/compare/{base}...{head}.patch",
            "base_commit": base_commit,
            "merge_base_commit": base_commit,
            "status": status,
            "ahead_by": compare.ahead_by,
            "behind_by": compare.behind_by,
            "total_commits": compare.ahead_by,
            "commits": commits,
            "files": [],
        }
        return Reply.json(body, 200, self._rate_headers(remaining))

    # -- the device flow, as the person at github.com/login/device ------------------------------

    def _grant(self, user_code: str | None) -> DeviceGrant:
        with self._lock:
            grants = [g for g in self._grants.values() if user_code in (None, g.user_code)]
            if not grants:
                raise AssertionError(f"no device code {user_code or ''} was asked for")
            return grants[-1]

    def approve(self, login: str, user_code: str | None = None) -> None:
        """Enter the code (the latest one by default) and authorise the app, as `login`."""
        with self._changed:
            grant = self._grant(user_code)
            grant.state, grant.login = "approved", login
            self._changed.notify_all()

    def deny(self, user_code: str | None = None) -> None:
        with self._changed:
            self._grant(user_code).state = "denied"
            self._changed.notify_all()

    def expire(self, user_code: str | None = None) -> None:
        with self._changed:
            self._grant(user_code).expires_at = 0
            self._changed.notify_all()

    @property
    def device_grants(self) -> list[DeviceGrant]:
        with self._lock:
            return copy.deepcopy(list(self._grants.values()))

    @property
    def issued_tokens(self) -> list[str]:
        with self._lock:
            return list(self._user_tokens)

    def wait_for_device_code(self, timeout: float = 5.0) -> DeviceGrant:
        assert self.wait_until(lambda: self._grants, timeout), "nobody asked for a device code"
        return self.device_grants[-1]

    def token_polls(self) -> int:
        return sum(1 for r in self.requests if r.path == "/login/oauth/access_token")

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
        delay = self._compare_delay(request)
        if delay:
            self._stopping.wait(delay)
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
        if request.path in ("/login/device/code", "/login/oauth/access_token"):
            return self._device_flow(request)
        if request.path == "/user":
            return self._user(request)
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
        if request.method == "GET" and request.path.startswith("/repos/"):
            return self._compare(request, remaining)
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

    # -- the OAuth device flow (github.com) -------------------------------------------------------

    @staticmethod
    def _form(request: Request) -> dict[str, str]:
        if request.content_type == "application/json":
            try:
                data = request.json()
            except ValueError:
                return {}
            return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
        return dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))

    def _oauth(self, request: Request, payload: dict[str, Any], status: int = 200) -> Reply:
        """GitHub answers JSON when asked for it, else a form-encoded body."""
        if "application/json" in request.headers.get("accept", ""):
            return Reply.json(payload, status)
        body = "&".join(f"{k}={v}" for k, v in payload.items())
        return Reply(status, body.encode(), {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})

    def _oauth_error(self, request: Request, error: str, description: str, **more: Any) -> Reply:
        return self._oauth(
            request, {"error": error, "error_description": description, "error_uri": DEVICE_DOCS, **more}
        )

    def _device_flow(self, request: Request) -> Reply:
        if request.method != "POST":
            return Reply.json({"message": "Not Found"}, 404)
        form = self._form(request)
        if form.get("client_id") != self.oauth_client_id:
            return self._oauth_error(request, "incorrect_client_credentials", "The client_id is not valid.")
        if not self.device_flow_enabled:
            return self._oauth_error(request, "device_flow_disabled", "Device flow must be enabled for this App.")
        if request.path == "/login/device/code":
            grant = DeviceGrant(
                device_code=secrets.token_hex(20),
                user_code=f"{secrets.token_hex(2).upper()}-{secrets.token_hex(2).upper()}",
                expires_at=time.time() + self.device_expires_in,
                interval=self.device_interval,
            )
            self._grants[grant.device_code] = grant
            return self._oauth(
                request,
                {
                    "device_code": grant.device_code,
                    "user_code": grant.user_code,
                    "verification_uri": f"{self.url}/login/device",
                    "expires_in": self.device_expires_in,
                    "interval": self.device_interval,
                },
            )
        if form.get("grant_type") != DEVICE_GRANT:
            return self._oauth_error(request, "unsupported_grant_type", "The grant type is not supported.")
        grant = self._grants.get(form.get("device_code", ""))
        if grant is None:
            return self._oauth_error(request, "incorrect_device_code", "The device_code provided is not valid.")
        grant.polls += 1
        if self.token_answers:
            scripted = self.token_answers.pop(0)
            if isinstance(scripted, Reply):
                return scripted
            if scripted == "slow_down":
                grant.interval += self.slow_down_step
                return self._oauth_error(request, "slow_down", "Too many requests.", interval=grant.interval)
            return self._oauth_error(request, scripted, f"{scripted} (scripted by the test)")
        if time.time() >= grant.expires_at:
            return self._oauth_error(request, "expired_token", "The device code has expired.")
        if grant.state == "denied":
            return self._oauth_error(request, "access_denied", "The authorization request was denied.")
        if grant.state == "pending":
            return self._oauth_error(request, "authorization_pending", "The authorization request is still pending.")
        if grant.state == "used":
            return self._oauth_error(request, "bad_verification_code", "The device_code has been used.")
        token = "gho_" + secrets.token_hex(18)
        grant.state = "used"
        grant.tokens.append(token)
        self._user_tokens[token] = grant.login or ""
        return self._oauth(request, {"access_token": token, "token_type": "bearer", "scope": ""})

    def _user(self, request: Request) -> Reply:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        login = self._user_tokens.get(given.strip()) if scheme.lower() in ("bearer", "token") else None
        if request.method != "GET" or login is None:
            return Reply.json({"message": "Requires authentication", "documentation_url": DOCS, "status": "401"}, 401)
        if self.user_status != 200:
            return Reply.json({"message": "Server Error"}, self.user_status)
        return Reply.json(
            {"login": login, "id": abs(hash(login)) % 10**8, "type": "User", "site_admin": False, "name": None}
        )
