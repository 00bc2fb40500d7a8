"""Deploy windows on the two nights the clocks change: `is_open` and `next_opening` must agree.

Europe/London in 2026: on Sunday 29 March the clocks go from 01:00 GMT straight to 02:00 BST
(01:00 to 02:00 local never happens); on Sunday 25 October they go from 02:00 BST back to 01:00
GMT (01:00 to 02:00 local happens twice). A window is a span of wall-clock time, so "the next
opening" is the first moment after now at which `is_open` turns true, and nothing else.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.safety.windows import DeployWindows, Window

LONDON = ZoneInfo("Europe/London")
SUNDAY = frozenset({6})
EVERY_DAY = frozenset(range(7))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def utc(moment: datetime | None) -> datetime | None:
    """In UTC: Python never calls a moment of the repeated hour equal to one in another zone (PEP 495)."""
    return moment.astimezone(UTC) if moment is not None else None


def windows(*spans: tuple[str, str], days: frozenset[int] = SUNDAY) -> DeployWindows:
    return DeployWindows(tuple(Window(days, time.fromisoformat(s), time.fromisoformat(e)) for s, e in spans), LONDON)


def test_a_window_starting_in_the_skipped_hour_opens_when_the_clocks_jump():
    rules = windows(("01:30", "05:00"))
    before = at("2026-03-29T00:30:00")  # 00:30 GMT
    jump = at("2026-03-29T01:00:00")  # 02:00 BST: the first moment the wall clock is past 01:30
    assert not rules.is_open(before)
    assert rules.is_open(jump)
    assert rules.is_open(at("2026-03-29T01:00:00") - timedelta(microseconds=1)) is False
    assert rules.next_opening(before) == jump
    assert rules.next_opening(before).astimezone(LONDON).strftime("%H:%M %Z") == "02:00 BST"


def test_a_window_starting_at_the_end_of_the_skipped_hour_opens_at_two():
    rules = windows(("02:00", "05:00"))
    assert rules.next_opening(at("2026-03-29T00:30:00")) == at("2026-03-29T01:00:00")


def test_a_window_starting_in_the_repeated_hour_opens_twice():
    rules = windows(("01:30", "01:45"))
    first = at("2026-10-25T00:30:00")  # 01:30 BST
    second = at("2026-10-25T01:30:00")  # 01:30 GMT, an hour later
    assert utc(rules.next_opening(at("2026-10-25T00:00:00"))) == first
    assert rules.is_open(first) and rules.is_open(second)
    assert not rules.is_open(at("2026-10-25T01:00:00"))  # 01:00 GMT, between the two
    assert utc(rules.next_opening(at("2026-10-25T00:50:00"))) == second


def test_a_window_ending_in_the_repeated_hour_opens_again_when_the_clocks_go_back():
    rules = windows(("00:00", "01:30"))
    assert not rules.is_open(at("2026-10-25T00:40:00"))  # 01:40 BST
    assert rules.is_open(at("2026-10-25T01:00:00"))  # 01:00 GMT: the wall clock is back inside
    assert utc(rules.next_opening(at("2026-10-25T00:40:00"))) == at("2026-10-25T01:00:00")


CASES = [
    pytest.param(windows(("01:30", "05:00")), "2026-03-28T12:00:00", id="spring, starts in the gap"),
    pytest.param(windows(("00:15", "01:20")), "2026-03-28T12:00:00", id="spring, ends in the gap"),
    pytest.param(windows(("23:00", "01:30"), days=EVERY_DAY), "2026-03-28T12:00:00", id="spring, across midnight"),
    pytest.param(windows(("01:30", "01:45")), "2026-10-24T12:00:00", id="autumn, inside the repeated hour"),
    pytest.param(windows(("00:00", "01:30")), "2026-10-24T12:00:00", id="autumn, ends in the repeated hour"),
    pytest.param(windows(("01:00", "09:00"), ("01:30", "02:30")), "2026-10-24T12:00:00", id="autumn, overlapping"),
    pytest.param(windows(("23:30", "01:15"), days=EVERY_DAY), "2026-10-24T12:00:00", id="autumn, across midnight"),
]


@pytest.mark.parametrize(("rules", "start"), CASES)
def test_next_opening_is_the_first_minute_is_open_turns_true(rules: DeployWindows, start: str):
    """Every minute over two days around the change, against a brute-force walk of `is_open`."""
    step = timedelta(minutes=1)
    minutes = [at(start) + step * i for i in range(2 * 24 * 60)]
    opens = [rules.is_open(m) and not rules.is_open(m - timedelta(microseconds=1)) for m in minutes]
    upcoming: datetime | None = None
    for index in range(len(minutes) - 1, -1, -1):
        now = minutes[index]
        expected = upcoming
        found = utc(rules.next_opening(now))
        if expected is not None:
            assert found == expected, f"at {now.astimezone(LONDON)}: {found} but is_open turns true at {expected}"
        if opens[index]:
            upcoming = now
