"""The weekly delivery digest: once a week, at `digest_at` in `timezone`, one message in the alerts channel.

Every replica checks every `digest_check_every` seconds whether this week's moment has come in
the last minute; the first to write the ISO week's notice (one atomic SET NX that also queues it
for the outbox) posts it: the outbox puts it on Slack once even if this replica dies straight
after, and a replica that dies before (while reading the audit trail) has claimed nothing. A replica started
later than a minute after the moment posts nothing for that week, and so does a restart.

The figures are `/deploy stats`'s (`bot.reports.stats`), for the 7 days up to the moment and
the 7 days before them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot import messages
from bot.audit import AuditTrail, iso_utc
from bot.config import Settings
from bot.reports import stats
from bot.store import Store

log = logging.getLogger(__name__)

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
GRACE_SECONDS = 60  # posted within a minute of digest_at, or not at all that week


def this_weeks_moment(digest_at: str, zone: ZoneInfo, now: float) -> datetime:
    """When this week's digest is due (weeks start on Monday, in `zone`)."""
    day, _, clock = digest_at.partition(" ")
    hours, _, minutes = clock.partition(":")
    local = datetime.fromtimestamp(now, UTC).astimezone(zone)
    monday = local.date() - timedelta(days=local.weekday())
    on = monday + timedelta(days=DAYS.index(day))
    # through UTC and back: a time the clocks skip falls as far past the change as it was
    return datetime.combine(on, time(int(hours), int(minutes))).replace(tzinfo=zone).astimezone(UTC).astimezone(zone)


def due(digest_at: str, zone: ZoneInfo, now: float) -> datetime | None:
    """This week's moment when it came less than a minute ago, else None (too early, or missed)."""
    moment = this_weeks_moment(digest_at, zone, now)
    late = now - moment.timestamp()
    return moment if 0 <= late <= GRACE_SECONDS else None


def week_of(moment: datetime) -> str:
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


class WeeklyDigest:
    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        audit: AuditTrail,
        notices: object,
        clock: Callable[[], float],
    ) -> None:
        self.settings = settings
        self.store = store
        self.audit = audit
        self.notices = notices
        self.clock = clock

    def text(self, end: float | None = None) -> str:
        """The digest for the 7 days up to `end` (default now) against the 7 days before."""
        end = self.clock() if end is None else end
        last_env = self.settings.environment_names[-1]
        since = iso_utc(end - 2 * stats.WEEK - stats.LOOKBACK)
        figures = stats.compute(self.audit.each(since=since), last_env=last_env, now=end)
        return messages.digest_report(figures.periods[-1], figures.periods[-2], last_env)

    def run(self) -> bool:
        """Scheduled on every replica: post this week's digest if it is due and nobody has; True if this one did."""
        if not self.settings.digest:
            return False
        moment = due(self.settings.digest_at, ZoneInfo(self.settings.timezone), self.clock())
        if moment is None:
            return False
        # written before anything is claimed: a replica that dies while reading the audit trail claims nothing
        text = self.text(moment.timestamp())
        # the week's notice is the claim: written and queued for the outbox in one step, by one replica
        if not self.notices.post_once(f"digest-{week_of(moment)}", self.settings.alerts_channel, text):
            return False
        log.info("posted the weekly digest for %s", week_of(moment))
        return True
