"""Where every environment stands for one app (status, history and the audit trail `/deploy status`), gathered with no Slack in sight.

For each environment: the tag in the charts repo (the writer's snapshot, no I/O), what Argo CD
shows where the bot has a token (one `GET /api/v1/applications` per environment), who deployed
that tag there and how it went (the release book), and lines from extra providers (freezes and
deploy windows plug in here). Between neighbouring environments: how many commits the later one
is behind, from GitHub's compare API (one call per pair).

Every Argo CD and GitHub call runs at the same time as the others, each bounded by `CALL_SECONDS`,
and the whole gathering waits at most `BUDGET_SECONDS`: a source that fails, is slow or answers
junk becomes a line saying so, never a missing answer or a late one.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from bot.argo.client import ArgoCD
from bot.argo.models import AppState, ArgoUnavailable
from bot.argo.outcomes import followed_files
from bot.config import Settings
from bot.names import is_valid_app_name, is_valid_image_tag
from bot.releases.model import EnvEntry

log = logging.getLogger(__name__)

CALL_SECONDS = 2.0  # each Argo CD or GitHub call
BUDGET_SECONDS = 2.5  # the whole gathering: the answer reaches Slack well within its 3 seconds
DEPLOY_RECORD_SEARCH = 200  # audit records of one app and environment searched for its current tag's commit
ExtraLines = Callable[[str, str], list[str]]  # (app, env) -> lines to show under that environment


class SourceUnavailable(Exception):
    """GitHub or Argo CD gave no usable answer; `reason` is a few plain words, never a token."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Comparison:
    ahead_by: int  # commits in head (the earlier environment's tag) that base (the later one's) lacks
    behind_by: int
    status: str  # ahead, behind, diverged, identical
    html_url: str


class GitHubCompare:
    """`GET {api}/repos/{org}/{repo}/compare/{base}...{head}` with the bot's token."""

    def __init__(self, http: httpx.Client, api_url: str, org: str, token: str, timeout: float = CALL_SECONDS) -> None:
        self.http = http
        self.api_url = api_url.rstrip("/")
        self.org = org
        self.token = token
        self.timeout = timeout

    def compare(self, repo: str, base: str, head: str) -> Comparison:
        if not is_valid_app_name(repo) or not (is_valid_image_tag(base) and is_valid_image_tag(head)):
            raise SourceUnavailable("not a repository and tags GitHub could know")
        url = f"{self.api_url}/repos/{quote(self.org, safe='')}/{repo}/compare/{quote(base, safe='')}...{quote(head, safe='')}"  # noqa: E501
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }
        try:
            # per_page=1: the counts are all the bot reads, not the commits themselves
            response = self.http.get(url, headers=headers, params={"per_page": "1"}, timeout=self.timeout)
        except httpx.TimeoutException:
            raise SourceUnavailable(f"no answer within {self.timeout:g} s") from None
        except httpx.HTTPError:
            raise SourceUnavailable("unreachable") from None
        if response.status_code == 404:
            raise SourceUnavailable(f"it doesn't know {self.org}/{repo} at {base} or {head} (404)")
        if response.status_code != 200:
            raise SourceUnavailable(f"it answered {response.status_code}")
        try:
            body = json.loads(response.content)
        except (ValueError, RecursionError):
            raise SourceUnavailable("its answer was not JSON") from None
        return _comparison(body)


def _comparison(body: Any) -> Comparison:
    if not isinstance(body, dict):
        raise SourceUnavailable("its answer lacked the commit counts")
    ahead, behind, status, url = (body.get(k) for k in ("ahead_by", "behind_by", "status", "html_url"))
    counts_ok = all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in (ahead, behind))
    if not counts_ok or not isinstance(status, str):
        raise SourceUnavailable("its answer lacked the commit counts")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise SourceUnavailable("its answer lacked the compare page")
    return Comparison(ahead, behind, status, url)


class Comparer(Protocol):
    def compare(self, repo: str, base: str, head: str) -> Comparison: ...


class ArgoReader(Protocol):
    def applications(self) -> list[AppState]: ...


ArgoFactory = Callable[[str], "ArgoReader | None"]  # env -> a client, or None without a token


def argocd_clients(settings: Settings, timeout: float = CALL_SECONDS) -> ArgoFactory:
    """A fresh Argo CD client for each environment with `ARGOCD_TOKEN_<ENV>`, None for the others."""

    def client(env: str) -> ArgoReader | None:
        token = settings.argocd_tokens.get(env)
        environment = settings.environment(env)
        if not token or environment is None:
            return None
        return ArgoCD(
            environment.argocd_url,
            token,
            timeout=timeout,
            project=settings.argocd_project,
            log_container=settings.log_container,
        )

    return client


@dataclass
class ArgoSight:
    no_token: bool = False
    apps: list[AppState] = field(default_factory=list)  # the app's applications (draft stacks left out)
    problem: str | None = None


@dataclass
class EnvStatus:
    env: str
    tag: str | None  # the charts repo's; None without an image-tag file
    argocd: ArgoSight
    entry: EnvEntry | None = None  # the release book's record of that tag there
    deployed: dict[str, Any] | None = None  # the audit trail's `deploy_committed` of that tag there
    book_problem: str | None = None
    extra: list[str] = field(default_factory=list)
    extra_failed: bool = False  # a provider raised: said in a line rather than silently missing


@dataclass
class Gap:
    """How far `later` is behind `earlier`."""

    earlier: str
    later: str
    earlier_tag: str | None
    later_tag: str | None
    comparison: Comparison | None = None
    problem: str | None = None  # GitHub's failure, in a few words
    no_token: bool = False


