"""`/deploy history`'s rule (bot/history.py) and the parsing of status, history and stats, without I/O."""

from __future__ import annotations

import pytest
import redis

from bot import commands, messages
from bot.config import load_settings
from bot.reports.history import past_deploys, read_history
from bot.reports.lookups import Lookups

PERSON = {"slack": "U012AB3CD", "github": "octocat"}


def record(n: int, action: str, env: str = "integration", tag: str = "v1", **extra) -> dict:
    return {"at": f"2026-11-29T10:{n:02d}:00.000Z", "action": action, "actor": PERSON, "app": "whitehall", "env": env, "tag": tag, **extra}  # fmt: skip


def test_a_committed_deploy_ends_with_the_last_outcome_before_the_next_commit_there() -> None:
    records = [
        record(1, "deploy_requested"),
        record(2, "deploy_committed", commit="a" * 40),
        record(3, "sync_outcome", outcome="syncing"),
        record(4, "sync_outcome", outcome="synced"),
        record(5, "test_outcome", outcome="tests_passed"),
        record(6, "deploy_committed", tag="v2"),
        record(7, "sync_outcome", tag="v2", outcome="sync_failed"),
        record(8, "test_outcome", tag="v1", outcome="tests_failed"),  # v1's, late: after v2's commit, not v1's deploy's
        record(9, "deploy_committed", env="staging"),  # v1 in staging: no outcome yet
        record(10, "sync_outcome", env="staging", outcome="degraded", application="draft-whitehall"),  # a draft stack
    ]
    found = past_deploys(records)
    assert [(d.tag, d.env, d.ended) for d in found] == [
        ("v1", "staging", "committed"),
        ("v2", "integration", "sync_failed"),
        ("v1", "integration", "tests_passed"),
    ]


def test_failures_refusals_and_holds_are_deploys_that_ended_without_a_commit() -> None:
    records = [
        record(1, "deploy_failed", reason="the charts repository refused the push"),
        record(2, "deploy_refused", reason="You can't deploy to production: not in <@U0TEAM> team"),
        record(3, "deploy_refused", outcome="unchanged", reason="integration already runs v1"),
        record(4, "deploy_held", reason="frozen"),
        {**record(5, "deploy_refused"), "actor": "CI", "tag": None},
    ]
    found = past_deploys(records)
    assert [d.ended for d in found] == ["refused", "held", "unchanged", "refused", "failed"]
    text = messages.history_report("whitehall", None, found)
    assert "(no tag) to *integration* by CI" in text
    assert "refused: You can't deploy to production: not in <@U0TEAM> team" in text  # a mention stays one
    assert "nothing to do: it already ran that tag" in text
    assert "by <@U012AB3CD> on 29 Nov 10:01 UTC: failed: the charts repository refused the push" in text


def test_only_the_last_ten_newest_first() -> None:
    records = [record(n, "deploy_committed", tag=f"v{n}") for n in range(1, 15)]
    assert [d.tag for d in past_deploys(records)] == [f"v{n}" for n in range(14, 4, -1)]


def test_reading_asks_for_more_records_only_while_ten_deploys_are_not_found() -> None:
    trail = [record(n % 60, "sync_outcome", outcome="synced") for n in range(900)]
    trail[10:10] = [record(n, "deploy_committed", tag=f"v{n}") for n in range(12)]
    asked: list[int] = []

    def read(count: int) -> list[dict]:
        asked.append(count)
        return trail[-count:]

    assert [d.tag for d in read_history(read)] == [f"v{n}" for n in range(11, 1, -1)]
    assert asked == [200, 800, 3200]  # the last read returned fewer than asked: the whole trail was seen


def test_an_app_with_no_deploys_says_so() -> None:
    assert (
        messages.history_report("router", "staging", [])
        == "The bot has no record of a deploy of *router* to *staging*."
    )


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("status whitehall", commands.Status("whitehall")),
        ("STATUS whitehall", commands.Status("whitehall")),
        ("history whitehall", commands.History("whitehall", None)),
        ("history whitehall staging", commands.History("whitehall", "staging")),
        ("stats", commands.Stats(None)),
        ("stats whitehall", commands.Stats("whitehall")),
    ],
)
def test_status_history_and_stats_parse(text: str, parsed: commands.Command) -> None:
    assert commands.parse(text) == parsed


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("status", messages.STATUS_NEEDS_APP),
        ("status whitehall staging", messages.STATUS_NEEDS_APP),
        ("history", messages.HISTORY_NEEDS_APP),
        ("history whitehall staging extra", messages.HISTORY_NEEDS_APP),
        ("stats whitehall staging", messages.STATS_TAKES_ONE_APP),
    ],
)
def test_missing_or_extra_words_are_told_and_never_read_as_a_deploy(text: str, says: str) -> None:
    assert commands.parse(text) == commands.Unparsed(says)


class _Charts:
    def is_usable(self) -> str | None:
        return None

    def apps(self, env: str) -> list[str]:
        return ["whitehall", "router"]


class _DownTrail:
    def read(self, **_: object) -> list[dict]:
        raise redis.ConnectionError("Connection refused")

    def each(self, **_: object) -> list[dict]:
        raise redis.ConnectionError("Connection refused")


def test_history_and_stats_with_the_store_down_say_so_to_the_requester(tmp_path) -> None:
    told: list[tuple[str | None, str]] = []
    settings = load_settings({"XDG_CACHE_HOME": str(tmp_path)}, require_serve=False)
    lookups = Lookups(
        settings=settings,
        charts=_Charts(),
        audit=_DownTrail(),  # type: ignore[arg-type]
        status=None,  # type: ignore[arg-type]
        reply=lambda url, text: told.append((url, text)),
        clock=lambda: 1_764_410_400.0,
    )
    assert "Looking up the last deploys of *whitehall*" in lookups.history(
        commands.History("whitehall", None), "U1", "r1"
    )
    assert "delivery figures of every app" in lookups.stats(commands.Stats(None), "U1", "r2")
    assert lookups.wait_idle(timeout=5)
    assert sorted(told) == [("r1", messages.LOOKUP_STORE_DOWN), ("r2", messages.LOOKUP_STORE_DOWN)]
