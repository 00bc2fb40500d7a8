"""Delivery figures from audit records at an injected `now`, every expected figure worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot import messages
from bot.reports.stats import compute

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC).timestamp()
# The 4 periods, oldest first: [1 Nov 12:00, 8 Nov 12:00), [8 Nov, 15 Nov), [15 Nov, 22 Nov), [22 Nov, 29 Nov 12:00]
HOUR, MINUTE = 3600, 60


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> str:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC).isoformat().replace("+00:00", "Z")


def committed(when: str, app: str, env: str, tag: str) -> dict:
    return {"at": when, "action": "deploy_committed", "actor": "CI", "app": app, "env": env, "tag": tag, "commit": "c"}


def sync(when: str, app: str, env: str, tag: str, outcome: str, application: str | None = None) -> dict:
    return {
        "at": when,
        "action": "sync_outcome",
        "actor": "CI",
        "app": app,
        "env": env,
        "tag": tag,
        "outcome": outcome,
        "application": application or app,
    }


def outcome_of_tests(when: str, app: str, env: str, tag: str, outcome: str) -> dict:
    return {"at": when, "action": "test_outcome", "actor": "CI", "app": app, "env": env, "tag": tag, "outcome": outcome}


def rollback(when: str, app: str, env: str, tag: str, **extra: str) -> dict:
    return {"at": when, "action": "rollback", "actor": {"slack": "U1", "github": "o"}, "app": app, "env": env, "tag": tag, **extra}  # fmt: skip


HISTORY = [
    # -- week 1 (1-8 Nov): whitehall v1, integration 2 Nov 09:00, production 2 Nov 12:00 -> lead 3h; healthy
    committed(at(2, 9), "whitehall", "integration", "v1"),
    committed(at(2, 12), "whitehall", "production", "v1"),
    sync(at(2, 12, 10), "whitehall", "production", "v1", "synced"),
    outcome_of_tests(at(2, 12, 30), "whitehall", "production", "v1", "tests_passed"),
    # -- week 2 (8-15 Nov)
    # v2: integration 9 Nov 10:00 (first), staging 11:00, production 10 Nov 10:00 -> lead 24h; sync failed 10:05
    committed(at(9, 10), "whitehall", "integration", "v2"),
    committed(at(9, 11), "whitehall", "staging", "v2"),
    committed(at(10, 10), "whitehall", "production", "v2"),
    sync(at(10, 10, 5), "whitehall", "production", "v2", "sync_failed"),
    # v3: integration 10 Nov 10:30, production 11:00 -> lead 30m; synced 11:20 restores v2: 11:20 - 10:05 = 1h15m
    committed(at(10, 10, 30), "whitehall", "integration", "v3"),
    committed(at(10, 11), "whitehall", "production", "v3"),
    outcome_of_tests(
        at(10, 11, 10), "whitehall", "staging", "v3", "tests_failed"
    ),  # another environment: no failure here
    sync(at(10, 11, 20), "whitehall", "production", "v3", "synced"),
    outcome_of_tests(at(10, 11, 40), "whitehall", "production", "v3", "tests_passed"),
    # -- week 3 (15-22 Nov)
    # p1: integration 16 Nov 09:00, production 17 Nov 09:00 -> lead 24h; tests failed 09:20, passed on a retry 10:20 -> 1h
    committed(at(16, 9), "publishing-api", "integration", "p1"),
    committed(at(17, 9), "publishing-api", "production", "p1"),
    sync(at(17, 9, 5), "publishing-api", "production", "p1", "synced"),
    outcome_of_tests(at(17, 9, 20), "publishing-api", "production", "p1", "tests_failed"),
    outcome_of_tests(at(17, 10, 20), "publishing-api", "production", "p1", "tests_passed"),
    # p2: integration 17 Nov 12:00, production 18 Nov 12:00 -> lead 24h; only its draft stack degraded: no failure
    committed(at(17, 12), "publishing-api", "integration", "p2"),
    committed(at(18, 12), "publishing-api", "production", "p2"),
    sync(at(18, 12, 5), "publishing-api", "production", "p2", "synced"),
    sync(at(18, 12, 10), "publishing-api", "production", "p2", "degraded", application="draft-publishing-api"),
    # -- week 4 (22-29 Nov)
    # collections c0 reached production in October (before the window): its later arrival is no first arrival
    committed(at(20, 9, month=10), "collections", "integration", "c0"),
    committed(at(21, 9, month=10), "collections", "production", "c0"),
    # c1 straight to production 23 Nov 10:00 -> lead 0; degraded 10:10; rolled back to c0 (record before the commit)
    committed(at(23, 10), "collections", "production", "c1"),
    sync(at(23, 10, 10), "collections", "production", "c1", "degraded"),
    rollback(at(23, 10, 30), "collections", "production", "c0"),
    committed(at(23, 10, 31), "collections", "production", "c0"),
    sync(at(23, 10, 40), "collections", "production", "c0", "synced"),  # restores c1: 10:40 - 10:10 = 30m
    # frontend f1: integration 24 Nov 10:00, production 25 Nov 10:00 -> lead 24h; healthy, then rolled back to f0
    committed(at(25, 10, month=10), "frontend", "integration", "f0"),
    committed(at(26, 10, month=10), "frontend", "production", "f0"),
    committed(at(24, 10), "frontend", "integration", "f1"),
    committed(at(25, 10), "frontend", "production", "f1"),
    sync(at(25, 10, 5), "frontend", "production", "f1", "synced"),
    outcome_of_tests(at(25, 10, 20), "frontend", "production", "f1", "tests_passed"),
    committed(at(26, 9), "frontend", "production", "f0"),  # the rollback's commit, recorded before the rollback
    rollback(at(26, 9, 1), "frontend", "production", "f0"),  # fails f1 at 09:01
    sync(at(26, 9, 31), "frontend", "production", "f0", "synced"),  # restores: 09:31 - 09:01 = 30m
    # router r1: integration 27 Nov 09:00, production 28 Nov 09:00 -> lead 24h; sync failed 09:10, never restored
    committed(at(27, 9), "router", "integration", "r1"),
    committed(at(28, 9), "router", "production", "r1"),
    sync(at(28, 9, 10), "router", "production", "r1", "sync_failed"),
    # records the rules never read
    {"at": at(28, 9, 20), "action": "deploy_refused", "actor": "CI", "app": "router", "env": "production", "tag": "r2"},
    {
        "at": "not a time",
        "action": "deploy_committed",
        "actor": "CI",
        "app": "router",
        "env": "production",
        "tag": "r9",
    },
]


def test_each_week_of_the_last_four_has_its_deploys_lead_time_failure_rate_and_time_to_restore() -> None:
    stats = compute(list(reversed(HISTORY)), last_env="production", now=NOW)  # any order
    week1, week2, week3, week4 = stats.periods
    # week 1: whitehall v1 -> 1 deploy, lead 3h, no failure
    assert (week1.deploys, week1.failures, week1.lead_time, week1.failure_rate) == (1, 0, 3 * HOUR, 0.0)
    assert week1.time_to_restore is None
    # week 2: v2 (failed), v3 -> 2 deploys, 1 failure = 50%; lead median of 24h and 30m = 12h15m; restore 1h15m
    assert (week2.deploys, week2.failures, week2.failure_rate) == (2, 1, 0.5)
    assert week2.lead_time == (24 * HOUR + 30 * MINUTE) / 2 == 12 * HOUR + 15 * MINUTE
    assert week2.time_to_restore == HOUR + 15 * MINUTE
    # week 3: p1 (tests failed), p2 (its draft stack's Degraded is not its own) -> 1 of 2; leads 24h, 24h; restore 1h
    assert (week3.deploys, week3.failures, week3.lead_time, week3.time_to_restore) == (2, 1, 24 * HOUR, HOUR)
    # week 4: c1 (degraded), c0 (rollback commit), f1 (rolled back), f0 (rollback commit), r1 (sync failed)
    # -> 3 of 5 = 60%; leads c1 0, f1 24h, r1 24h (c0 and f0 arrived in October) -> median 24h;
    # restores c1 30m, f1 30m -> median 30m; r1 not restored
    assert (week4.deploys, week4.failures, week4.failure_rate) == (5, 3, 0.6)
    assert sorted(week4.lead_times) == [0, 24 * HOUR, 24 * HOUR] and week4.lead_time == 24 * HOUR
    assert (week4.time_to_restore, week4.not_restored) == (30 * MINUTE, 1)
    # the 4 weeks together: 10 deploys, 5 failures = 50%; leads 0, 30m, 3h, 24h x5 -> median 24h;
    # restores 30m, 30m, 1h, 1h15m -> median (30m + 1h) / 2 = 45m
    total = stats.total
    assert (total.deploys, total.failures, total.failure_rate) == (10, 5, 0.5)
    assert total.lead_time == 24 * HOUR
    assert total.time_to_restore == 45 * MINUTE
    assert total.not_restored == 1


def test_figures_for_one_app_count_only_its_records() -> None:
    stats = compute(HISTORY, last_env="production", now=NOW, app="collections")
    # c1 and c0 in week 4; c1 failed (degraded 10:10), restored at 10:40
    assert [p.deploys for p in stats.periods] == [0, 0, 0, 2]
    assert (stats.total.failures, stats.total.time_to_restore, stats.total.lead_time) == (1, 30 * MINUTE, 0)


def test_a_rollback_naming_what_it_rolled_back_marks_that_deploy() -> None:
    records = [
        committed(at(24, 10), "frontend", "production", "f1"),
        committed(at(25, 10), "frontend", "production", "f2"),
        # f2 rolled back to f1, recorded after the rollback's own commit of f1, naming f2
        committed(at(25, 11), "frontend", "production", "f1"),
        rollback(at(25, 11, 1), "frontend", "production", "f1", rollback_of="f2"),
        outcome_of_tests(at(25, 11, 21), "frontend", "production", "f1", "tests_passed"),  # restored 20m later
    ]
    total = compute(records, last_env="production", now=NOW).total
    assert (total.deploys, total.failures, total.time_to_restore) == (3, 1, 20 * MINUTE)


def test_a_failure_is_the_deploys_only_until_the_next_deploy_there_and_counts_once() -> None:
    records = [
        committed(at(24, 10), "router", "production", "r1"),
        sync(at(24, 10, 5), "router", "production", "r1", "degraded"),
        outcome_of_tests(
            at(24, 10, 6), "router", "production", "r1", "tests_failed"
        ),  # the same deploy: still one failure
        committed(at(24, 11), "router", "production", "r2"),
        committed(at(24, 12), "router", "production", "r1"),  # r1 again: healthy this time
        sync(at(24, 12, 5), "router", "production", "r1", "synced"),
    ]
    total = compute(records, last_env="production", now=NOW).total
    # r1 failed 10:05; r2 had no outcome; r1's second deploy synced 12:05 -> restore 2h
    assert (total.deploys, total.failures, total.time_to_restore) == (3, 1, 2 * HOUR)


def test_a_synced_outcome_that_says_it_is_not_healthy_restores_nothing() -> None:
    records = [
        committed(at(24, 10), "router", "production", "r1"),
        sync(at(24, 10, 5), "router", "production", "r1", "sync_failed"),
        {**sync(at(24, 10, 30), "router", "production", "r1", "synced"), "health": "Progressing"},
        sync(at(24, 11, 5), "router", "production", "r1", "synced"),
    ]
    assert compute(records, last_env="production", now=NOW).total.time_to_restore == HOUR


def test_deploys_outside_the_four_weeks_are_left_out_and_one_at_now_is_in() -> None:
    records = [
        committed(at(1, 11, 59), "router", "production", "old"),  # a minute before the window
        committed(at(29, 12), "router", "production", "now"),
        committed(at(29, 12, 1), "router", "production", "future"),
    ]
    stats = compute(records, last_env="production", now=NOW)
    assert [p.deploys for p in stats.periods] == [0, 0, 0, 1]


def test_the_report_shows_every_week_newest_first_with_rounded_figures() -> None:
    text = messages.stats_report(compute(HISTORY, last_env="production", now=NOW))
    lines = text.splitlines()
    assert lines[1].startswith("• 22 Nov–29 Nov: 5 deploys · lead time 1d · change failure rate 60% (3 of 5)")
    assert "time to restore 30m (1 not restored yet)" in lines[1]
    assert lines[3].startswith("• 8 Nov–15 Nov: 2 deploys · lead time 12h 15m")
    assert "All 4 weeks*: 10 deploys · lead time 1d · change failure rate 50% (5 of 10) · time to restore 45m" in text


@pytest.mark.parametrize(
    ("seconds", "words"), [(40, "40s"), (90, "1m"), (3600, "1h"), (4500, "1h 15m"), (86400 + 7200, "1d 2h")]
)
def test_durations_read_as_people_say_them(seconds: float, words: str) -> None:
    assert messages.duration(seconds) == words
