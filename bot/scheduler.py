"""Periodic jobs on APScheduler 3.x, each run by one replica at a time (a lock in the store)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from apscheduler.schedulers.background import BackgroundScheduler

from bot.store import LockNotAcquired, Store, StoreError

log = logging.getLogger(__name__)


def exclusive(store: Store, name: str, job: Callable[[], object], *, timeout: float) -> Callable[[], None]:
    """`job` wrapped so that however many replicas share the store, one runs it at a time."""

    def run() -> None:
        try:
            with store.locked(f"job:{name}", timeout=timeout, wait=0):
                job()
        except LockNotAcquired:
            log.debug("job %s is running in another replica", name)
        except StoreError as error:
            log.warning("job %s skipped: state store unavailable (%s)", name, error)
        except Exception:
            log.exception("job %s failed", name)

    return run


def local(name: str, job: Callable[[], object]) -> Callable[[], None]:
    """`job` for this replica alone (its own working copy, its own outbox), never letting an error escape."""

    def run() -> None:
        try:
            job()
        except Exception as error:
            log.warning("job %s failed: %s", name, error)

    return run


def build_scheduler(jobs: list[tuple[str, Callable[[], None], float]]) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})
    for name, run, seconds in jobs:
        scheduler.add_job(run, "interval", seconds=seconds, id=name, name=name)
    return scheduler
