"""The status builder (bot/status.py) with stand-in sources: parallel calls, the time budget, extra line
providers and what is compared; and its GitHub compare client on the fake GitHub's real wire."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from bot import messages
from bot.argo import AppState, ArgoUnavailable
from bot.config import load_settings
from bot.releases.model import EnvEntry, Release, Requester, State
from bot.reports.status import Comparison, GitHubCompare, SourceUnavailable, StatusBuilder
from tests.fakes import FakeGitHub

TAGS = {"integration": "v3", "staging": "v2", "production": "v1"}
AT_10_30 = datetime(2026, 11, 29, 10, 30, tzinfo=UTC).timestamp()


def app_state(
    name: str, tag: str, repo: str = "whitehall", phase: str = "Succeeded", health: str = "Healthy"
) -> AppState:  # noqa: E501
    return AppState(name, repo, tag, phase, "", "abc", health, "", None)


class Charts:
    def __init__(self, tags: dict[str, str | None]) -> None:
        self.tags = tags

    def current_tag(self, env: str, app: str) -> str | None:
        return self.tags.get(env)


class Book:
    def __init__(self, releases: dict[str, Release] | None = None) -> None:
        self.releases = releases or {}

    def get(self, app: str, tag: str) -> Release | None:
        return self.releases.get(tag)


class Audit:
    def __init__(self, records: list[dict] | None = None) -> None:
        self.records = records or []

    def read(self, app: str, env: str, limit: int) -> list[dict]:
        return [r for r in self.records if r["app"] == app and r["env"] == env][-limit:]


class Argo:
    def __init__(self, apps: list[AppState] | None = None, delay: float = 0.0, failure: str | None = None) -> None:
        self.apps, self.delay, self.failure = apps or [], delay, failure
        self.calls = 0
        self.closed = False

    def applications(self) -> list[AppState]:
        self.calls += 1
        time.sleep(self.delay)
        if self.failure:
            raise ArgoUnavailable(self.failure)
        return self.apps

    def close(self) -> None:
        self.closed = True


class GitHub:
    def __init__(self, delay: float = 0.0, failure: str | None = None) -> None:
        self.delay, self.failure = delay, failure
        self.asked: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()

    def compare(self, repo: str, base: str, head: str) -> Comparison:
        with self._lock:
            self.asked.append((repo, base, head))
        time.sleep(self.delay)
        if self.failure:
            raise SourceUnavailable(self.failure)
        return Comparison(2, 0, "ahead", f"https://github.com/alphagov/{repo}/compare/{base}...{head}")


@pytest.fixture
def settings(tmp_path: Path):
    return load_settings({"XDG_CACHE_HOME": str(tmp_path)}, require_serve=False)


def builder(settings, *, argo=None, github=None, tags=None, book=None, audit=None, budget=2.5, extra=()):
    readers = argo or {}
    return StatusBuilder(
        settings=settings,
        charts=Charts(TAGS if tags is None else tags),
        book=book or Book(),
        audit=audit or Audit(),
        argocd=readers.get,
        github=github,
        extra_lines=extra,
        budget=budget,
    )


def test_every_argocd_read_and_compare_runs_at_once(settings) -> None:
    argo = {env: Argo([app_state("whitehall", tag)], delay=0.5) for env, tag in TAGS.items()}
    github = GitHub(delay=0.5)
    started = time.monotonic()
    status = builder(settings, argo=argo, github=github).build("whitehall")
    assert time.monotonic() - started < 1.2  # five half-second calls, not 2.5 s of them
    assert [len(e.argocd.apps) for e in status.envs] == [1, 1, 1]
    assert sorted(github.asked) == [("whitehall", "v1", "v2"), ("whitehall", "v2", "v3")]  # base = the later env's
    assert all(reader.calls == 1 and reader.closed for reader in argo.values())


def test_a_source_slower_than_the_budget_is_a_line_and_the_answer_does_not_wait(settings) -> None:
    argo = {"integration": Argo(delay=3), "staging": Argo(failure="answered 401")}
    started = time.monotonic()
    status = builder(settings, argo=argo, github=GitHub(delay=3), budget=0.3).build("whitehall")
    assert time.monotonic() - started < 1.0
    assert status.envs[0].argocd.problem == "no answer within 0.3 s"
    assert status.envs[1].argocd.problem == "answered 401"
    assert status.envs[2].argocd.no_token
    assert [g.problem for g in status.gaps] == ["no answer within 0.3 s"] * 2
    text = messages.status_report(status)
    assert "Argo CD didn't answer: no answer within 0.3 s" in text
    assert "GitHub didn't answer: no answer within 0.3 s (commits between integration and staging)" in text


def test_only_the_apps_own_applications_are_shown_not_draft_stacks_or_other_apps(settings) -> None:
    apps = [
        app_state("whitehall-admin", "v3"),
        app_state("whitehall-frontend", "v2", health="Progressing"),  # runs an older tag than the charts repo
        app_state("draft-whitehall", "v3", phase="Failed"),
        app_state("router", "v9", repo="router"),
    ]
    status = builder(settings, argo={"integration": Argo(apps)}).build("whitehall")
    line = messages.argocd_words(status.envs[0].argocd, "v3", "integration")
    assert line == "Argo CD: whitehall-admin Succeeded, Healthy; whitehall-frontend Succeeded, Progressing (runs `v2`)"


def test_no_compare_for_equal_or_missing_tags_and_none_without_a_token(settings) -> None:
    github = GitHub()
    status = builder(settings, github=github, tags={"integration": "v3", "staging": "v3", "production": None}).build(
        "whitehall"
    )
    assert github.asked == []
    assert [messages.gap_words(g) for g in status.gaps] == [
        "staging runs the same tag as integration",
        "production and staging: nothing to compare (one has no image tag)",
    ]
    no_token = builder(settings, github=None).build("whitehall")
    assert all(g.no_token for g in no_token.gaps)


def test_extra_line_providers_add_lines_under_each_environment_and_one_failing_costs_only_a_line(settings) -> None:
    asked: list[tuple[str, str]] = []

    def freezes(app: str, env: str) -> list[str]:
        asked.append((app, env))
        return [f":ice_cube: frozen in {env}"] if env == "production" else []

    def windows(app: str, env: str) -> list[str]:
        if env == "staging":
            raise RuntimeError("broken provider")
        return ["deploy window: open"]

    status = builder(settings, extra=[freezes, windows]).build("whitehall")
    assert asked == [("whitehall", "integration"), ("whitehall", "staging"), ("whitehall", "production")]
    assert [e.extra for e in status.envs] == [
        ["deploy window: open"],
        [],
        [":ice_cube: frozen in production", "deploy window: open"],
    ]
    text = messages.status_report(status)
    assert messages.STATUS_EXTRA_FAILED in text.split("• *staging*")[1].split("• *production*")[0]


def test_who_deployed_it_when_and_how_it_went_come_from_the_trail_and_the_book(settings) -> None:
    release = Release("whitehall", "v3", created=0)
    release.envs["integration"] = EnvEntry(state=State.TESTS_PASSED, at=AT_10_30, requester=Requester("U1", "o"))
    release.envs["staging"] = EnvEntry(state=State.SYNCED, at=AT_10_30, requester=Requester(), automatic=True)
    records = [
        {
            "at": "2026-11-29T10:00:00.000Z",
            "action": "deploy_committed",
            "actor": {"slack": "U1"},
            "app": "whitehall",
            "env": "integration",
            "tag": "v3",
        },  # noqa: E501
        {
            "at": "2026-11-29T10:05:00.000Z",
            "action": "deploy_committed",
            "actor": "CI",
            "app": "whitehall",
            "env": "staging",
            "tag": "v2",
        },  # noqa: E501
    ]
    status = builder(settings, book=Book({"v3": release, "v2": release}), audit=Audit(records)).build("whitehall")
    words = [messages.deployed_words(e) for e in status.envs]
    assert words[0] == "Deployed by <@U1> on 29 Nov 10:00 UTC · tests passed (29 Nov 10:30 UTC)"
    assert words[1].startswith("Deployed by CI (automatic promotion) on 29 Nov 10:05 UTC · synced")
    assert words[1].endswith("no test outcome yet")
    assert words[2] == "The bot has no record of deploying `v1` here"


# -- the compare client on the fake GitHub ---------------------------------------------------------


@pytest.fixture
def compare(fake_github: FakeGitHub):
    http = httpx.Client()
    yield GitHubCompare(http, fake_github.url, "alphagov", fake_github.token, timeout=0.5)
    http.close()


def test_compare_reads_the_counts_and_the_page(compare: GitHubCompare, fake_github: FakeGitHub) -> None:
    fake_github.set_compare("whitehall", "v1", "v3", ahead_by=3, behind_by=1)
    assert compare.compare("whitehall", "v1", "v3") == Comparison(
        3, 1, "diverged", "https://github.com/alphagov/whitehall/compare/v1...v3"
    )
    (request,) = fake_github.compare_requests()
    assert request.headers["authorization"] == f"Bearer {fake_github.token}"


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (dict(ahead_by=1, fail_status=500), "it answered 500"),
        (dict(ahead_by=1, slow_seconds=3), "no answer within 0.5 s"),
        (dict(ahead_by=1, junk="not_json"), "its answer was not JSON"),
        (dict(ahead_by=1, junk="missing_fields"), "its answer lacked the commit counts"),
    ],
)
def test_compare_failures_are_a_few_words(compare: GitHubCompare, fake_github: FakeGitHub, setup, reason) -> None:
    fake_github.set_compare("whitehall", "v1", "v3", **setup)
    with pytest.raises(SourceUnavailable) as raised:
        compare.compare("whitehall", "v1", "v3")
    assert raised.value.reason == reason


def test_compare_of_unknown_tags_a_bad_token_or_a_rate_limit(compare: GitHubCompare, fake_github: FakeGitHub) -> None:
    with pytest.raises(SourceUnavailable, match=r"doesn't know alphagov/whitehall at v1 or v9 \(404\)"):
        compare.compare("whitehall", "v1", "v9")
    fake_github.rate_limited = True
    with pytest.raises(SourceUnavailable, match="it answered 403"):
        compare.compare("whitehall", "v1", "v9")
    fake_github.rate_limited = False
    compare.token = "wrong"
    with pytest.raises(SourceUnavailable, match="it answered 401"):
        compare.compare("whitehall", "v1", "v9")
    with pytest.raises(SourceUnavailable, match="not a repository and tags"):
        compare.compare("whitehall", "-v1", "v9")  # never sent
    assert len(fake_github.compare_requests()) == 3


def test_the_fake_compare_answers_in_githubs_shape(fake_github: FakeGitHub) -> None:
    fake_github.set_compare("whitehall", "v1", "v3", ahead_by=3)
    headers = {"Authorization": f"Bearer {fake_github.token}"}
    body = httpx.get(f"{fake_github.url}/repos/alphagov/whitehall/compare/v1...v3", headers=headers).json()
    assert {"url", "html_url", "permalink_url", "diff_url", "patch_url", "base_commit", "merge_base_commit"} <= set(
        body
    )
    assert (body["status"], body["ahead_by"], body["behind_by"], body["total_commits"]) == ("ahead", 3, 0, 3)
    assert len(body["commits"]) == 3 and {"sha", "commit", "html_url"} <= set(body["commits"][0])
    paged = httpx.get(
        f"{fake_github.url}/repos/alphagov/whitehall/compare/v1...v3", params={"per_page": "1"}, headers=headers
    ).json()
    assert len(paged["commits"]) == 1 and paged["ahead_by"] == 3  # the counts never depend on the page
    fake_github.set_compare("whitehall", "v3", "v3", ahead_by=0)
    same = httpx.get(f"{fake_github.url}/repos/alphagov/whitehall/compare/v3...v3", headers=headers).json()
    assert (same["status"], same["commits"]) == ("identical", [])
    other_org = httpx.get(f"{fake_github.url}/repos/someone/whitehall/compare/v1...v3", headers=headers)
    assert other_org.status_code == 404 and other_org.json()["message"] == "Not Found"
