"""How often the background jobs run: production's defaults, and the tuning knobs tests use.

Tests run the same code with shorter intervals instead of sleeping through production's: an
in-process bot gets an `Intervals` passed to `build`, a `python -m bot serve` process reads the
DEPLOYBOT_* variables below. They are internal tuning knobs for tests, not settings: production
leaves them unset.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

MAX_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Intervals:
    """Seconds. The heartbeat is how long a replica counts as alive after its last beat."""

    heartbeat: int = 10
    heartbeat_every: float = 3
    orphaned_deploys_every: float = 5
    stuck_deploys_every: float | None = None  # None: from STUCK_AFTER_MINUTES, see `stuck_every`
    unsent_cards_every: float = 30
    charts_refresh_every: float = 60
    # git against the charts remote: no call may run longer than `git_timeout` (a history read for a
    # rollback or a first clone gets `git_history_timeout`), and an HTTP transfer slower than 1 KB/s
    # for `git_low_speed_time` is dropped, so a hung remote ends in a reported failure
    git_timeout: float = 60
    git_history_timeout: float = 300
    git_low_speed_time: float = 20
    # telling the Release app (section 10.6): a failed call is tried again after release_app_retry seconds,
    # then twice as long each time up to release_app_backoff, and given up release_app_give_up after the deploy
    release_app_every: float = 5
    release_app_retry: float = 10
    release_app_backoff: float = 300
    release_app_give_up: float = 3600
    team_channels_every: float = 3600  # how often TEAM_CHANNELS_URL is read again
    home_every: float = 0.5  # the Home tab worker's pass (it wakes at once for a change it made itself)
    digest_check_every: float = 20  # whether the weekly digest is due: three looks inside its minute

    def stuck_every(self, stuck_after_minutes: int) -> float:
        if self.stuck_deploys_every is not None:
            return self.stuck_deploys_every
        # a quarter of STUCK_AFTER_MINUTES, at most a minute: a stuck deploy is told within 25% of the limit
        return min(60, stuck_after_minutes * 15)


PRODUCTION_INTERVALS = Intervals()

TUNING_VARIABLES = {
    "heartbeat": "DEPLOYBOT_HEARTBEAT_SECONDS",
    "heartbeat_every": "DEPLOYBOT_HEARTBEAT_EVERY_SECONDS",
    "orphaned_deploys_every": "DEPLOYBOT_ORPHANED_DEPLOYS_EVERY_SECONDS",
    "stuck_deploys_every": "DEPLOYBOT_STUCK_DEPLOYS_EVERY_SECONDS",
    "unsent_cards_every": "DEPLOYBOT_UNSENT_CARDS_EVERY_SECONDS",
    "charts_refresh_every": "DEPLOYBOT_CHARTS_REFRESH_EVERY_SECONDS",
    "git_timeout": "DEPLOYBOT_GIT_TIMEOUT_SECONDS",
    "git_history_timeout": "DEPLOYBOT_GIT_HISTORY_TIMEOUT_SECONDS",
    "git_low_speed_time": "DEPLOYBOT_GIT_LOW_SPEED_SECONDS",
    "release_app_every": "DEPLOYBOT_RELEASE_APP_EVERY_SECONDS",
    "release_app_retry": "DEPLOYBOT_RELEASE_APP_RETRY_SECONDS",
    "release_app_backoff": "DEPLOYBOT_RELEASE_APP_BACKOFF_SECONDS",
    "release_app_give_up": "DEPLOYBOT_RELEASE_APP_GIVE_UP_SECONDS",
    "team_channels_every": "DEPLOYBOT_TEAM_CHANNELS_EVERY_SECONDS",
    "home_every": "DEPLOYBOT_HOME_EVERY_SECONDS",
    "digest_check_every": "DEPLOYBOT_DIGEST_CHECK_EVERY_SECONDS",
}


def intervals_from_environment(environ: Mapping[str, str]) -> Intervals:
    """Production's intervals with each DEPLOYBOT_* variable that is set applied; ValueError names a bad one."""
    chosen: dict[str, float] = {}
    for item in fields(Intervals):
        name = TUNING_VARIABLES[item.name]
        raw = environ.get(name, "").strip()
        if not raw:
            continue
        try:
            value = float(raw)
        except ValueError:
            value = float("nan")
        if not 0 < value <= MAX_SECONDS:  # also false for nan
            raise ValueError(f"{name} must be a number of seconds above 0 and at most {MAX_SECONDS}, not {raw[:40]!r}")
        # Redis expires keys in whole seconds
        chosen[item.name] = max(1, round(value)) if item.name == "heartbeat" else value
    return Intervals(**chosen)
