"""bot.teams against FakeGitHub over real HTTP, with a real httpx client; its cache lives in memory only."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from bot.teams import CACHE_SECONDS, TeamChecker
from tests.fakes import FakeGitHub

TEAM = "gov-uk-production"


class Clock:
    """A monotonic clock the tests move instead of sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=0.5) as client:
        yield client


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def checker(fake_github: FakeGitHub, http: httpx.Client, clock: Clock) -> TeamChecker:
    return TeamChecker(api_url=fake_github.url, token=fake_github.token, org="alphagov", http=http, clock=clock)


def test_active_member_is_allowed(checker: TeamChecker, fake_github: FakeGitHub) -> None:
    fake_github.add_member(TEAM, "octocat")
    membership = checker.check("octocat", TEAM)
    assert membership.member and membership.reason == ""
    (request,) = fake_github.requests
    assert request.path == f"/orgs/alphagov/teams/{TEAM}/memberships/octocat"
    assert request.headers["authorization"] == f"Bearer {fake_github.token}"


def test_maintainers_are_members_too(checker: TeamChecker, fake_github: FakeGitHub) -> None:
    fake_github.add_member(TEAM, "octocat", role="maintainer")
    assert checker.check("octocat", TEAM).member


def test_pending_membership_is_refused(checker: TeamChecker, fake_github: FakeGitHub) -> None:
    fake_github.add_member(TEAM, "newbie", state="pending")
    membership = checker.check("newbie", TEAM)
    assert not membership.member and not membership.github_unreachable
    assert "pending" in membership.reason and f"alphagov/{TEAM}" in membership.reason


def test_non_member_is_refused(checker: TeamChecker, fake_github: FakeGitHub) -> None:
    fake_github.add_member("gov-uk", "octocat")  # in another team only
    membership = checker.check("octocat", TEAM)
    assert not membership.member and not membership.github_unreachable
    assert membership.reason == f"@octocat is not a member of alphagov/{TEAM}"


@pytest.mark.parametrize("failure", ["down", "rate_limited", "rate_limited_429", "bad_token"])
def test_github_failures_are_refusals_saying_github_could_not_be_asked(
    checker: TeamChecker, fake_github: FakeGitHub, failure: str
) -> None:
    fake_github.add_member(TEAM, "octocat")
    if failure == "down":
        fake_github.down = True
    elif failure == "rate_limited":
        fake_github.rate_limited = True
    elif failure == "rate_limited_429":
        fake_github.rate_limited, fake_github.rate_limited_status = True, 429
    else:
        checker.token = "expired-token"
    membership = checker.check("octocat", TEAM)
    assert not membership.member
    assert membership.github_unreachable and membership.reason.startswith("GitHub could not be asked")
    assert fake_github.request_count == 1


def test_time_out_is_a_refusal(checker: TeamChecker, fake_github: FakeGitHub) -> None:
    fake_github.add_member(TEAM, "octocat")
    fake_github.slow_seconds = 2
    started = time.monotonic()
    membership = checker.check("octocat", TEAM)
    assert time.monotonic() - started < 1.5  # the client's 0.5 s time-out, not GitHub's 2 s
    assert not membership.member and membership.github_unreachable


def test_unreachable_github_is_a_refusal(http: httpx.Client, fake_github: FakeGitHub) -> None:
    url = fake_github.url
    fake_github.stop()  # nothing listens there any more
    checker = TeamChecker(api_url=url, token="t", org="alphagov", http=http)
    assert checker.check("octocat", TEAM).github_unreachable


def test_no_token_is_a_refusal_without_asking(fake_github: FakeGitHub, http: httpx.Client) -> None:
    fake_github.add_member(TEAM, "octocat")
    checker = TeamChecker(api_url=fake_github.url, token="", org="alphagov", http=http)
    membership = checker.check("octocat", TEAM)
    assert not membership.member and "GITHUB_TOKEN" in membership.reason
    assert fake_github.request_count == 0


def test_answers_are_cached_for_at_most_a_minute(checker: TeamChecker, fake_github: FakeGitHub, clock: Clock) -> None:
    assert CACHE_SECONDS <= 60
    fake_github.add_member(TEAM, "octocat")
    assert checker.check("octocat", TEAM).member
    assert checker.check("octocat", TEAM).member
    assert checker.check("OctoCat", TEAM).member  # GitHub logins are case-insensitive
    assert fake_github.request_count == 1

    assert not checker.check("stranger", TEAM).member
    assert not checker.check("stranger", TEAM).member
    assert len(fake_github.membership_requests(login="stranger")) == 1
    assert checker.cached_count() == 2

    clock.now += CACHE_SECONDS - 1
    assert checker.check("octocat", TEAM).member
    assert fake_github.request_count == 2  # octocat still cached, stranger's second ask counted above


def test_cache_is_per_team(checker: TeamChecker, fake_github: FakeGitHub) -> None:
    fake_github.add_member("gov-uk", "octocat")
    assert checker.check("octocat", "gov-uk").member
    assert not checker.check("octocat", TEAM).member
    assert fake_github.request_count == 2


def test_an_expired_answer_is_asked_again(checker: TeamChecker, fake_github: FakeGitHub, clock: Clock) -> None:
    fake_github.add_member(TEAM, "octocat")
    assert checker.check("octocat", TEAM).member
    fake_github.remove_member(TEAM, "octocat")
    clock.now += CACHE_SECONDS
    assert not checker.check("octocat", TEAM).member
    assert fake_github.request_count == 2


def test_a_clock_that_goes_back_does_not_stretch_an_answer(
    checker: TeamChecker, fake_github: FakeGitHub, clock: Clock
) -> None:
    fake_github.add_member(TEAM, "octocat")
    assert checker.check("octocat", TEAM).member
    fake_github.remove_member(TEAM, "octocat")
    clock.now -= 3600
    assert not checker.check("octocat", TEAM).member


def test_failures_are_not_cached(checker: TeamChecker, fake_github: FakeGitHub) -> None:
    fake_github.add_member(TEAM, "octocat")
    fake_github.down = True
    assert checker.check("octocat", TEAM).github_unreachable
    assert checker.cached_count() == 0
    fake_github.down = False
    assert checker.check("octocat", TEAM).member
    assert fake_github.request_count == 2


def test_the_cache_is_bounded_and_forgets_the_oldest_first(fake_github: FakeGitHub, http: httpx.Client) -> None:
    fake_github.add_member(TEAM, "first")
    checker = TeamChecker(api_url=fake_github.url, token=fake_github.token, org="alphagov", http=http, max_cached=3)
    for login in ("first", "second", "third", "fourth"):
        checker.check(login, TEAM)
    assert checker.cached_count() == 3
    assert checker.check("first", TEAM).member
    assert len(fake_github.membership_requests(login="first")) == 2  # forgotten, so asked again
    assert len(fake_github.membership_requests(login="fourth")) == 1


def test_concurrent_checks_share_one_cache_safely(checker: TeamChecker, fake_github: FakeGitHub) -> None:
    fake_github.add_member(TEAM, "octocat")
    results: list[bool] = []

    def ask() -> None:
        for _ in range(20):
            results.append(checker.check("octocat", TEAM).member)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert results == [True] * 160
    assert checker.cached_count() == 1


def test_names_are_escaped_in_the_url(checker: TeamChecker, fake_github: FakeGitHub) -> None:
    checker.check("octo?cat#x", TEAM)
    (request,) = fake_github.requests
    assert request.path == f"/orgs/alphagov/teams/{TEAM}/memberships/octo?cat#x"  # one path segment, decoded
