"""Deploy windows: when a person may deploy to an environment without `--force`.

Pure rules with no I/O and no clock of their own: every question takes `now` (an aware
datetime), so tests move time across summer time and midnight without sleeping. Times of day
are wall-clock times in the configured zone, so 09:30 stays 09:30 in summer and in winter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LOOK_AHEAD_DAYS = 400  # no_deploy_days could close every window for a while; a year and a bit is plenty


@dataclass(frozen=True)
class Window:
    """Open from `start` to `end` on each of `days` (0 = Monday); an `end` before `start` runs past midnight."""

    days: frozenset[int]
    start: time
    end: time

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start


@dataclass(frozen=True)
class DeployWindows:
    windows: tuple[Window, ...]
    zone: ZoneInfo
    no_deploy_days: frozenset[date] = frozenset()

    @property
    def always_open(self) -> bool:
        return not self.windows

    def _opens_on(self, day: date) -> list[Window]:
        if day in self.no_deploy_days:
            return []
        return [w for w in self.windows if day.weekday() in w.days]

    def is_open(self, now: datetime) -> bool:
        if self.always_open:
            return True
        local = now.astimezone(self.zone)
        today, clock = local.date(), local.time().replace(tzinfo=None)
        if today in self.no_deploy_days:
            return False
        for window in self._opens_on(today):
            if window.crosses_midnight and clock >= window.start:
                return True
            if not window.crosses_midnight and window.start <= clock < window.end:
                return True
        # the part after midnight of a window that opened yesterday
        return any(w.crosses_midnight and clock < w.end for w in self._opens_on(today - timedelta(days=1)))

    def next_opening(self, now: datetime) -> datetime | None:
        """The first moment after `now` at which `is_open` turns true, in the zone; None if always open
        or none opens soon.

        On the nights the clocks change that is not simply "the start time": a start in the hour the
        clocks skip opens at the jump (02:00 BST when 01:30 never happens), a start in the hour that
        repeats opens twice, and a window the clocks go back into opens again at the change."""
        if self.always_open:
            return None
        local = now.astimezone(self.zone)
        for offset in range(LOOK_AHEAD_DAYS):
            day = local.date() + timedelta(days=offset)
            candidates = {moment for w in self._opens_on(day) for moment in _moments_reading(day, w.start, self.zone)}
            candidates.update(_clock_changes(day, self.zone))
            for moment in sorted(candidates):
                if moment > now and self._opens_at(moment):
                    return moment.astimezone(self.zone)
        return None

    def _opens_at(self, moment: datetime) -> bool:
        return self.is_open(moment) and not self.is_open(moment - timedelta(microseconds=1))


def _moments_reading(day: date, at: time, zone: ZoneInfo) -> set[datetime]:
    """The instants whose wall clock reads `at` on `day`: one usually, two in the hour that repeats;
    for a time the clocks skip, the two instants either side of the jump (neither reads it, and
    `_clock_changes` adds the jump itself)."""
    naive = datetime.combine(day, at)
    return {naive.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1)}


def _clock_changes(day: date, zone: ZoneInfo) -> set[datetime]:
    """The instant the clocks change on `day` in `zone`, if they do (found to the second)."""
    low = datetime.combine(day, time()).replace(tzinfo=zone).astimezone(UTC)
    high = datetime.combine(day + timedelta(days=1), time()).replace(tzinfo=zone).astimezone(UTC)
    before = low.astimezone(zone).utcoffset()
    if before == high.astimezone(zone).utcoffset():
        return set()
    while high - low > timedelta(seconds=1):
        middle = (low + (high - low) / 2).replace(microsecond=0)
        if middle.astimezone(zone).utcoffset() == before:
            low = middle
        else:
            high = middle
    return {high}


def describe_opening(moment: datetime, now: datetime) -> str:
    """`Monday 09:30 Europe/London`; with the date when it is a week or more away."""
    zone = moment.tzinfo
    name = getattr(zone, "key", str(zone))
    if moment - now >= timedelta(days=6):
        return f"{moment:%A} {moment.day} {moment:%B %H:%M} {name}"
    return f"{moment:%A %H:%M} {name}"


def parse_windows(raw: object, where: str, problems: list[str]) -> tuple[Window, ...]:
    """`deploy_windows` of one environment: a list of {days, start, end}; problems in plain words."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.append(f"{where}: deploy_windows must be a list of {{days, start, end}}.")
        return ()
    windows = []
    for position, item in enumerate(raw, start=1):
        here = f"{where}: deploy_windows[{position}]"
        if not isinstance(item, dict) or set(item) - {"days", "start", "end"}:
            problems.append(f"{here} must be a mapping with days, start and end (and nothing else).")
            continue
        days = item.get("days")
        if isinstance(days, str):
            days = [days]
        if not isinstance(days, list) or not days or any(str(d).lower()[:3] not in DAYS for d in days):
            problems.append(f"{here}: days must be a list of mon, tue, wed, thu, fri, sat, sun.")
            continue
        start, end = _time_of_day(item.get("start")), _time_of_day(item.get("end"))
        if start is None or end is None:
            problems.append(f'{here}: start and end must be times of day like "09:30" (24-hour clock).')
            continue
        if start == end:
            problems.append(f"{here}: start and end are the same time; the window would never be open.")
            continue
        windows.append(Window(frozenset(DAYS.index(str(d).lower()[:3]) for d in days), start, end))
    return tuple(windows)


def _time_of_day(raw: object) -> time | None:
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw < 24 * 60:
        return time(raw // 60, raw % 60)  # YAML 1.1 reads an unquoted 09:30 as sexagesimal minutes
    text = str(raw or "")
    hours, colon, minutes = text.partition(":")
    if not (colon and hours.isdigit() and minutes.isdigit() and len(minutes) == 2 and len(hours) <= 2):
        return None
    if int(hours) > 23 or int(minutes) > 59:
        return None
    return time(int(hours), int(minutes))


def parse_zone(raw: object, problems: list[str]) -> ZoneInfo:
    name = str(raw or "Europe/London")
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        problems.append(f"timezone {name!r} is not a time zone name like Europe/London.")
        return ZoneInfo("Europe/London")


def parse_no_deploy_days(raw: object, problems: list[str]) -> frozenset[date]:
    if raw is None:
        return frozenset()
    if not isinstance(raw, list):
        problems.append("no_deploy_days must be a list of dates like 2026-12-25.")
        return frozenset()
    days = set()
    for item in raw:
        if isinstance(item, datetime):
            item = item.date()
        if isinstance(item, date):
            days.add(item)
            continue
        try:
            days.add(date.fromisoformat(str(item)))
        except ValueError:
            problems.append(f"no_deploy_days: {str(item)[:40]!r} is not a date like 2026-12-25.")
    return frozenset(days)
