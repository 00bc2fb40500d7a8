"""Deploy windows as pure rules: open or shut at a given moment, and when they open next."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from bot.safety.windows import DeployWindows, Window, describe_opening, parse_no_deploy_days, parse_windows, parse_zone

LONDON = ZoneInfo("Europe/London")
WEEKDAYS = frozenset({0, 1, 2, 3})
GOVUK = (Window(WEEKDAYS, time(9, 30), time(17, 0)), Window(frozenset({4}), time(9, 30), time(16, 0)))


def at(text: str) -> datetime:
    """A moment given in UTC, so that tests say exactly which instant they mean."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def govuk(no_deploy_days=frozenset()) -> DeployWindows:
    return DeployWindows(GOVUK, LONDON, frozenset(no_deploy_days))


def test_no_windows_means_always_open():
    windows = DeployWindows((), LONDON)
    assert windows.is_open(at("2026-12-25T03:00:00"))
    assert windows.next_opening(at("2026-12-25T03:00:00")) is None


def test_open_inside_the_window_and_shut_at_its_edges_in_winter():
    windows = govuk()
    # Monday 30 November 2026: London is on GMT, so local time equals UTC
    assert not windows.is_open(at("2026-11-30T09:29:59"))
    assert windows.is_open(at("2026-11-30T09:30:00"))
    assert windows.is_open(at("2026-11-30T16:59:59"))
    assert not windows.is_open(at("2026-11-30T17:00:00"))


def test_fridays_close_at_four():
    windows = govuk()
    assert windows.is_open(at("2026-12-04T15:59:00"))
    assert not windows.is_open(at("2026-12-04T16:00:00"))


def test_summer_time_keeps_the_window_on_the_wall_clock():
    windows = govuk()
    # Monday 1 June 2026, BST (UTC+1): 09:30 local is 08:30 UTC
    assert not windows.is_open(at("2026-06-01T08:29:00"))
    assert windows.is_open(at("2026-06-01T08:30:00"))
    assert windows.is_open(at("2026-06-01T15:59:00"))
    assert not windows.is_open(at("2026-06-01T16:00:00"))


def test_next_opening_across_the_change_to_summer_time():
    # Friday 27 March 2026 after hours; clocks go forward on Sunday 29 March
    opening = govuk().next_opening(at("2026-03-27T18:00:00"))
    assert opening == datetime(2026, 3, 30, 9, 30, tzinfo=LONDON)
    assert opening.astimezone(UTC) == at("2026-03-30T08:30:00")
    assert describe_opening(opening, at("2026-03-27T18:00:00")) == "Monday 09:30 Europe/London"


def test_next_opening_across_the_change_back_to_winter_time():
    # Friday 23 October 2026 after hours; clocks go back on Sunday 25 October
    opening = govuk().next_opening(at("2026-10-23T16:30:00"))
    assert opening.astimezone(UTC) == at("2026-10-26T09:30:00")
    assert describe_opening(opening, at("2026-10-23T16:30:00")) == "Monday 09:30 Europe/London"


def test_next_opening_is_later_the_same_day_before_the_window():
    opening = govuk().next_opening(at("2026-12-01T07:00:00"))
    assert describe_opening(opening, at("2026-12-01T07:00:00")) == "Tuesday 09:30 Europe/London"


def test_a_window_across_midnight_is_open_on_both_sides_of_it():
    night = DeployWindows((Window(frozenset({0}), time(22, 0), time(2, 0)),), LONDON)
    assert not night.is_open(at("2026-11-30T21:59:00"))  # Monday
    assert night.is_open(at("2026-11-30T23:30:00"))
    assert night.is_open(at("2026-12-01T01:59:00"))  # Tuesday, still Monday's window
    assert not night.is_open(at("2026-12-01T02:00:00"))
    assert not night.is_open(at("2026-12-01T23:00:00"))  # Tuesday's evening: no window opens
    assert night.next_opening(at("2026-12-01T02:00:00")) == datetime(2026, 12, 7, 22, 0, tzinfo=LONDON)


def test_no_deploy_days_close_the_day_and_push_the_next_opening_on():
    windows = govuk(no_deploy_days={date(2026, 12, 25), date(2026, 12, 28)})
    assert not windows.is_open(at("2026-12-25T11:00:00"))  # a Friday, inside its hours
    opening = windows.next_opening(at("2026-12-24T17:30:00"))
    assert opening == datetime(2026, 12, 29, 9, 30, tzinfo=LONDON)  # not Friday, not Monday 28th
    assert describe_opening(opening, at("2026-12-24T17:30:00")) == "Tuesday 09:30 Europe/London"


def test_an_opening_a_week_or_more_away_names_its_date():
    holidays = {date(2026, 12, d) for d in range(21, 32)}
    opening = govuk(no_deploy_days=holidays).next_opening(at("2026-12-18T17:00:00"))
    assert describe_opening(opening, at("2026-12-18T17:00:00")) == "Friday 1 January 09:30 Europe/London"


def test_parse_windows_reads_govuk_rules():
    problems: list[str] = []
    raw = [
        {"days": ["mon", "tue", "wed", "thu"], "start": "09:30", "end": "17:00"},
        {"days": ["fri"], "start": "09:30", "end": "16:00"},
    ]
    assert parse_windows(raw, "environments[3] (production)", problems) == GOVUK
    assert problems == []


def test_parse_windows_accepts_an_unquoted_yaml_time():
    problems: list[str] = []
    # YAML 1.1 reads 09:30 without quotes as 570 (minutes)
    assert parse_windows([{"days": ["mon"], "start": 570, "end": 1020}], "x", problems)[0].start == time(9, 30)


def test_parse_windows_says_what_is_wrong_in_plain_words():
    problems: list[str] = []
    parse_windows(
        [
            {"days": ["mon"], "start": "9.30", "end": "17:00"},
            {"days": ["funday"], "start": "09:30", "end": "17:00"},
            {"days": ["mon"], "start": "10:00", "end": "10:00"},
            "weekdays",
        ],
        "environments[3] (production)",
        problems,
    )
    assert problems == [
        'environments[3] (production): deploy_windows[1]: start and end must be times of day like "09:30" (24-hour clock).',
        "environments[3] (production): deploy_windows[2]: days must be a list of mon, tue, wed, thu, fri, sat, sun.",
        "environments[3] (production): deploy_windows[3]: start and end are the same time; the window would never be open.",
        "environments[3] (production): deploy_windows[4] must be a mapping with days, start and end (and nothing else).",
    ]


def test_parse_zone_and_no_deploy_days():
    problems: list[str] = []
    assert parse_zone(None, problems).key == "Europe/London"
    parse_zone("Mars/Olympus", problems)
    days = parse_no_deploy_days([date(2026, 12, 25), "2026-12-26", "Boxing Day"], problems)
    assert days == {date(2026, 12, 25), date(2026, 12, 26)}
    assert problems == [
        "timezone 'Mars/Olympus' is not a time zone name like Europe/London.",
        "no_deploy_days: 'Boxing Day' is not a date like 2026-12-25.",
    ]
