"""Delivery figures (status, history and the audit trail `/deploy stats`) computed from audit records, with no I/O.

Over the last 4 weeks, as 4 periods of 7 days ending at `now` (oldest first), for the LAST
environment of the promotion order:

- deploys: `deploy_committed` records there;
- lead time: for each release `(app, tag)` whose first `deploy_committed` there falls in the
  period, its time from the release's first `deploy_committed` in any environment; the median;
- change failure rate: of the deploys there in the period, those that failed, over all of them.
  A deploy failed when, after its commit and before the next deploy of that app there, the
  release had a `sync_outcome` of `sync_failed` or `degraded` or a `test_outcome` of
  `tests_failed` there, or when a `rollback` record there rolled it back (see `_rolled_back`);
- time to restore: for each failed deploy of the period, the time from its first failure to the
  next healthy outcome for that app there (a `sync_outcome` `synced` whose `health`, if given,
  is `Healthy`, or a `test_outcome` `tests_passed`, of any tag); the median. A failure not yet
  followed by a healthy outcome counts in the failure rate and is reported as not restored.

Outcomes of draft stacks (`draft-<app>` applications) are not the release's and are left out.
"""

from __future__ import annotations

import bisect
import statistics
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.audit import parse_since

WEEK = 7 * 24 * 3600
WEEKS = 4
# A release that reaches the last environment in the window may have started up to this long before it.
LOOKBACK = 4 * WEEK
FAILED_SYNC = frozenset({"sync_failed", "degraded"})


@dataclass(frozen=True)
class Period:
    start: float
    end: float
    deploys: int = 0
    failures: int = 0
    lead_times: tuple[float, ...] = ()
    restore_times: tuple[float, ...] = ()
    not_restored: int = 0
    by_app: tuple[tuple[str, int], ...] = ()  # deploys per app, most first (the weekly digest)
    slowest: tuple[str, str, float] | None = None  # (app, tag, lead time) of the slowest arrival

    @property
    def lead_time(self) -> float | None:
        return statistics.median(self.lead_times) if self.lead_times else None

    @property
    def failure_rate(self) -> float | None:
        return self.failures / self.deploys if self.deploys else None

    @property
    def time_to_restore(self) -> float | None:
        return statistics.median(self.restore_times) if self.restore_times else None


@dataclass(frozen=True)
class Stats:
    last_env: str
    app: str | None
    periods: list[Period]  # oldest first
    total: Period  # the whole window: medians and rates over every value, not of the periods'
    oldest_record: float | None = None  # the oldest record read: if after the window's start, figures are partial


@dataclass(frozen=True, slots=True)  # one per record read: up to 100,000 of them
class _Record:
    at: float
    action: str
    app: str
    env: str
    tag: str | None
    outcome: str | None
    healthy: bool  # for sync_outcome synced: health absent or Healthy
    rollback_of: str | None


@dataclass(slots=True)
class _Deploy:
    at: float
    app: str
    tag: str
    failed_at: float | None = None
    restored_at: float | None = None
    until: float = float("inf")  # the next deploy of this app to the last environment


@dataclass
class _Index:
    """Records by what the rules ask of them."""

    first_deploy: dict[tuple[str, str], float] = field(default_factory=dict)
    last_env_deploys: dict[str, list[_Deploy]] = field(default_factory=lambda: defaultdict(list))
    failures: dict[tuple[str, str], list[float]] = field(default_factory=lambda: defaultdict(list))  # (app, tag)
    healthy: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # app, in the last env
    rollbacks: list[_Record] = field(default_factory=list)


def compute(records: Iterable[Mapping[str, Any]], *, last_env: str, now: float, app: str | None = None) -> Stats:
    """The figures of the 4 weeks ending at `now` from audit records (any order; others' records ignored)."""
    window_start = now - WEEKS * WEEK
    slim = sorted(
        (r for r in (_slim(doc) for doc in records) if r is not None and (app is None or r.app == app)),
        key=lambda r: r.at,
    )
    index = _index(slim, last_env)
    for deploys in index.last_env_deploys.values():
        for deploy, following in zip(deploys, [*deploys[1:], None], strict=True):
            deploy.until = following.at if following else float("inf")
            failures = index.failures.get((deploy.app, deploy.tag), [])
            first = bisect.bisect_left(failures, deploy.at)
            if first < len(failures) and failures[first] < deploy.until:
                deploy.failed_at = failures[first]
    for rollback in index.rollbacks:
        rolled_back = _rolled_back(rollback, index.last_env_deploys.get(rollback.app, []))
        if rolled_back is not None and (rolled_back.failed_at is None or rollback.at < rolled_back.failed_at):
            rolled_back.failed_at = rollback.at
    for deploys in index.last_env_deploys.values():
        for deploy in deploys:
            if deploy.failed_at is not None:
                healthy = index.healthy.get(deploy.app, [])
                after = bisect.bisect_right(healthy, deploy.failed_at)
                deploy.restored_at = healthy[after] if after < len(healthy) else None

    bounds = [(window_start + k * WEEK, window_start + (k + 1) * WEEK) for k in range(WEEKS)]
    periods = [_period(index, start, end, end == now) for start, end in bounds]
    total = _period(index, window_start, now, True)
    return Stats(last_env, app, periods, total, slim[0].at if slim else None)


