"""The background jobs' intervals: production's defaults and the DEPLOYBOT_* tuning knobs tests set."""

from __future__ import annotations

import pytest

from bot.intervals import PRODUCTION_INTERVALS, TUNING_VARIABLES, Intervals, intervals_from_environment


def test_without_tuning_variables_the_intervals_are_productions() -> None:
    assert intervals_from_environment({}) == PRODUCTION_INTERVALS == Intervals()
    assert PRODUCTION_INTERVALS.heartbeat == 10
    assert PRODUCTION_INTERVALS.heartbeat_every == 3
    assert PRODUCTION_INTERVALS.orphaned_deploys_every == 5
    assert PRODUCTION_INTERVALS.unsent_cards_every == 30
    assert PRODUCTION_INTERVALS.charts_refresh_every == 60


@pytest.mark.parametrize(("minutes", "every"), [(1, 15), (2, 30), (4, 60), (20, 60), (1440, 60)])
def test_the_stuck_check_runs_at_a_quarter_of_stuck_after_minutes_at_most_every_minute(minutes, every) -> None:
    assert PRODUCTION_INTERVALS.stuck_every(minutes) == every


def test_a_tuned_stuck_check_interval_wins_over_stuck_after_minutes() -> None:
    assert Intervals(stuck_deploys_every=0.5).stuck_every(20) == 0.5


def test_each_tuning_variable_sets_its_interval() -> None:
    environ = {name: "0.5" for name in TUNING_VARIABLES.values()}
    tuned = intervals_from_environment(environ)
    assert tuned.heartbeat_every == tuned.orphaned_deploys_every == tuned.stuck_deploys_every == 0.5
    assert tuned.unsent_cards_every == tuned.charts_refresh_every == 0.5
    assert tuned.heartbeat == 1  # Redis expires keys in whole seconds, and never after 0


def test_a_blank_tuning_variable_leaves_the_default() -> None:
    assert intervals_from_environment({"DEPLOYBOT_HEARTBEAT_SECONDS": "  "}) == PRODUCTION_INTERVALS


@pytest.mark.parametrize("raw", ["abc", "0", "-1", "nan", "inf", "1e9", "3 s"])
def test_a_bad_tuning_value_is_refused_naming_the_variable(raw: str) -> None:
    with pytest.raises(ValueError, match="DEPLOYBOT_ORPHANED_DEPLOYS_EVERY_SECONDS must be a number of seconds"):
        intervals_from_environment({"DEPLOYBOT_ORPHANED_DEPLOYS_EVERY_SECONDS": raw})


def test_the_git_limits_are_tuning_knobs_too():
    assert (PRODUCTION_INTERVALS.git_timeout, PRODUCTION_INTERVALS.git_low_speed_time) == (60, 20)
    tuned = intervals_from_environment({"DEPLOYBOT_GIT_TIMEOUT_SECONDS": "3", "DEPLOYBOT_GIT_LOW_SPEED_SECONDS": "2.5"})
    assert (tuned.git_timeout, tuned.git_low_speed_time, tuned.git_history_timeout) == (3, 2.5, 300)