@dataclass
class AppStatus:
    app: str
    envs: list[EnvStatus]
    gaps: list[Gap]  # gaps[i] is between envs[i] and envs[i + 1]


class StatusBuilder:
    def __init__(
        self,
        *,
        settings: Settings,
        charts: Any,  # current_tag(env, app): the snapshot
        book: Any,  # get(app, tag) -> Release | None
        audit: Any,  # read(app=, env=, limit=) -> records, oldest first
        argocd: ArgoFactory,
        github: Comparer | None,
        extra_lines: Sequence[ExtraLines] = (),
        budget: float = BUDGET_SECONDS,
        workers: int = 64,  # 5 calls per status for 3 environments: a dozen people asking at once never queue
    ) -> None:
        self.settings = settings
        self.charts = charts
        self.book = book
        self.audit = audit
        self.argocd = argocd
        self.github = github
        self.extra_lines: list[ExtraLines] = list(extra_lines)  # freezes, deploy windows: wired by services
        self.budget = budget
        self.calls = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="status-call")

    def stop(self) -> None:
        self.calls.shutdown(wait=False, cancel_futures=True)

    def build(self, app: str, asked_at: float | None = None) -> AppStatus:
        """Where `app` stands; `asked_at` (time.monotonic() at the ack) starts the budget when the work queued."""
        started = time.monotonic() if asked_at is None else asked_at
        names = self.settings.environment_names
        envs = [EnvStatus(env, self.charts.current_tag(env, app), ArgoSight()) for env in names]
        argo_calls: dict[str, Future] = {}
        for status in envs:
            client = self.argocd(status.env)
            if client is None:
                status.argocd.no_token = True
            else:
                argo_calls[status.env] = self.calls.submit(_read_argocd, client)
        gaps = [
            Gap(earlier.env, later.env, earlier.tag, later.tag) for earlier, later in zip(envs, envs[1:], strict=False)
        ]
        compare_calls: dict[int, Future] = {}
        for number, gap in enumerate(gaps):
            if not gap.earlier_tag or not gap.later_tag or gap.earlier_tag == gap.later_tag:
                continue
            if self.github is None:
                gap.no_token = True
                continue
            compare_calls[number] = self.calls.submit(self.github.compare, app, gap.later_tag, gap.earlier_tag)

        for status in envs:  # the store and the providers, while Argo CD and GitHub answer
            self._add_book(app, status)
            self._add_extra(app, status)

        remaining = max(0.0, self.budget - (time.monotonic() - started))
        wait_for([*argo_calls.values(), *compare_calls.values()], timeout=remaining)
        for status in envs:
            if status.env in argo_calls:
                _argo_result(app, status.argocd, argo_calls[status.env], self.budget, self.settings.registry_path)
        for number, future in compare_calls.items():
            gap = gaps[number]
            try:
                gap.comparison = _result(future, self.budget)
            except SourceUnavailable as unavailable:
                gap.problem = unavailable.reason
        return AppStatus(app, envs, gaps)

    def _add_book(self, app: str, status: EnvStatus) -> None:
        if not status.tag:
            return
        try:
            release = self.book.get(app, status.tag)
        except Exception as error:  # the store being down costs this line, not the answer
            log.warning("status: could not read release %s %s: %s", app, status.tag, error)
            status.book_problem = "the state store is unavailable"
            return
        status.entry = release.envs.get(status.env) if release else None
        status.deployed = self._deploy_record(app, status.env, status.tag)

    def _deploy_record(self, app: str, env: str, tag: str) -> dict[str, Any] | None:
        """The newest commit of `tag` there among the environment's last records: when, and by whom."""
        try:
            records = self.audit.read(app=app, env=env, limit=DEPLOY_RECORD_SEARCH)
        except Exception as error:
            log.warning("status: could not read the audit trail for %s in %s: %s", app, env, error)
            return None
        return next(
            (r for r in reversed(records) if r.get("action") == "deploy_committed" and r.get("tag") == tag), None
        )

    def _add_extra(self, app: str, status: EnvStatus) -> None:
        for provider in self.extra_lines:
            try:
                status.extra.extend(str(line) for line in provider(app, status.env))
            except Exception:
                log.exception("status: an extra line provider failed for %s in %s", app, status.env)
                status.extra_failed = True


def _read_argocd(client: ArgoReader) -> list[AppState]:
    try:
        return client.applications()
    finally:
        close = getattr(client, "close", None)
        if close is not None:
            close()


def _result(future: Future, budget: float) -> Any:
    if not future.done():
        future.cancel()
        raise SourceUnavailable(f"no answer within {budget:g} s")
    error = future.exception()
    if isinstance(error, SourceUnavailable):
        raise error
    if isinstance(error, ArgoUnavailable):
        raise SourceUnavailable(error.reason)
    if error is not None:
        log.error("status: unexpected error from a source: %r", error)
        raise SourceUnavailable("something went wrong reading it")
    return future.result()


def _argo_result(app: str, sight: ArgoSight, future: Future, budget: float, registry_path: str = "govuk") -> None:
    try:
        every = _result(future, budget)
    except SourceUnavailable as unavailable:
        sight.problem = unavailable.reason
        return
    sight.apps = [
        state
        for state in every
        # whitehall-admin follows whitehall by its repoName; licensify runs licensify-feed by its images
        if followed_files(state, registry_path, {app}) and not (state.name.startswith("draft-") and state.name != app)
    ]