def _period(index: _Index, start: float, end: float, closed: bool) -> Period:
    def inside(at: float) -> bool:
        return start <= at < end or (closed and at == end)

    deploys = [d for ds in index.last_env_deploys.values() for d in ds if inside(d.at)]
    failed = [d for d in deploys if d.failed_at is not None]
    arrivals: dict[tuple[str, str], float] = {}
    for ds in index.last_env_deploys.values():
        for d in ds:
            arrivals.setdefault((d.app, d.tag), d.at)  # the release's first arrival there
    leads = {
        release: at - index.first_deploy[release]
        for release, at in arrivals.items()
        if inside(at) and release in index.first_deploy
    }
    lead_times = tuple(leads.values())
    slowest = max(leads.items(), key=lambda item: (item[1], item[0]), default=None)
    per_app = Counter(d.app for d in deploys)
    restored = tuple(d.restored_at - d.failed_at for d in failed if d.restored_at is not None)  # type: ignore[operator]
    return Period(
        start=start,
        end=end,
        deploys=len(deploys),
        failures=len(failed),
        lead_times=lead_times,
        restore_times=restored,
        not_restored=len(failed) - len(restored),
        by_app=tuple(sorted(per_app.items(), key=lambda item: (-item[1], item[0]))),
        slowest=(slowest[0][0], slowest[0][1], slowest[1]) if slowest else None,
    )


def _index(records: list[_Record], last_env: str) -> _Index:
    index = _Index()
    for record in records:
        if record.action == "deploy_committed" and record.tag:
            index.first_deploy.setdefault((record.app, record.tag), record.at)
            if record.env == last_env:
                index.last_env_deploys[record.app].append(_Deploy(record.at, record.app, record.tag))
        elif record.env != last_env:
            continue
        elif record.action == "sync_outcome" and record.tag:
            if record.outcome in FAILED_SYNC:
                index.failures[(record.app, record.tag)].append(record.at)
            elif record.outcome == "synced" and record.healthy:
                index.healthy[record.app].append(record.at)
        elif record.action == "test_outcome" and record.tag:
            if record.outcome == "tests_failed":
                index.failures[(record.app, record.tag)].append(record.at)
            elif record.outcome == "tests_passed":
                index.healthy[record.app].append(record.at)
        elif record.action == "rollback":
            index.rollbacks.append(record)
    return index


def _rolled_back(rollback: _Record, deploys: list[_Deploy]) -> _Deploy | None:
    """The deploy a `rollback` record rolled back.

    It names the rolled-back tag in `rollback_of` (as the commit's `Rollback-of:` trailer does);
    without it, its `tag` is taken as the tag rolled back TO (as `tag` is in every deploy record),
    and the rolled-back deploy is the latest one before the record with another tag: right
    whether the rollback's own commit is recorded before or after the `rollback` record.
    """
    before = [d for d in deploys if d.at <= rollback.at]
    if rollback.rollback_of:
        return next((d for d in reversed(before) if d.tag == rollback.rollback_of), None)
    return next((d for d in reversed(before) if d.tag != rollback.tag), None)


def _slim(doc: Mapping[str, Any]) -> _Record | None:
    """Only what the rules read, and only from records they read; anything malformed is passed over."""
    action, app, env = doc.get("action"), doc.get("app"), doc.get("env")
    if action not in ("deploy_committed", "sync_outcome", "test_outcome", "rollback"):
        return None
    if not isinstance(app, str) or not isinstance(env, str):
        return None
    application = doc.get("application")
    if isinstance(application, str) and application.startswith("draft-") and application != app:
        return None  # a draft stack's outcome is not the release's
    at = _seconds(doc.get("at"))
    if at is None:
        return None
    tag = doc.get("tag") if isinstance(doc.get("tag"), str) else None
    outcome = doc.get("outcome") if isinstance(doc.get("outcome"), str) else None
    health = doc.get("health")
    rollback_of = doc.get("rollback_of") or doc.get("rolled_back")
    return _Record(  # names repeat across records: one string each, not one per record
        at=at,
        action=sys.intern(action),
        app=sys.intern(app),
        env=sys.intern(env),
        tag=tag,
        outcome=sys.intern(outcome) if outcome else None,
        healthy=health is None or health == "Healthy",
        rollback_of=rollback_of if isinstance(rollback_of, str) else None,
    )


def _seconds(at: Any) -> float | None:
    if isinstance(at, datetime):
        return at.timestamp()
    if not isinstance(at, str):
        return None
    try:
        return parse_since(at).timestamp()
    except ValueError:
        return None
